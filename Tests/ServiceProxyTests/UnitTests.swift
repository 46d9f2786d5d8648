import Foundation
import KubeAPI
import Testing

@testable import ServiceProxy

/// Records commands; answers `*-save` and `nft list` with canned output.
final class RecordingRunner: CommandRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var _commands: [(argv: [String], input: String?)] = []
    var saveOutput = ""

    var commands: [(argv: [String], input: String?)] { lock.withLock { _commands } }

    func run(_ argv: [String], input: String?) throws -> CommandOutput {
        lock.withLock { _commands.append((argv, input)) }
        if argv[0].hasSuffix("-save") { return CommandOutput(status: 0, stdout: lock.withLock { saveOutput }, stderr: "") }
        if argv[0] == "nft" && argv.contains("list") { return CommandOutput(status: 1, stdout: "", stderr: "No such file or directory") }
        if argv[0] == "conntrack" { return CommandOutput(status: 1, stdout: "", stderr: "0 flow entries have been deleted.") }
        return CommandOutput(status: 0, stdout: "", stderr: "")
    }

    var restores: [String] { commands.filter { $0.argv[0].hasSuffix("-restore") || $0.argv[0] == "nft" && $0.argv.contains("-f") }.compactMap(\.input) }
}

let web = ServicePortName(namespace: "default", name: "web", port: "http")

/// The reference's §1.6 service: NodePort 30080, two ready endpoints, cluster CIDR 10.244.0.0/16.
func referenceState(endpoints: [ServiceEndpoint] = [ServiceEndpoint(ip: "10.244.1.5", port: 8080), ServiceEndpoint(ip: "10.244.2.7", port: 8080)])
    -> ProxyState
{
    ProxyState(services: [ProxyServicePort(name: web, clusterIP: "10.96.100.10", port: 80, nodePort: 30080, endpoints: endpoints)])
}

let referenceConfig = ProxyConfig(podCIDR: "10.244.0.0/16")

@Suite("Chain names")
struct ChainNameTests {
    @Test(
        arguments: [
            ("ns1/svc1:p80", "tcp", nil, "XPGD46QRK7WJZT7O"), ("ns1/svc1:p80", "tcp", "10.180.0.1:80", "SXIVWICOYRO3J4NJ"),
            ("ns3/svc3:p80", "tcp", nil, "X27LE4BHSL4DOUIK"), ("ns4/svc4:p80", "tcp", "10.180.0.4:80", "UKSFD7AGPMPPLUHC"),
            ("default/web:http", "tcp", nil, "CDGGSHYLG3RE2FKL"), ("default/web:http", "tcp", "10.244.1.5:8080", "AFGSLHOD2HFNCBX4"),
            ("default/web:http", "tcp", "10.244.2.7:8080", "2RIJ5GIYXEFH6G4D"),
        ] as [(String, String, String?, String)])
    func iptablesHashes(name: String, proto: String, endpoint: String?, expected: String) throws {
        let parts = name.split(separator: "/")
        let rest = parts[1].split(separator: ":")
        let spn = ServicePortName(namespace: String(parts[0]), name: String(rest[0]), port: String(rest[1]))
        if let endpoint {
            #expect(ChainNames.sep(spn, .tcp, endpoint: endpoint) == "KUBE-SEP-" + expected)
        } else {
            #expect(ChainNames.svc(spn, .tcp) == "KUBE-SVC-" + expected)
            #expect(ChainNames.ext(spn, .tcp) == "KUBE-EXT-" + expected)
        }
        _ = proto
    }

