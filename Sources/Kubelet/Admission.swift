import Foundation
import KubeAPI

/// What the node offers, read once at start.
struct NodeResources: Sendable {
    var milliCPU: Int64
    var memoryBytes: Int64
    var labels: [String: String]

    static func detect(nodeName: String) -> NodeResources {
        var memory: Int64 = 0
        if let text = ProcFile.read("/proc/meminfo"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") })
        {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Int64(fields[1]) { memory = kib * 1024 }
        }
        return NodeResources(
            milliCPU: Int64(ProcessInfo.processInfo.activeProcessorCount) * 1000, memoryBytes: memory,
            labels: ["kubernetes.io/hostname": nodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"])
    }
}

/// Node admission as kubelet's predicate admit handler does it (kubelet.md §4.1): resources, then node
/// selector, then node name. Reasons and messages are kubelet's.
enum Admission {
    /// The pod's effective requests: max(sum of app containers, largest init container), per resource.
    static func requests(_ pod: Pod) -> (milliCPU: Int64, memory: Int64) {
        func sum(_ containers: [Container], _ name: String, milli: Bool) -> Int64 {
            containers.reduce(0) { total, container in
                guard let quantity = container.resources?.requests?[name] else { return total }
                return total + (milli ? quantity.milliValue : quantity.value)
            }
        }
        func largest(_ containers: [Container], _ name: String, milli: Bool) -> Int64 {
            containers.map { container in
                guard let quantity = container.resources?.requests?[name] else { return Int64(0) }
                return milli ? quantity.milliValue : quantity.value
            }.max() ?? 0
        }
        let inits = pod.spec.initContainers ?? []
        return (
            max(sum(pod.spec.containers, "cpu", milli: true), largest(inits, "cpu", milli: true)),
            max(sum(pod.spec.containers, "memory", milli: false), largest(inits, "memory", milli: false))
        )
    }

    /// nil when the pod fits; else (reason, message).
    static func check(
        _ pod: Pod, node: NodeResources, nodeName: String, used: (milliCPU: Int64, memory: Int64), admittedPods: Int, maxPods: Int
    ) -> (reason: String, message: String)? {
        if admittedPods + 1 > maxPods {
            return ("OutOfpods", "Node didn't have enough resource: pods, requested: 1, used: \(admittedPods), capacity: \(maxPods)")
        }
        let wanted = requests(pod)
        if wanted.milliCPU > 0 && used.milliCPU + wanted.milliCPU > node.milliCPU {
            return (
                "OutOfcpu",
                "Node didn't have enough resource: cpu, requested: \(wanted.milliCPU), used: \(used.milliCPU), capacity: \(node.milliCPU)"
            )
        }
        if wanted.memory > 0 && used.memory + wanted.memory > node.memoryBytes {
            return (
                "OutOfmemory",
                "Node didn't have enough resource: memory, requested: \(wanted.memory), used: \(used.memory), capacity: \(node.memoryBytes)"
            )
        }
        for (key, value) in pod.spec.nodeSelector ?? [:] where node.labels[key] != value {
            return ("NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector")
        }
        if let wantedNode = pod.spec.nodeName, !wantedNode.isEmpty, wantedNode != nodeName {
            return ("NodeName", "Predicate NodeName failed: node(s) didn't match the requested node name")
        }
        return nil
    }

    /// kubelet's oom_score_adj policy (pkg/kubelet/qos/policy.go): Guaranteed -997, BestEffort 1000,
    /// Burstable 1000 - 1000 × memory request / memory capacity, kept within [3, 999].
    static func oomScoreAdj(_ pod: Pod, container: Container, memoryCapacity: Int64) -> Int {
        switch QOSClass(pod: pod) {
        case .guaranteed: return -997
        case .bestEffort: return 1000
        case .burstable:
            let request = container.resources?.requests?["memory"]?.value ?? 0
            guard memoryCapacity > 0 else { return 999 }
            let value = 1000 - Int((1000 * request) / memoryCapacity)
            if value < 3 { return 3 }
            if value >= 1000 { return 999 }
            return value
        }
    }

    /// Lowering oom_score_adj below the agent's own needs CAP_SYS_RESOURCE, which this agent may lack
    /// (containers, restricted roots): then the container gets the agent's own value instead of failing.
    static func achievable(_ wanted: Int) -> Int {
        let current =
            ProcFile.read("/proc/self/oom_score_adj")
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        guard wanted < current else { return wanted }
        return hasSysResource() ? wanted : current
    }

    static func hasSysResource() -> Bool {
        guard let text = ProcFile.read("/proc/self/status"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << 24) != 0
    }
}
