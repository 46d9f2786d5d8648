import Foundation

/// A v1 Endpoints object: the addresses of a selector-less Service, written by hand next to it.
public struct Endpoints: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "Endpoints"
    public var metadata: ObjectMeta
    public var subsets: [EndpointSubset]?

    public init(metadata: ObjectMeta = ObjectMeta(), subsets: [EndpointSubset]? = nil) {
        self.metadata = metadata
        self.subsets = subsets
    }

    public var key: String { metadata.key }
}

public struct EndpointSubset: Codable, Hashable, Sendable {
    public var addresses: [EndpointAddress]?
    public var notReadyAddresses: [EndpointAddress]?
    public var ports: [EndpointPort]?

    public init(addresses: [EndpointAddress]? = nil, notReadyAddresses: [EndpointAddress]? = nil, ports: [EndpointPort]? = nil) {
        self.addresses = addresses
        self.notReadyAddresses = notReadyAddresses
        self.ports = ports
    }
}

public struct EndpointAddress: Codable, Hashable, Sendable {
    public var ip: String = ""
    public var hostname: String?
    public var nodeName: String?
    public init(ip: String) { self.ip = ip }
}

public struct EndpointPort: Codable, Hashable, Sendable {
    public var name: String?
    public var port: Int32 = 0
    public var `protocol`: String?
    public init(name: String? = nil, port: Int32, protocol: String? = nil) {
        self.name = name
        self.port = port
        self.protocol = `protocol`
    }
}

extension Endpoints: ManifestDecodable {
    init(reader r: ObjectReader) {
        apiVersion = r.string("apiVersion") ?? "v1"
        kind = r.string("kind") ?? "Endpoints"
        metadata = r.object("metadata") ?? ObjectMeta()
        subsets = r.objects("subsets")
    }
}

extension EndpointSubset: ManifestDecodable {
    init(reader r: ObjectReader) {
        addresses = r.objects("addresses")
        notReadyAddresses = r.objects("notReadyAddresses")
        ports = r.objects("ports")
    }
}

extension EndpointAddress: ManifestDecodable {
    init(reader r: ObjectReader) {
        ip = r.string("ip") ?? ""
        hostname = r.string("hostname")
        nodeName = r.string("nodeName")
        r.ignore("targetRef", reason: "not used by the service proxy")
    }
}

extension EndpointPort: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name")
        port = r.int32("port") ?? 0
        `protocol` = r.string("protocol")
        r.ignore("appProtocol", reason: "not used by the service proxy")
    }
}

extension Defaults {
    /// SetDefaults_EndpointPort: protocol TCP.
    public static func apply(to endpoints: inout Endpoints) {
        if (endpoints.metadata.namespace ?? "").isEmpty { endpoints.metadata.namespace = namespace }
        guard var subsets = endpoints.subsets else { return }
        for s in subsets.indices {
            guard var ports = subsets[s].ports else { continue }
            for p in ports.indices where (ports[p].protocol ?? "").isEmpty { ports[p].protocol = portProtocol }
            subsets[s].ports = ports
        }
        endpoints.subsets = subsets
    }
}

extension Validation {
    /// ValidateEndpoints (pkg/apis/core/validation): addresses are IPs, ports named (when several) and in range.
    public static func validate(_ endpoints: Endpoints) -> [FieldError] {
        var errors = validate(endpoints.metadata, path: FieldPath("metadata"))
        for (s, subset) in (endpoints.subsets ?? []).enumerated() {
            let path = FieldPath("subsets").index(s)
            if (subset.addresses ?? []).isEmpty && (subset.notReadyAddresses ?? []).isEmpty {
                errors.append(.required(path, "must specify `addresses` or `notReadyAddresses`"))
            }
            for (field, list) in [("addresses", subset.addresses ?? []), ("notReadyAddresses", subset.notReadyAddresses ?? [])] {
                for (a, address) in list.enumerated() where !Names.isIP(address.ip) {
                    errors.append(.invalid(path.child(field).index(a).child("ip"), .string(address.ip), "must be a valid IP address"))
                }
            }
            let ports = subset.ports ?? []
            if ports.isEmpty { errors.append(.required(path.child("ports"))) }
            var names: Set<String> = []
            for (p, port) in ports.enumerated() {
                errors += validatePort(
                    name: port.name, port: port.port, protocol: port.protocol, path: path.child("ports").index(p), portCount: ports.count, names: &names)
            }
        }
        return errors
    }

    /// The checks every port list shares (Service ports, Endpoints ports): a name when there are several (a DNS
    /// label, unique in the list), a number in 1-65535, a known protocol.
    static func validatePort(name: String?, port: Int32, protocol proto: String?, path: FieldPath, portCount: Int, names: inout Set<String>)
        -> [FieldError]
    {
        var errors: [FieldError] = []
        let name = name ?? ""
        if portCount > 1 && name.isEmpty {
            errors.append(.required(path.child("name")))
        } else if !name.isEmpty {
            errors += Names.dns1123Label(name).map { .invalid(path.child("name"), .string(name), $0) }
            if !names.insert(name).inserted { errors.append(.duplicate(path.child("name"), .string(name))) }
        }
        if !(1...65535).contains(port) {
            errors.append(.invalid(path.child("port"), .int(Int64(port)), "must be between 1 and 65535, inclusive"))
        }
        let proto = proto ?? Defaults.portProtocol
        if !protocols.contains(proto) { errors.append(.unsupported(path.child("protocol"), .string(proto), protocols)) }
        return errors
    }
}
