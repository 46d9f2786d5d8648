// The cgroup v2 manager: one directory in the unified hierarchy (runc fs2, reference/runtime.md §3.2).
import Glibc

struct CgroupV2Manager: CgroupManager {
    /// Controllers a container cgroup needs, enabled in each parent when the parent has them available.
    static let wantedControllers = ["cpuset", "cpu", "io", "memory", "pids"]

    let placement: CgroupPlacement
    var layout: CgroupLayout { .unified }
    var path: String { placement.leaf }
    var directories: [String] { [path] }
    var unifiedDirectory: String? { path }
    var v1Directories: [String] { [] }

    func create() throws(CgroupError) {
        var created = CreatedDirectories()
        do throws(CgroupError) {
            var parent = placement.base
            for level in placement.levels {
                try enableControllers(in: parent)
                try created.make(level)
                try checkDomain(level)
                parent = level
            }
        } catch {
            throw created.rollback(after: error)
        }
    }

    /// Writes "+cpu +memory ..." (only controllers the parent has) to the parent's subtree_control.
    /// A refused write is not fatal here, as in runc: the kernel refuses domain controllers in a cgroup that
    /// has processes of its own, and the missing limit file then produces a specific error in `apply`.
    private func enableControllers(in parent: String) throws(CgroupError) {
        let available = try CgroupFS.readIfPresent(joinPath(parent, "cgroup.controllers"))?.split(separator: " ").map { $0.trimmingWhitespace() } ?? []
        let enabled = try CgroupFS.readIfPresent(joinPath(parent, "cgroup.subtree_control"))?.split(separator: " ").map { $0.trimmingWhitespace() } ?? []
        let missing = Self.wantedControllers.filter { available.contains($0) && !enabled.contains($0) }
        if missing.isEmpty { return }
        let file = joinPath(parent, "cgroup.subtree_control")
        do throws(CgroupError) {
            try CgroupFS.write(file, missing.map { "+" + $0 }.joined(separator: " "))
        } catch {
            // One at a time so one refused controller does not block the others.
            for controller in missing {
                do throws(CgroupError) {
                    try CgroupFS.write(file, "+" + controller)
                } catch {
                    // Not fatal: apply() names the controller if a limit for it is requested (see write(_:_:)).
                    continue
                }
            }
        }
    }

    /// A cgroup in "domain invalid" state (created under a threaded subtree) cannot take domain controllers.
    private func checkDomain(_ dir: String) throws(CgroupError) {
        let type = try CgroupFS.readIfPresent(joinPath(dir, "cgroup.type"))?.trimmingWhitespace()
        if type == "domain invalid" {
            throw CgroupError(operation: "create", path: dir, detail: "cgroup is in 'domain invalid' state (threaded parent)")
        }
    }

    func apply(_ resources: CgroupResources) throws(CgroupError) {
        try applyMemory(resources)
        try applyCPU(resources)
        if let cpus = resources.cpusetCpus, !cpus.isEmpty { try write("cpuset.cpus", cpus) }
        if let mems = resources.cpusetMems, !mems.isEmpty { try write("cpuset.mems", mems) }
        if let pids = pidsMaxValue(resources.pidsLimit) { try write("pids.max", pids) }
        // memorySwappiness: v2 has no per-cgroup swappiness file; runc's fs2 manager ignores the field, and so do we.
        if !resources.devices.isEmpty { try DeviceFilter.attach(resources.devices, to: path) }
        for key in resources.unified.keys.sorted() {
            guard !key.isEmpty, !key.contains("/"), !key.hasPrefix(".") else {
                throw CgroupError(operation: "write", path: joinPath(path, key), detail: "invalid unified key")
            }
            try write(key, resources.unified[key] ?? "")
        }
    }

