import Foundation

/// A v1 Service: what the service proxy needs (ClusterIP, NodePort, LoadBalancer the way k3s's ServiceLB does it).
public struct Service: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "Service"
    public var metadata: ObjectMeta
    public var spec: ServiceSpec

    public init(metadata: ObjectMeta = ObjectMeta(), spec: ServiceSpec = ServiceSpec()) {
        self.metadata = metadata
        self.spec = spec
    }

    public var key: String { metadata.key }
}

public struct ServiceSpec: Codable, Hashable, Sendable {
    public var type: String?
    public var clusterIP: String?
    public var clusterIPs: [String]?
    public var ports: [ServicePort]?
    public var selector: [String: String]?
    public var sessionAffinity: String?
    public var sessionAffinityConfig: SessionAffinityConfig?
    public var externalTrafficPolicy: String?
    public var internalTrafficPolicy: String?
    public var publishNotReadyAddresses: Bool?
    public var externalName: String?

    public init(type: String? = nil, ports: [ServicePort]? = nil, selector: [String: String]? = nil) {
        self.type = type
        self.ports = ports
        self.selector = selector
    }

    /// True for `clusterIP: None`: no virtual IP, nothing for the proxy to program.
    public var isHeadless: Bool { clusterIP == "None" }
}

public struct ServicePort: Codable, Hashable, Sendable {
    public var name: String?
    public var `protocol`: String?
    public var port: Int32 = 0
    public var targetPort: IntOrString?
    public var nodePort: Int32?

    public init(name: String? = nil, protocol: String? = nil, port: Int32, targetPort: IntOrString? = nil, nodePort: Int32? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.targetPort = targetPort
        self.nodePort = nodePort
    }
}

public struct SessionAffinityConfig: Codable, Hashable, Sendable {
    public var clientIP: ClientIPConfig?
    public init(clientIP: ClientIPConfig? = nil) { self.clientIP = clientIP }
}

public struct ClientIPConfig: Codable, Hashable, Sendable {
    public var timeoutSeconds: Int32?
    public init(timeoutSeconds: Int32? = nil) { self.timeoutSeconds = timeoutSeconds }
}

extension Service: ManifestDecodable {
    init(reader r: ObjectReader) {
        apiVersion = r.string("apiVersion") ?? "v1"
        kind = r.string("kind") ?? "Service"
        metadata = r.object("metadata") ?? ObjectMeta()
        spec = r.object("spec") ?? ServiceSpec()
        r.ignore("status", reason: "status is set by the agent")
    }
}

extension ServiceSpec: ManifestDecodable {
    init(reader r: ObjectReader) {
        type = r.string("type")
        clusterIP = r.string("clusterIP")
        clusterIPs = r.strings("clusterIPs")
        ports = r.objects("ports")
        selector = r.stringMap("selector")
        sessionAffinity = r.string("sessionAffinity")
        sessionAffinityConfig = r.object("sessionAffinityConfig")
        externalTrafficPolicy = r.string("externalTrafficPolicy")
        internalTrafficPolicy = r.string("internalTrafficPolicy")
        publishNotReadyAddresses = r.bool("publishNotReadyAddresses")
        externalName = r.string("externalName")
        // A single node has one address; k3s's ServiceLB likewise ignores a requested address.
        r.ignore("loadBalancerIP", reason: "the node address is the load balancer ingress on a single node")
        r.ignore("loadBalancerSourceRanges", reason: "not supported by this agent's service proxy")
        r.ignore("externalIPs", reason: "not supported by this agent's service proxy")
        for field in ["ipFamilies", "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass", "healthCheckNodePort", "trafficDistribution"] {
            r.ignore(field, reason: "not used by a single-node IPv4 service proxy")
        }
    }
}

extension ServicePort: ManifestDecodable {
    init(reader r: ObjectReader) {
        name = r.string("name")
        `protocol` = r.string("protocol")
        port = r.int32("port") ?? 0
        targetPort = r.intOrString("targetPort")
        nodePort = r.int32("nodePort")
        r.ignore("appProtocol", reason: "not used by the service proxy")
    }
}

