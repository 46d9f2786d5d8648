import Foundation

/// A v1 Pod. Field names are Kubernetes' JSON names so encoding prints a Pod kubectl would recognise.
public struct Pod: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "Pod"
    public var metadata: ObjectMeta
    public var spec: PodSpec
    public var status: PodStatus?

    public init(metadata: ObjectMeta = ObjectMeta(), spec: PodSpec = PodSpec(), status: PodStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// `namespace/name`, the key the store and duplicate detection use (namespace defaulted to `default`).
    public var key: String { metadata.key }
}

/// Standard object metadata (the subset a node agent uses).
public struct ObjectMeta: Codable, Hashable, Sendable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: Date?
    public var deletionTimestamp: Date?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?

    public init(name: String? = nil, namespace: String? = nil) {
        self.name = name
        self.namespace = namespace
    }

    public var key: String { "\(namespace ?? "default")/\(name ?? "")" }
}

extension ObjectMeta: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name")
        generateName = r.string("generateName")
        namespace = r.string("namespace")
        uid = r.string("uid")
        resourceVersion = r.string("resourceVersion")
        generation = r.int64("generation")
        creationTimestamp = r.time("creationTimestamp")
        deletionTimestamp = r.time("deletionTimestamp")
        deletionGracePeriodSeconds = r.int64("deletionGracePeriodSeconds")
        labels = r.stringMap("labels")
        annotations = r.stringMap("annotations")
        for field in ["ownerReferences", "finalizers", "managedFields", "selfLink"] {
            r.ignore(field, reason: "not used by a standalone node agent")
        }
    }
}

extension ObjectReader {
    /// An RFC 3339 timestamp (`2024-01-02T03:04:05Z`).
    func time(_ key: String) -> Date? {
        guard let text = string(key) else { return nil }
        do {
            return try Date(text, strategy: .iso8601)
        } catch {
            // Foundation's parse error text says nothing useful to a manifest author; say what is expected instead.
            ctx.error(.invalid(path.child(key), .string(text), "expected an RFC 3339 time such as \"2024-01-02T03:04:05Z\""))
            return nil
        }
    }
}

extension Pod: ManifestDecodable {
    init(reader r: ObjectReader) {
        apiVersion = r.string("apiVersion") ?? "v1"
        kind = r.string("kind") ?? "Pod"
        metadata = r.object("metadata") ?? ObjectMeta()
        spec = r.object("spec") ?? PodSpec()
        // The API server drops status on create; a manifest's status means nothing to the agent.
        r.ignore("status", reason: "status is set by the agent")
    }
}

/// The pod's desired state.
public struct PodSpec: Codable, Hashable, Sendable {
    public var volumes: [Volume]?
    public var initContainers: [Container]?
    public var containers: [Container] = []
    public var restartPolicy: String?
    public var terminationGracePeriodSeconds: Int64?
    public var activeDeadlineSeconds: Int64?
    public var dnsPolicy: String?
    public var nodeSelector: [String: String]?
    public var serviceAccountName: String?
    public var automountServiceAccountToken: Bool?
    public var nodeName: String?
    public var hostNetwork: Bool?
    public var hostPID: Bool?
    public var hostIPC: Bool?
    public var shareProcessNamespace: Bool?
    public var securityContext: PodSecurityContext?
    public var imagePullSecrets: [LocalObjectReference]?
    public var hostname: String?
    public var subdomain: String?
    public var setHostnameAsFQDN: Bool?
    public var schedulerName: String?
    public var tolerations: [Toleration]?
    public var hostAliases: [HostAlias]?
    public var dnsConfig: PodDNSConfig?
    public var enableServiceLinks: Bool?
    public var hostUsers: Bool?
    public var os: PodOS?

    public init(containers: [Container] = []) {
        self.containers = containers
    }
}

