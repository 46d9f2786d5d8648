import ArgumentParser
import Foundation
import KubeAPI
import ServiceProxy
import Yams

extension Connection {
    func services(namespace: String) throws -> [Service] {
        try call { try client.getJSON("/v1/services", as: ObjectList<Service>.self, decoder: KubeJSON.decoder()) }.items
            .filter { ($0.metadata.namespace ?? "default") == namespace }
    }

    func endpointSlices(namespace: String) throws -> [EndpointSlice] {
        try call { try client.getJSON("/v1/endpointslices", as: ObjectList<EndpointSlice>.self, decoder: KubeJSON.decoder()) }.items
            .filter { ($0.metadata.namespace ?? "default") == namespace }
    }

    func endpoints(namespace: String) throws -> [Endpoints] {
        try call { try client.getJSON("/v1/endpoints", as: ObjectList<Endpoints>.self, decoder: KubeJSON.decoder()) }.items
            .filter { ($0.metadata.namespace ?? "default") == namespace }
    }
}

/// kubectl's `formatEndpoints` over an Endpoints object: ready `ip:port`, three at most, then ` + N more...`.
func endpointsCell(_ object: Endpoints?) -> String {
    let pairs = (object?.subsets ?? []).flatMap { subset in
        (subset.addresses ?? []).flatMap { address in (subset.ports ?? []).map { ServiceEndpoint(ip: address.ip, port: Int($0.port)) } }
    }
    return ServiceTables.endpointsCell(pairs)
}

extension Get {
    func serviceObjects() throws {
        try printResources(try connection.services(namespace: namespace), plural: "services", name: \.metadata.name) { items in
            // A LoadBalancer's external IP is the node's address (ServiceLB style).
            let info = try? connection.client.getJSON("/v1/info", as: [String: String].self, decoder: JSONDecoder())
            let nodeIPs = (info?["nodeIP"]).flatMap { $0.isEmpty ? nil : [$0] } ?? []
            let now = Date()
            let header = ServiceTables.serviceHeader + (output == "wide" ? ["SELECTOR"] : [])
            let rows = items.map { service in
                ServiceTables.serviceRow(service, loadBalancerIPs: nodeIPs, now: now)
                    + (output == "wide"
                        ? [
                            (service.spec.selector ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",").nonEmpty
                                ?? "<none>"
                        ]
                        : [])
            }
            return ServiceTables.render(header, rows)
        }
    }

    func endpointObjects() throws {
        try printResources(try connection.endpoints(namespace: namespace), plural: "endpoints", name: \.metadata.name) { items in
            let now = Date()
            let rows = items.map { [$0.metadata.name ?? "", endpointsCell($0), age($0.metadata.creationTimestamp, now: now)] }
            return ServiceTables.render(ServiceTables.endpointsHeader, rows)
        }
    }

    func endpointSliceObjects() throws {
        try printResources(try connection.endpointSlices(namespace: namespace), plural: "endpointslices.discovery.k8s.io", name: \.metadata.name) {
            items in
            let now = Date()
            return ServiceTables.render(ServiceTables.endpointSliceHeader, items.map { ServiceTables.endpointSliceRow($0, now: now) })
        }
    }

    /// `get KIND [NAME]`: kubectl's NotFound for a NAME that is not there, `-o json|yaml` as the object or a List,
    /// else the table `render` makes of the items (kubectl's "No resources found" when there are none).
    func printResources<Item: Codable>(_ all: [Item], plural: String, name itemName: (Item) -> String?, render: ([Item]) -> String) throws {
        var items = all
        if let name {
            items = items.filter { itemName($0) == name }
            if items.isEmpty { notFound(plural) }
        }
        switch output {
        case "json", "yaml":
            try printObjects(items, list: ObjectList(items: items))
        case nil, "wide":
            if items.isEmpty { return noResources() }
            print(render(items), terminator: "")
        default:
            throw ValidationError("unknown output format \"\(output ?? "")\" (wide, json, yaml)")
        }
    }

    /// kubectl's NotFound for `get KIND NAME` (exit status 1).
    func notFound(_ plural: String) -> Never {
        FileHandle.standardError.write(Data("Error from server (NotFound): \(plural) \"\(name ?? "")\" not found\n".utf8))
        Foundation.exit(1)
    }

