import Foundation

/// A `discovery.k8s.io/v1` EndpointSlice: part of the addresses of a selector-less Service, written by hand next to
/// it. The Service is the one named by the `kubernetes.io/service-name` label; every slice naming it counts.
public struct EndpointSlice: Codable, Hashable, Sendable {
    /// The label tying a slice to its Service (kube-proxy ignores slices without it).
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let addressTypes = ["FQDN", "IPv4", "IPv6"]

    public var apiVersion: String = "discovery.k8s.io/v1"
    public var kind: String = "EndpointSlice"
    public var metadata: ObjectMeta
    public var addressType: String
    public var endpoints: [EndpointSliceEndpoint]
    public var ports: [EndpointSlicePort]?

    public init(metadata: ObjectMeta = ObjectMeta(), addressType: String = "IPv4", endpoints: [EndpointSliceEndpoint] = [], ports: [EndpointSlicePort]? = nil) {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }

    public var key: String { metadata.key }

    /// `namespace/name` of the Service the slice belongs to; nil without the label.
    public var serviceKey: String? {
        guard let name = metadata.labels?[Self.serviceNameLabel], !name.isEmpty else { return nil }
        return "\(metadata.namespace ?? Defaults.namespace)/\(name)"
    }
}

public struct EndpointSliceEndpoint: Codable, Hashable, Sendable {
    /// Only the first address is used (the API defines no meaning for the others; kube-proxy ignores them).
    public var addresses: [String]
    public var conditions: EndpointConditions?
    public var hostname: String?
    public var nodeName: String?
    public var zone: String?

    public init(addresses: [String], conditions: EndpointConditions? = nil) {
        self.addresses = addresses
        self.conditions = conditions
    }
}

/// Unset conditions mean ready and serving, not terminating (the API's and kube-proxy's reading).
public struct EndpointConditions: Codable, Hashable, Sendable {
    public var ready: Bool?
    public var serving: Bool?
    public var terminating: Bool?

    public init(ready: Bool? = nil, serving: Bool? = nil, terminating: Bool? = nil) {
        self.ready = ready
        self.serving = serving
        self.terminating = terminating
    }
}

public struct EndpointSlicePort: Codable, Hashable, Sendable {
    public var name: String?
    public var port: Int32?
    public var `protocol`: String?

    public init(name: String? = nil, port: Int32?, protocol: String? = nil) {
        self.name = name
        self.port = port
        self.protocol = `protocol`
    }
}

extension EndpointSlice: ManifestDecodable {
    init(reader r: ObjectReader) {
        apiVersion = r.string("apiVersion") ?? "discovery.k8s.io/v1"
        kind = r.string("kind") ?? "EndpointSlice"
        metadata = r.object("metadata") ?? ObjectMeta()
        addressType = r.string("addressType") ?? ""
        endpoints = r.objects("endpoints") ?? []
        ports = r.objects("ports")
        if addressType == "IPv6" || addressType == "FQDN" {
            // Valid for the API server, but this node's proxier is IPv4 only (as a single-stack IPv4 kube-proxy is).
            r.ctx.warn(
                DecodeWarning(
                    path: r.path.child("addressType"),
                    message: "addressType: \(goQuote(addressType)): the service proxy on this node is IPv4 only; the slice's endpoints are ignored"))
        }
    }
}

extension EndpointSliceEndpoint: ManifestDecodable {
    init(reader r: ObjectReader) {
        addresses = r.strings("addresses") ?? []
        conditions = r.object("conditions")
        hostname = r.string("hostname")
        nodeName = r.string("nodeName")
        zone = r.string("zone")
        r.ignore("targetRef", reason: "not used by the service proxy")
        r.ignore("hints", reason: "topology hints are not used on a single node")
        r.ignore("deprecatedTopology", reason: "not used by the service proxy")
    }
}

extension EndpointConditions: ManifestDecodable {
    init(reader r: ObjectReader) {
        ready = r.bool("ready")
        serving = r.bool("serving")
        terminating = r.bool("terminating")
    }
}

extension EndpointSlicePort: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name")
        port = r.int32("port")
        `protocol` = r.string("protocol")
        r.ignore("appProtocol", reason: "not used by the service proxy")
    }
}

extension Defaults {
    /// SetDefaults_EndpointPort (discovery/v1): name "", protocol TCP.
    public static func apply(to slice: inout EndpointSlice) {
        if (slice.metadata.namespace ?? "").isEmpty { slice.metadata.namespace = namespace }
        guard var ports = slice.ports else { return }
        for p in ports.indices {
            if ports[p].name == nil { ports[p].name = "" }
            if (ports[p].protocol ?? "").isEmpty { ports[p].protocol = portProtocol }
        }
        slice.ports = ports
    }
}