    private func applyMemory(_ r: CgroupResources) throws(CgroupError) {
        let swap: SwapMaxValue
        switch swapMaxV2(memoryLimit: r.memoryLimit, memorySwap: r.memorySwap) {
        case .success(let value): swap = value
        case .failure(let reason): throw CgroupError(operation: "write", path: joinPath(path, "memory.swap.max"), detail: reason.description)
        }
        // Swap first, as runc does: a refused swap value then leaves memory.max untouched.
        if let value = swap.fileValue {
            do throws(CgroupError) {
                try write("memory.swap.max", value)
            } catch {
                // Without swap accounting the file is absent; "no swap" and "unlimited swap" then already hold.
                guard error.errno == ENOENT, value == "max" || value == "0" else { throw error }
            }
        }
        if r.memoryLimit != 0, let limit = v2LimitValue(r.memoryLimit) { try write("memory.max", limit) }
        if r.memoryReservation != 0, let low = v2LimitValue(r.memoryReservation) { try write("memory.low", low) }
    }

    private func applyCPU(_ r: CgroupResources) throws(CgroupError) {
        if let shares = r.cpuShares, shares != 0 { try write("cpu.weight", String(sharesToWeight(shares))) }
        if let max = cpuMaxValue(quota: r.cpuQuota, period: r.cpuPeriod) { try write("cpu.max", max) }
    }

    /// A write in this cgroup; ENOENT is explained (controller not enabled) rather than reported bare.
    private func write(_ file: String, _ value: String) throws(CgroupError) {
        do throws(CgroupError) {
            try CgroupFS.write(joinPath(path, file), value)
        } catch {
            var error = error
            if error.errno == ENOENT, CgroupFS.exists(path) {
                let controller = file.split(separator: ".").first.map(String.init) ?? file
                let available = bestEffortRead(joinPath(path, "cgroup.controllers"))?.trimmingWhitespace() ?? "?"
                error.detail +=
                    " (controller '\(controller)' not enabled here; cgroup.controllers: '\(available)';"
                    + " a parent with its own processes cannot delegate domain controllers)"
            }
            throw error
        }
    }

    func addProcess(_ pid: Int32) throws(CgroupError) {
        try CgroupProcs.add(pid, to: path)
    }

    func processes() throws(CgroupError) -> [Int32] {
        try CgroupProcs.list(in: path)
    }

    func stats() throws(CgroupError) -> CgroupStats {
        var stats = CgroupStats()
        stats.memoryUsage = try readNumber("memory.current") ?? 0
        stats.memoryLimit = try read("memory.max").flatMap(parseV2Limit)
        stats.memoryMaxUsage = try readNumber("memory.peak")
        if let cpu = try read("cpu.stat").map(parseFlatKeyed) {
            stats.cpuUsageNanos = (cpu["usage_usec"] ?? 0) * 1000
            stats.cpuUserNanos = (cpu["user_usec"] ?? 0) * 1000
            stats.cpuSystemNanos = (cpu["system_usec"] ?? 0) * 1000
            stats.cpuThrottledPeriods = cpu["nr_throttled"] ?? 0
            stats.cpuThrottledNanos = (cpu["throttled_usec"] ?? 0) * 1000
        }
        stats.pidsCurrent = try readNumber("pids.current") ?? 0
        stats.pidsLimit = try read("pids.max").flatMap(parseV2Limit)
        if let events = try read("memory.events").map(parseFlatKeyed) {
            stats.oomEvents = events["oom"] ?? 0
            stats.oomKills = events["oom_kill"] ?? 0
        }
        return stats
    }

    func oomKillCount() throws(CgroupError) -> UInt64 {
        guard let events = try read("memory.events") else {
            throw .posix("read", path: joinPath(path, "memory.events"), errno: ENOENT)
        }
        return parseFlatKeyed(events)["oom_kill"] ?? 0
    }

    func killAll() throws(CgroupError) {
        let killFile = joinPath(path, "cgroup.kill")
        // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, forks included; the loop then only waits.
        if CgroupFS.exists(killFile) { try CgroupFS.write(killFile, "1") }
        try CgroupProcs.killUntilEmpty(path: path, list: processes)
    }

    func destroy() throws(CgroupError) {
        try CgroupProcs.removeTree(path)
    }

    private func read(_ file: String) throws(CgroupError) -> String? {
        try CgroupFS.readIfPresent(joinPath(path, file))
    }

    private func readNumber(_ file: String) throws(CgroupError) -> UInt64? {
        try read(file).flatMap { UInt64($0.trimmingWhitespace()) }
    }
}