extension SessionAffinityConfig: ManifestDecodable {
    init(reader r: ObjectReader) { clientIP = r.object("clientIP") }
}

extension ClientIPConfig: ManifestDecodable {
    init(reader r: ObjectReader) { timeoutSeconds = r.int32("timeoutSeconds") }
}

extension Defaults {
    public static let serviceType = "ClusterIP"
    public static let sessionAffinity = "None"
    /// `DefaultClientIPServiceAffinitySeconds`: 3 hours.
    public static let sessionAffinityTimeoutSeconds: Int32 = 10800
    public static let externalTrafficPolicy = "Cluster"
    public static let internalTrafficPolicy = "Cluster"

    /// SetDefaults_Service (pkg/apis/core/v1/defaults.go): type, sessionAffinity and its timeout, port protocols,
    /// targetPort = port, traffic policies; `clusterIPs` mirrors `clusterIP`.
    public static func apply(to service: inout Service) {
        if (service.metadata.namespace ?? "").isEmpty { service.metadata.namespace = namespace }
        var spec = service.spec
        if (spec.type ?? "").isEmpty { spec.type = serviceType }
        if (spec.sessionAffinity ?? "").isEmpty { spec.sessionAffinity = sessionAffinity }
        if spec.sessionAffinity == "ClientIP" {
            var config = spec.sessionAffinityConfig ?? SessionAffinityConfig()
            var clientIP = config.clientIP ?? ClientIPConfig()
            if clientIP.timeoutSeconds == nil { clientIP.timeoutSeconds = sessionAffinityTimeoutSeconds }
            config.clientIP = clientIP
            spec.sessionAffinityConfig = config
        }
        if var ports = spec.ports {
            for index in ports.indices {
                if (ports[index].protocol ?? "").isEmpty { ports[index].protocol = portProtocol }
                if ports[index].targetPort == nil || ports[index].targetPort == .int(0) || ports[index].targetPort == .string("") {
                    ports[index].targetPort = .int(ports[index].port)
                }
            }
            spec.ports = ports
        }
        if spec.type == "NodePort" || spec.type == "LoadBalancer", (spec.externalTrafficPolicy ?? "").isEmpty {
            spec.externalTrafficPolicy = externalTrafficPolicy
        }
        if spec.type != "ExternalName", (spec.internalTrafficPolicy ?? "").isEmpty { spec.internalTrafficPolicy = internalTrafficPolicy }
        if let clusterIP = spec.clusterIP, !clusterIP.isEmpty, spec.clusterIPs == nil { spec.clusterIPs = [clusterIP] }
        if (spec.clusterIP ?? "").isEmpty, let first = spec.clusterIPs?.first { spec.clusterIP = first }
        service.spec = spec
    }
}

extension Validation {
    public static let serviceTypes = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    public static let sessionAffinities = ["ClientIP", "None"]
    public static let trafficPolicies = ["Cluster", "Local"]

    static func isDNS1035Label(_ name: String) -> Bool {
        guard name.count <= 63, let first = name.first, first.isASCII, first.isLowercase, let last = name.last, last != "-" else { return false }
        return name.allSatisfy { $0 == "-" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }
    }