extension PodSpec: ManifestDecodable {
    init(reader r: ObjectReader) {
        volumes = r.objects("volumes")
        initContainers = r.objects("initContainers")
        containers = r.objects("containers") ?? []
        restartPolicy = r.string("restartPolicy")
        terminationGracePeriodSeconds = r.int64("terminationGracePeriodSeconds")
        activeDeadlineSeconds = r.int64("activeDeadlineSeconds")
        dnsPolicy = r.string("dnsPolicy")
        nodeSelector = r.stringMap("nodeSelector")
        serviceAccountName = r.string("serviceAccountName")
        // `serviceAccount` is the deprecated spelling; Kubernetes copies it into serviceAccountName.
        if let legacy = r.string("serviceAccount"), serviceAccountName == nil { serviceAccountName = legacy }
        automountServiceAccountToken = r.bool("automountServiceAccountToken")
        nodeName = r.string("nodeName")
        hostNetwork = r.bool("hostNetwork")
        hostPID = r.bool("hostPID")
        hostIPC = r.bool("hostIPC")
        shareProcessNamespace = r.bool("shareProcessNamespace")
        securityContext = r.object("securityContext")
        imagePullSecrets = r.objects("imagePullSecrets")
        hostname = r.string("hostname")
        subdomain = r.string("subdomain")
        setHostnameAsFQDN = r.bool("setHostnameAsFQDN")
        schedulerName = r.string("schedulerName")
        tolerations = r.objects("tolerations")
        hostAliases = r.objects("hostAliases")
        dnsConfig = r.object("dnsConfig")
        enableServiceLinks = r.bool("enableServiceLinks")
        hostUsers = r.bool("hostUsers")
        os = r.object("os")
        for field in ["priority", "priorityClassName", "preemptionPolicy"] {
            r.ignore(field, reason: "pod priority and preemption do not apply on a single node")
        }
        for field in ["affinity", "topologySpreadConstraints", "schedulingGates", "readinessGates", "overhead"] {
            r.ignore(field, reason: "scheduling fields do not apply on a single node")
        }
        for field in ["ephemeralContainers", "runtimeClassName", "resourceClaims", "resources"] {
            r.ignore(field, reason: "not supported by minikubelet yet")
        }
    }
}

public struct LocalObjectReference: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public init(name: String? = nil) { self.name = name }
    init(reader r: ObjectReader) { name = r.string("name") }
}

public struct Toleration: Codable, Hashable, Sendable, ManifestDecodable {
    public var key: String?
    public var `operator`: String?
    public var value: String?
    public var effect: String?
    public var tolerationSeconds: Int64?
    public init() {}
    init(reader r: ObjectReader) {
        key = r.string("key")
        self.operator = r.string("operator")
        value = r.string("value")
        effect = r.string("effect")
        tolerationSeconds = r.int64("tolerationSeconds")
    }
}

public struct HostAlias: Codable, Hashable, Sendable, ManifestDecodable {
    public var ip: String?
    public var hostnames: [String]?
    public init(ip: String? = nil, hostnames: [String]? = nil) {
        self.ip = ip
        self.hostnames = hostnames
    }
    init(reader r: ObjectReader) {
        ip = r.string("ip")
        hostnames = r.strings("hostnames")
    }
}

public struct PodDNSConfig: Codable, Hashable, Sendable, ManifestDecodable {
    public var nameservers: [String]?
    public var searches: [String]?
    public var options: [PodDNSConfigOption]?
    public init() {}
    init(reader r: ObjectReader) {
        nameservers = r.strings("nameservers")
        searches = r.strings("searches")
        options = r.objects("options")
    }
}

public struct PodDNSConfigOption: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var value: String?
    public init(name: String? = nil, value: String? = nil) {
        self.name = name
        self.value = value
    }
    init(reader r: ObjectReader) {
        name = r.string("name")
        value = r.string("value")
    }
}

public struct PodOS: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public init(name: String? = nil) { self.name = name }
    init(reader r: ObjectReader) { name = r.string("name") }
}