    @Test func nftablesNames() {
        let svc1 = ServicePortName(namespace: "ns1", name: "svc1", port: "p80")
        let svc3 = ServicePortName(namespace: "ns3", name: "svc3", port: "p80")
        let svc4 = ServicePortName(namespace: "ns4", name: "svc4", port: "p80")
        #expect(ChainNames.nftService(svc1, .tcp) == "service-ULMVA6XW-ns1/svc1/tcp/p80")
        #expect(ChainNames.nftService(svc3, .tcp) == "service-4AT6LBPK-ns3/svc3/tcp/p80")
        #expect(ChainNames.nftExternal(svc3, .tcp) == "external-4AT6LBPK-ns3/svc3/tcp/p80")
        #expect(ChainNames.nftEndpoint(svc3, .tcp, ServiceEndpoint(ip: "10.180.0.3", port: 80)) == "endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80")
        #expect(ChainNames.nftService(svc4, .tcp) == "service-LAUZTJTB-ns4/svc4/tcp/p80")
        #expect(ChainNames.nftEndpoint(svc4, .tcp, ServiceEndpoint(ip: "10.180.0.5", port: 80)) == "endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80")
    }

    @Test func base32MatchesRFC4648() {
        #expect(ChainNames.base32(Array("foobar".utf8)) == "MZXW6YTBOI======")
        #expect(ChainNames.base32(Array("f".utf8)) == "MY======")
    }
}

@Suite("iptables rules")
struct IPTablesRuleTests {
    /// Reference §1.6 (raw emission order, kube-proxy's text), per chain.
    static let expectedNat: [String: [String]] = [
        "KUBE-POSTROUTING": [
            "-m mark ! --mark 0x00004000/0x00004000 -j RETURN", "-j MARK --xor-mark 0x00004000",
            "-m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully",
        ],
        "KUBE-MARK-MASQ": ["-j MARK --or-mark 0x00004000"],
        "KUBE-SERVICES": [
            "-m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.96.100.10 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL",
            "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
        ],
        "KUBE-NODEPORTS": ["-m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-CDGGSHYLG3RE2FKL"],
        "KUBE-SVC-CDGGSHYLG3RE2FKL": [
            "-m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.96.100.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
            "-m comment --comment \"default/web:http -> 10.244.1.5:8080\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-AFGSLHOD2HFNCBX4",
            "-m comment --comment \"default/web:http -> 10.244.2.7:8080\" -j KUBE-SEP-2RIJ5GIYXEFH6G4D",
        ],
        "KUBE-EXT-CDGGSHYLG3RE2FKL": [
            "-m comment --comment \"masquerade traffic for default/web:http external destinations\" -j KUBE-MARK-MASQ", "-j KUBE-SVC-CDGGSHYLG3RE2FKL",
        ],
        "KUBE-SEP-AFGSLHOD2HFNCBX4": [
            "-m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ",
            "-m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080",
        ],
        "KUBE-SEP-2RIJ5GIYXEFH6G4D": [
            "-m comment --comment default/web:http -s 10.244.2.7 -j KUBE-MARK-MASQ",
            "-m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.2.7:8080",
        ],
    ]

    @Test func matchesReferenceNodePortService() {
        let ruleset = IPTablesRules.build(referenceState(), config: referenceConfig)
        var nat: [String: [String]] = [:]
        for chain in ruleset.nat + ruleset.serviceChains.values.flatMap({ $0 }) { nat[chain.name] = chain.rules }
        #expect(nat == Self.expectedNat)
        let filter = Dictionary(uniqueKeysWithValues: ruleset.filter.map { ($0.name, $0.rules) })
        #expect(
            filter["KUBE-FIREWALL"] == [
                "-m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
            ])
        #expect(
            filter["KUBE-FORWARD"] == [
                "-m conntrack --ctstate INVALID -j DROP", "-m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x00004000/0x00004000 -j ACCEPT",
                "-m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            ])
        #expect(filter["KUBE-SERVICES"] == [])
    }

