import Foundation

/// UDP has no connection teardown: conntrack keeps sending a flow to a backend that went away (or to nowhere, if
/// the flow began while the service had no endpoints). kube-proxy deletes those entries after each sync; TCP
/// flows are left alone (they fail and reset on their own).
public enum Conntrack {
    /// `conntrack -D` filters for the flows that became stale between two states.
    public static func staleFilters(old: [ProxyServicePort], new: [ProxyServicePort]) -> [[String]] {
        // Only UDP ports matter: filtered first, the loops below stay off the (TCP) bulk of 10,000 ports, whose
        // copies alone cost milliseconds of a partial sync.
        let old = old.filter { $0.protocol == .udp }
        let new = new.filter { $0.protocol == .udp }
        let previous = Dictionary(old.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var filters: [[String]] = []
        for port in new {
            let now = Set(port.usableEndpoints.map(\.ip))
            guard let before = previous[port.name] else { continue }
            let then = Set(before.usableEndpoints.map(\.ip))
            if then.isEmpty && !now.isEmpty {
                // Flows created while the port rejected traffic would otherwise keep bypassing the new DNAT.
                filters.append(["-p", "udp", "--orig-dst", port.clusterIP, "--orig-port-dst", String(port.port)])
                if let nodePort = port.nodePort { filters.append(["-p", "udp", "--orig-port-dst", String(nodePort)]) }
            }
            for gone in then.subtracting(now).sorted() {
                filters.append(["-p", "udp", "--orig-dst", before.clusterIP, "--orig-port-dst", String(before.port), "--reply-src", gone])
                if let nodePort = before.nodePort { filters.append(["-p", "udp", "--orig-port-dst", String(nodePort), "--reply-src", gone]) }
            }
        }
        let current = Set(new.map(\.name))
        for port in old where !current.contains(port.name) {
            for gone in Set(port.usableEndpoints.map(\.ip)).sorted() {
                filters.append(["-p", "udp", "--orig-dst", port.clusterIP, "--orig-port-dst", String(port.port), "--reply-src", gone])
            }
        }
        return filters
    }

    /// Deletes the stale flows; returns how many `conntrack -D` filters ran. Failures are not fatal to a sync
    /// (the rules are already right); they go to standard error.
    @discardableResult
    public static func cleanStale(old: [ProxyServicePort], new: [ProxyServicePort], runner: any CommandRunner) -> Int {
        let filters = staleFilters(old: old, new: new)
        for filter in filters {
            do {
                let output = try runner.run(["conntrack", "-D"] + filter, input: nil)
                // Exit status 1 with "0 flow entries have been deleted" is the common, harmless case.
                if output.status != 0 && !output.stderr.contains("0 flow entries") {
                    FileHandle.standardError.write(Data("conntrack -D \(filter.joined(separator: " ")): \(output.stderr)\n".utf8))
                }
            } catch {
                FileHandle.standardError.write(Data("conntrack -D \(filter.joined(separator: " ")): \(error)\n".utf8))
            }
        }
        return filters.count
    }
}
