import AgentStore
import Foundation

/// The agent's settings (the daemon's flags).
public struct AgentConfig: Sendable {
    public var manifests: String
    public var root: String
    public var socket: String
    public var nodeName: String
    public var maxPods: Int
    public var runtimePath: String
    public var shimPath: String
    /// Relative cgroup parent under the agent's own cgroup ("" = the agent's cgroup itself).
    public var cgroupParent: String
    /// Periodic full re-read of the manifest directory (kubelet fileCheckFrequency: 20 s).
    public var fileCheckInterval: Duration
    /// CNI directories, pod CIDR, node IP.
    public var network: NetworkSettings
    /// Pod security: `--pod-security`, `--seccomp-default`, `--allowed-unsafe-sysctls`, `--pod-max-pids`.
    public var security: NodeSecurityConfig
    /// Service proxy: `--proxy-mode`, `--service-cidr`, `--service-node-port-range`.
    public var services: ServiceSettings

    public init(
        manifests: String, root: String, socket: String, nodeName: String, maxPods: Int, runtimePath: String, shimPath: String,
        cgroupParent: String = "", fileCheckInterval: Duration = .seconds(20), network: NetworkSettings = NetworkSettings(),
        security: NodeSecurityConfig = NodeSecurityConfig(), services: ServiceSettings = ServiceSettings()
    ) {
        self.services = services
        self.network = network
        self.manifests = manifests
        self.root = root
        self.socket = socket
        self.nodeName = nodeName
        self.maxPods = maxPods
        self.runtimePath = runtimePath
        self.shimPath = shimPath
        self.cgroupParent = cgroupParent
        self.fileCheckInterval = fileCheckInterval
        self.security = security
    }
}

/// Log lines on stderr: `<RFC3339> <level> <message>`.
enum Log {
    static func info(_ message: String) { write("I", message) }
    static func warning(_ message: String) { write("W", message) }
    static func error(_ message: String) { write("E", message) }
    /// Debug lines (pod start timings) only with MINIKUBELET_DEBUG=1 in the agent's environment.
    static let debugEnabled = ProcessInfo.processInfo.environment["MINIKUBELET_DEBUG"] == "1"
    static func debug(_ message: @autoclosure () -> String) { if debugEnabled { write("D", message()) } }

    /// FoundationEssentials' ISO 8601 style, not ISO8601DateFormatter: that one builds an ICU formatter
    /// per call, which kept megabytes of ICU data and code resident in the agent for a timestamp.
    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static func write(_ level: String, _ message: String) {
        FileHandle.standardError.write(Data("\(timestamp.format(Date())) \(level) \(message)\n".utf8))
    }
}

/// Records events in the store (and the log). Store failures are logged, never fatal: an event is a
/// report, not state.
struct EventRecorder: Sendable {
    let store: AgentStore

    func pod(uid: String, namespace: String, name: String, _ type: String, _ reason: String, _ message: String, fieldPath: String? = nil) {
        let prefix = fieldPath.map { "\($0): " } ?? ""
        Log.info("event pod=\(namespace)/\(name) \(type) \(reason): \(prefix)\(message)")
        record(
            EventRecord(
                podUID: uid, namespace: namespace, objectKind: "Pod", objectName: name, fieldPath: fieldPath, type: type, reason: reason, message: message,
                at: Date()))
    }

    /// An event about a manifest file. `objectKey` (`namespace/name` of the object the document defines) is
    /// kept in the event's fieldPath, so `diagnose NAME` finds why a pod did not appear.
    func file(_ file: String, _ type: String, _ reason: String, _ message: String, objectKey: String? = nil) {
        if type == "Warning" { Log.warning("manifest \(message)") } else { Log.info("manifest \(message)") }
        record(
            EventRecord(
                podUID: "", namespace: "", objectKind: "File", objectName: file, fieldPath: objectKey, type: type, reason: reason, message: message,
                at: Date()))
    }

    private func record(_ event: EventRecord) {
        do { try store.recordEvent(event) } catch { Log.error("cannot record event \(event.reason): \(error)") }
    }
}

/// A wake-up signal with a timeout: events (manifest changes, API calls) only wake a pod worker, which
/// then re-reads the actual state (rule 3); the timeout is the periodic relist.
actor Waker {
    private var continuation: CheckedContinuation<Void, Never>?
    private var pending = false
    private var generation = 0

    func wake() {
        if let continuation {
            self.continuation = nil
            continuation.resume()
        } else {
            pending = true
        }
    }

    func wait(timeout: Duration) async {
        if pending {
            pending = false
            return
        }
        generation += 1
        let mine = generation
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.continuation = continuation
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.timeout(generation: mine)
            }
        }
    }

    private func timeout(generation: Int) {
        guard generation == self.generation, let continuation else { return }
        self.continuation = nil
        continuation.resume()
    }
}

/// Per-step durations of a pod's first start (debug log): where the manifest-to-running time goes.
struct StartTrace: Sendable {
    private var last = ContinuousClock.now
    private let begin = ContinuousClock.now
    private var steps: [(String, Duration)] = []

    mutating func mark(_ step: String) {
        let now = ContinuousClock.now
        steps.append((step, now - last))
        last = now
    }

    var summary: String {
        func ms(_ d: Duration) -> String { String(format: "%.1f", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
        return steps.map { "\($0.0)=\(ms($0.1))" }.joined(separator: " ") + " total=\(ms(last - begin)) ms"
    }
}