    @Test func noEndpointsRejectsInFilterAndHasNoNatChains() {
        let ruleset = IPTablesRules.build(referenceState(endpoints: [ServiceEndpoint(ip: "10.244.1.5", port: 8080, ready: false)]), config: referenceConfig)
        #expect(ruleset.serviceChains[web] == [])
        let filter = Dictionary(uniqueKeysWithValues: ruleset.filter.map { ($0.name, $0.rules) })
        #expect(filter["KUBE-SERVICES"] == ["-m comment --comment \"default/web:http has no endpoints\" -m tcp -p tcp -d 10.96.100.10 --dport 80 -j REJECT"])
        #expect(
            filter["KUBE-EXTERNAL-SERVICES"] == [
                "-m comment --comment \"default/web:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT"
            ])
        #expect(ruleset.nat.first { $0.name == "KUBE-NODEPORTS" }?.rules == [])
    }

    @Test func sessionAffinityUsesRecent() {
        var state = referenceState(endpoints: [ServiceEndpoint(ip: "10.180.0.3", port: 80)])
        state.services[0].affinityTimeoutSeconds = 10800
        let ruleset = IPTablesRules.build(state, config: referenceConfig)
        let sep = ChainNames.sep(web, .tcp, endpoint: "10.180.0.3:80")
        let chains = Dictionary(uniqueKeysWithValues: (ruleset.serviceChains[web] ?? []).map { ($0.name, $0.rules) })
        #expect(
            chains[ChainNames.svc(web, .tcp)]?.contains(
                "-m comment --comment \"default/web:http -> 10.180.0.3:80\" -m recent --name \(sep) --rcheck --seconds 10800 --reap -j \(sep)") == true)
        #expect(chains[sep]?.last == "-m comment --comment default/web:http -m recent --name \(sep) --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80")
    }

    @Test func probabilitiesFollowKubeProxy() {
        #expect(IPTablesRules.probability(3) == "0.3333333333")
        #expect(IPTablesRules.probability(2) == "0.5000000000")
    }

    /// A build that reuses the previous build's service rules gives exactly what a fresh build gives, through
    /// changes that touch one service, the largeClusterMode switch and the config.
    @Test func cachedBuildEqualsFreshBuild() {
        func state(_ services: Int, endpointsOf: (Int) -> Int) -> ProxyState {
            ProxyState(
                services: (0..<services).map { i in
                    ProxyServicePort(
                        name: ServicePortName(namespace: "default", name: "s\(i)", port: "http"), clusterIP: "10.96.\(i / 250).\(i % 250 + 1)", port: 80,
                        nodePort: 30000 + i,
                        endpoints: (0..<endpointsOf(i)).map { ServiceEndpoint(ip: "10.244.\(i / 250).\($0 + 2)", port: 8080) })
                })
        }
        let sequence: [(ProxyState, ProxyConfig)] = [
            (state(10, endpointsOf: { _ in 2 }), referenceConfig),
            (state(10, endpointsOf: { $0 == 3 ? 3 : 2 }), referenceConfig),
            (state(11, endpointsOf: { $0 == 3 ? 0 : 2 }), referenceConfig),
            (state(600, endpointsOf: { _ in 2 }), referenceConfig),  // > 1000 endpoints: comments dropped
            (state(600, endpointsOf: { $0 == 7 ? 1 : 2 }), ProxyConfig(podCIDR: "10.88.0.0/16")),
            (state(5, endpointsOf: { _ in 2 }), ProxyConfig(podCIDR: "10.88.0.0/16")),
        ]
        var cache = IPTablesPieceCache()
        for (step, (state, config)) in sequence.enumerated() {
            let cached = IPTablesRules.build(state, config: config, cache: &cache)
            #expect(cached == IPTablesRules.build(state, config: config), "step \(step)")
        }
    }

    @Test func localPolicyShortCircuitsPodAndLocalTraffic() {
        var state = referenceState()
        state.services[0].externalPolicyLocal = true
        let chains = Dictionary(
            uniqueKeysWithValues: (IPTablesRules.build(state, config: referenceConfig).serviceChains[web] ?? []).map { ($0.name, $0.rules) })
        let ext = chains[ChainNames.ext(web, .tcp)] ?? []
        #expect(ext.first == "-m comment --comment \"pod traffic for default/web:http external destinations\" -s 10.244.0.0/16 -j KUBE-SVC-CDGGSHYLG3RE2FKL")
        #expect(ext.last == "-j KUBE-SVL-CDGGSHYLG3RE2FKL")
        #expect(chains["KUBE-SVL-CDGGSHYLG3RE2FKL"]?.count == 2)
    }
}

