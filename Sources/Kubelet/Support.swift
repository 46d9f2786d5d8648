import AgentStore
import Foundation
import Prober
import Synchronization

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
struct Waker: Sendable {
    private let signal = WakeSignal()

    func wake() { signal.fire() }

    /// Returns after a `wake()` (also one that came since the last wait) or after at most `timeout`. Timeouts of a
    /// second or more end at the relist tick before them (`RelistTicker`): waking early is always allowed, and the
    /// idle pods' passes then run in groups on one thread wake-up instead of one wake-up (and timer) each. Shorter
    /// waits (the rest of a back-off) keep a timer of their own, so they are neither early nor repeated.
    func wait(timeout: Duration) async {
        _ = await signal.wait(timeout: timeout) { timeout, expire in
            if timeout < .seconds(1) || !RelistTicker.shared.schedule(before: ContinuousClock.now + timeout, expire) {
                Task {
                    try? await Task.sleep(for: timeout)
                    expire()
                }
            }
        }
    }
}

/// kubelet's PLEG relists every pod once a second from one loop; here each pod worker has its own loop, and this is
/// their shared clock: one timer for all pods whose next pass is a second or more away, ticking every 100 ms. A timer
/// per pod put each idle pod's pass on its own thread wake-up; with shared ticks 100 idle pods cost ten a second.
/// Not one tick a second: each pod keeps the phase of its own schedule (a pass comes at most a tick early), so the
/// passes stay spread over the second in small groups instead of all 100 at once competing with the probes for CPU.
final class RelistTicker: Sendable {
    static let shared = RelistTicker()
    private let period = Duration.milliseconds(100)
    private let epoch = ContinuousClock.now
    private struct State {
        /// Tick number → actions due then.
        var due: [Int64: [@Sendable () -> Void]] = [:]
        var running = false
    }
    private let state = Mutex(State())

    /// Runs `action` at the last tick not after `deadline`; false (nothing scheduled) when that tick is already past,
    /// i.e. the deadline is less than a tick away: the caller keeps its own timer then.
    func schedule(before deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Bool {
        let tick = Int64((deadline - epoch) / period)
        guard epoch + period * tick > ContinuousClock.now else { return false }
        let start = state.withLock { s -> Bool in
            s.due[tick, default: []].append(action)
            defer { s.running = true }
            return !s.running
        }
        if start { Task.detached { await self.run() } }
        return true
    }

    /// Fires the ticks while any action is pending; ends when none is (restarted by the next `schedule`).
    private func run() async {
        while true {
            let now = ContinuousClock.now
            let current = Int64((now - epoch) / period)
            try? await Task.sleep(until: epoch + period * (current + 1), clock: .continuous)
            let reached = Int64((ContinuousClock.now - epoch) / period)
            let (actions, more) = state.withLock { s -> ([@Sendable () -> Void], Bool) in
                var fired: [@Sendable () -> Void] = []
                for tick in s.due.keys where tick <= reached { fired += s.due.removeValue(forKey: tick) ?? [] }
                if s.due.isEmpty { s.running = false }
                return (fired, !s.due.isEmpty)
            }
            for action in actions { action() }
            if !more { return }
        }
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
