/// Container-level security settings.
public struct SecurityContext: Codable, Hashable, Sendable, ManifestDecodable {
    public var capabilities: Capabilities?
    public var privileged: Bool?
    public var seLinuxOptions: SELinuxOptions?
    public var windowsOptions: WindowsSecurityContextOptions?
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var readOnlyRootFilesystem: Bool?
    public var allowPrivilegeEscalation: Bool?
    public var procMount: String?
    public var seccompProfile: SeccompProfile?
    public var appArmorProfile: AppArmorProfile?
    public init() {}
    init(reader r: ObjectReader) {
        capabilities = r.object("capabilities")
        privileged = r.bool("privileged")
        seLinuxOptions = r.object("seLinuxOptions")
        windowsOptions = r.object("windowsOptions")
        runAsUser = r.int64("runAsUser")
        runAsGroup = r.int64("runAsGroup")
        runAsNonRoot = r.bool("runAsNonRoot")
        readOnlyRootFilesystem = r.bool("readOnlyRootFilesystem")
        allowPrivilegeEscalation = r.bool("allowPrivilegeEscalation")
        procMount = r.string("procMount")
        seccompProfile = r.object("seccompProfile")
        appArmorProfile = r.object("appArmorProfile")
    }
}

/// Pod-level security settings; container settings override the overlapping ones.
public struct PodSecurityContext: Codable, Hashable, Sendable, ManifestDecodable {
    public var seLinuxOptions: SELinuxOptions?
    public var windowsOptions: WindowsSecurityContextOptions?
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var supplementalGroups: [Int64]?
    public var supplementalGroupsPolicy: String?
    public var fsGroup: Int64?
    public var sysctls: [Sysctl]?
    public var fsGroupChangePolicy: String?
    public var seccompProfile: SeccompProfile?
    public var appArmorProfile: AppArmorProfile?
    public var seLinuxChangePolicy: String?
    public init() {}
    init(reader r: ObjectReader) {
        seLinuxOptions = r.object("seLinuxOptions")
        windowsOptions = r.object("windowsOptions")
        runAsUser = r.int64("runAsUser")
        runAsGroup = r.int64("runAsGroup")
        runAsNonRoot = r.bool("runAsNonRoot")
        supplementalGroups = r.list("supplementalGroups") { node, path in ObjectReader.int64(node, path, r.ctx) }
        supplementalGroupsPolicy = r.string("supplementalGroupsPolicy")
        fsGroup = r.int64("fsGroup")
        sysctls = r.objects("sysctls")
        fsGroupChangePolicy = r.string("fsGroupChangePolicy")
        seccompProfile = r.object("seccompProfile")
        appArmorProfile = r.object("appArmorProfile")
        seLinuxChangePolicy = r.string("seLinuxChangePolicy")
    }
}

public struct Capabilities: Codable, Hashable, Sendable, ManifestDecodable {
    public var add: [String]?
    public var drop: [String]?
    public init(add: [String]? = nil, drop: [String]? = nil) {
        self.add = add
        self.drop = drop
    }
    init(reader r: ObjectReader) {
        add = r.strings("add")
        drop = r.strings("drop")
    }
}

public struct SELinuxOptions: Codable, Hashable, Sendable, ManifestDecodable {
    public var user: String?
    public var role: String?
    public var type: String?
    public var level: String?
    public init() {}
    init(reader r: ObjectReader) {
        user = r.string("user")
        role = r.string("role")
        type = r.string("type")
        level = r.string("level")
    }
}

public struct WindowsSecurityContextOptions: Codable, Hashable, Sendable, ManifestDecodable {
    public var gmsaCredentialSpecName: String?
    public var gmsaCredentialSpec: String?
    public var runAsUserName: String?
    public var hostProcess: Bool?
    public init() {}
    init(reader r: ObjectReader) {
        gmsaCredentialSpecName = r.string("gmsaCredentialSpecName")
        gmsaCredentialSpec = r.string("gmsaCredentialSpec")
        runAsUserName = r.string("runAsUserName")
        hostProcess = r.bool("hostProcess")
    }
}

/// `seccompProfile`: `RuntimeDefault`, `Unconfined` or `Localhost` with a profile path.
public struct SeccompProfile: Codable, Hashable, Sendable, ManifestDecodable {
    public var type: String = ""
    public var localhostProfile: String?
    public init(type: String = "", localhostProfile: String? = nil) {
        self.type = type
        self.localhostProfile = localhostProfile
    }
    init(reader r: ObjectReader) {
        type = r.string("type") ?? ""
        localhostProfile = r.string("localhostProfile")
    }
}

/// `appArmorProfile`: `RuntimeDefault`, `Unconfined` or `Localhost` with a profile name.
public struct AppArmorProfile: Codable, Hashable, Sendable, ManifestDecodable {
    public var type: String = ""
    public var localhostProfile: String?
    public init(type: String = "", localhostProfile: String? = nil) {
        self.type = type
        self.localhostProfile = localhostProfile
    }
    init(reader r: ObjectReader) {
        type = r.string("type") ?? ""
        localhostProfile = r.string("localhostProfile")
    }
}

public struct Sysctl: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String = ""
    public var value: String = ""
    public init(name: String = "", value: String = "") {
        self.name = name
        self.value = value
    }
    init(reader r: ObjectReader) {
        name = r.string("name") ?? ""
        value = r.string("value") ?? ""
    }
}