@Suite("iptables-save normalisation and structural diff")
struct IPTablesSaveTests {
    /// Pairs from the reference §1.6 [measured]: what we write and what iptables-save prints back.
    @Test(arguments: [
        ("-j MARK --or-mark 0x00004000", "-j MARK --set-xmark 0x4000/0x4000"),
        ("-j MARK --xor-mark 0x00004000", "-j MARK --set-xmark 0x4000/0x0"),
        (
            "-m comment --comment default/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-CDGGSHYLG3RE2FKL",
            "-p tcp -m comment --comment \"default/web:http\" -m tcp --dport 30080 -j KUBE-EXT-CDGGSHYLG3RE2FKL"
        ),
        (
            "-m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ",
            "-s 10.244.1.5/32 -m comment --comment \"default/web:http\" -j KUBE-MARK-MASQ"
        ),
        (
            "-m comment --comment \"x -> y\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-A",
            "-m comment --comment \"x -> y\" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-A"
        ),
        (
            "-m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-X --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80",
            "-p tcp -m comment --comment \"ns5/svc5:p80\" -m recent --set --name KUBE-SEP-X --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.3:80"
        ),
        (
            "-m comment --comment \"ns6/svc6:p80 has no endpoints\" -m udp -p udp -d 172.30.0.46 --dport 80 -j REJECT",
            "-d 172.30.0.46/32 -p udp -m comment --comment \"ns6/svc6:p80 has no endpoints\" -m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
        ),
        (
            "-m comment --comment \"block incoming localnet connections\" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP",
            "! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
        ),
    ])
    func savedFormNormalisesLikeWritten(written: String, saved: String) {
        #expect(IPTablesNormalizer.normalize(written) == IPTablesNormalizer.normalize(saved))
    }

    @Test func differentRulesStayDifferent() {
        #expect(IPTablesNormalizer.normalize("-m tcp -p tcp --dport 30080 -j X") != IPTablesNormalizer.normalize("-m tcp -p tcp --dport 30090 -j X"))
        #expect(IPTablesNormalizer.normalize("-s 10.0.0.1 -j X") != IPTablesNormalizer.normalize("! -s 10.0.0.1 -j X"))
        #expect(IPTablesNormalizer.normalize("-m comment --comment \"a b\" -j X") != IPTablesNormalizer.normalize("-m comment --comment \"a c\" -j X"))
    }

    @Test func tokenizerHandlesQuotesAndEscapes() {
        #expect(IPTablesNormalizer.tokenize(#"-m comment --comment "name: \"net\" id" -j X"#) == ["-m", "comment", "--comment", #"name: "net" id"#, "-j", "X"])
    }

    /// A dump that holds exactly the desired rules (in kube-proxy's text) needs no write; a changed SEP is found.
    @Test func fullSyncPlanComparesStructurally() {
        let ruleset = IPTablesRules.build(referenceState(), config: referenceConfig)
        let text = IPTablesRules.restoreText(ruleset, writeServices: nil, missingJumps: IPTablesRules.jumps)
            .replacingOccurrences(of: "-I ", with: "-A ").replacingOccurrences(of: " 1 -", with: " -")
        let (plan, stale, jumps) = IPTablesProxier.fullSyncPlan(ruleset, actual: IPTablesDump.parse(text))
        #expect(plan.isEmpty && stale.isEmpty && jumps.isEmpty, "\(plan) \(stale) \(jumps)")

        let moved = IPTablesRules.build(
            referenceState(endpoints: [ServiceEndpoint(ip: "10.244.1.5", port: 8080), ServiceEndpoint(ip: "10.244.3.9", port: 8080)]), config: referenceConfig)
        let (plan2, stale2, _) = IPTablesProxier.fullSyncPlan(moved, actual: IPTablesDump.parse(text))
        #expect(plan2.services == [web])
        #expect(stale2 == ["KUBE-SEP-2RIJ5GIYXEFH6G4D"])
        #expect(plan2.filter.isEmpty)
    }