extension Validation {
    /// ValidateEndpointSlice (pkg/apis/discovery/validation) plus what the file source needs: the
    /// `kubernetes.io/service-name` label (without it the slice belongs to no Service) and port numbers in range.
    public static func validate(_ slice: EndpointSlice) -> [FieldError] {
        var errors = validate(slice.metadata, path: FieldPath("metadata"))
        if slice.serviceKey == nil {
            errors.append(
                .required(
                    FieldPath("metadata").child("labels").key(EndpointSlice.serviceNameLabel),
                    "the name of the Service this EndpointSlice belongs to"))
        }
        if slice.addressType.isEmpty {
            errors.append(.required(FieldPath("addressType")))
        } else if !EndpointSlice.addressTypes.contains(slice.addressType) {
            errors.append(.unsupported(FieldPath("addressType"), .string(slice.addressType), EndpointSlice.addressTypes))
        }
        if slice.endpoints.count > 1000 {
            errors.append(FieldError(.tooMany(slice.endpoints.count, max: 1000), FieldPath("endpoints")))
        }
        for (e, endpoint) in slice.endpoints.enumerated().prefix(1000) {
            let path = FieldPath("endpoints").index(e)
            let addressPath = path.child("addresses")
            if endpoint.addresses.isEmpty {
                errors.append(.required(addressPath, "must contain at least 1 address"))
            } else if endpoint.addresses.count > 100 {
                errors.append(FieldError(.tooMany(endpoint.addresses.count, max: 100), addressPath))
            }
            for (a, address) in endpoint.addresses.enumerated() {
                errors += validateSliceAddress(address, type: slice.addressType, path: addressPath.index(a))
            }
            if let hostname = endpoint.hostname {
                errors += Names.dns1123Label(hostname).map { .invalid(path.child("hostname"), .string(hostname), $0) }
            }
        }
        let ports = slice.ports ?? []
        if ports.count > 100 {
            errors.append(FieldError(.tooMany(ports.count, max: 100), FieldPath("ports")))
        }
        var names: Set<String> = []
        for (p, port) in ports.enumerated().prefix(100) {
            let path = FieldPath("ports").index(p)
            let name = port.name ?? ""
            if !name.isEmpty { errors += Names.dns1123Label(name).map { .invalid(path.child("name"), .string(name), $0) } }
            if !names.insert(name).inserted { errors.append(.duplicate(path.child("name"), .string(name))) }
            if let number = port.port, !(1...65535).contains(number) {
                errors.append(.invalid(path.child("port"), .int(Int64(number)), "must be between 1 and 65535, inclusive"))
            }
            let proto = port.protocol ?? Defaults.portProtocol
            if !protocols.contains(proto) { errors.append(.unsupported(path.child("protocol"), .string(proto), protocols)) }
        }
        return errors
    }

    /// IsValidIPv4Address + ValidateNonSpecialIP (and the IPv6 and FQDN shapes, for slices this node then ignores).
    static func validateSliceAddress(_ address: String, type: String, path: FieldPath) -> [FieldError] {
        switch type {
        case "IPv4":
            guard Names.isIP(address), !address.contains(":") else { return [.invalid(path, .string(address), "must be a valid IPv4 address")] }
            let octets = address.split(separator: ".").compactMap { Int($0) }
            if octets.allSatisfy({ $0 == 0 }) { return [.invalid(path, .string(address), "may not be unspecified (\(address))")] }
            if octets[0] == 127 { return [.invalid(path, .string(address), "may not be in the loopback range (127.0.0.0/8, ::1/128)")] }
            if octets[0] == 169 && octets[1] == 254 {
                return [.invalid(path, .string(address), "may not be in the link-local range (169.254.0.0/16, fe80::/10)")]
            }
            if octets[0] == 224 && octets[1] == 0 && octets[2] == 0 {
                return [.invalid(path, .string(address), "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")]
            }
            return []
        case "IPv6":
            return Names.isIP(address) && address.contains(":") ? [] : [.invalid(path, .string(address), "must be a valid IPv6 address")]
        case "FQDN":
            var errors = Names.dns1123Subdomain(address).map { FieldError.invalid(path, .string(address), $0) }
            if errors.isEmpty && !address.contains(".") {
                errors.append(.invalid(path, .string(address), "should be a domain with at least two segments separated by dots"))
            }
            return errors
        default:
            return []
        }
    }
}
