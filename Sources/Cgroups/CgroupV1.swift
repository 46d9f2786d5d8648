// The cgroup v1 manager (legacy and hybrid hosts): one directory per mounted controller, plus on hybrid the same
// path in the unified tree for process tracking (runc fs/, reference/runtime.md §3.1, §3.3).
import Glibc

struct CgroupV1Manager: CgroupManager {
    let layout: CgroupLayout
    /// Every mounted controller of `v1Controllers`; all are created so processes are tracked (and freezable,
    /// device-filterable) in every hierarchy, as runc does, even when no limit is set for them.
    let controllers: [String: CgroupPlacement]
    /// Hybrid only: the cgroup2 tree, without controllers.
    let unified: CgroupPlacement?

    /// Distinct controller placements in a stable order (co-mounted controllers share one).
    private var placements: [CgroupPlacement] {
        var seen: [CgroupPlacement] = []
        for controller in v1Controllers {
            if let p = controllers[controller], !seen.contains(p) { seen.append(p) }
        }
        if let unified { seen.append(unified) }
        return seen
    }

    var directories: [String] { placements.map(\.leaf) }

    var unifiedDirectory: String? { unified?.leaf }

    var v1Directories: [String] {
        let unifiedLeaf = unified?.leaf
        return directories.filter { $0 != unifiedLeaf }
    }

    func directory(_ controller: String) -> String? { controllers[controller]?.leaf }

    func create() throws(CgroupError) {
        var created = CreatedDirectories()
        do throws(CgroupError) {
            for placement in placements {
                for level in placement.levels { try created.make(level) }
            }
            if let cpuset = controllers["cpuset"] { try initialiseCpuset(cpuset) }
        } catch {
            throw created.rollback(after: error)
        }
    }

