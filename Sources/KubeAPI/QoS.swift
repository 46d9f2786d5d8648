/// Pod quality-of-service classes (Kubernetes `PodQOSClass`).
public enum QOSClass: String, Hashable, Sendable, Codable {
    case guaranteed = "Guaranteed"
    case burstable = "Burstable"
    case bestEffort = "BestEffort"

    /// Kubernetes' GetPodQOS: only cpu and memory count, zero quantities count as unset, init containers count.
    /// - Guaranteed: every container has cpu and memory limits, and requests equal limits.
    /// - BestEffort: no container has any cpu or memory request or limit.
    /// - Burstable: anything else.
    /// A limit without a request counts as request == limit (the API default), so undefaulted pods work too.
    public init(pod: Pod) {
        let computeResources: Set<String> = ["cpu", "memory"]
        var requests: [String: Quantity] = [:]
        var limits: [String: Quantity] = [:]
        var guaranteed = true
        for container in (pod.spec.initContainers ?? []) + pod.spec.containers {
            let containerLimits = container.resources?.limits ?? [:]
            var containerRequests = container.resources?.requests ?? [:]
            for (name, limit) in containerLimits where containerRequests[name] == nil { containerRequests[name] = limit }
            for (name, quantity) in containerRequests where computeResources.contains(name) && quantity.nanoValue > 0 {
                requests[name] = Quantity(nanoValue: (requests[name]?.nanoValue ?? 0) + quantity.nanoValue, format: quantity.format)
            }
            var limitsFound: Set<String> = []
            for (name, quantity) in containerLimits where computeResources.contains(name) && quantity.nanoValue > 0 {
                limitsFound.insert(name)
                limits[name] = Quantity(nanoValue: (limits[name]?.nanoValue ?? 0) + quantity.nanoValue, format: quantity.format)
            }
            if limitsFound != computeResources { guaranteed = false }
        }
        if requests.isEmpty && limits.isEmpty {
            self = .bestEffort
            return
        }
        if guaranteed {
            for (name, request) in requests where limits[name] != request {
                guaranteed = false
            }
        }
        self = guaranteed && requests.count == limits.count ? .guaranteed : .burstable
    }
}
