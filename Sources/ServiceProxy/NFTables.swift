import Crypto
import Foundation

/// One element of a set or verdict map.
public struct NFTElement: Hashable, Sendable, Comparable {
    public var map: String
    public var key: String
    /// nil for set elements.
    public var value: String?

    public init(_ map: String, _ key: String, _ value: String? = nil) {
        self.map = map
        self.key = key
        self.value = value
    }

    var text: String { value.map { "\(key) : \($0)" } ?? key }

    public static func < (a: Self, b: Self) -> Bool { (a.map, a.key, a.value ?? "") < (b.map, b.key, b.value ?? "") }
}

/// A service port's own nftables objects: chains with rules, affinity sets, and dispatch-map elements.
public struct NFTServiceObjects: Hashable, Sendable {
    public var chains: [IPTablesChain]
    public var sets: [String]
    public var elements: [NFTElement]
}

/// kube-proxy's nftables layout (KEP-3866) in a table of our own (`ip minikubelet`): verdict maps dispatch
/// ClusterIPs and NodePorts in one lookup; per service and endpoint chains; element-level updates.
public enum NFTRules {
    /// The fixed part: base chains, helper chains, sets and maps. Localhost NodePorts are allowed (unlike upstream
    /// nftables mode) to keep parity with the iptables mode here; `route_localnet` is required for them.
    public static func base(_ config: ProxyConfig) -> String {
        let t = "ip \(config.nftTable)"
        let mark = "0x" + String(1 << config.masqueradeBit, radix: 16)
        let loopback = config.localhostNodePorts ? "" : "ip daddr != 127.0.0.0/8 "
        var lines = [
            "add chain \(t) nat-prerouting { type nat hook prerouting priority -100 ; }",
            "add chain \(t) nat-output { type nat hook output priority -100 ; }",
            "add chain \(t) nat-postrouting { type nat hook postrouting priority 100 ; }",
            "add chain \(t) filter-input { type filter hook input priority 0 ; }",
            "add chain \(t) filter-forward { type filter hook forward priority 0 ; }",
            "add chain \(t) filter-output { type filter hook output priority 0 ; }",
            "add chain \(t) services",
            "add chain \(t) masquerading",
            "add chain \(t) mark-for-masquerade",
            "add chain \(t) service-endpoints-check",
            "add chain \(t) nodeport-endpoints-check",
            "add chain \(t) cluster-ips-check",
            "add chain \(t) reject-chain",
            "add set \(t) cluster-ips { type ipv4_addr ; comment \"Active ClusterIPs\" ; }",
            "add map \(t) service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }",
            "add map \(t) service-nodeports { type inet_proto . inet_service : verdict ; comment \"NodePort traffic\" ; }",
            "add map \(t) no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to services with no endpoints\" ; }",
            "add map \(t) no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment \"vmap to drop or reject packets to service nodeports with no endpoints\" ; }",
            "add rule \(t) nat-prerouting jump services",
            "add rule \(t) nat-output jump services",
            "add rule \(t) nat-postrouting jump masquerading",
            "add rule \(t) filter-input ct state new jump nodeport-endpoints-check",
            "add rule \(t) filter-input ct state new jump service-endpoints-check",
            "add rule \(t) filter-forward ct state new jump service-endpoints-check",
            "add rule \(t) filter-forward ct state new jump cluster-ips-check",
            "add rule \(t) filter-output ct state new jump service-endpoints-check",
            "add rule \(t) filter-output ct state new jump cluster-ips-check",
            "add rule \(t) services ip daddr . meta l4proto . th dport vmap @service-ips",
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto . th dport vmap @service-nodeports",
            "add rule \(t) masquerading mark and \(mark) == 0 return",
            "add rule \(t) masquerading mark set mark xor \(mark)",
            "add rule \(t) masquerading masquerade\(config.randomFully ? " fully-random" : "")",
            "add rule \(t) mark-for-masquerade mark set mark or \(mark)",
            "add rule \(t) service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
            "add rule \(t) nodeport-endpoints-check \(loopback)meta l4proto . th dport vmap @no-endpoint-nodeports",
            "add rule \(t) cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"",
            "add rule \(t) cluster-ips-check ip daddr { \(config.serviceCIDR) } drop comment \"Drop traffic to unallocated ClusterIPs\"",
            "add rule \(t) reject-chain reject",
        ]
        if config.localhostNodePorts {
            // CVE-2020-8558: with route_localnet, only DNATed (NodePort) traffic may reach 127.0.0.0/8 from outside.
            lines.append("add rule \(t) filter-input ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8 ct status & dnat == 0 ct state new drop")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The objects of one service port (kube-proxy's per-service chains and map elements).
    public static func service(_ sp: ProxyServicePort, config: ProxyConfig) -> NFTServiceObjects {
        let p = sp.protocol.lowercased
        let endpoints = sp.usableEndpoints
        // cluster-ips is maintained from all ports at once (ports share ClusterIPs).
        var elements: [NFTElement] = []
        guard !endpoints.isEmpty else {
            elements.append(NFTElement("no-endpoint-services", "\(sp.clusterIP) . \(p) . \(sp.port)", "goto reject-chain"))
            for ip in sp.loadBalancerIPs { elements.append(NFTElement("no-endpoint-services", "\(ip) . \(p) . \(sp.port)", "goto reject-chain")) }
            if let nodePort = sp.nodePort { elements.append(NFTElement("no-endpoint-nodeports", "\(p) . \(nodePort)", "goto reject-chain")) }
            return NFTServiceObjects(chains: [], sets: [], elements: elements)
        }
        let svc = ChainNames.nftService(sp.name, sp.protocol)
        let ext = ChainNames.nftExternal(sp.name, sp.protocol)
        let local = ChainNames.nftLocal(sp.name, sp.protocol)
        let endpointChains = endpoints.map { ChainNames.nftEndpoint(sp.name, sp.protocol, $0) }
        let affinitySets = endpoints.map { ChainNames.nftAffinity(sp.name, sp.protocol, $0) }
        // Referenced chains must exist before the rules that jump to them: endpoints, then service, local, external.
        var chains: [IPTablesChain] = []
        var sets: [String] = []
        for (index, endpoint) in endpoints.enumerated() {
            var rules = ["ip saddr \(endpoint.ip) jump mark-for-masquerade"]
            if let timeout = sp.affinityTimeoutSeconds {
                sets.append("\(affinitySets[index]) { type ipv4_addr ; flags dynamic,timeout ; timeout \(timeout)s ; }")
                rules.append("update @\(affinitySets[index]) { ip saddr }")
            }
            rules.append("meta l4proto \(p) dnat to \(endpoint.ip):\(endpoint.port)")
            chains.append(IPTablesChain(endpointChains[index], rules))
        }
        func dispatch(_ masq: Bool) -> [String] {
            var rules: [String] = []
            if masq { rules.append("ip daddr \(sp.clusterIP) ip saddr != \(config.podCIDR) jump mark-for-masquerade") }
            if sp.affinityTimeoutSeconds != nil {
                for (set, chain) in zip(affinitySets, endpointChains) { rules.append("ip saddr @\(set) goto \(chain)") }
            }
            let arms = endpointChains.enumerated().map { "\($0.offset) : goto \($0.element)" }.joined(separator: " , ")
            rules.append("numgen random mod \(endpoints.count) vmap { \(arms) }")
            return rules
        }
        chains.append(IPTablesChain(svc, dispatch(true)))
        elements.append(NFTElement("service-ips", "\(sp.clusterIP) . \(p) . \(sp.port)", "goto \(svc)"))
        if sp.hasExternal {
            if sp.externalPolicyLocal {
                chains.append(IPTablesChain(local, dispatch(false)))
                chains.append(
                    IPTablesChain(
                        ext,
                        [
                            "ip saddr \(config.podCIDR) goto \(svc) comment \"short-circuit pod traffic\"",
                            "fib saddr type local jump mark-for-masquerade comment \"masquerade local traffic\"",
                            "fib saddr type local goto \(svc) comment \"short-circuit local traffic\"", "goto \(local)",
                        ]))
            } else {
                chains.append(IPTablesChain(ext, ["jump mark-for-masquerade", "goto \(svc)"]))
            }
            for ip in sp.loadBalancerIPs { elements.append(NFTElement("service-ips", "\(ip) . \(p) . \(sp.port)", "goto \(ext)")) }
            if let nodePort = sp.nodePort { elements.append(NFTElement("service-nodeports", "\(p) . \(nodePort)", "goto \(ext)")) }
        }
        return NFTServiceObjects(chains: chains, sets: sets, elements: elements)
    }

    static func chainLines(_ chain: IPTablesChain, table t: String, flush: Bool, into out: inout String) {
        out += "add chain \(t) \(chain.name)\n"
        if flush { out += "flush chain \(t) \(chain.name)\n" }
        for rule in chain.rules { out += "add rule \(t) \(chain.name) \(rule)\n" }
    }

    static func elementLines(_ verb: String, _ elements: [NFTElement], table t: String, into out: inout String) {
        // One statement per map with all its elements: far fewer statements for nft to parse.
        var byMap: [String: [NFTElement]] = [:]
        for element in elements { byMap[element.map, default: []].append(element) }
        for map in byMap.keys.sorted() {
            let list = byMap[map] ?? []
            var index = 0
            while index < list.count {
                let chunk = list[index..<min(index + 1000, list.count)]
                out += "\(verb) element \(t) \(map) { " + chunk.map(\.text).joined(separator: ", ") + " }\n"
                index += 1000
            }
        }
    }
}

/// The nftables-mode proxier: full syncs replace the table in one transaction (skipped when the table already
/// carries the fingerprint of the desired state, e.g. after a restart); partial syncs send only element deltas
/// and the chains of service ports that changed, in one `nft -f` transaction.
public struct NFTablesProxier: Sendable {
    public let config: ProxyConfig
    let runner: any CommandRunner
    /// Last applied objects per service port with the input they came from (reused when the input is unchanged).
    var applied: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])]?
    var appliedPorts: [ProxyServicePort] = []
    /// Partial syncs go through a long-lived `nft -i` (see `NFTSession`) when commands really run.
    let useSession: Bool
    var session: NFTSession?
    /// The last transaction written (the benchmark feeds it to a bare `nft -f` as the floor).
    public private(set) var lastScript = ""

