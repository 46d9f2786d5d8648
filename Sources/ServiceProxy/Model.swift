import Foundation

/// Transport protocols a Service port can use. SCTP validates but is not programmed (no `-m sctp` here).
public enum ServiceProtocol: String, Codable, Hashable, Sendable, Comparable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    /// kube-proxy's spelling in rules and chain-name hashes.
    public var lowercased: String { rawValue.lowercased() }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// kube-proxy's `ServicePortName`: `namespace/name` plus `:port` when the port is named.
public struct ServicePortName: Codable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    public var port: String

    public init(namespace: String, name: String, port: String = "") {
        self.namespace = namespace
        self.name = name
        self.port = port
    }

    public var description: String { port.isEmpty ? "\(namespace)/\(name)" : "\(namespace)/\(name):\(port)" }

    public static func < (a: Self, b: Self) -> Bool { a.description < b.description }
}

/// One backend of a service port, as the endpoints controller would publish it.
public struct ServiceEndpoint: Codable, Hashable, Sendable, Comparable {
    public var ip: String
    public var port: Int
    /// Ready (or the Service publishes not-ready addresses) and not terminating.
    public var ready: Bool
    /// The pod's readiness, regardless of termination (EndpointSlice `serving`).
    public var serving: Bool
    public var terminating: Bool

    public init(ip: String, port: Int, ready: Bool = true, serving: Bool? = nil, terminating: Bool = false) {
        self.ip = ip
        self.port = port
        self.ready = ready
        self.serving = serving ?? ready
        self.terminating = terminating
    }

    /// `ip:port`, the string kube-proxy sorts and hashes endpoints by.
    public var hostPort: String { "\(ip):\(port)" }

    public static func < (a: Self, b: Self) -> Bool { a.hostPort < b.hostPort }
}

/// Everything the proxier needs about one (service, port, protocol).
public struct ProxyServicePort: Codable, Hashable, Sendable {
    public var name: ServicePortName
    public var `protocol`: ServiceProtocol
    public var clusterIP: String
    public var port: Int
    public var nodePort: Int?
    /// Addresses the port is also opened on (LoadBalancer the way k3s's ServiceLB does it: the node's addresses).
    public var loadBalancerIPs: [String]
    /// ClientIP session affinity timeout in seconds; nil without affinity.
    public var affinityTimeoutSeconds: Int?
    /// `externalTrafficPolicy: Local`: external traffic keeps its source address and only reaches local endpoints.
    public var externalPolicyLocal: Bool
    public var endpoints: [ServiceEndpoint]

    public init(
        name: ServicePortName, protocol: ServiceProtocol = .tcp, clusterIP: String, port: Int, nodePort: Int? = nil, loadBalancerIPs: [String] = [],
        affinityTimeoutSeconds: Int? = nil, externalPolicyLocal: Bool = false, endpoints: [ServiceEndpoint] = []
    ) {
        self.name = name
        self.protocol = `protocol`
        self.clusterIP = clusterIP
        self.port = port
        self.nodePort = nodePort
        self.loadBalancerIPs = loadBalancerIPs
        self.affinityTimeoutSeconds = affinityTimeoutSeconds
        self.externalPolicyLocal = externalPolicyLocal
        self.endpoints = endpoints
    }

    /// kube-proxy's CategorizeEndpoints on one node (every endpoint is local): the Ready endpoints, else the serving
    /// terminating ones (KEP-1669), sorted by `ip:port`, deduplicated.
    public var usableEndpoints: [ServiceEndpoint] {
        var ready = endpoints.filter(\.ready)
        if ready.isEmpty { ready = endpoints.filter { $0.serving && $0.terminating } }
        var seen: Set<String> = []
        return ready.sorted().filter { seen.insert($0.hostPort).inserted }
    }

    var hasExternal: Bool { nodePort != nil || !loadBalancerIPs.isEmpty }
}

/// The desired state handed to a proxier: every service port with its endpoints.
public struct ProxyState: Codable, Hashable, Sendable {
    public var services: [ProxyServicePort]

