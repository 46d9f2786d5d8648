import Foundation

/// Runs one mode's syncs the way kube-proxy's BoundedFrequencyRunner does: changes are coalesced (at most one
/// sync per `minSyncInterval`, measured from the end of the previous one), a full sync runs at start, every
/// `fullSyncInterval` and after any failure; a failed sync is retried after `retryInterval`.
public actor ServiceProxier {
    public enum Backend: Sendable {
        case iptables(IPTablesProxier)
        case nftables(NFTablesProxier)
    }

    var backend: Backend
    let minSyncInterval: Duration
    let fullSyncInterval: Duration
    let retryInterval: Duration
    var desired: ProxyState?
    var dirty = false
    var lastFullSync: ContinuousClock.Instant?
    var lastSyncEnd: ContinuousClock.Instant?
    var scheduled: Task<Void, Never>?
    let onSync: @Sendable (Result<SyncReport, any Error>) -> Void

    public init(
        backend: Backend, minSyncInterval: Duration = .seconds(1), fullSyncInterval: Duration = .seconds(3600), retryInterval: Duration = .seconds(30),
        onSync: @escaping @Sendable (Result<SyncReport, any Error>) -> Void = { _ in }
    ) {
        self.backend = backend
        self.minSyncInterval = minSyncInterval
        self.fullSyncInterval = fullSyncInterval
        self.retryInterval = retryInterval
        self.onSync = onSync
    }

    /// Makes `mode`'s proxier for this node, detecting the iptables backend in use.
    /// `netlink`: nftables mode's partial syncs go straight to the kernel (`NFTablesProxier`); off, they use `nft -f`.
    /// By default on only with the real command runner: a test's recording runner must never lead to the host's
    /// nftables being written over netlink.
    public static func backend(mode: ProxyMode, config: ProxyConfig, runner: any CommandRunner = ProcessRunner(), netlink: Bool? = nil) -> Backend {
        switch mode {
        case .iptables: return .iptables(IPTablesProxier(config: config, backend: IPTablesBackendDetection.detect(runner: runner), runner: runner))
        case .nftables: return .nftables(NFTablesProxier(config: config, runner: runner, netlink: netlink ?? (runner is ProcessRunner)))
        }
    }

    /// Records the new desired state; a sync follows within `minSyncInterval`. Calls in between coalesce.
    public func update(_ state: ProxyState) {
        desired = state
        dirty = true
        schedule(after: nextAllowedDelay())
    }

    func nextAllowedDelay() -> Duration {
        guard let lastSyncEnd else { return .zero }
        let elapsed = ContinuousClock.now - lastSyncEnd
        return elapsed >= minSyncInterval ? .zero : minSyncInterval - elapsed
    }

    func schedule(after delay: Duration) {
        guard scheduled == nil else { return }
        scheduled = Task { [weak self] in
            try? await Task.sleep(for: delay)
            await self?.fire()
        }
    }

    func fire() {
        scheduled = nil
        guard dirty || needsFull else { return }
        _ = syncNow(full: false)
    }

    var needsFull: Bool {
        guard let lastFullSync else { return true }
        return ContinuousClock.now - lastFullSync >= fullSyncInterval
    }

    /// One sync now (full when asked, due, or after a failure). Returns the report or the error.
    @discardableResult
    public func syncNow(full: Bool) -> Result<SyncReport, any Error> {
        guard let state = desired else { return .failure(ProxierError.noState) }
        let doFull = full || needsFull
        dirty = false
        let result: Result<SyncReport, any Error>
        switch backend {
        case .iptables(var proxier):
            result = Result { try proxier.sync(state, full: doFull) }
            backend = .iptables(proxier)
        case .nftables(var proxier):
            result = Result { try proxier.sync(state, full: doFull) }
            backend = .nftables(proxier)
        }
        lastSyncEnd = .now
        switch result {
        case .success(let report): if report.full { lastFullSync = .now }
        case .failure:
            lastFullSync = nil
            schedule(after: retryInterval)
        }
        onSync(result)
        return result
    }

    /// Periodic full resyncs until cancelled (the runner's `maxInterval`).
    public func runTimer() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: min(fullSyncInterval, .seconds(60)))
            if needsFull && desired != nil { syncNow(full: true) }
        }
    }

    public enum ProxierError: Error, CustomStringConvertible {
        case noState
        public var description: String { "no desired state yet: call update(_:) first" }
    }
}