    @Test func backendDecision() {
        #expect(IPTablesBackendDetection.decide(legacyRules: 0, nftRules: 0) == .nft)
        #expect(IPTablesBackendDetection.decide(legacyRules: 12, nftRules: 3) == .legacy)
        #expect(IPTablesBackendDetection.decide(legacyRules: 3, nftRules: 12) == .nft)
        #expect(IPTablesBackendDetection.decide(legacyRules: 50, nftRules: 3, nftHasHint: true) == .nft)
    }
}

@Suite("Partial syncs")
struct PartialSyncTests {
    @Test func iptablesPartialSyncWritesOnlyTheChangedService() throws {
        let runner = RecordingRunner()
        var proxier = IPTablesProxier(config: referenceConfig, backend: .nft, runner: runner)
        var state = referenceState()
        let other = ServicePortName(namespace: "default", name: "other")
        state.services.append(ProxyServicePort(name: other, clusterIP: "10.96.0.20", port: 80, endpoints: [ServiceEndpoint(ip: "10.244.9.9", port: 80)]))
        let first = try proxier.sync(state, full: false)
        #expect(first.full && first.wrote)
        #expect(runner.commands.first?.argv == ["iptables-nft-save"])
        #expect(runner.restores.count == 1)
        #expect(runner.restores[0].contains("-I PREROUTING 1 -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"))

        // One endpoint of web moves: web's chains and the dispatch chains are rewritten, other's are not.
        state.services[0].endpoints[1] = ServiceEndpoint(ip: "10.244.3.9", port: 8080)
        let second = try proxier.sync(state, full: false)
        #expect(!second.full && second.chainsWritten == 1 && second.chainsDeleted == 1)
        let text = try #require(runner.restores.last)
        #expect(runner.commands.filter { $0.argv[0].hasSuffix("-save") }.count == 1, "partial syncs do not read the rules back")
        #expect(text.contains(":KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]"))
        #expect(text.contains(":KUBE-SERVICES - [0:0]") && text.contains(":KUBE-NODEPORTS - [0:0]"))
        #expect(!text.contains(ChainNames.svc(other, .tcp) + " - [0:0]"))
        #expect(text.contains("-X KUBE-SEP-2RIJ5GIYXEFH6G4D"))
        #expect(!text.contains("-I PREROUTING"))
        let lines = text.split(separator: "\n")
        #expect(lines.lastIndex { $0.hasPrefix("-X") } ?? 0 > lines.lastIndex { $0.hasPrefix("-A") } ?? 0, "-X after every rule")

        // Nothing changed: nothing written.
        let third = try proxier.sync(state, full: false)
        #expect(!third.wrote && runner.restores.count == 2)
    }

