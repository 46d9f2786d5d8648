import Foundation

/// One iptables chain with its rules (each rule is the text after `-A <chain> `).
public struct IPTablesChain: Hashable, Sendable {
    public var name: String
    public var rules: [String]

    public init(_ name: String, _ rules: [String] = []) {
        self.name = name
        self.rules = rules
    }
}

/// The rules kube-proxy's iptables mode would program for a state, split the way partial syncs need:
/// top-level chains (always rewritten) and each service port's own nat chains.
public struct IPTablesRuleset: Hashable, Sendable {
    public var filter: [IPTablesChain]
    public var nat: [IPTablesChain]
    /// Service port → its KUBE-SVC/SVL/EXT/SEP chains, in emission order.
    public var serviceChains: [ServicePortName: [IPTablesChain]]
    /// The service ports' keys in emission order.
    public var serviceOrder: [ServicePortName]

    /// Chain names of all service chains.
    public var serviceChainNames: Set<String> { Set(serviceChains.values.flatMap { $0.map(\.name) }) }
}

/// A jump from a built-in chain into ours (`iptablesJumpChains`), ensured with `-I <chain> 1` when missing.
public struct IPTablesJump: Hashable, Sendable {
    public var table: String
    public var chain: String
    public var rule: String
}

public enum IPTablesRules {
    static let filterTopChains = ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL", "KUBE-FIREWALL"]
    static let natTopChains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]

    /// kube-proxy's jump rules, in its order (each is prepended, so the last listed ends up first).
    public static let jumps: [IPTablesJump] = [
        .init(
            table: "filter", chain: "INPUT",
            rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES"),
        .init(
            table: "filter", chain: "FORWARD",
            rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES"),
        .init(table: "filter", chain: "INPUT", rule: "-m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS"),
        .init(table: "filter", chain: "FORWARD", rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
        .init(table: "filter", chain: "OUTPUT", rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
        .init(table: "filter", chain: "FORWARD", rule: "-m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD"),
        .init(
            table: "filter", chain: "INPUT",
            rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL"),
        .init(
            table: "filter", chain: "OUTPUT",
            rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL"),
        .init(
            table: "filter", chain: "FORWARD",
            rule: "-m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL"),
        .init(table: "nat", chain: "OUTPUT", rule: "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
        .init(table: "nat", chain: "PREROUTING", rule: "-m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"),
        .init(table: "nat", chain: "POSTROUTING", rule: "-m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING"),
        .init(table: "filter", chain: "INPUT", rule: "-j KUBE-FIREWALL"),
        .init(table: "filter", chain: "OUTPUT", rule: "-j KUBE-FIREWALL"),
    ]

    static func quoteComment(_ text: String) -> String {
        // kube-proxy writes comments bare when they have no spaces, quoted otherwise.
        text.contains(" ") ? "\"\(text)\"" : text
    }

    /// `%0.10f` of 1/n.
    static func probability(_ n: Int) -> String { String(format: "%0.10f", 1.0 / Double(n)) }

    /// Builds the whole ruleset, in kube-proxy's emission order.
    public static func build(_ state: ProxyState, config: ProxyConfig) -> IPTablesRuleset {
        var cache = IPTablesPieceCache()
        return build(state, config: config, cache: &cache)
    }

    /// `build` reusing the rules of service ports that did not change since the previous call with this cache:
    /// a partial sync then costs in proportion to what changed, not to the number of services (rendering 5,000
    /// services from scratch took longer than restoring the resulting delta).
    public static func build(_ state: ProxyState, config: ProxyConfig, cache: inout IPTablesPieceCache) -> IPTablesRuleset {
        let mark = config.masqueradeMark
        var filterServices: [String] = []
        var filterExternal: [String] = []
        var natServices: [String] = []
        var natNodePorts: [String] = []
        var serviceChains: [ServicePortName: [IPTablesChain]] = [:]
        var order: [ServicePortName] = []
        let ports = state.services.sorted { ($0.name, $0.protocol) < ($1.name, $1.protocol) }
        let totalEndpoints = ports.reduce(0) { $0 + $1.usableEndpoints.count }
        // kube-proxy's largeClusterMode: per-endpoint comments dropped above 1000 endpoints (40% less text).
        let large = totalEndpoints > 1000
        if cache.config != config || cache.large != large { cache = IPTablesPieceCache(config: config, large: large) }
        var used: [ServicePortName: IPTablesPieceCache.Entry] = [:]
        for sp in ports where sp.protocol != .sctp {
            let piece: ServicePiece
            if let hit = cache.entries[sp.name], hit.port == sp {
                piece = hit.piece
            } else {
                piece = servicePiece(sp, config: config, large: large)
            }
            used[sp.name] = IPTablesPieceCache.Entry(port: sp, piece: piece)
            filterServices += piece.filterServices
            filterExternal += piece.filterExternal
            natServices += piece.natServices
            natNodePorts += piece.natNodePorts
            order.append(sp.name)
            serviceChains[sp.name] = piece.chains
        }
        cache.entries = used
        natServices.append(
            "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL"
                + (config.localhostNodePorts ? "" : " ! -d 127.0.0.0/8") + " -j KUBE-NODEPORTS")
        var forward: [String] = []
        if !config.conntrackLiberal { forward.append("-m conntrack --ctstate INVALID -j DROP") }
        forward.append("-m comment --comment \"kubernetes forwarding rules\" -m mark --mark \(mark)/\(mark) -j ACCEPT")
        forward.append("-m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        let firewall =
            config.localhostNodePorts
            ? [
                "-m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
            ] : []
        let filter = [
            IPTablesChain("KUBE-SERVICES", filterServices), IPTablesChain("KUBE-EXTERNAL-SERVICES", filterExternal), IPTablesChain("KUBE-FORWARD", forward),
            IPTablesChain("KUBE-NODEPORTS"), IPTablesChain("KUBE-PROXY-FIREWALL"), IPTablesChain("KUBE-FIREWALL", firewall),
        ]
        let nat = [
            IPTablesChain("KUBE-SERVICES", natServices), IPTablesChain("KUBE-NODEPORTS", natNodePorts),
            IPTablesChain(
                "KUBE-POSTROUTING",
                [
                    "-m mark ! --mark \(mark)/\(mark) -j RETURN", "-j MARK --xor-mark \(mark)",
                    "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE" + (config.randomFully ? " --random-fully" : ""),
                ]),
            IPTablesChain("KUBE-MARK-MASQ", ["-j MARK --or-mark \(mark)"]),
        ]
        return IPTablesRuleset(filter: filter, nat: nat, serviceChains: serviceChains, serviceOrder: order)
    }

    /// One service port's contribution: its lines in the dispatch chains and its own chains.
    static func servicePiece(_ sp: ProxyServicePort, config: ProxyConfig, large: Bool) -> ServicePiece {
        var piece = ServicePiece()
        let name = sp.name.description
        let p = sp.protocol.lowercased
        let svc = ChainNames.svc(sp.name, sp.protocol)
        let ext = ChainNames.ext(sp.name, sp.protocol)
        let svl = ChainNames.svl(sp.name, sp.protocol)
        let endpoints = sp.usableEndpoints
        guard !endpoints.isEmpty else {
            // No endpoints: no nat chains at all; REJECT in filter so clients fail fast.
            let comment = "-m comment --comment \(quoteComment("\(name) has no endpoints"))"
            piece.filterServices.append("\(comment) -m \(p) -p \(p) -d \(sp.clusterIP) --dport \(sp.port) -j REJECT")
            for ip in sp.loadBalancerIPs {
                piece.filterExternal.append("\(comment) -m \(p) -p \(p) -d \(ip) --dport \(sp.port) -j REJECT")
            }
            if let nodePort = sp.nodePort {
                piece.filterExternal.append("\(comment) -m addrtype --dst-type LOCAL -m \(p) -p \(p) --dport \(nodePort) -j REJECT")
            }
            return piece
        }
        var chains: [IPTablesChain] = []
        piece.natServices.append("-m comment --comment \(quoteComment("\(name) cluster IP")) -m \(p) -p \(p) -d \(sp.clusterIP) --dport \(sp.port) -j \(svc)")
        for ip in sp.loadBalancerIPs {
            piece.natServices.append("-m comment --comment \(quoteComment("\(name) loadbalancer IP")) -m \(p) -p \(p) -d \(ip) --dport \(sp.port) -j \(ext)")
        }
        if let nodePort = sp.nodePort {
            piece.natNodePorts.append("-m comment --comment \(quoteComment(name)) -m \(p) -p \(p) --dport \(nodePort) -j \(ext)")
        }
        let seps = endpoints.map { ChainNames.sep(sp.name, sp.protocol, endpoint: $0.hostPort) }
        func dispatch(_ withMasq: Bool) -> [String] {
            var rules: [String] = []
            if withMasq {
                rules.append(
                    "-m comment --comment \(quoteComment("\(name) cluster IP")) -m \(p) -p \(p) -d \(sp.clusterIP) --dport \(sp.port) ! -s \(config.podCIDR) -j KUBE-MARK-MASQ"
                )
            }
            if let timeout = sp.affinityTimeoutSeconds {
                for (endpoint, sep) in zip(endpoints, seps) {
                    let comment = large ? "" : "-m comment --comment \(quoteComment("\(name) -> \(endpoint.hostPort)")) "
                    rules.append("\(comment)-m recent --name \(sep) --rcheck --seconds \(timeout) --reap -j \(sep)")
                }
            }
            for (index, (endpoint, sep)) in zip(endpoints, seps).enumerated() {
                var rule = large ? "" : "-m comment --comment \(quoteComment("\(name) -> \(endpoint.hostPort)")) "
                if index < endpoints.count - 1 { rule += "-m statistic --mode random --probability \(probability(endpoints.count - index)) " }
                rules.append(rule + "-j \(sep)")
            }
            return rules
        }
        chains.append(IPTablesChain(svc, dispatch(true)))
        if sp.hasExternal {
            var rules: [String] = []
            if sp.externalPolicyLocal {
                rules.append(
                    "-m comment --comment \(quoteComment("pod traffic for \(name) external destinations")) -s \(config.podCIDR) -j \(svc)")
                rules.append(
                    "-m comment --comment \(quoteComment("masquerade LOCAL traffic for \(name) external destinations")) -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
                )
                rules.append(
                    "-m comment --comment \(quoteComment("route LOCAL traffic for \(name) external destinations")) -m addrtype --src-type LOCAL -j \(svc)")
                rules.append("-j \(svl)")
            } else {
                rules.append("-m comment --comment \(quoteComment("masquerade traffic for \(name) external destinations")) -j KUBE-MARK-MASQ")
                rules.append("-j \(svc)")
            }
            chains.append(IPTablesChain(ext, rules))
            // On a single node every endpoint is local: the Local chain balances over all of them, without masquerade.
            if sp.externalPolicyLocal { chains.append(IPTablesChain(svl, dispatch(false))) }
        }
        for (endpoint, sep) in zip(endpoints, seps) {
            let comment = large ? "" : "-m comment --comment \(quoteComment(name)) "
            let recent = sp.affinityTimeoutSeconds == nil ? "" : "-m recent --name \(sep) --set "
            chains.append(
                IPTablesChain(
                    sep,
                    [
                        "\(comment)-s \(endpoint.ip) -j KUBE-MARK-MASQ",
                        "\(comment)\(recent)-m \(p) -p \(p) -j DNAT --to-destination \(endpoint.hostPort)",
                    ]))
        }
        piece.chains = chains
        return piece
    }

    /// `iptables-restore --noflush` input that (re)writes the top-level chains, the given service ports' chains,
    /// deletes `staleChains` and inserts `missingJumps`. `:CHAIN - [0:0]` creates or flushes a chain; `-X`
    /// comes last, after every rule that referenced the chain is gone.
    public static func restoreText(
        _ ruleset: IPTablesRuleset, writeServices: Set<ServicePortName>?, filterChains: Set<String>? = nil, natChains: Set<String>? = nil,
        staleChains: [String] = [], missingJumps: [IPTablesJump] = []
    ) -> String {
        var out = ""
        out.reserveCapacity(256 * (ruleset.serviceOrder.count + 8))
        func table(_ name: String, _ top: [IPTablesChain], _ wanted: Set<String>?, services: Bool) {
            let topChains = top.filter { wanted?.contains($0.name) ?? true }
            let svcChains: [IPTablesChain] =
                services
                ? ruleset.serviceOrder.filter { writeServices?.contains($0) ?? true }.flatMap { ruleset.serviceChains[$0] ?? [] } : []
            let jumps = missingJumps.filter { $0.table == name }
            let stale = services ? staleChains : []
            if topChains.isEmpty && svcChains.isEmpty && jumps.isEmpty && stale.isEmpty { return }
            out += "*\(name)\n"
            for chain in topChains { out += ":\(chain.name) - [0:0]\n" }
            for chain in svcChains { out += ":\(chain.name) - [0:0]\n" }
            for chain in stale { out += ":\(chain) - [0:0]\n" }
            for chain in topChains + svcChains {
                for rule in chain.rules {
                    out += "-A \(chain.name) "
                    out += rule
                    out += "\n"
                }
            }
            for chain in stale { out += "-X \(chain)\n" }
            for jump in jumps { out += "-I \(jump.chain) 1 \(jump.rule)\n" }
            out += "COMMIT\n"
        }
        table("filter", ruleset.filter, filterChains, services: false)
        table("nat", ruleset.nat, natChains, services: true)
        return out
    }
}

/// One service port's rules (see `IPTablesRules.servicePiece`).
struct ServicePiece: Hashable, Sendable {
    var filterServices: [String] = []
    var filterExternal: [String] = []
    var natServices: [String] = []
    var natNodePorts: [String] = []
    var chains: [IPTablesChain] = []
}

/// Service-port rules from the previous build, valid for one config and one largeClusterMode setting.
public struct IPTablesPieceCache: Sendable {
    struct Entry: Sendable {
        var port: ProxyServicePort
        var piece: ServicePiece
    }
    var config: ProxyConfig?
    var large = false
    var entries: [ServicePortName: Entry] = [:]

    public init() {}
    init(config: ProxyConfig, large: Bool) {
        self.config = config
        self.large = large
    }
}
