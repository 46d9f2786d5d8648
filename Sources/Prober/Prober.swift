import KubeAPI
import NIOCore
import NIOPosix

/// An event kubelet records about a probe (involvedObject: the pod, fieldPath `spec.containers{<name>}`).
public struct ProbeEvent: Sendable, Hashable {
    public enum EventType: String, Sendable { case normal = "Normal", warning = "Warning" }
    public var type: EventType
    /// `Unhealthy`, `ProbeWarning` or `Killing`.
    public var reason: String
    public var message: String
    public var container: String
    public init(type: EventType, reason: String, message: String, container: String) {
        self.type = type
        self.reason = reason
        self.message = message
        self.container = container
    }
}

/// The result of one probe run after kubelet's prober.go mapping.
public struct ProbeRun: Sendable, Hashable {
    /// Success or Failure (Warning counts as Success; Unknown without error as Failure).
    public var result: ProbeResult
    /// The prober errored (after retries): the worker throws the result away.
    public var errored: Bool
    public var output: String
    public var event: ProbeEvent?
}

/// Runs a probe's handler: kubelet's `prober` (pkg/kubelet/prober/prober.go) over the four handlers.
public struct Prober: Sendable {
    public var http: HTTPProber
    public var tcp: TCPProber
    public var exec: ExecProber
    public var grpc: GRPCProber
    /// kubelet's maxProbeRetries: a handler error (not a clean Failure) is retried this many times in all.
    public static let maxProbeRetries = 3

    /// `group`: where the network probes run; the probe loop by default, the manager's executor.
    public init(group: any EventLoopGroup = ProbeLoop.shared, exec: @escaping ExecFunction) {
        http = HTTPProber(group: group)
        tcp = TCPProber(group: group)
        self.exec = ExecProber(exec: exec, loop: group.next())
        grpc = GRPCProber(group: group)
    }

    /// One handler run, no retries and no mapping (pkg/probe result).
    public nonisolated(nonsending) func runHandler(_ probe: Probe, target: ProbeTarget) async throws(ProberError) -> ProbeOutcome {
        let timeout = ProbeTiming(probe).timeout
        if let action = probe.exec { return try await exec.probe(action, target: target, timeout: timeout) }
        if let action = probe.httpGet { return try await http.probe(action, target: target, timeout: timeout) }
        if let action = probe.tcpSocket { return try await tcp.probe(action, target: target, timeout: timeout) }
        if let action = probe.grpc { return try await grpc.probe(action, target: target, timeout: timeout) }
        throw .noHandler
    }

    /// kubelet's `prober.probe`: retries on error, maps Warning → Success and Unknown → Failure, and the events.
    public nonisolated(nonsending) func run(_ kind: ProbeKind, _ probe: Probe, target: ProbeTarget) async -> ProbeRun {
        let name = target.container.name
        var lastError: ProberError = .noHandler
        for _ in 0..<Self.maxProbeRetries {
            let outcome: ProbeOutcome
            do {
                outcome = try await runHandler(probe, target: target)
            } catch {
                lastError = error
                continue
            }
            switch outcome.result {
            case .success:
                return ProbeRun(result: .success, errored: false, output: outcome.output, event: nil)
            case .warning:
                let event = ProbeEvent(type: .warning, reason: "ProbeWarning", message: "\(kind) probe warning: \(outcome.output)", container: name)
                return ProbeRun(result: .success, errored: false, output: outcome.output, event: event)
            case .failure:
                let event = ProbeEvent(type: .warning, reason: "Unhealthy", message: "\(kind) probe failed: \(outcome.output)", container: name)
                return ProbeRun(result: .failure, errored: false, output: outcome.output, event: event)
            case .unknown:
                return ProbeRun(result: .failure, errored: false, output: outcome.output, event: nil)
            }
        }
        let message = "\(kind) probe errored and resulted in \(ProbeResult.unknown.rawValue) state: \(lastError)"
        return ProbeRun(
            result: .failure, errored: true, output: lastError.description,
            event: ProbeEvent(type: .warning, reason: "Unhealthy", message: message, container: name))
    }
}