    /// A new v1 cpuset cgroup has empty cpus/mems and refuses tasks; copy them from the parent, walking down.
    private func initialiseCpuset(_ placement: CgroupPlacement) throws(CgroupError) {
        var parent = placement.base
        for level in placement.levels {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let current = try CgroupFS.read(joinPath(level, file)).trimmingWhitespace()
                if current.isEmpty {
                    try CgroupFS.write(joinPath(level, file), try CgroupFS.read(joinPath(parent, file)).trimmingWhitespace())
                }
            }
            parent = level
        }
    }

    func apply(_ resources: CgroupResources) throws(CgroupError) {
        try applyMemory(resources)
        try applyCPU(resources)
        if let cpus = resources.cpusetCpus, !cpus.isEmpty { try write("cpuset", "cpuset.cpus", cpus) }
        if let mems = resources.cpusetMems, !mems.isEmpty { try write("cpuset", "cpuset.mems", mems) }
        if let pids = pidsMaxValue(resources.pidsLimit) { try write("pids", "pids.max", pids) }
        if !resources.devices.isEmpty { try applyDevices(resources.devices) }
        // resources.unified is v2 vocabulary and has no v1 meaning; ignored as documented in the contract.
    }

    private func applyMemory(_ r: CgroupResources) throws(CgroupError) {
        try applySwappiness(r.memorySwappiness)
        let limit = r.memoryLimit == 0 ? nil : r.memoryLimit
        var swap = r.memorySwap == 0 ? nil : r.memorySwap
        if limit == nil && swap == nil && (r.memoryReservation ?? 0) == 0 { return }
        guard let dir = directory("memory") else { throw notMounted("memory") }
        let memswFile = joinPath(dir, "memory.memsw.limit_in_bytes")
        let hasMemsw = CgroupFS.exists(memswFile)
        if let limit, let requested = swap, limit > 0, requested > 0, requested < limit {
            throw CgroupError(
                operation: "write", path: memswFile, detail: "memory+swap limit (\(requested)) should be >= memory limit (\(limit))", value: String(requested))
        }
        // Unlimited memory with swap unspecified means both unlimited (runc), if swap accounting exists.
        if limit == -1 && swap == nil && hasMemsw { swap = -1 }
        if let requested = swap, !hasMemsw {
            guard requested == -1 else {
                throw CgroupError(
                    operation: "write", path: memswFile, errno: ENOENT,
                    detail: "swap limit requested but swap accounting is off (boot with swapaccount=1)", value: String(requested))
            }
            swap = nil
        }
        if let limit, let requested = swap {
            // The kernel keeps limit <= memsw at every step, so raising needs memsw first.
            let current = try CgroupFS.read(joinPath(dir, "memory.limit_in_bytes")).trimmingWhitespace()
            if requested == -1 || (UInt64(current) ?? 0) < UInt64(requested) {
                try CgroupFS.write(memswFile, String(requested))
                try writeMemoryLimit(dir, limit)
            } else {
                try writeMemoryLimit(dir, limit)
                try CgroupFS.write(memswFile, String(requested))
            }
        } else if let limit {
            try writeMemoryLimit(dir, limit)
        } else if let requested = swap {
            try CgroupFS.write(memswFile, String(requested))
        }
        if let reservation = r.memoryReservation, reservation != 0 {
            try CgroupFS.write(joinPath(dir, "memory.soft_limit_in_bytes"), String(reservation))
        }
    }

    /// runc: unset or -1 (UInt64.max from Docker) writes nothing; above 100 is refused before writing.
    private func applySwappiness(_ swappiness: UInt64?) throws(CgroupError) {
        guard let swappiness, swappiness != UInt64.max else { return }
        guard let dir = directory("memory") else { throw notMounted("memory") }
        let file = joinPath(dir, "memory.swappiness")
        guard swappiness <= 100 else {
            throw CgroupError(operation: "write", path: file, detail: "valid memory swappiness range is 0-100", value: String(swappiness))
        }
        try CgroupFS.write(file, String(swappiness))
    }

    /// The minimal devices.deny/devices.allow writes from the cgroup's current devices.list to `rules` (runc's v1
    /// devices manager): a new cgroup inherits its parent's list, typically `a *:* rwm`, so an allow-list starts
    /// with `a` written to devices.deny, then each allowed exception in (major, minor, type) order.
    /// The result is read back and compared, since the kernel silently ignores some writes.
    private func applyDevices(_ rules: [DeviceRule]) throws(CgroupError) {
        guard let dir = directory("devices") else { throw notMounted("devices") }
        let list = joinPath(dir, "devices.list")
        let target = try DeviceEmulator(rules: rules)
        let current = try DeviceEmulator(devicesList: try CgroupFS.read(list), path: list)
        for rule in current.transition(to: target) {
            try CgroupFS.write(joinPath(dir, rule.allow ? "devices.allow" : "devices.deny"), rule.cgroupLine)
        }
        let after = try DeviceEmulator(devicesList: try CgroupFS.read(list), path: list)
        // devices.list of an allow-all cgroup does not show its deny exceptions: only the mode can be compared.
        if target.isBlacklist ? !after.isBlacklist : after != target {
            throw CgroupError(
                operation: "apply", path: list,
                detail: "resulting device rules differ from linux.resources.devices: "
                    + (after.isBlacklist ? "a *:* rwm" : after.orderedRules.map(\.cgroupLine).joined(separator: ", ")))
        }
    }

    /// EBUSY here means the usage is above the new limit and could not be reclaimed; say how far above.
    private func writeMemoryLimit(_ dir: String, _ limit: Int64) throws(CgroupError) {
        do throws(CgroupError) {
            try CgroupFS.write(joinPath(dir, "memory.limit_in_bytes"), String(limit))
        } catch {
            var error = error
            if error.errno == EBUSY {
                let usage = bestEffortRead(joinPath(dir, "memory.usage_in_bytes"))?.trimmingWhitespace() ?? "?"
                let peak = bestEffortRead(joinPath(dir, "memory.max_usage_in_bytes"))?.trimmingWhitespace() ?? "?"
                error.detail += " (unable to set memory limit: current usage \(usage), peak usage \(peak))"
            }
            throw error
        }
    }

    private func applyCPU(_ r: CgroupResources) throws(CgroupError) {
        if let shares = r.cpuShares, shares != 0 { try write("cpu", "cpu.shares", String(shares)) }
        let quota = r.cpuQuota.flatMap { $0 == 0 ? nil : max($0, -1) }
        let period = r.cpuPeriod == 0 ? nil : r.cpuPeriod
        var periodPending = false
        if let period {
            do throws(CgroupError) {
                try write("cpu", "cpu.cfs_period_us", String(period))
            } catch {
                // A shorter period can be refused while the old quota/period ratio exceeds the parent's;
                // retry once the quota is written (runc/crun do the same).
                guard error.errno == EINVAL, quota != nil else { throw error }
                periodPending = true
            }
        }
        if let quota {
            try write("cpu", "cpu.cfs_quota_us", String(quota))
            if periodPending, let period { try write("cpu", "cpu.cfs_period_us", String(period)) }
        }
    }

    private func write(_ controller: String, _ file: String, _ value: String) throws(CgroupError) {
        guard let dir = directory(controller) else { throw notMounted(controller) }
        try CgroupFS.write(joinPath(dir, file), value)
    }

    private func notMounted(_ controller: String) -> CgroupError {
        CgroupError(operation: "apply", path: controller, detail: "cgroup v1 controller '\(controller)' is not mounted")
    }

    func addProcess(_ pid: Int32) throws(CgroupError) {
        for dir in directories { try CgroupProcs.add(pid, to: dir) }
    }

    /// The unified tree on hybrid hosts is the one meant for tracking; otherwise any controller will do.
    private var trackingDirectory: String? {
        unified?.leaf ?? directory("pids") ?? directory("memory") ?? directories.first
    }

    func processes() throws(CgroupError) -> [Int32] {
        guard let dir = trackingDirectory else { return [] }
        return try CgroupProcs.list(in: dir)
    }

    func stats() throws(CgroupError) -> CgroupStats {
        var stats = CgroupStats()
        if let memory = directory("memory") {
            stats.memoryUsage = try readNumber(memory, "memory.usage_in_bytes") ?? 0
            stats.memoryMaxUsage = try readNumber(memory, "memory.max_usage_in_bytes")
            stats.memoryLimit = try CgroupFS.readIfPresent(joinPath(memory, "memory.limit_in_bytes")).flatMap(parseV1Limit)
            let oom = try CgroupFS.readIfPresent(joinPath(memory, "memory.oom_control")).map(parseFlatKeyed) ?? [:]
            // v1 has no separate "OOM happened" counter; oom_kill is the closest figure for both.
            stats.oomKills = oom["oom_kill"] ?? 0
            stats.oomEvents = stats.oomKills
        }
        if let cpuacct = directory("cpuacct") { try readCPUAccounting(cpuacct, into: &stats) }
        if let cpu = directory("cpu"), let text = try CgroupFS.readIfPresent(joinPath(cpu, "cpu.stat")) {
            let cpuStat = parseFlatKeyed(text)
            stats.cpuThrottledPeriods = cpuStat["nr_throttled"] ?? 0
            stats.cpuThrottledNanos = cpuStat["throttled_time"] ?? 0
        }
        if let pids = directory("pids") {
            stats.pidsCurrent = try readNumber(pids, "pids.current") ?? 0
            stats.pidsLimit = try CgroupFS.readIfPresent(joinPath(pids, "pids.max")).flatMap(parseV2Limit)
        }
        return stats
    }

    private func readCPUAccounting(_ dir: String, into stats: inout CgroupStats) throws(CgroupError) {
        stats.cpuUsageNanos = try readNumber(dir, "cpuacct.usage") ?? 0
        if let user = try readNumber(dir, "cpuacct.usage_user"), let system = try readNumber(dir, "cpuacct.usage_sys") {
            stats.cpuUserNanos = user
            stats.cpuSystemNanos = system
        } else if let text = try CgroupFS.readIfPresent(joinPath(dir, "cpuacct.stat")) {
            // Older kernels: only cpuacct.stat, in USER_HZ ticks.
            let ticks = parseFlatKeyed(text)
            let nanosPerTick = 1_000_000_000 / UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
            stats.cpuUserNanos = (ticks["user"] ?? 0) * nanosPerTick
            stats.cpuSystemNanos = (ticks["system"] ?? 0) * nanosPerTick
        }
    }

    private func readNumber(_ dir: String, _ file: String) throws(CgroupError) -> UInt64? {
        try CgroupFS.readIfPresent(joinPath(dir, file)).flatMap { UInt64($0.trimmingWhitespace()) }
    }

    func oomKillCount() throws(CgroupError) -> UInt64 {
        guard let memory = directory("memory") else { throw notMounted("memory") }
        return parseFlatKeyed(try CgroupFS.read(joinPath(memory, "memory.oom_control")))["oom_kill"] ?? 0
    }

    func killAll() throws(CgroupError) {
        if let freezer = directory("freezer"), CgroupFS.exists(freezer) {
            try whileFrozen(freezer) { () throws(CgroupError) in
                for pid in try processes() where pid > 0 {
                    // ESRCH: already gone. Other failures surface in the loop below.
                    _ = kill(pid, SIGKILL)
                }
            }
        }
        try CgroupProcs.killUntilEmpty(path: trackingDirectory ?? "", list: processes)
    }

    /// Runs `body` with the cgroup frozen so a fork loop cannot outrun the kills (runc does the same on v1).
    /// Signals sent to frozen tasks are delivered when they are thawed, which always happens here.
    private func whileFrozen(_ dir: String, _ body: () throws(CgroupError) -> Void) throws(CgroupError) {
        let state = joinPath(dir, "freezer.state")
        try CgroupFS.write(state, "FROZEN")
        var failure: CgroupError?
        do throws(CgroupError) {
            let deadline = ContinuousClock.now + .seconds(1)
            // FREEZING until every task stopped; past the deadline kill anyway, the loop after thawing finishes.
            while try CgroupFS.read(state).trimmingWhitespace() != "FROZEN", ContinuousClock.now < deadline {
                sleepMilliseconds(1)
            }
            try body()
        } catch {
            failure = error
        }
        try CgroupFS.write(state, "THAWED")
        if let failure { throw failure }
    }

    /// Removes every directory even if one fails, then reports the first failure.
    func destroy() throws(CgroupError) {
        var firstError: CgroupError?
        for dir in directories.reversed() {
            do throws(CgroupError) {
                try CgroupProcs.removeTree(dir)
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }
}
