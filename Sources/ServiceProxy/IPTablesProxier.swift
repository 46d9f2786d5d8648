import Foundation

/// Which iptables the host uses: kube-proxy must program the same one as everybody else, or its rules are ignored
/// in part (both backends are active at once and their order is undefined).
public enum IPTablesBackend: String, Codable, Hashable, Sendable {
    case legacy
    case nft

    public var save: String { "iptables-\(rawValue)-save" }
    public var restore: String { "iptables-\(rawValue)-restore" }
}

/// kube-proxy's iptables-wrapper: the backend already holding rules wins; hint chains from a kubelet decide first;
/// a tie (an empty host) means nft, Debian's default.
public enum IPTablesBackendDetection {
    public static func decide(legacyRules: Int, nftRules: Int, legacyHasHint: Bool = false, nftHasHint: Bool = false) -> IPTablesBackend {
        if nftHasHint != legacyHasHint { return nftHasHint ? .nft : .legacy }
        return legacyRules > nftRules ? .legacy : .nft
    }

    static let hintChains = ["KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"]

    static func hasHint(_ dump: IPTablesDump) -> Bool {
        dump.tables.values.contains { table in hintChains.contains { table[$0] != nil } }
    }

    /// Runs both `*-save` tools (a missing or failing one counts as empty) and decides.
    public static func detect(runner: any CommandRunner) -> IPTablesBackend {
        func dump(_ backend: IPTablesBackend) -> IPTablesDump {
            guard let output = try? runner.run([backend.save], input: nil), output.status == 0 else { return IPTablesDump() }
            return IPTablesDump.parse(output.stdout)
        }
        let legacy = dump(.legacy)
        let nft = dump(.nft)
        return decide(legacyRules: legacy.ruleCount, nftRules: nft.ruleCount, legacyHasHint: hasHint(legacy), nftHasHint: hasHint(nft))
    }
}

/// kube-proxy's iptables mode: full syncs compare against `iptables-save` and write only what differs; partial
/// syncs rewrite the dispatch chains plus the chains of service ports that changed since the last successful sync.
public struct IPTablesProxier: Sendable {
    public let config: ProxyConfig
    public let backend: IPTablesBackend
    let runner: any CommandRunner
    /// Service chains as last applied; nil until a full sync succeeded (and after any failure).
    var applied: [ServicePortName: [IPTablesChain]]?
    var appliedTop: [String: [String]] = [:]
    var appliedPorts: [ProxyServicePort] = []
    /// Per-service-port rules of the last build (rebuilding all of them dominated a partial sync at 5,000 services).
    var pieces = IPTablesPieceCache()

    public init(config: ProxyConfig, backend: IPTablesBackend, runner: any CommandRunner = ProcessRunner()) {
        self.config = config
        self.backend = backend
        self.runner = runner
    }

    public var needsFullSync: Bool { applied == nil }

    var restoreCommand: [String] { [backend.restore, "-w", "5", "-W", "100000", "--noflush", "--counters"] }

    /// Which service ports a partial sync rewrites: new ones and those whose chains differ from the last applied.
    public static func changedServices(desired: [ServicePortName: [IPTablesChain]], applied: [ServicePortName: [IPTablesChain]]) -> Set<ServicePortName> {
        Set(desired.compactMap { name, chains in applied[name] == chains ? nil : name })
    }

    /// Chains to delete: applied service chains no longer desired.
    public static func staleChains(desired: Set<String>, applied: Set<String>) -> [String] {
        applied.subtracting(desired).sorted()
    }

    static func topKey(_ table: String, _ chain: String) -> String { "\(table)/\(chain)" }