    @Test func changedServiceSelection() {
        let a = ServicePortName(namespace: "n", name: "a")
        let b = ServicePortName(namespace: "n", name: "b")
        let c = ServicePortName(namespace: "n", name: "c")
        let applied = [a: [IPTablesChain("KUBE-SVC-A", ["x"])], b: [IPTablesChain("KUBE-SVC-B", ["y"]), IPTablesChain("KUBE-SEP-B1", ["z"])]]
        let desired = [a: [IPTablesChain("KUBE-SVC-A", ["x"])], b: [IPTablesChain("KUBE-SVC-B", ["y2"])], c: [IPTablesChain("KUBE-SVC-C", [])]]
        #expect(IPTablesProxier.changedServices(desired: desired, applied: applied) == [b, c])
        #expect(
            IPTablesProxier.staleChains(desired: ["KUBE-SVC-A", "KUBE-SVC-B", "KUBE-SVC-C"], applied: ["KUBE-SVC-A", "KUBE-SVC-B", "KUBE-SEP-B1"]) == [
                "KUBE-SEP-B1"
            ])
    }

    @Test func nftablesPartialSyncSendsElementDeltas() throws {
        let runner = RecordingRunner()
        var proxier = NFTablesProxier(config: referenceConfig, runner: runner)
        var state = referenceState()
        let other = ServicePortName(namespace: "default", name: "other")
        state.services.append(ProxyServicePort(name: other, clusterIP: "10.96.0.20", port: 80, endpoints: [ServiceEndpoint(ip: "10.244.9.9", port: 80)]))
        _ = try proxier.sync(state, full: true)
        let full = try #require(runner.restores.last)
        #expect(full.hasPrefix("add table ip minikubelet\ndelete table ip minikubelet\n"))
        #expect(full.contains("add element ip minikubelet nodeport-endpoints-2 { tcp . 30080 . 0 : 10.244.1.5 . 8080, tcp . 30080 . 1 : 10.244.2.7 . 8080 }"))

        // The nodePort changes: its elements out, new ones in; no chain or rule is written.
        state.services[0].nodePort = 30090
        let report = try proxier.sync(state, full: false)
        let delta = try #require(runner.restores.last)
        #expect(report.chainsWritten == 0)
        #expect(
            delta.contains("delete element ip minikubelet nodeport-endpoints-2 { tcp . 30080 . 0 : 10.244.1.5 . 8080, tcp . 30080 . 1 : 10.244.2.7 . 8080 }"))
        #expect(delta.contains("add element ip minikubelet nodeport-endpoints-2 { tcp . 30090 . 0 : 10.244.1.5 . 8080, tcp . 30090 . 1 : 10.244.2.7 . 8080 }"))
        #expect(delta.contains("delete element ip minikubelet nodeports-masquerade { tcp . 30080 }"))
        #expect(delta.contains("add element ip minikubelet nodeports-masquerade { tcp . 30090 }"))
        #expect(!delta.contains("service-endpoints"))
        #expect(!delta.contains("delete table"))

        // An endpoint goes: the service moves to the 1-endpoint maps; only elements change (its hairpin pair goes too).
        state.services[0].endpoints.removeLast()
        let third = try proxier.sync(state, full: false)
        let text = try #require(runner.restores.last)
        #expect(third.chainsDeleted == 0 && third.chainsWritten == 0)
        #expect(text.contains("add element ip minikubelet service-endpoints-1 { 10.96.100.10 . tcp . 80 . 0 : 10.244.1.5 . 8080 }"))
        #expect(text.contains("delete element ip minikubelet service-endpoints-2 { 10.96.100.10 . tcp . 80 . 0 : 10.244.1.5 . 8080, "))
        #expect(text.contains("delete element ip minikubelet hairpin-endpoints { 10.244.2.7 . 10.244.2.7 }"))
        #expect(!text.contains("10.244.9.9"))
        expectOnlyElementChanges(text)
    }

    /// An endpoint change of services without session affinity: element deletes and adds only (besides the
    /// fingerprint chain's counter rule), so the kernel does not revalidate the table at commit.
    func expectOnlyElementChanges(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for line in text.split(separator: "\n") where !line.hasPrefix("add element ") && !line.hasPrefix("delete element ") {
            #expect(
                line.hasPrefix("flush chain ip minikubelet fingerprint") || line.hasPrefix("add rule ip minikubelet fingerprint counter "), "\(line)",
                sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [1, 2, 3, 7, 65536])
    func slotRangesCoverAllSlotsOnce(endpoints: Int) {
        let ranges = NFTRules.slotRanges(endpoints)
        #expect(ranges.count == endpoints)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == NFTRules.slotCount - 1)
        // Contiguous: each range starts right after the previous one ends, so no slot is left out or taken twice.
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound + 1 == $1.lowerBound })
        #expect(ranges.map(\.count).reduce(0, +) == NFTRules.slotCount)
        // Even: sizes differ by at most one slot.
        let sizes = ranges.map(\.count)
        #expect((sizes.max() ?? 0) - (sizes.min() ?? 0) <= 1)
    }

    @Test(arguments: [
        // Up to 8 endpoints: the maps for that count, slot i is endpoint i.
        (1, "-1", ["0"]), (2, "-2", ["0", "1"]), (3, "-3", ["0", "1", "2"]), (7, "-7", ["0", "1", "2", "3", "4", "5", "6"]),
        // More: slot ranges of the interval maps.
        (9, "", ["0-7280", "7281-14562", "14563-21844", "21845-29126", "29127-36407", "36408-43689", "43690-50971", "50972-58253", "58254-65535"]),
    ])
    func slotsOfServiceElements(endpoints: Int, suffix: String, expected: [String]) {
        let eps = (0..<endpoints).map { ServiceEndpoint(ip: "10.244.0.\($0 + 2)", port: 8080) }
        let objects = NFTRules.service(
            ProxyServicePort(name: web, clusterIP: "10.96.0.9", port: 80, nodePort: 30009, endpoints: eps), config: referenceConfig)
        let keys = objects.elements.filter { $0.map == "service-endpoints" + suffix }.map(\.key)
        #expect(keys == expected.map { "10.96.0.9 . tcp . 80 . \($0)" })
        let nodePortKeys = objects.elements.filter { $0.map == "nodeport-endpoints" + suffix }.map(\.key)
        #expect(nodePortKeys == expected.map { "tcp . 30009 . \($0)" })
        let values = objects.elements.filter { $0.map == "nodeport-endpoints" + suffix }.map { $0.value ?? "" }
        // Endpoints in kube-proxy's order (sorted by `ip:port`: 10.244.0.10 first).
        #expect(values == eps.sorted().map { "\($0.ip) . 8080" })
        #expect(objects.elements.filter { $0.map.hasSuffix("-endpoints") || $0.map.contains("-endpoints-") }.count == 2 * endpoints)
        #expect(objects.chains.isEmpty && objects.sets.isEmpty)
    }

    @Test func nftablesServiceObjectsFollowKubeProxy() {
        let svc3 = ServicePortName(namespace: "ns3", name: "svc3", port: "p80")
        let config = ProxyConfig(podCIDR: "10.0.0.0/8")
        // Without session affinity: random-slot elements, the masquerade set of its NodePort, its hairpin pair.
        let plain = NFTRules.service(
            ProxyServicePort(name: svc3, clusterIP: "172.30.0.43", port: 80, nodePort: 3003, endpoints: [ServiceEndpoint(ip: "10.180.0.3", port: 80)]),
            config: config)
        #expect(
            Set(plain.elements) == [
                NFTElement("service-endpoints-1", "172.30.0.43 . tcp . 80 . 0", "10.180.0.3 . 80"),
                NFTElement("nodeport-endpoints-1", "tcp . 3003 . 0", "10.180.0.3 . 80"), NFTElement("nodeports-masquerade", "tcp . 3003"),
            ])
        #expect(plain.sharedElements == [NFTElement("cluster-ips", "172.30.0.43"), NFTElement("hairpin-endpoints", "10.180.0.3 . 10.180.0.3")])
        // With session affinity: kube-proxy's chains, endpoint chains and affinity sets.
        let objects = NFTRules.service(
            ProxyServicePort(
                name: svc3, clusterIP: "172.30.0.43", port: 80, nodePort: 3003, affinityTimeoutSeconds: 10800,
                endpoints: [ServiceEndpoint(ip: "10.180.0.3", port: 80)]),
            config: config)
        let chains = Dictionary(uniqueKeysWithValues: objects.chains.map { ($0.name, $0.ruleTexts) })
        let affinity = ChainNames.nftAffinity(svc3, .tcp, ServiceEndpoint(ip: "10.180.0.3", port: 80))
        #expect(
            chains["service-4AT6LBPK-ns3/svc3/tcp/p80"] == [
                "ip daddr 172.30.0.43 ip saddr != 10.0.0.0/8 jump mark-for-masquerade",
                "ip saddr @\(affinity) goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80",
                "numgen random mod 1 vmap { 0 : goto endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80 }",
            ])
        #expect(chains["external-4AT6LBPK-ns3/svc3/tcp/p80"] == ["jump mark-for-masquerade", "goto service-4AT6LBPK-ns3/svc3/tcp/p80"])
        #expect(
            chains["endpoint-UEIP74TE-ns3/svc3/tcp/p80__10.180.0.3/80"] == [
                "ip saddr 10.180.0.3 jump mark-for-masquerade", "update @\(affinity) { ip saddr }",
                "meta l4proto tcp dnat to 10.180.0.3:80",
            ])
        #expect(objects.elements.contains(NFTElement("service-ips", "172.30.0.43 . tcp . 80", "goto service-4AT6LBPK-ns3/svc3/tcp/p80")))
        #expect(objects.elements.contains(NFTElement("service-nodeports", "tcp . 3003", "goto external-4AT6LBPK-ns3/svc3/tcp/p80")))
    }

    @Test func udpConntrackFiltersWhenEndpointsGo() {
        let echo = ServicePortName(namespace: "n", name: "dns")
        let old = [
            ProxyServicePort(
                name: echo, protocol: .udp, clusterIP: "10.96.0.10", port: 53, nodePort: 30053,
                endpoints: [ServiceEndpoint(ip: "10.88.0.2", port: 53), ServiceEndpoint(ip: "10.88.0.3", port: 53)])
        ]
        var new = old
        new[0].endpoints.removeLast()
        #expect(
            Conntrack.staleFilters(old: old, new: new) == [
                ["-p", "udp", "--orig-dst", "10.96.0.10", "--orig-port-dst", "53", "--reply-src", "10.88.0.3"],
                ["-p", "udp", "--orig-port-dst", "30053", "--reply-src", "10.88.0.3"],
            ])
        var tcp = old
        tcp[0].protocol = .tcp
        var tcpNew = tcp
        tcpNew[0].endpoints.removeLast()
        #expect(Conntrack.staleFilters(old: tcp, new: tcpNew).isEmpty, "TCP flows are never flushed")
    }
}

