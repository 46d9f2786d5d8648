import KubeAPI

/// kubelet's `probe.Result` (pkg/probe/probe.go).
public enum ProbeResult: String, Sendable, Hashable {
    case success, warning, failure, unknown
}

/// One handler run: the result and the text kubelet would put in the event (`output`).
public struct ProbeOutcome: Sendable, Hashable {
    public var result: ProbeResult
    public var output: String
    public init(_ result: ProbeResult, _ output: String = "") {
        self.result = result
        self.output = output
    }
}

/// liveness / readiness / startup; `description` prints as kubelet's probeType.String().
public enum ProbeKind: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case liveness, readiness, startup
    public var description: String {
        switch self {
        case .liveness: return "Liveness"
        case .readiness: return "Readiness"
        case .startup: return "Startup"
        }
    }
}

/// An immutable value behind one reference. A Container spec is a few KiB inline; every in-flight probe copies
/// it through several async frames (task-allocator memory), so with 300 probes in flight the copies cost MiBs.
final class Shared<Value: Sendable & Hashable>: Sendable, Hashable {
    let value: Value
    init(_ value: Value) { self.value = value }
    static func == (a: Shared, b: Shared) -> Bool { a === b || a.value == b.value }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// What a handler needs to know about where it probes: given by the agent.
public struct ProbeTarget: Sendable {
    public var podIP: String
    public var podName: String
    public var namespace: String
    /// The container's spec: named ports and static env for `$(VAR)` expansion in exec commands.
    public var container: Container {
        get { containerBox.value }
        set { containerBox = Shared(newValue) }
    }
    private var containerBox: Shared<Container>
    public var podUID: String
    /// The runtime's ID of the container run being probed (exec probes run in it).
    public var containerID: String
    /// With the spec already boxed (the manager's ticks: no copy of the spec per probe).
    init(podIP: String, podName: String, namespace: String, containerBox: Shared<Container>, podUID: String, containerID: String) {
        self.podIP = podIP
        self.podName = podName
        self.namespace = namespace
        self.containerBox = containerBox
        self.podUID = podUID
        self.containerID = containerID
    }

    public init(podIP: String, podName: String = "", namespace: String = "default", container: Container, podUID: String = "", containerID: String = "") {
        self.podIP = podIP
        self.podName = podName
        self.namespace = namespace
        self.containerBox = Shared(container)
        self.podUID = podUID
        self.containerID = containerID
    }
}

/// Errors of the prober: the handler could not run at all (kubelet's `err != nil`: Unknown, retried).
public enum ProberError: Error, Sendable, Hashable, CustomStringConvertible {
    case noHandler
    case portNotFound(String)
    case invalidPort(Int32)
    case unsupportedScheme(String)
    case execFailed(String)
    /// The handler ran but could not reach a verdict (kubelet: probe returned err).
    case probeFailed(String)
    public var description: String {
        switch self {
        case .noHandler: return "missing probe handler"
        case .portNotFound(let name): return "couldn't find port: \(name)"
        case .invalidPort(let n): return "invalid port number: \(n)"
        case .unsupportedScheme(let s): return "unsupported scheme: \(s)"
        case .execFailed(let s): return s
        case .probeFailed(let s): return s
        }
    }
}

/// Timing fields with kubelet's defaults (pkg/apis/core/v1/defaults.go SetDefaults_Probe).
public struct ProbeTiming: Sendable, Hashable {
    public var initialDelaySeconds: Int32
    public var timeoutSeconds: Int32
    public var periodSeconds: Int32
    public var successThreshold: Int32
    public var failureThreshold: Int32
    public init(_ probe: Probe) {
        initialDelaySeconds = max(0, probe.initialDelaySeconds ?? 0)
        timeoutSeconds = max(1, (probe.timeoutSeconds ?? 0) == 0 ? 1 : probe.timeoutSeconds ?? 1)
        periodSeconds = max(1, (probe.periodSeconds ?? 0) == 0 ? 10 : probe.periodSeconds ?? 10)
        successThreshold = max(1, (probe.successThreshold ?? 0) == 0 ? 1 : probe.successThreshold ?? 1)
        failureThreshold = max(1, (probe.failureThreshold ?? 0) == 0 ? 3 : probe.failureThreshold ?? 3)
    }
    public var timeout: Duration { .seconds(Int64(timeoutSeconds)) }
    public var period: Duration { .seconds(Int64(periodSeconds)) }
}

/// kubelet's version for `User-Agent: kube-probe/<major>.<minor>`.
public let kubeProbeVersion = "1.33"

/// Resolves a probe port (number or container-port name) like kubelet's `probe.ResolveContainerPort`.
public func resolvePort(_ port: IntOrString, in container: Container) throws(ProberError) -> Int {
    switch port {
    case .int(let n):
        guard n > 0, n < 65536 else { throw .invalidPort(n) }
        return Int(n)
    case .string(let name):
        if let p = container.ports?.first(where: { $0.name == name }) { return Int(p.containerPort) }
        // kubelet also accepts a numeric string.
        if let n = Int32(name), n > 0, n < 65536 { return Int(n) }
        throw .portNotFound(name)
    }
}

/// Go's net.JoinHostPort.
func joinHostPort(_ host: String, _ port: Int) -> String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
}

/// Output cap of kubelet's HTTP body read and exec output (10 KiB).
public let maxProbeOutputBytes = 10 * 1024

func cappedString(_ bytes: some Collection<UInt8>) -> String {
    String(decoding: bytes.prefix(maxProbeOutputBytes), as: UTF8.self)
}
