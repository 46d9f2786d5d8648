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
    public var chains: [NFTChain]
    public var sets: [NFTAffinitySet]
    public var elements: [NFTElement]
    /// Elements other ports may need too (their ClusterIP in `cluster-ips`, an endpoint's hairpin pair): present
    /// while any port has them.
    public var sharedElements: [NFTElement] = []
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
            // Services without session affinity pick their endpoint by a random slot in global data maps (see
            // `randomSlotService`). Their endpoint changes are then element changes of non-verdict maps, which the
            // kernel commits without revalidating the table, and no anonymous set per service is created.
            "add map \(t) service-endpoints { typeof ip daddr . meta l4proto . th dport . numgen random mod \(slotCount) : ip daddr . th dport ; flags interval ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic: endpoint by random slot range\" ; }",
            "add map \(t) nodeport-endpoints { typeof meta l4proto . th dport . numgen random mod \(slotCount) : ip daddr . th dport ; flags interval ; comment \"NodePort traffic: endpoint by random slot range\" ; }",
            "add set \(t) external-ips-masquerade { type ipv4_addr . inet_proto . inet_service ; comment \"LoadBalancer IPs of externalTrafficPolicy Cluster services\" ; }",
            "add set \(t) external-ips-local { type ipv4_addr . inet_proto . inet_service ; comment \"LoadBalancer IPs of externalTrafficPolicy Local services\" ; }",
            "add set \(t) nodeports-masquerade { type inet_proto . inet_service ; comment \"NodePorts of externalTrafficPolicy Cluster services\" ; }",
            "add set \(t) nodeports-local { type inet_proto . inet_service ; comment \"NodePorts of externalTrafficPolicy Local services\" ; }",
            "add set \(t) hairpin-endpoints { type ipv4_addr . ipv4_addr ; comment \"An endpoint reaching itself through its service\" ; }",
        ]
        for n in exactSlotCounts {
            lines.append(
                "add map \(t) service-endpoints-\(n) { typeof ip daddr . meta l4proto . th dport . numgen random mod \(n) : ip daddr . th dport ; comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic to \(n) endpoint\(n == 1 ? "" : "s")\" ; }"
            )
            lines.append(
                "add map \(t) nodeport-endpoints-\(n) { typeof meta l4proto . th dport . numgen random mod \(n) : ip daddr . th dport ; comment \"NodePort traffic to \(n) endpoint\(n == 1 ? "" : "s")\" ; }"
            )
        }
        lines += [
            "add rule \(t) nat-prerouting jump services",
            "add rule \(t) nat-output jump services",
            // Hairpin (kube-proxy: `ip saddr <endpoint> jump mark-for-masquerade` in each endpoint chain).
            "add rule \(t) nat-postrouting ct status dnat ip saddr . ip daddr @hairpin-endpoints jump mark-for-masquerade",
            "add rule \(t) nat-postrouting jump masquerading",
            "add rule \(t) filter-input ct state new jump nodeport-endpoints-check",
            "add rule \(t) filter-input ct state new jump service-endpoints-check",
            "add rule \(t) filter-forward ct state new jump service-endpoints-check",
            "add rule \(t) filter-forward ct state new jump cluster-ips-check",
            "add rule \(t) filter-output ct state new jump service-endpoints-check",
            "add rule \(t) filter-output ct state new jump cluster-ips-check",
            "add rule \(t) services ip daddr . meta l4proto . th dport vmap @service-ips",
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto . th dport vmap @service-nodeports",
            // Random-slot services (see the maps): the masquerade decisions of kube-proxy's service, external and
            // local chains, then the DNAT. A miss in the endpoint map does not match, so evaluation goes on.
            "add rule \(t) services ip daddr @cluster-ips ip saddr != \(config.podCIDR) jump mark-for-masquerade",
            "add rule \(t) services ip daddr . meta l4proto . th dport @external-ips-masquerade jump mark-for-masquerade",
            "add rule \(t) services ip daddr . meta l4proto . th dport @external-ips-local ip saddr != \(config.podCIDR) fib saddr type local jump mark-for-masquerade",
        ]
        lines += exactSlotCounts.map { n in
            "add rule \(t) services meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod \(n) map @service-endpoints-\(n)"
        }
        lines += [
            "add rule \(t) services meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport . numgen random mod \(slotCount) map @service-endpoints",
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto . th dport @nodeports-masquerade jump mark-for-masquerade",
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto . th dport @nodeports-local ip saddr != \(config.podCIDR) fib saddr type local jump mark-for-masquerade",
        ]
        lines += exactSlotCounts.map { n in
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport . numgen random mod \(n) map @nodeport-endpoints-\(n)"
        }
        lines += [
            "add rule \(t) services fib daddr type local \(loopback)meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport . numgen random mod \(slotCount) map @nodeport-endpoints",
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

    /// Endpoint counts with maps of their own (`service-endpoints-N`, `nodeport-endpoints-N`): hash maps keyed by
    /// `numgen random mod N`, one element per endpoint. Deleting an element there is cheap; deleting one from the
    /// interval map costs 8-16 ms of kernel time (nft_pipapo_remove reworks the whole lookup table) whatever its size.
    public static let exactSlotCounts = 1...8

    /// Random slots of the interval maps (`numgen random mod slotCount`), for services with more endpoints.
    public static let slotCount = 65536

    /// The slot ranges of `count` endpoints: contiguous, as equal as integers allow, covering 0..<slotCount.
    public static func slotRanges(_ count: Int) -> [ClosedRange<Int>] {
        let n = min(count, slotCount)
        guard n > 0 else { return [] }
        return (0..<n).map { index in (index * slotCount / n)...((index + 1) * slotCount / n - 1) }
    }

    /// A service port without session affinity: no chains, only elements of the random-slot maps and of the sets
    /// that say whether external traffic is masqueraded, so an endpoint change is a change of elements only. With N
    /// endpoints (kube-proxy's `numgen random mod N`): N ≤ 8, slot i of the maps for N is endpoint i; more, the
    /// endpoints split 0..<65536 into N ranges of the interval maps.
    static func randomSlotService(_ sp: ProxyServicePort, endpoints: [ServiceEndpoint]) -> NFTServiceObjects {
        let p = sp.protocol.lowercased
        let exact = exactSlotCounts.contains(endpoints.count)
        let suffix = exact ? "-\(endpoints.count)" : ""
        let slots = exact ? endpoints.indices.map(String.init) : slotRanges(endpoints.count).map { "\($0.lowerBound)-\($0.upperBound)" }
        let targets = zip(slots, endpoints).map { (slots: $0, value: "\($1.ip) . \($1.port)") }
        var elements: [NFTElement] = []
        for ip in [sp.clusterIP] + (sp.hasExternal ? sp.loadBalancerIPs : []) {
            for target in targets { elements.append(NFTElement("service-endpoints" + suffix, "\(ip) . \(p) . \(sp.port) . \(target.slots)", target.value)) }
        }
        if sp.hasExternal {
            let policy = sp.externalPolicyLocal ? "local" : "masquerade"
            for ip in sp.loadBalancerIPs { elements.append(NFTElement("external-ips-\(policy)", "\(ip) . \(p) . \(sp.port)")) }
            if let nodePort = sp.nodePort {
                elements.append(NFTElement("nodeports-\(policy)", "\(p) . \(nodePort)"))
                for target in targets { elements.append(NFTElement("nodeport-endpoints" + suffix, "\(p) . \(nodePort) . \(target.slots)", target.value)) }
            }
        }
        let hairpin = Set(endpoints.map(\.ip)).sorted().map { NFTElement("hairpin-endpoints", "\($0) . \($0)") }
        return NFTServiceObjects(chains: [], sets: [], elements: elements, sharedElements: hairpin)
    }

    /// The objects of one service port: random-slot map elements without session affinity, kube-proxy's
    /// per-service and per-endpoint chains with it, no-endpoint verdicts without endpoints.
    public static func service(_ sp: ProxyServicePort, config: ProxyConfig) -> NFTServiceObjects {
        var objects = chainedService(sp, config: config)
        // Ports share ClusterIPs.
        objects.sharedElements.insert(NFTElement("cluster-ips", sp.clusterIP), at: 0)
        return objects
    }

    static func chainedService(_ sp: ProxyServicePort, config: ProxyConfig) -> NFTServiceObjects {
        let p = sp.protocol.lowercased
        let endpoints = sp.usableEndpoints
        var elements: [NFTElement] = []
        guard !endpoints.isEmpty else {
            elements.append(NFTElement("no-endpoint-services", "\(sp.clusterIP) . \(p) . \(sp.port)", "goto reject-chain"))
            for ip in sp.loadBalancerIPs { elements.append(NFTElement("no-endpoint-services", "\(ip) . \(p) . \(sp.port)", "goto reject-chain")) }
            if let nodePort = sp.nodePort { elements.append(NFTElement("no-endpoint-nodeports", "\(p) . \(nodePort)", "goto reject-chain")) }
            return NFTServiceObjects(chains: [], sets: [], elements: elements)
        }
        if sp.affinityTimeoutSeconds == nil { return randomSlotService(sp, endpoints: endpoints) }
        let svc = ChainNames.nftService(sp.name, sp.protocol)
        let ext = ChainNames.nftExternal(sp.name, sp.protocol)
        let local = ChainNames.nftLocal(sp.name, sp.protocol)
        let endpointChains = endpoints.map { ChainNames.nftEndpoint(sp.name, sp.protocol, $0) }
        let affinitySets = endpoints.map { ChainNames.nftAffinity(sp.name, sp.protocol, $0) }
        // Referenced chains must exist before the rules that jump to them: endpoints, then service, local, external.
        var chains: [NFTChain] = []
        var sets: [NFTAffinitySet] = []
        for (index, endpoint) in endpoints.enumerated() {
            var rules = [NFTRule([.sourceAddress(endpoint.ip)], .jump("mark-for-masquerade"))]
            if let timeout = sp.affinityTimeoutSeconds {
                sets.append(NFTAffinitySet(name: affinitySets[index], timeoutSeconds: timeout))
                rules.append(NFTRule(.updateSourceSet(affinitySets[index])))
            }
            rules.append(NFTRule([.l4proto(p)], .dnat(ip: endpoint.ip, port: endpoint.port)))
            chains.append(NFTChain(endpointChains[index], rules))
        }
        func dispatch(_ masq: Bool) -> [NFTRule] {
            var rules: [NFTRule] = []
            if masq { rules.append(NFTRule([.destinationAddress(sp.clusterIP), .sourceAddressNot(config.podCIDR)], .jump("mark-for-masquerade"))) }
            if sp.affinityTimeoutSeconds != nil {
                for (set, chain) in zip(affinitySets, endpointChains) { rules.append(NFTRule([.sourceAddressInSet(set)], .goto(chain))) }
            }
            rules.append(NFTRule(.randomGoto(endpointChains)))
            return rules
        }
        chains.append(NFTChain(svc, dispatch(true)))
        elements.append(NFTElement("service-ips", "\(sp.clusterIP) . \(p) . \(sp.port)", "goto \(svc)"))
        if sp.hasExternal {
            if sp.externalPolicyLocal {
                chains.append(NFTChain(local, dispatch(false)))
                chains.append(
                    NFTChain(
                        ext,
                        [
                            NFTRule([.sourceAddress(config.podCIDR)], .goto(svc), comment: "short-circuit pod traffic"),
                            NFTRule([.sourceIsLocal], .jump("mark-for-masquerade"), comment: "masquerade local traffic"),
                            NFTRule([.sourceIsLocal], .goto(svc), comment: "short-circuit local traffic"), NFTRule(.goto(local)),
                        ]))
            } else {
                chains.append(NFTChain(ext, [NFTRule(.jump("mark-for-masquerade")), NFTRule(.goto(svc))]))
            }
            for ip in sp.loadBalancerIPs { elements.append(NFTElement("service-ips", "\(ip) . \(p) . \(sp.port)", "goto \(ext)")) }
            if let nodePort = sp.nodePort { elements.append(NFTElement("service-nodeports", "\(p) . \(nodePort)", "goto \(ext)")) }
        }
        return NFTServiceObjects(chains: chains, sets: sets, elements: elements)
    }

    static func chainOperations(_ chain: NFTChain, flush: Bool) -> [NFTOperation] {
        [.addChain(chain.name)] + (flush ? [.flushChain(chain.name)] : []) + chain.rules.map { .addRule(chain: chain.name, $0) }
    }

    static func chainLines(_ chain: NFTChain, table t: String, flush: Bool, into out: inout String) {
        for operation in chainOperations(chain, flush: flush) { out += operation.text(table: t) }
    }

    /// The maps whose keys end in a random slot (a range in the interval maps, a number in the others).
    static let randomSlotMaps: Set<String> = Set(
        ["service-endpoints", "nodeport-endpoints"] + exactSlotCounts.flatMap { ["service-endpoints-\($0)", "nodeport-endpoints-\($0)"] })
    /// Elements per `add element` statement of the random-slot maps. nft 1.0.6 splits a long statement into several
    /// netlink messages, and an element at a split gets its host-endian slot byte-swapped a second time (seen: 1 to 2
    /// elements per 1,000-element statement stored as 0x9c620000-... instead of 0x629c-...; then overlapping ranges
    /// make the whole `nft -f` fail with "File exists"). Statements of 500 fit one message; 250 leaves room.
    static let randomSlotStatementSize = 250

    static func elementOperations(add: Bool, _ elements: [NFTElement]) -> [NFTOperation] {
        // One statement per map with all its elements: far fewer statements for nft to parse.
        var byMap: [String: [NFTElement]] = [:]
        for element in elements { byMap[element.map, default: []].append(element) }
        var out: [NFTOperation] = []
        for map in byMap.keys.sorted() {
            let list = byMap[map] ?? []
            let size = randomSlotMaps.contains(map) ? randomSlotStatementSize : 1000
            var index = 0
            while index < list.count {
                let chunk = Array(list[index..<min(index + size, list.count)])
                out.append(add ? .addElements(map: map, chunk) : .deleteElements(map: map, chunk))
                index += size
            }
        }
        return out
    }

    static func elementLines(_ verb: String, _ elements: [NFTElement], table t: String, into out: inout String) {
        for operation in elementOperations(add: verb == "add", elements) { out += operation.text(table: t) }
    }
}