@Suite("Sync runner")
struct RunnerTests {
    /// The first update syncs at once (full); four quick updates after it coalesce into one partial sync that
    /// waits out `minSyncInterval` and carries the last state.
    @Test func updatesCoalesce() async throws {
        let runner = RecordingRunner()
        let reports = ReportBox()
        let proxier = ServiceProxier(
            backend: .iptables(IPTablesProxier(config: referenceConfig, backend: .nft, runner: runner)), minSyncInterval: .milliseconds(500)
        ) { result in
            if case .success(let report) = result { reports.append(report) }
        }
        func waitFor(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while reports.all.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        }
        var state = referenceState()
        await proxier.update(state)
        try await waitFor(1)
        let firstDone = ContinuousClock.now
        for port in 30081...30084 {
            state.services[0].nodePort = port
            await proxier.update(state)
        }
        try await waitFor(2)
        #expect(ContinuousClock.now - firstDone >= .milliseconds(400), "the second sync waited for minSyncInterval")
        try await Task.sleep(for: .milliseconds(800))
        let all = reports.all
        #expect(all.count == 2, "\(all)")
        #expect(all.first?.full == true && all.last?.full == false)
        #expect(runner.restores.last?.contains("--dport 30084") == true)
        #expect(runner.restores.allSatisfy { !$0.contains("--dport 30082") })
    }
}

final class ReportBox: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [SyncReport] = []
    func append(_ report: SyncReport) { lock.withLock { reports.append(report) } }
    var all: [SyncReport] { lock.withLock { reports } }
}
