import Foundation
import KubeAPI

/// `kubectl get svc`, `kubectl get endpoints` and `kubectl get endpointslices` tables, as pure functions for `agentctl`.
public enum ServiceTables {
    /// kubectl's tabwriter layout: columns padded to the widest cell plus three spaces.
    public static func render(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 3)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }

    /// `80/TCP`, `80:30080/TCP`, comma-separated (kubectl's `makePortString`).
    public static func ports(_ service: Service) -> String {
        let list = (service.spec.ports ?? []).map { port -> String in
            let proto = port.protocol ?? "TCP"
            if let nodePort = port.nodePort, nodePort != 0 { return "\(port.port):\(nodePort)/\(proto)" }
            return "\(port.port)/\(proto)"
        }
        return list.isEmpty ? "<none>" : list.joined(separator: ",")
    }

    /// One `get svc` row: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE. A LoadBalancer's external IPs are the node
    /// addresses (ServiceLB); `<pending>` until the agent knows them.
    public static func serviceRow(_ service: Service, loadBalancerIPs: [String], now: Date) -> [String] {
        let type = service.spec.type ?? "ClusterIP"
        let clusterIP = (service.spec.clusterIP ?? "").isEmpty ? "<none>" : service.spec.clusterIP ?? "<none>"
        let external: String
        switch type {
        case "LoadBalancer": external = loadBalancerIPs.isEmpty ? "<pending>" : loadBalancerIPs.joined(separator: ",")
        case "ExternalName": external = service.spec.externalName ?? "<none>"
        default: external = "<none>"
        }
        return [service.metadata.name ?? "", type, clusterIP, external, ports(service), age(service.metadata, now: now)]
    }

    public static let serviceHeader = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    public static let endpointsHeader = ["NAME", "ENDPOINTS", "AGE"]

    public static func services(_ services: [Service], loadBalancerIPs: [String], now: Date) -> String {
        render(serviceHeader, services.map { serviceRow($0, loadBalancerIPs: loadBalancerIPs, now: now) })
    }

    /// kubectl's `formatEndpoints`: ready `ip:port` pairs, at most three, then ` + N more...`; `<none>` when empty.
    public static func endpointsCell(_ endpoints: [ServiceEndpoint]) -> String {
        let ready = endpoints.filter(\.ready).map(\.hostPort)
        if ready.isEmpty { return "<none>" }
        let shown = ready.prefix(3).joined(separator: ",")
        return ready.count > 3 ? "\(shown) + \(ready.count - 3) more..." : shown
    }

    /// One `get endpoints` row per Service: its ports' endpoints together.
    public static func endpoints(_ services: [Service], ports: [ProxyServicePort], now: Date) -> String {
        let rows = services.map { service -> [String] in
            let namespace = service.metadata.namespace ?? "default"
            let mine = ports.filter { $0.name.namespace == namespace && $0.name.name == service.metadata.name }
            return [service.metadata.name ?? "", endpointsCell(mine.flatMap(\.endpoints)), age(service.metadata, now: now)]
        }
        return render(endpointsHeader, rows)
    }

    public static let endpointSliceHeader = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]

    /// One `get endpointslices` row (kubectl's `formatDiscoveryPorts` / `formatDiscoveryEndpoints`: three at most, then
    /// ` + N more...`; `<unset>` when empty; a port without a number shows its name, or `*`).
    public static func endpointSliceRow(_ slice: EndpointSlice, now: Date) -> [String] {
        let ports = (slice.ports ?? []).map { port in port.port.map(String.init) ?? port.name.flatMap { $0.isEmpty ? nil : $0 } ?? "*" }
        let addresses = slice.endpoints.flatMap(\.addresses)
        return [slice.metadata.name ?? "", slice.addressType, listWithMore(ports), listWithMore(addresses), age(slice.metadata, now: now)]
    }

    static func listWithMore(_ list: [String], max: Int = 3) -> String {
        if list.isEmpty { return "<unset>" }
        let shown = list.prefix(max).joined(separator: ",")
        return list.count > max ? "\(shown) + \(list.count - max) more..." : shown
    }

    static func age(_ meta: ObjectMeta, now: Date) -> String {
        meta.creationTimestamp.map { HumanDuration.format(seconds: now.timeIntervalSince($0)) } ?? "<unknown>"
    }
}