/// The nftables-mode proxier: full syncs replace the table in one transaction (skipped when the table already
/// carries the fingerprint of the desired state, e.g. after a restart); partial syncs send only element deltas
/// and the chains of service ports that changed, in one transaction: a netlink batch (`NFTNetlinkBatch`), or
/// `nft -f` when netlink is off or unavailable.
public struct NFTablesProxier: Sendable {
    public let config: ProxyConfig
    let runner: any CommandRunner
    /// Last applied objects per service port with the input they came from (reused when the input is unchanged).
    var applied: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])]?
    var appliedPorts: [ProxyServicePort] = []
    /// Partial syncs go to the kernel over netlink (libnftnl) instead of `nft -f`: nft 1.0.6 reads back the whole
    /// ruleset before each transaction (~200 ms at 10,000 services). Off for tests with a recording runner.
    let netlink: Bool
    var netlinkFailureLogged = false
    /// The nft text of the last write (for a netlink partial sync: the same change as `nft -f` input), kept for
    /// the benchmark's floor.
    public private(set) var lastWrittenText = ""
    /// How many applied ports have each shared element (`NFTServiceObjects.sharedElements`): a partial sync adds one
    /// that none had and deletes one that none has any more, without looking at the other ports.
    var sharedUsers: [NFTElement: Int] = [:]

    public init(config: ProxyConfig, runner: any CommandRunner = ProcessRunner(), netlink: Bool = false) {
        self.config = config
        self.runner = runner
        self.netlink = netlink
    }

    var table: String { "ip \(config.nftTable)" }

    static func digest(_ objects: NFTServiceObjects) -> [UInt8] {
        var hasher = SHA256()
        for chain in objects.chains {
            hasher.update(data: Data(chain.name.utf8))
            for rule in chain.rules { hasher.update(data: Data(("\n" + rule.text).utf8)) }
        }
        for set in objects.sets { hasher.update(data: Data(("\nset " + set.text).utf8)) }
        for element in objects.elements.sorted() { hasher.update(data: Data(("\nel \(element.map) \(element.text)").utf8)) }
        for element in objects.sharedElements.sorted() { hasher.update(data: Data(("\nshared \(element.map) \(element.text)").utf8)) }
        return Array(hasher.finalize())
    }

    static func sharedUsers(_ services: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])]) -> [NFTElement: Int] {
        var users: [NFTElement: Int] = [:]
        for entry in services.values {
            for element in entry.objects.sharedElements { users[element, default: 0] += 1 }
        }
        return users
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
            for set in entry.objects.sets { out += "add set \(table) \(set.text)\n" }
            for chain in entry.objects.chains { NFTRules.chainLines(chain, table: table, flush: false, into: &out) }
            elements += entry.objects.elements
        }
        elements += Self.sharedUsers(services).keys.sorted()
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
        // Unchanged entries are kept as they are, and the dictionary is taken out of `self` so that it is updated in
        // place: a partial sync's cost should follow what changed, not the number of services (rebuilding, copying
        // and freeing 10,000 entries were most of the userspace time of a one-endpoint change). Until the write
        // succeeds `applied` stays nil, so a failure makes the next sync a full one.
        var next = applied ?? [:]
        applied = nil
        // The previous entries of changed and removed ports.
        var previous: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])] = [:]
        var changed: [ServicePortName] = []
        // Names of last sync's ports not found unchanged at the same place: the removed ones are among them.
        var displaced: [ServicePortName] = Array(appliedPorts.dropFirst(state.services.count).map(\.name))
        var placedElsewhere: Set<ServicePortName> = []
        for (index, sp) in state.services.enumerated() {
            // The common case: the same port at the same place as in the last applied state (whose entry `next` has).
            if !firstSync && index < appliedPorts.count && appliedPorts[index] == sp { continue }
            if index < appliedPorts.count && !firstSync { displaced.append(appliedPorts[index].name) }
            guard sp.protocol != .sctp else { continue }
            placedElsewhere.insert(sp.name)
            if let old = next[sp.name] {
                if old.port == sp { continue }
                previous[sp.name] = old
            }
            let built = NFTRules.service(sp, config: config)
            next[sp.name] = (sp, built, Self.digest(built))
            changed.append(sp.name)
        }
        // Port names are unique in a state, so a displaced name is gone unless it now sits at another place.
        let removed = Set(displaced).subtracting(placedElsewhere).filter { next[$0] != nil }
        for name in removed { previous[name] = next.removeValue(forKey: name) }
        var text = ""
        var operations: [NFTOperation] = []
        if full {
            // After a restart the table may already hold exactly this state: then nothing is written.
            sharedUsers = Self.sharedUsers(next)
            if !(firstSync && currentFingerprint() == fingerprint(next)) {
                text = fullText(next)
                report.chainsWritten = next.values.reduce(0) { $0 + $1.objects.chains.count }
            }
        } else {
            operations = partialOperations(previous: previous, next: next, changed: changed, removed: Array(removed), report: &report)
            text = operations.map { $0.text(table: table) }.joined()
        }
        if !text.isEmpty {
            let writeStart = ContinuousClock.now
            do {
                if !operations.isEmpty, let socket = netlinkSocket() {
                    try send(operations, over: socket)
                    report.netlink = true
                } else {
                    _ = try runner.check(["nft", "-f", "-"], input: text, context: "applying nftables rules")
                }
            } catch {
                // The kernel's state is not what `applied` says (or unknown): the next sync is a full one.
                applied = nil
                throw error
            }
            report.writeMilliseconds = (ContinuousClock.now - writeStart).milliseconds
            report.wrote = true
            report.bytes = text.utf8.count
            lastWrittenText = text
        }
        applied = next
        report.conntrackDeletions = Conntrack.cleanStale(old: appliedPorts, new: state.services, runner: runner)
        appliedPorts = state.services
        report.milliseconds = (ContinuousClock.now - start).milliseconds
        return report
    }

    /// A netlink socket for a partial sync, or nil (then `nft -f`) when netlink is off or cannot be opened;
    /// the failure is logged once.
    mutating func netlinkSocket() -> NFTNetlinkSocket? {
        guard netlink else { return nil }
        do {
            return try NFTNetlinkSocket()
        } catch {
            if !netlinkFailureLogged {
                netlinkFailureLogged = true
                FileHandle.standardError.write(Data("nftables: partial syncs fall back to nft -f: \(error)\n".utf8))
            }
            return nil
        }
    }

    /// Sends a partial sync as one netlink transaction.
    func send(_ operations: [NFTOperation], over socket: NFTNetlinkSocket) throws {
        var batch = NFTNetlinkBatch(table: config.nftTable)
        for operation in operations {
            switch operation {
            case .addSet(let set): batch.addAffinitySet(set)
            case .addChain(let chain): batch.addChain(chain)
            case .flushChain(let chain): batch.flushChain(chain)
            case .addRule(let chain, let rule): try batch.addRule(chain: chain, rule)
            case .addElements(let map, let elements): try batch.elements(add: true, map: map, elements)
            case .deleteElements(let map, let elements): try batch.elements(add: false, map: map, elements)
            case .deleteChain(let chain): batch.deleteChain(chain)
            case .deleteSet(let set): batch.deleteSet(set)
            }
        }
        batch.finish()
        try batch.send(socket: socket)
    }

    /// A partial sync's steps: new sets, changed chains rewritten, element deltas, stale chains and sets removed,
    /// the new fingerprint. Empty when nothing changed. `previous` holds the changed and removed ports' old entries.
    mutating func partialOperations(
        previous: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])],
        next: [ServicePortName: (port: ProxyServicePort, objects: NFTServiceObjects, digest: [UInt8])], changed: [ServicePortName],
        removed: [ServicePortName], report: inout SyncReport
    ) -> [NFTOperation] {
        if changed.isEmpty && removed.isEmpty { return [] }
        var out: [NFTOperation] = []
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
                oldSets.formUnion(old.objects.sets.map(\.name))
            }
            if let new = next[name] {
                newElements.formUnion(new.objects.elements)
                newChains.formUnion(new.objects.chains.map(\.name))
                newSets.formUnion(new.objects.sets.map(\.name))
                for set in new.objects.sets where !oldSets.contains(set.name) { out.append(.addSet(set)) }
                let oldRules = Dictionary((previous[name]?.objects.chains ?? []).map { ($0.name, $0.rules) }, uniquingKeysWith: { a, _ in a })
                for chain in new.objects.chains where oldRules[chain.name] != chain.rules {
                    out += NFTRules.chainOperations(chain, flush: oldRules[chain.name] != nil)
                    report.chainsWritten += 1
                }
            }
        }
        var toDelete = oldElements.subtracting(newElements)
        var toAdd = newElements.subtracting(oldElements)
        // Shared elements leave with the last port that had them and enter with the first.
        var usersBefore: [NFTElement: Int] = [:]
        func count(_ element: NFTElement, _ delta: Int) {
            if usersBefore[element] == nil { usersBefore[element] = sharedUsers[element] ?? 0 }
            let now = (sharedUsers[element] ?? 0) + delta
            sharedUsers[element] = now > 0 ? now : nil
        }
        for name in changed + removed {
            for element in previous[name]?.objects.sharedElements ?? [] { count(element, -1) }
        }
        for name in changed {
            for element in next[name]?.objects.sharedElements ?? [] { count(element, 1) }
        }
        for (element, before) in usersBefore {
            let now = sharedUsers[element] ?? 0
            if before > 0 && now == 0 { toDelete.insert(element) }
            if before == 0 && now > 0 { toAdd.insert(element) }
        }
        // A key whose verdict changed: delete first, then add, in the same transaction.
        out += NFTRules.elementOperations(add: false, toDelete.sorted())
        out += NFTRules.elementOperations(add: true, toAdd.sorted())
        // Stale chains may still reference each other (service → endpoint): empty them all before deleting any.
        let stale = oldChains.subtracting(newChains).sorted()
        out += stale.map { .flushChain($0) }
        out += stale.map { .deleteChain($0) }
        report.chainsDeleted += stale.count
        out += oldSets.subtracting(newSets).sorted().map { .deleteSet($0) }
        out += [.flushChain("fingerprint"), .addRule(chain: "fingerprint", NFTRule(.counter, comment: fingerprint(next)))]
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
