import Foundation
import Synchronization

/// kubelet's prober metrics: `prober_probe_total` (counter; probe_type, result, container, pod, namespace, pod_uid) and
/// `prober_probe_duration_seconds` (histogram; probe_type, container, pod, namespace).
public final class ProbeMetrics: Sendable {
    public struct Key: Sendable, Hashable, Comparable {
        public var probeType: String
        public var result: String
        public var container: String
        public var pod: String
        public var namespace: String
        public var podUID: String = ""
        public static func < (a: Key, b: Key) -> Bool {
            (a.namespace, a.pod, a.podUID, a.container, a.probeType, a.result) < (b.namespace, b.pod, b.podUID, b.container, b.probeType, b.result)
        }
    }

    struct Histogram {
        var buckets: [Int]
        var sum: Double = 0
        var count = 0
    }

    /// Prometheus' default buckets.
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    private let state = Mutex<(totals: [Key: Int], durations: [Key: Histogram])>(([:], [:]))

    /// The latest run of one probe, for the agent's API (`minikubelet.io/probes` annotation).
    public struct LastRun: Sendable, Hashable, Codable {
        /// `successful`, `failed` or `unknown`, as in `prober_probe_total`.
        public var result: String
        public var durationSeconds: Double
        public var at: Date
        public var output: String
        /// Runs counted for this probe since the pod was added.
        public var count: Int
    }
    /// podUID → container → probe kind (lower-case) → latest run.
    private let latest = Mutex<[String: [String: [String: LastRun]]]>([:])

    public init() {}

    /// Counts one run: result `successful`, `failed` or `unknown` (errored) like kubelet's worker; the duration is
    /// observed with the result label dropped (the duration labels are probe_type, container, pod, namespace).
    public func record(kind: ProbeKind, run: ProbeRun, duration: Duration, container: String, pod: String, namespace: String, podUID: String = "") {
        let result = run.errored ? "unknown" : (run.result == .success ? "successful" : "failed")
        let key = Key(probeType: kind.description, result: result, container: container, pod: pod, namespace: namespace, podUID: podUID)
        let durationKey = Key(probeType: kind.description, result: "", container: container, pod: pod, namespace: namespace)
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        latest.withLock { all in
            let count = (all[podUID]?[container]?[kind.rawValue]?.count ?? 0) + 1
            all[podUID, default: [:]][container, default: [:]][kind.rawValue] = LastRun(
                result: result, durationSeconds: seconds, at: Date(), output: String(run.output.prefix(1024)), count: count)
        }
        state.withLock { s in
            s.totals[key, default: 0] += 1
            var histogram = s.durations[durationKey] ?? Histogram(buckets: Array(repeating: 0, count: Self.bounds.count))
            for (i, bound) in Self.bounds.enumerated() where seconds <= bound { histogram.buckets[i] += 1 }
            histogram.sum += seconds
            histogram.count += 1
            s.durations[durationKey] = histogram
        }
    }

    /// The latest runs of a pod's probes: container → kind → run.
    public func latestRuns(podUID: String) -> [String: [String: LastRun]] { latest.withLock { $0[podUID] ?? [:] } }

    func forget(podUID: String) { _ = latest.withLock { $0.removeValue(forKey: podUID) } }

    /// The value of one `prober_probe_total` series.
    public func total(probeType: String, result: String, container: String, pod: String, namespace: String, podUID: String = "") -> Int {
        state.withLock {
            $0.totals[Key(probeType: probeType, result: result, container: container, pod: pod, namespace: namespace, podUID: podUID)] ?? 0
        }
    }

    /// Prometheus text exposition of both metrics.
    public func render() -> String {
        let (totals, durations) = state.withLock { ($0.totals, $0.durations) }
        var out = "# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.\n"
        out += "# TYPE prober_probe_total counter\n"
        for key in totals.keys.sorted() {
            out += "prober_probe_total{container=\"\(key.container)\",namespace=\"\(key.namespace)\",pod=\"\(key.pod)\","
            out += "pod_uid=\"\(key.podUID)\",probe_type=\"\(key.probeType)\",result=\"\(key.result)\"} \(totals[key] ?? 0)\n"
        }
        out += "# HELP prober_probe_duration_seconds [ALPHA] Duration in seconds for a probe response.\n"
        out += "# TYPE prober_probe_duration_seconds histogram\n"
        for key in durations.keys.sorted() {
            guard let h = durations[key] else { continue }
            let labels = "container=\"\(key.container)\",namespace=\"\(key.namespace)\",pod=\"\(key.pod)\",probe_type=\"\(key.probeType)\""
            for (i, bound) in Self.bounds.enumerated() { out += "prober_probe_duration_seconds_bucket{\(labels),le=\"\(bound)\"} \(h.buckets[i])\n" }
            out += "prober_probe_duration_seconds_bucket{\(labels),le=\"+Inf\"} \(h.count)\n"
            out += "prober_probe_duration_seconds_sum{\(labels)} \(h.sum)\n"
            out += "prober_probe_duration_seconds_count{\(labels)} \(h.count)\n"
        }
        return out
    }
}