    public mutating func sync(_ state: ProxyState, full requested: Bool) throws -> SyncReport {
        let start = ContinuousClock.now
        let full = requested || applied == nil
        let ruleset = IPTablesRules.build(state, config: config, cache: &pieces)
        var report = SyncReport(mode: .iptables, full: full)
        let text: String
        if full {
            let saved = try runner.check([backend.save], context: "reading current rules")
            let dump = IPTablesDump.parse(saved.stdout)
            let (plan, stale, jumps) = Self.fullSyncPlan(ruleset, actual: dump)
            report.chainsWritten = plan.services.count
            report.chainsDeleted = stale.count
            text =
                plan.isEmpty && stale.isEmpty && jumps.isEmpty
                ? ""
                : IPTablesRules.restoreText(
                    ruleset, writeServices: plan.services, filterChains: plan.filter, natChains: plan.nat, staleChains: stale, missingJumps: jumps)
        } else {
            let applied = applied ?? [:]
            let changed = Self.changedServices(desired: ruleset.serviceChains, applied: applied)
            let stale = Self.staleChains(desired: ruleset.serviceChainNames, applied: Set(applied.values.flatMap { $0.map(\.name) }))
            let topChanged = (ruleset.filter.map { ("filter", $0) } + ruleset.nat.map { ("nat", $0) }).contains {
                appliedTop[Self.topKey($0.0, $0.1.name)] != $0.1.rules
            }
            report.chainsWritten = changed.count
            report.chainsDeleted = stale.count
            // kube-proxy rewrites the dispatch chains on every partial sync; with nothing changed there is nothing to write.
            text = changed.isEmpty && stale.isEmpty && !topChanged ? "" : IPTablesRules.restoreText(ruleset, writeServices: changed, staleChains: stale)
        }
        if !text.isEmpty {
            let writeStart = ContinuousClock.now
            defer { report.writeMilliseconds = (ContinuousClock.now - writeStart).milliseconds }
            do {
                _ = try runner.check(restoreCommand, input: text, context: "applying rules")
            } catch {
                applied = nil
                throw error
            }
            report.wrote = true
            report.bytes = text.utf8.count
        }
        applied = ruleset.serviceChains
        appliedTop = Dictionary(
            uniqueKeysWithValues: ruleset.filter.map { (Self.topKey("filter", $0.name), $0.rules) }
                + ruleset.nat.map { (Self.topKey("nat", $0.name), $0.rules) })
        report.conntrackDeletions = Conntrack.cleanStale(old: appliedPorts, new: state.services, runner: runner)
        appliedPorts = state.services
        report.milliseconds = (ContinuousClock.now - start).milliseconds
        return report
    }

    /// What a full sync must write given the actual rules: top-level chains and service ports whose rules differ
    /// (structurally), stale service chains, missing jump rules.
    public static func fullSyncPlan(_ ruleset: IPTablesRuleset, actual: IPTablesDump) -> (
        plan: (filter: Set<String>, nat: Set<String>, services: Set<ServicePortName>, isEmpty: Bool), stale: [String], jumps: [IPTablesJump]
    ) {
        func same(_ table: String, _ chain: IPTablesChain) -> Bool {
            guard let rules = actual.tables[table]?[chain.name] else { return false }
            return rules.map(IPTablesNormalizer.normalize) == chain.rules.map(IPTablesNormalizer.normalize)
        }
        let filter = Set(ruleset.filter.filter { !same("filter", $0) }.map(\.name))
        let nat = Set(ruleset.nat.filter { !same("nat", $0) }.map(\.name))
        let services = Set(ruleset.serviceChains.compactMap { name, chains in chains.allSatisfy { same("nat", $0) } ? nil : name })
        let desired = ruleset.serviceChainNames
        let stale = (actual.chainOrder["nat"] ?? []).filter { ChainNames.isServiceChain($0) && !desired.contains($0) }
        let jumps = IPTablesRules.jumps.filter { jump in
            let wanted = IPTablesNormalizer.normalize(jump.rule)
            return !(actual.tables[jump.table]?[jump.chain] ?? []).contains { IPTablesNormalizer.normalize($0) == wanted }
        }
        return ((filter, nat, services, filter.isEmpty && nat.isEmpty && services.isEmpty), stale, jumps)
    }

    /// Removes every rule and chain this proxier owns (jumps first, then our chains), leaving others' rules alone.
    public func cleanup() throws {
        let saved = try runner.check([backend.save], context: "reading current rules")
        let dump = IPTablesDump.parse(saved.stdout)
        var text = ""
        for table in ["filter", "nat"] {
            guard let chains = dump.tables[table] else { continue }
            let ours = (dump.chainOrder[table] ?? []).filter { $0.hasPrefix("KUBE-") }
            var body = ""
            for jump in IPTablesRules.jumps where jump.table == table {
                let wanted = IPTablesNormalizer.normalize(jump.rule)
                for rule in chains[jump.chain] ?? [] where IPTablesNormalizer.normalize(rule) == wanted {
                    body += "-D \(jump.chain) \(rule)\n"
                }
            }
            for chain in ours { body += ":\(chain) - [0:0]\n" }
            for chain in ours { body += "-X \(chain)\n" }
            if !body.isEmpty { text += "*\(table)\n\(body)COMMIT\n" }
        }
        if !text.isEmpty { _ = try runner.check(restoreCommand, input: text, context: "removing rules") }
    }
}