    public init(services: [ProxyServicePort] = []) { self.services = services }
}

/// Node-wide settings (kube-proxy flags).
public struct ProxyConfig: Codable, Hashable, Sendable {
    /// Pod addresses: traffic from here is "local" and not masqueraded on the way to a ClusterIP (`--cluster-cidr`).
    public var podCIDR: String
    public var serviceCIDR: String
    /// `--iptables-masquerade-bit`, 14 → mark 0x4000.
    public var masqueradeBit: Int
    /// `--iptables-localhost-nodeports`: NodePorts answer on 127.0.0.1 (needs route_localnet=1).
    public var localhostNodePorts: Bool
    /// `MASQUERADE --random-fully` (iptables ≥ 1.6.2 has it).
    public var randomFully: Bool
    /// `nf_conntrack_tcp_be_liberal` is set: no INVALID drop rule in KUBE-FORWARD.
    public var conntrackLiberal: Bool
    /// nftables mode's table (`ip <name>`).
    public var nftTable: String

    public init(
        podCIDR: String = "10.88.0.0/16", serviceCIDR: String = "10.96.0.0/16", masqueradeBit: Int = 14, localhostNodePorts: Bool = true,
        randomFully: Bool = true, conntrackLiberal: Bool = false, nftTable: String = "minikubelet"
    ) {
        self.podCIDR = podCIDR
        self.serviceCIDR = serviceCIDR
        self.masqueradeBit = masqueradeBit
        self.localhostNodePorts = localhostNodePorts
        self.randomFully = randomFully
        self.conntrackLiberal = conntrackLiberal
        self.nftTable = nftTable
    }

    /// kube-proxy's `fmt.Sprintf("%#08x", 1<<bit)`: `0x00004000`.
    public var masqueradeMark: String {
        let hex = String(1 << masqueradeBit, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - hex.count)) + hex
    }

    /// The sysctls the data path needs in the proxier's network namespace; the agent sets them and logs it.
    /// `bridge-nf-call-iptables` needs the `br_netfilter` module: pod → ClusterIP → pod on one bridge fails without it.
    public var requiredSysctls: [(name: String, value: String)] {
        var list: [(String, String)] = [("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1")]
        if localhostNodePorts { list.append(("net.ipv4.conf.all.route_localnet", "1")) }
        return list
    }
}

/// Which dataplane programs the rules (`--proxy-mode`).
public enum ProxyMode: String, Codable, Hashable, Sendable, CaseIterable {
    case iptables
    case nftables
}

/// What one sync did, for logs, metrics and tests.
public struct SyncReport: Codable, Hashable, Sendable {
    public var mode: ProxyMode
    public var full: Bool
    /// False when actual rules already matched the desired ones and nothing was executed.
    public var wrote: Bool
    /// Service chains written (iptables) or service/endpoint chains written (nftables).
    public var chainsWritten: Int
    public var chainsDeleted: Int
    /// Bytes of `iptables-restore` / `nft -f` input (a netlink partial sync: of the same change as nft text).
    public var bytes: Int
    public var conntrackDeletions: Int
    public var milliseconds: Double
    /// nftables: the write went to the kernel over netlink (partial syncs), not through `nft -f`.
    public var netlink: Bool = false
    /// nftables: of `milliseconds`, the write itself (the `nft -f` process, or the netlink transaction: the kernel's
    /// work). The rest is computing what to write.
    public var writeMilliseconds: Double = 0

    public init(
        mode: ProxyMode, full: Bool, wrote: Bool = false, chainsWritten: Int = 0, chainsDeleted: Int = 0, bytes: Int = 0, conntrackDeletions: Int = 0,
        milliseconds: Double = 0
    ) {
        self.mode = mode
        self.full = full
        self.wrote = wrote
        self.chainsWritten = chainsWritten
        self.chainsDeleted = chainsDeleted
        self.bytes = bytes
        self.conntrackDeletions = conntrackDeletions
        self.milliseconds = milliseconds
    }
}
