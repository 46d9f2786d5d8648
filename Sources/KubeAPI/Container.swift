/// One container of a pod (also used for init containers).
public struct Container: Codable, Hashable, Sendable {
    public var name: String = ""
    public var image: String?
    public var command: [String]?
    public var args: [String]?
    public var workingDir: String?
    public var ports: [ContainerPort]?
    public var envFrom: [EnvFromSource]?
    public var env: [EnvVar]?
    public var resources: ResourceRequirements?
    /// Only for init containers: `Always` makes it a sidecar (restartable init container).
    public var restartPolicy: String?
    public var volumeMounts: [VolumeMount]?
    public var livenessProbe: Probe?
    public var readinessProbe: Probe?
    public var startupProbe: Probe?
    public var lifecycle: Lifecycle?
    public var terminationMessagePath: String?
    public var terminationMessagePolicy: String?
    public var imagePullPolicy: String?
    public var securityContext: SecurityContext?
    public var stdin: Bool?
    public var stdinOnce: Bool?
    public var tty: Bool?

    public init(name: String = "", image: String? = nil) {
        self.name = name
        self.image = image
    }

    /// True for an init container that keeps running beside the app containers (a sidecar).
    public var isRestartableInitContainer: Bool { restartPolicy == "Always" }
}

extension Container: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name") ?? ""
        image = r.string("image")
        command = r.strings("command")
        args = r.strings("args")
        workingDir = r.string("workingDir")
        ports = r.objects("ports")
        envFrom = r.objects("envFrom")
        env = r.objects("env")
        resources = r.object("resources")
        restartPolicy = r.string("restartPolicy")
        volumeMounts = r.objects("volumeMounts")
        livenessProbe = r.object("livenessProbe")
        readinessProbe = r.object("readinessProbe")
        startupProbe = r.object("startupProbe")
        lifecycle = r.object("lifecycle")
        terminationMessagePath = r.string("terminationMessagePath")
        terminationMessagePolicy = r.string("terminationMessagePolicy")
        imagePullPolicy = r.string("imagePullPolicy")
        securityContext = r.object("securityContext")
        stdin = r.bool("stdin")
        stdinOnce = r.bool("stdinOnce")
        tty = r.bool("tty")
        r.ignore("volumeDevices", reason: "raw block volumes are not supported")
        r.ignore("resizePolicy", reason: "in-place resize is not supported")
        r.ignore("restartPolicyRules", reason: "container restart rules are not supported")
    }
}

public struct ContainerPort: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var hostPort: Int32?
    public var containerPort: Int32 = 0
    public var `protocol`: String?
    public var hostIP: String?

    public init(containerPort: Int32 = 0, name: String? = nil) {
        self.containerPort = containerPort
        self.name = name
    }

    init(reader r: ObjectReader) {
        name = r.string("name")
        hostPort = r.int32("hostPort")
        containerPort = r.int32("containerPort") ?? 0
        self.protocol = r.string("protocol")
        hostIP = r.string("hostIP")
    }
}

public struct EnvVar: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String = ""
    public var value: String?
    public var valueFrom: EnvVarSource?

    public init(name: String = "", value: String? = nil) {
        self.name = name
        self.value = value
    }

    init(reader r: ObjectReader) {
        name = r.string("name") ?? ""
        value = r.string("value")
        valueFrom = r.object("valueFrom")
    }
}

public struct EnvVarSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var fieldRef: ObjectFieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public var configMapKeyRef: KeySelector?
    public var secretKeyRef: KeySelector?
    public init() {}
    init(reader r: ObjectReader) {
        fieldRef = r.object("fieldRef")
        resourceFieldRef = r.object("resourceFieldRef")
        configMapKeyRef = r.object("configMapKeyRef")
        secretKeyRef = r.object("secretKeyRef")
        r.ignore("fileKeyRef", reason: "env from files is not supported")
    }
}

public struct ObjectFieldSelector: Codable, Hashable, Sendable, ManifestDecodable {
    public var apiVersion: String?
    public var fieldPath: String = ""
    public init(fieldPath: String = "", apiVersion: String? = nil) {
        self.fieldPath = fieldPath
        self.apiVersion = apiVersion
    }
    init(reader r: ObjectReader) {
        apiVersion = r.string("apiVersion")
        fieldPath = r.string("fieldPath") ?? ""
    }
}

public struct ResourceFieldSelector: Codable, Hashable, Sendable, ManifestDecodable {
    public var containerName: String?
    public var resource: String = ""
    public var divisor: Quantity?
    public init(resource: String = "") { self.resource = resource }
    init(reader r: ObjectReader) {
        containerName = r.string("containerName")
        resource = r.string("resource") ?? ""
        divisor = r.quantity("divisor")
    }
}

/// `configMapKeyRef` / `secretKeyRef`: a key of a named ConfigMap or Secret.
public struct KeySelector: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var key: String = ""
    public var optional: Bool?
    public init(name: String? = nil, key: String = "") {
        self.name = name
        self.key = key
    }
    init(reader r: ObjectReader) {
        name = r.string("name")
        key = r.string("key") ?? ""
        optional = r.bool("optional")
    }
}

public struct EnvFromSource: Codable, Hashable, Sendable, ManifestDecodable {
    public var prefix: String?
    public var configMapRef: OptionalObjectReference?
    public var secretRef: OptionalObjectReference?
    public init() {}
    init(reader r: ObjectReader) {
        prefix = r.string("prefix")
        configMapRef = r.object("configMapRef")
        secretRef = r.object("secretRef")
    }
}

/// `configMapRef` / `secretRef` in envFrom: a named object that may be optional.
public struct OptionalObjectReference: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String?
    public var optional: Bool?
    public init(name: String? = nil) { self.name = name }
    init(reader r: ObjectReader) {
        name = r.string("name")
        optional = r.bool("optional")
    }
}

public struct ResourceRequirements: Codable, Hashable, Sendable, ManifestDecodable {
    public var limits: [String: Quantity]?
    public var requests: [String: Quantity]?
    public init(limits: [String: Quantity]? = nil, requests: [String: Quantity]? = nil) {
        self.limits = limits
        self.requests = requests
    }
    init(reader r: ObjectReader) {
        limits = r.quantityMap("limits")
        requests = r.quantityMap("requests")
        r.ignore("claims", reason: "dynamic resource allocation is not supported")
    }
}

public struct VolumeMount: Codable, Hashable, Sendable, ManifestDecodable {
    public var name: String = ""
    public var readOnly: Bool?
    public var recursiveReadOnly: String?
    public var mountPath: String = ""
    public var subPath: String?
    public var mountPropagation: String?
    public var subPathExpr: String?
    public init(name: String = "", mountPath: String = "") {
        self.name = name
        self.mountPath = mountPath
    }
    init(reader r: ObjectReader) {
        name = r.string("name") ?? ""
        readOnly = r.bool("readOnly")
        recursiveReadOnly = r.string("recursiveReadOnly")
        mountPath = r.string("mountPath") ?? ""
        subPath = r.string("subPath")
        mountPropagation = r.string("mountPropagation")
        subPathExpr = r.string("subPathExpr")
    }
}
