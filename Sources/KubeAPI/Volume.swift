/// A pod volume: a name and exactly one source.
public struct Volume: Codable, Hashable, Sendable {
    public var name: String = ""
    public var hostPath: HostPathVolumeSource?
    public var emptyDir: EmptyDirVolumeSource?
    public var secret: SecretVolumeSource?
    public var configMap: ConfigMapVolumeSource?
    public var downwardAPI: DownwardAPIVolumeSource?
    public var projected: ProjectedVolumeSource?
    public var persistentVolumeClaim: PersistentVolumeClaimVolumeSource?
    /// Sources present in the manifest that the agent does not model (`nfs`, `csi`, ...); not encoded.
    public var unsupportedSources: [String] = []

    public init(name: String = "") { self.name = name }

    enum CodingKeys: String, CodingKey {
        case name, hostPath, emptyDir, secret, configMap, downwardAPI, projected, persistentVolumeClaim
    }

    /// Volume sources Kubernetes has that the agent does not model; seen ones count toward "exactly one source".
    static let unmodelledSources = [
        "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi", "glusterfs", "rbd", "flexVolume",
        "cinder", "cephfs", "flocker", "fc", "azureFile", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
        "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
    ]

    /// Names of the sources set on this volume (for the exactly-one-source rule).
    var modelledSourceNames: [String] {
        var names: [String] = []
        if hostPath != nil { names.append("hostPath") }
        if emptyDir != nil { names.append("emptyDir") }
        if secret != nil { names.append("secret") }
        if configMap != nil { names.append("configMap") }
        if downwardAPI != nil { names.append("downwardAPI") }
        if projected != nil { names.append("projected") }
        if persistentVolumeClaim != nil { names.append("persistentVolumeClaim") }
        return names
    }
}

extension Volume: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name") ?? ""
        hostPath = r.object("hostPath")
        emptyDir = r.object("emptyDir")
        secret = r.object("secret")
        configMap = r.object("configMap")
        downwardAPI = r.object("downwardAPI")
        projected = r.object("projected")
        persistentVolumeClaim = r.object("persistentVolumeClaim")
        // Present-but-empty `emptyDir: {}` decodes to a value; a YAML null (`emptyDir:`) means the same in Kubernetes.
        if emptyDir == nil && r.keys.contains("emptyDir") { emptyDir = EmptyDirVolumeSource() }
        for source in Self.unmodelledSources where r.has(source) {
            unsupportedSources.append(source)
            r.ignore(source, reason: "volume source \(goQuote(source)) is not supported; volume \(goQuote(name)) will not be mounted")
        }
    }
}

public struct HostPathVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var path: String = ""
    public var type: String?
    public init(path: String = "", type: String? = nil) {
        self.path = path
        self.type = type
    }
    init(reader r: ObjectReader) {
        path = r.string("path") ?? ""
        type = r.string("type")
    }
}

public struct EmptyDirVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var medium: String?
    public var sizeLimit: Quantity?
    public init(medium: String? = nil, sizeLimit: Quantity? = nil) {
        self.medium = medium
        self.sizeLimit = sizeLimit
    }
    init(reader r: ObjectReader) {
        medium = r.string("medium")
        sizeLimit = r.quantity("sizeLimit")
    }
}

public struct KeyToPath: Codable, Hashable, Sendable, ManifestDecodable {
    public var key: String = ""
    public var path: String = ""
    public var mode: Int32?
    public init(key: String = "", path: String = "") {
        self.key = key
        self.path = path
    }
    init(reader r: ObjectReader) {
        key = r.string("key") ?? ""
        path = r.string("path") ?? ""
        mode = r.int32("mode")
    }
}

public struct SecretVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var secretName: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int32?
    public var optional: Bool?
    public init(secretName: String? = nil) { self.secretName = secretName }
    init(reader r: ObjectReader) {
        secretName = r.string("secretName")
        items = r.objects("items")
        defaultMode = r.int32("defaultMode")
        optional = r.bool("optional")
    }
}

public struct ConfigMapVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int32?
    public var optional: Bool?
    public init(name: String? = nil) { self.name = name }
    init(reader r: ObjectReader) {
        name = r.string("name")
        items = r.objects("items")
        defaultMode = r.int32("defaultMode")
        optional = r.bool("optional")
    }
}

public struct DownwardAPIVolumeFile: Codable, Hashable, Sendable, ManifestDecodable {
    public var path: String = ""
    public var fieldRef: ObjectFieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public var mode: Int32?
    public init(path: String = "") { self.path = path }
    init(reader r: ObjectReader) {
        path = r.string("path") ?? ""
        fieldRef = r.object("fieldRef")
        resourceFieldRef = r.object("resourceFieldRef")
        mode = r.int32("mode")
    }
}

public struct DownwardAPIVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var items: [DownwardAPIVolumeFile]?
    public var defaultMode: Int32?
    public init() {}
    init(reader r: ObjectReader) {
        items = r.objects("items")
        defaultMode = r.int32("defaultMode")
    }
}

public struct ServiceAccountTokenProjection: Codable, Hashable, Sendable, ManifestDecodable {
    public var audience: String?
    public var expirationSeconds: Int64?
    public var path: String = ""
    public init(path: String = "") { self.path = path }
    init(reader r: ObjectReader) {
        audience = r.string("audience")
        expirationSeconds = r.int64("expirationSeconds")
        path = r.string("path") ?? ""
    }
}

/// The `items` form shared by projected secret and configMap sources.
public struct ProjectedObjectSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var items: [KeyToPath]?
    public var optional: Bool?
    public init(name: String? = nil) { self.name = name }
    init(reader r: ObjectReader) {
        name = r.string("name")
        items = r.objects("items")
        optional = r.bool("optional")
    }
}

public struct VolumeProjection: Codable, Hashable, Sendable, ManifestDecodable {
    public var secret: ProjectedObjectSource?
    public var configMap: ProjectedObjectSource?
    public var downwardAPI: DownwardAPIVolumeSource?
    public var serviceAccountToken: ServiceAccountTokenProjection?
    public init() {}
    init(reader r: ObjectReader) {
        secret = r.object("secret")
        configMap = r.object("configMap")
        downwardAPI = r.object("downwardAPI")
        serviceAccountToken = r.object("serviceAccountToken")
        r.ignore("clusterTrustBundle", reason: "cluster trust bundles are not supported")
        r.ignore("podCertificate", reason: "pod certificates are not supported")
    }
}

public struct ProjectedVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var sources: [VolumeProjection]?
    public var defaultMode: Int32?
    public init() {}
    init(reader r: ObjectReader) {
        sources = r.objects("sources")
        defaultMode = r.int32("defaultMode")
    }
}

public struct PersistentVolumeClaimVolumeSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var claimName: String = ""
    public var readOnly: Bool?
    public init(claimName: String = "") { self.claimName = claimName }
    init(reader r: ObjectReader) {
        claimName = r.string("claimName") ?? ""
        readOnly = r.bool("readOnly")
    }
}