    func noResources() {
        FileHandle.standardError.write(Data("No resources found in \(namespace) namespace.\n".utf8))
    }

    /// `-o json|yaml`: the one object when a name was asked for, else the list.
    func printObjects<Item: Encodable, List: Encodable>(_ items: [Item], list: List) throws {
        let single = name != nil && items.count == 1
        if output == "json" {
            let encoder = KubeJSON.encoder(pretty: true)
            print(String(decoding: try single ? encoder.encode(items[0]) : encoder.encode(list), as: UTF8.self))
        } else {
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            print(try single ? encoder.encode(items[0]) : encoder.encode(list), terminator: "")
        }
    }
}

extension String {
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}

extension Describe {
    /// kubectl's `describe service` layout (describe.go describeService).
    func describeService() throws {
        guard let service = try connection.services(namespace: namespace).first(where: { $0.metadata.name == name }) else {
            FileHandle.standardError.write(Data("Error from server (NotFound): services \"\(name)\" not found\n".utf8))
            throw ExitCode.failure
        }
        let endpoints = try connection.endpoints(namespace: namespace).first { $0.metadata.name == name }
        var lines: [(String, String)] = []
        func field(_ key: String, _ value: String) { lines.append((key, value)) }
        func map(_ key: String, _ values: [String: String]?, separator: String) {
            let entries = (values ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)\(separator)\($0.value)" }
            field(key, entries.first ?? "<none>")
            for entry in entries.dropFirst() { field("", entry) }
        }
        field("Name:", service.metadata.name ?? "")
        field("Namespace:", service.metadata.namespace ?? "default")
        map("Labels:", service.metadata.labels, separator: "=")
        map("Annotations:", service.metadata.annotations, separator: ": ")
        let selector = (service.spec.selector ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        field("Selector:", selector.isEmpty ? "<none>" : selector)
        field("Type:", service.spec.type ?? "ClusterIP")
        field("IP Family Policy:", "SingleStack")
        field("IP Families:", "IPv4")
        field("IP:", service.spec.clusterIP ?? "")
        field("IPs:", service.spec.clusterIP ?? "")
        for port in service.spec.ports ?? [] {
            let name = (port.name ?? "").isEmpty ? "<unset>" : port.name ?? ""
            let proto = port.protocol ?? "TCP"
            field("Port:", "\(name)  \(port.port)/\(proto)")
            let target: String
            switch port.targetPort {
            case .string(let named): target = named
            case .int(let number): target = String(number)
            case nil: target = String(port.port)
            }
            field("TargetPort:", "\(target)/\(proto)")
            if let nodePort = port.nodePort, nodePort != 0 { field("NodePort:", "\(name)  \(nodePort)/\(proto)") }
            let ready = (endpoints?.subsets ?? []).flatMap { subset in
                (subset.addresses ?? []).flatMap { address in
                    (subset.ports ?? []).filter { ($0.name ?? "") == (port.name ?? "") }.map { "\(address.ip):\($0.port)" }
                }
            }
            field("Endpoints:", ready.joined(separator: ","))
        }
        field("Session Affinity:", service.spec.sessionAffinity ?? "None")
        if let policy = service.spec.externalTrafficPolicy, service.spec.type == "NodePort" || service.spec.type == "LoadBalancer" {
            field("External Traffic Policy:", policy)
        }
        let width = (lines.map(\.0.count).max() ?? 0) + 2
        var out = lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 }.joined(separator: "\n") + "\n"
        out += serviceEvents(key: "\(namespace)/\(name)", width: width)
        print(out, terminator: "")
    }

    /// The Service's events: allocation failures recorded against its manifest file, tagged with its key.
    private func serviceEvents(key: String, width: Int) -> String {
        let list = try? connection.client.getJSON("/v1/events", as: EventListBody.self, decoder: KubeJSON.decoder())
        let events = (list?.items ?? []).filter { $0.involvedObject.fieldPath == key }
        if events.isEmpty { return "Events:".padding(toLength: width, withPad: " ", startingAt: 0) + "<none>\n" }
        let now = Date()
        var rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----", "-------"]]
        for event in events {
            rows.append([event.type, event.reason, age(event.lastTimestamp, now: now), "minikubelet", event.message])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return "Events:\n"
            + rows.map { row in "  " + (0..<4).map { row[$0].padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() + row[4] }
            .joined(separator: "\n") + "\n"
    }
}
