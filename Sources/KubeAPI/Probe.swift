/// A liveness, readiness or startup probe: one handler plus timing.
public struct Probe: Codable, Hashable, Sendable {
    public var exec: ExecAction?
    public var httpGet: HTTPGetAction?
    public var tcpSocket: TCPSocketAction?
    public var grpc: GRPCAction?
    public var initialDelaySeconds: Int32?
    public var timeoutSeconds: Int32?
    public var periodSeconds: Int32?
    public var successThreshold: Int32?
    public var failureThreshold: Int32?
    public var terminationGracePeriodSeconds: Int64?
    public init() {}
}

extension Probe: ManifestDecodable {
    init(reader r: ObjectReader) {
        exec = r.object("exec")
        httpGet = r.object("httpGet")
        tcpSocket = r.object("tcpSocket")
        grpc = r.object("grpc")
        initialDelaySeconds = r.int32("initialDelaySeconds")
        timeoutSeconds = r.int32("timeoutSeconds")
        periodSeconds = r.int32("periodSeconds")
        successThreshold = r.int32("successThreshold")
        failureThreshold = r.int32("failureThreshold")
        terminationGracePeriodSeconds = r.int64("terminationGracePeriodSeconds")
    }
}

public struct ExecAction: Codable, Hashable, Sendable, ManifestDecodable {
    public var command: [String]?
    public init(command: [String]? = nil) { self.command = command }
    init(reader r: ObjectReader) { command = r.strings("command") }
}

public struct HTTPGetAction: Codable, Hashable, Sendable, ManifestDecodable {
    public var path: String?
    public var port: IntOrString = .int(0)
    public var host: String?
    public var scheme: String?
    public var httpHeaders: [HTTPHeader]?
    public init(path: String? = nil, port: IntOrString = .int(0)) {
        self.path = path
        self.port = port
    }
    init(reader r: ObjectReader) {
        path = r.string("path")
        port = r.intOrString("port") ?? .int(0)
        host = r.string("host")
        scheme = r.string("scheme")
        httpHeaders = r.objects("httpHeaders")
    }
}

public struct HTTPHeader: Codable, Hashable, Sendable, ManifestDecodable {
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

public struct TCPSocketAction: Codable, Hashable, Sendable, ManifestDecodable {
    public var port: IntOrString = .int(0)
    public var host: String?
    public init(port: IntOrString = .int(0)) { self.port = port }
    init(reader r: ObjectReader) {
        port = r.intOrString("port") ?? .int(0)
        host = r.string("host")
    }
}

public struct GRPCAction: Codable, Hashable, Sendable, ManifestDecodable {
    public var port: Int32 = 0
    public var service: String?
    public init(port: Int32 = 0) { self.port = port }
    init(reader r: ObjectReader) {
        port = r.int32("port") ?? 0
        service = r.string("service")
    }
}

public struct SleepAction: Codable, Hashable, Sendable, ManifestDecodable {
    public var seconds: Int64 = 0
    public init(seconds: Int64 = 0) { self.seconds = seconds }
    init(reader r: ObjectReader) { seconds = r.int64("seconds") ?? 0 }
}

/// postStart / preStop hooks.
public struct Lifecycle: Codable, Hashable, Sendable, ManifestDecodable {
    public var postStart: LifecycleHandler?
    public var preStop: LifecycleHandler?
    public var stopSignal: String?
    public init() {}
    init(reader r: ObjectReader) {
        postStart = r.object("postStart")
        preStop = r.object("preStop")
        stopSignal = r.string("stopSignal")
    }
}

public struct LifecycleHandler: Codable, Hashable, Sendable, ManifestDecodable {
    public var exec: ExecAction?
    public var httpGet: HTTPGetAction?
    public var tcpSocket: TCPSocketAction?
    public var sleep: SleepAction?
    public init() {}
    init(reader r: ObjectReader) {
        exec = r.object("exec")
        httpGet = r.object("httpGet")
        tcpSocket = r.object("tcpSocket")
        sleep = r.object("sleep")
    }
}