    public init(config: ProxyConfig, runner: any CommandRunner = ProcessRunner()) {
        self.config = config
        self.runner = runner
        self.useSession = runner is ProcessRunner
    }

    var table: String { "ip \(config.nftTable)" }

    static func digest(_ objects: NFTServiceObjects) -> [UInt8] {
        var hasher = SHA256()
        for chain in objects.chains {
            hasher.update(data: Data(chain.name.utf8))
            for rule in chain.rules { hasher.update(data: Data(("\n" + rule).utf8)) }
        }
        for set in objects.sets { hasher.update(data: Data(("\nset " + set).utf8)) }
        for element in objects.elements.sorted() { hasher.update(data: Data(("\nel \(element.map) \(element.text)").utf8)) }
        return Array(hasher.finalize())
    }

    /// XOR of the base's and every service port's digest: order-independent and updated per changed service.
    func fingerprint(_ services: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])]) -> String {
        var acc = [UInt8](SHA256.hash(data: Data(NFTRules.base(config).utf8)))
        for entry in services.values {
            for (index, byte) in entry.digest.enumerated() { acc[index] ^= byte }
        }
        return acc.map { String(format: "%02x", $0) }.joined()
    }

    /// Full-table text for a state: what a full sync writes (and the benchmark's floor feeds to `nft -f`).
    public func fullText(_ state: ProxyState) -> String {
        var objects: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])] = [:]
        for sp in state.services where sp.protocol != .sctp {
            let built = NFTRules.service(sp, config: config)
            objects[sp.name] = (sp, built, Self.digest(built))
        }
        return fullText(objects)
    }

    func fullText(_ services: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])]) -> String {
        var out = "add table \(table)\ndelete table \(table)\nadd table \(table)\n"
        out += NFTRules.base(config)
        var elements: [NFTElement] = []
        for name in services.keys.sorted() {
            guard let entry = services[name] else { continue }
            for set in entry.objects.sets { out += "add set \(table) \(set)\n" }
            for chain in entry.objects.chains { NFTRules.chainLines(chain, table: table, flush: false, into: &out) }
            elements += entry.objects.elements
        }
        elements += Set(services.values.map(\.port.clusterIP)).map { NFTElement("cluster-ips", $0) }
        NFTRules.elementLines("add", elements, table: table, into: &out)
        out += "add chain \(table) fingerprint\nadd rule \(table) fingerprint counter comment \"\(fingerprint(services))\"\n"
        return out
    }

    func currentFingerprint() -> String? {
        guard let output = try? runner.run(["nft", "list", "chain", table, "fingerprint"], input: nil), output.status == 0 else { return nil }
        guard let range = output.stdout.range(of: "comment \"") else { return nil }
        return String(output.stdout[range.upperBound...].prefix { $0 != "\"" })
    }

    public mutating func sync(_ state: ProxyState, full requested: Bool) throws -> SyncReport {
        let start = ContinuousClock.now
        let firstSync = applied == nil
        let full = requested || firstSync
        var report = SyncReport(mode: .nftables, full: full)
        let previous = applied ?? [:]
        var next: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])] = [:]
        var changed: [ServicePortName] = []
        for sp in state.services where sp.protocol != .sctp {
            if let old = previous[sp.name], old.port == sp {
                next[sp.name] = old
            } else {
                let built = NFTRules.service(sp, config: config)
                next[sp.name] = (sp, built, Self.digest(built))
                changed.append(sp.name)
            }
        }
        var text = ""
        if full {
            // After a restart the table may already hold exactly this state: then nothing is written.
            if !(firstSync && currentFingerprint() == fingerprint(next)) {
                text = fullText(next)
                report.chainsWritten = next.values.reduce(0) { $0 + $1.objects.chains.count }
            }
        } else {
            text = partialText(previous: previous, next: next, changed: changed, report: &report)
        }
        if !text.isEmpty {
            do {
                if !full && useSession {
                    if session == nil { session = try NFTSession() }
                    try session?.apply(text, table: table, fingerprint: fingerprint(next))
                } else {
                    _ = try runner.check(["nft", "-f", "-"], input: text, context: "applying nftables rules")
                }
            } catch {
                applied = nil
                session = nil
                throw error
            }
            lastScript = text
            report.wrote = true
            report.bytes = text.utf8.count
        }
        applied = next
        if full && useSession {
            // Warm a session now (its first transaction loads nft's cache) so the next partial sync is fast.
            // A failure here only means the next partial sync starts a fresh session.
            do {
                if session == nil { session = try NFTSession() }
                let print = fingerprint(next)
                try session?.apply(
                    "flush chain \(table) fingerprint\nadd rule \(table) fingerprint counter comment \"\(print)\"", table: table, fingerprint: print)
            } catch {
                session = nil
                FileHandle.standardError.write(Data("nft -i session: \(error)\n".utf8))
            }
        }
        report.conntrackDeletions = Conntrack.cleanStale(old: appliedPorts, new: state.services, runner: runner)
        appliedPorts = state.services
        report.milliseconds = (ContinuousClock.now - start).milliseconds
        return report
    }

    func partialText(
        previous: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])],
        next: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])], changed: [ServicePortName],
        report: inout SyncReport
    ) -> String {
        let removed = previous.keys.filter { next[$0] == nil }
        if changed.isEmpty && removed.isEmpty { return "" }
        var out = ""
        var oldElements: Set<NFTElement> = []
        var newElements: Set<NFTElement> = []
        var oldChains: Set<String> = []
        var newChains: Set<String> = []
        var oldSets: Set<String> = []
        var newSets: Set<String> = []
        for name in changed.sorted() + removed.sorted() {
            if let old = previous[name] {
                oldElements.formUnion(old.objects.elements)
                oldChains.formUnion(old.objects.chains.map(\.name))
                oldSets.formUnion(old.objects.sets.map { String($0.prefix { $0 != " " }) })
            }
            if let new = next[name] {
                newElements.formUnion(new.objects.elements)
                newChains.formUnion(new.objects.chains.map(\.name))
                newSets.formUnion(new.objects.sets.map { String($0.prefix { $0 != " " }) })
                for set in new.objects.sets where !oldSets.contains(String(set.prefix { $0 != " " })) { out += "add set \(table) \(set)\n" }
                let oldRules = Dictionary((previous[name]?.objects.chains ?? []).map { ($0.name, $0.rules) }, uniquingKeysWith: { a, _ in a })
                for chain in new.objects.chains where oldRules[chain.name] != chain.rules {
                    NFTRules.chainLines(chain, table: table, flush: oldRules[chain.name] != nil, into: &out)
                    report.chainsWritten += 1
                }
            }
        }
        var toDelete = oldElements.subtracting(newElements)
        var toAdd = newElements.subtracting(oldElements)
        let oldIPs = Set(previous.values.map(\.port.clusterIP))
        let newIPs = Set(next.values.map(\.port.clusterIP))
        toDelete.formUnion(oldIPs.subtracting(newIPs).map { NFTElement("cluster-ips", $0) })
        toAdd.formUnion(newIPs.subtracting(oldIPs).map { NFTElement("cluster-ips", $0) })
        // A key whose verdict changed: delete first, then add, in the same transaction.
        NFTRules.elementLines("delete", toDelete.sorted(), table: table, into: &out)
        NFTRules.elementLines("add", toAdd.sorted(), table: table, into: &out)
        // Stale chains may still reference each other (service → endpoint): empty them all before deleting any.
        let stale = oldChains.subtracting(newChains).sorted()
        for chain in stale { out += "flush chain \(table) \(chain)\n" }
        for chain in stale {
            out += "delete chain \(table) \(chain)\n"
            report.chainsDeleted += 1
        }
        for set in oldSets.subtracting(newSets).sorted() { out += "delete set \(table) \(set)\n" }
        out += "flush chain \(table) fingerprint\nadd rule \(table) fingerprint counter comment \"\(fingerprint(next))\"\n"
        return out
    }

    /// Deletes the table (everything this mode owns).
    public func cleanup() throws {
        _ = try runner.check(["nft", "-f", "-"], input: "add table \(table)\ndelete table \(table)\n", context: "removing nftables table")
    }
}

extension Duration {
    var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}