    /// ValidateService (pkg/apis/core/validation) on a defaulted Service, the checks a single node needs.
    public static func validate(_ service: Service) -> [FieldError] {
        var errors = validate(service.metadata, path: FieldPath("metadata"))
        if let name = service.metadata.name, !name.isEmpty, Names.dns1123Subdomain(name).isEmpty, !isDNS1035Label(name) {
            // Service names become DNS labels and environment variable names: ValidateServiceName wants a DNS-1035 label.
            errors.append(
                .invalid(
                    FieldPath("metadata").child("name"), .string(name),
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
                ))
        }
        let spec = service.spec
        let path = FieldPath("spec")
        let type = spec.type ?? Defaults.serviceType
        if !serviceTypes.contains(type) {
            errors.append(.unsupported(path.child("type"), .string(type), serviceTypes))
        }
        let ports = spec.ports ?? []
        if type == "ExternalName" {
            if (spec.externalName ?? "").isEmpty { errors.append(.required(path.child("externalName"))) }
        } else if ports.isEmpty && !spec.isHeadless {
            errors.append(.required(path.child("ports")))
        }
        if let clusterIP = spec.clusterIP, !clusterIP.isEmpty, clusterIP != "None", !Names.isIP(clusterIP) {
            errors.append(
                .invalid(path.child("clusterIPs").index(0), .string(clusterIP), "must be empty, 'None', or a valid IP address"))
        }
        if spec.isHeadless, type != "ClusterIP" {
            errors.append(.invalid(path.child("clusterIPs").index(0), .string("None"), "may not be set to 'None' for \(type) services"))
        }
        var names: Set<String> = []
        var seenPorts: Set<String> = []
        var seenNodePorts: Set<Int32> = []
        for (index, port) in ports.enumerated() {
            let portPath = path.child("ports").index(index)
            errors += validatePort(name: port.name, port: port.port, protocol: port.protocol, path: portPath, portCount: ports.count, names: &names)
            let proto = port.protocol ?? Defaults.portProtocol
            switch port.targetPort {
            case .int(let value) where !(1...65535).contains(value):
                errors.append(.invalid(portPath.child("targetPort"), .int(Int64(value)), "must be between 1 and 65535, inclusive"))
            case .string(let value):
                errors += Names.ianaServiceName(value).map { .invalid(portPath.child("targetPort"), .string(value), $0) }
            default: break
            }
            if let nodePort = port.nodePort, nodePort != 0 {
                if type == "ClusterIP" || type == "ExternalName" {
                    errors.append(.forbidden(portPath.child("nodePort"), "may not be used when `type` is '\(type)'"))
                } else if !(1...65535).contains(nodePort) {
                    errors.append(.invalid(portPath.child("nodePort"), .int(Int64(nodePort)), "must be between 1 and 65535, inclusive"))
                } else if !seenNodePorts.insert(nodePort).inserted {
                    errors.append(.duplicate(portPath.child("nodePort"), .int(Int64(nodePort))))
                }
            }
            // The API server keys uniqueness on (port, protocol) and prints the Go struct of that key.
            if !seenPorts.insert("\(port.port)/\(proto)").inserted {
                errors.append(
                    .duplicate(
                        portPath,
                        .raw(
                            "core.ServicePort{Name:\"\", Protocol:\(goQuote(proto)), AppProtocol:(*string)(nil), Port:\(port.port), "
                                + "TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}")))
            }
        }
        let affinity = spec.sessionAffinity ?? Defaults.sessionAffinity
        if !sessionAffinities.contains(affinity) {
            errors.append(.unsupported(path.child("sessionAffinity"), .string(affinity), sessionAffinities))
        }
        let timeoutPath = path.child("sessionAffinityConfig").child("clientIP").child("timeoutSeconds")
        if affinity == "ClientIP" {
            if let timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds, !(1...86400).contains(timeout) {
                errors.append(.invalid(timeoutPath, .int(Int64(timeout)), "must be greater than 0 and less than 86400"))
            }
        } else if spec.sessionAffinityConfig != nil {
            errors.append(
                .invalid(path.child("sessionAffinityConfig"), .raw("{}"), "must not be set when session affinity is \(affinity)"))
        }
        if let policy = spec.externalTrafficPolicy, !policy.isEmpty {
            if type != "NodePort" && type != "LoadBalancer" {
                errors.append(
                    .invalid(path.child("externalTrafficPolicy"), .string(policy), "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
            } else if !trafficPolicies.contains(policy) {
                errors.append(.unsupported(path.child("externalTrafficPolicy"), .string(policy), trafficPolicies))
            }
        }
        if let policy = spec.internalTrafficPolicy, !policy.isEmpty, !trafficPolicies.contains(policy) {
            errors.append(.unsupported(path.child("internalTrafficPolicy"), .string(policy), trafficPolicies))
        }
        for (key, value) in (spec.selector ?? [:]).sorted(by: { $0.key < $1.key }) {
            errors += Names.qualifiedName(key).map { .invalid(path.child("selector"), .string(key), $0) }
            errors += Names.labelValue(value).map { .invalid(path.child("selector"), .string(value), $0) }
        }
        return errors
    }
}
