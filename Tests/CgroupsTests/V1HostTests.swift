// Real cgroups on this host (hybrid or legacy), all strictly below the test process's own cgroups.
import Glibc
import Testing

@testable import Cgroups

@Suite(
    .serialized,
    .enabled(if: Host.isRoot, "needs root to create cgroups"),
    .enabled(if: Host.layout != .unified, "v1 manager: this host is pure cgroup v2 (the VM selftest covers v2)"))
struct V1HostTests {
    static let mib: Int64 = 1024 * 1024

    func makeManager(_ label: String) throws -> CgroupV1Manager {
        let manager = try makeCgroupManager(path: Host.uniqueName(label))
        return try #require(manager as? CgroupV1Manager)
    }

    func dir(_ manager: CgroupV1Manager, _ controller: String) throws -> String {
        try #require(manager.directory(controller), "controller \(controller) not mounted")
    }

    @Test func createMakesEveryControllerAndUnifiedDirectory() throws {
        let manager = try makeManager("create")
        defer { Host.cleanup(manager) }
        try manager.create()
        try manager.create()  // idempotent
        #expect(manager.layout == Host.layout)
        for directory in manager.directories { #expect(Host.exists(directory), "\(directory)") }
        if Host.layout == .hybrid {
            #expect(manager.directories.last?.hasPrefix("/sys/fs/cgroup/unified/") == true)
        }
        // cpuset was initialised from the parent, otherwise no task could join.
        let cpuset = try dir(manager, "cpuset")
        #expect(try !Host.read("\(cpuset)/cpuset.cpus").isEmpty)
        #expect(try !Host.read("\(cpuset)/cpuset.mems").isEmpty)
        // Relative path: the memory cgroup is below this process's own (here /process_api/<id>).
        let own = try ProcessCgroupInfo.current().ownCgroups.v1Path(for: "memory") ?? "/"
        #expect(try dir(manager, "memory").hasPrefix(joinPath("/sys/fs/cgroup/memory", own) + "/"))
    }

    @Test func applyWritesV1Files() throws {
        let manager = try makeManager("apply")
        defer { Host.cleanup(manager) }
        let resources = CgroupResources(
            memoryLimit: 64 * Self.mib, memorySwap: 128 * Self.mib, memoryReservation: 32 * Self.mib, cpuShares: 512,
            cpuQuota: 50_000, cpuPeriod: 100_000, cpusetCpus: "0", cpusetMems: "0", pidsLimit: 20,
            unified: ["memory.high": "1000000"])
        try manager.createAndApply(resources)
        let memory = try dir(manager, "memory")
        let expected: [(String, String)] = [
            ("\(memory)/memory.limit_in_bytes", "67108864"),
            ("\(memory)/memory.soft_limit_in_bytes", "33554432"),
            ("\(try dir(manager, "cpu"))/cpu.shares", "512"),
            ("\(try dir(manager, "cpu"))/cpu.cfs_quota_us", "50000"),
            ("\(try dir(manager, "cpu"))/cpu.cfs_period_us", "100000"),
            ("\(try dir(manager, "cpuset"))/cpuset.cpus", "0"),
            ("\(try dir(manager, "cpuset"))/cpuset.mems", "0"),
            ("\(try dir(manager, "pids"))/pids.max", "20"),
        ]
        for (file, value) in expected { #expect(try Host.read(file) == value, "\(file)") }
        if Host.exists("\(memory)/memory.memsw.limit_in_bytes") {
            #expect(try Host.read("\(memory)/memory.memsw.limit_in_bytes") == "134217728")
        }
        let stats = try manager.stats()
        #expect(stats.memoryLimit == 67_108_864)
        #expect(stats.pidsLimit == 20)
        #expect(stats.pidsCurrent == 0)
    }

    @Test("raising and lowering memory+swap works in either direction (memsw write order)")
    func memoryOrder() throws {
        let manager = try makeManager("order")
        defer { Host.cleanup(manager) }
        try manager.create()
        let memory = try dir(manager, "memory")
        try #require(Host.exists("\(memory)/memory.memsw.limit_in_bytes"), "swap accounting off on this kernel")
        let steps: [(Int64, Int64)] = [(64, 64), (256, 512), (32, 32), (-1, -1), (16, 48)]
        for (limit, swap) in steps {
            let resources = CgroupResources(
                memoryLimit: limit < 0 ? -1 : limit * Self.mib, memorySwap: swap < 0 ? -1 : swap * Self.mib)
            try manager.apply(resources)
            let readLimit = try Host.read("\(memory)/memory.limit_in_bytes")
            let readSwap = try Host.read("\(memory)/memory.memsw.limit_in_bytes")
            if limit < 0 {
                #expect(parseV1Limit(readLimit) == nil && parseV1Limit(readSwap) == nil)
            } else {
                #expect(readLimit == String(limit * Self.mib))
                #expect(readSwap == String(swap * Self.mib))
            }
        }
        // -1 memory with swap unspecified sets both unlimited.
        try manager.apply(CgroupResources(memoryLimit: -1))
        #expect(parseV1Limit(try Host.read("\(memory)/memory.memsw.limit_in_bytes")) == nil)
    }

    @Test func childProcessIsTrackedAndKilled() throws {
        let manager = try makeManager("child")
        try manager.create()
        let pid = try Host.spawn([Host.busybox, "sleep", "30"])
        defer { Host.cleanup(manager, reaping: [pid]) }
        try manager.addProcess(pid)
        #expect(try manager.processes() == [pid])
        let procCgroup = parseProcCgroup(try CgroupFS.read("/proc/\(pid)/cgroup"))
        let name = manager.directories[0].split(separator: "/").last.map(String.init) ?? "?"
        #expect(procCgroup.v1Path(for: "memory")?.hasSuffix("/" + name) == true)
        #expect(procCgroup.v1Path(for: "pids")?.hasSuffix("/" + name) == true)
        if Host.layout == .hybrid { #expect(procCgroup.v2Path?.hasSuffix("/" + name) == true) }
        #expect(try manager.stats().pidsCurrent == 1)
        // A later command (another process, another cgroup) finds it again from the recorded directories.
        let restored = try restoreCgroupManager(directories: manager.directories)
        #expect(restored.directories == manager.directories)
        #expect(try restored.processes() == [pid])
        // The same from mounts recorded with the directories (what minirun's state.json keeps, so that exec
        // does not parse mountinfo).
        let mounts = try cgroupMountRecords(for: manager.directories)
        let fromRecord = try restoreCgroupManager(directories: manager.directories, layout: Host.layout, mounts: mounts)
        #expect(fromRecord.directories == manager.directories)
        #expect(fromRecord.layout == manager.layout)
        #expect(try fromRecord.processes() == [pid])
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
        #expect(Host.wait(pid) == .signal(SIGKILL))
    }

    @Test func pidsLimitStopsForkLoop() throws {
        let manager = try makeManager("pids")
        try manager.createAndApply(CgroupResources(pidsLimit: 10))
        let log = "/tmp/\(Host.uniqueName("pids")).log"
        let pid = try Host.spawnInside(
            manager, command: "\(Host.busybox) sh -c 'for i in $(seq 100); do sleep 5 & done; wait'", output: log)
        defer {
            Host.cleanup(manager, reaping: [pid])
            unlink(log)
        }
        let pids = try dir(manager, "pids")
        let refused = try Host.eventually {
            (parseFlatKeyed(try CgroupFS.read("\(pids)/pids.events"))["max"] ?? 0) > 0
        }
        #expect(refused, "pids.events shows no refused fork")
        #expect(try manager.stats().pidsCurrent <= 10)
        #expect(try manager.processes().count <= 10)
        // The shell reports the refused fork a moment after the kernel counts it.
        #expect(try Host.eventually { try CgroupFS.read(log).contains("fork") }, "no fork failure in the log")
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
    }

    @Test func memoryHogIsOOMKilled() throws {
        let manager = try makeManager("oom")
        try manager.createAndApply(CgroupResources(memoryLimit: 16 * Self.mib))
        #expect(try manager.oomKillCount() == 0)
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) dd if=/dev/zero of=/dev/null bs=64M count=1")
        defer { Host.cleanup(manager, reaping: [pid]) }
        #expect(Host.wait(pid) == .signal(SIGKILL))
        #expect(try manager.oomKillCount() >= 1)
        let stats = try manager.stats()
        #expect(stats.oomKills >= 1)
        #expect(stats.memoryLimit == UInt64(16 * Self.mib))
        #expect((stats.memoryMaxUsage ?? 0) > 0)
    }

    @Test("a value the kernel refuses is a clear error naming file, value and errno")
    func kernelRefusal() throws {
        let manager = try makeManager("refused")
        defer { Host.cleanup(manager) }
        do {
            try manager.createAndApply(CgroupResources(cpuQuota: 500))  // below the kernel's 1 ms minimum
            Issue.record("a 500 µs quota was accepted")
        } catch {
            #expect(error.errno == EINVAL)
            #expect(error.description.contains("cpu.cfs_quota_us=500"))
            #expect(error.description.contains("(errno 22)"))
        }
        // createAndApply destroyed what it had created.
        for directory in manager.directories { #expect(!Host.exists(directory), "\(directory) left behind") }

        try manager.create()
        #expect(throws: CgroupError.self) { try manager.apply(CgroupResources(cpusetCpus: "999")) }
        #expect(throws: CgroupError.self) { try manager.apply(CgroupResources(memoryLimit: 1000 * Self.mib, memorySwap: 10 * Self.mib)) }
    }

    @Test func memoryLimitBelowUsageReportsUsage() throws {
        let manager = try makeManager("ebusy")
        try manager.create()
        // Fill tmpfs-free anonymous memory: busybox sh holding a 8 MiB variable.
        let pid = try Host.spawnInside(
            manager, command: "\(Host.busybox) sh -c 'x=$(\(Host.busybox) head -c 8388608 /dev/zero | \(Host.busybox) tr \"\\\\0\" a); sleep 30'")
        defer { Host.cleanup(manager, reaping: [pid]) }
        let memory = try dir(manager, "memory")
        let filled = try Host.eventually(timeoutMilliseconds: 10_000) {
            (UInt64(try Host.read("\(memory)/memory.usage_in_bytes")) ?? 0) > 8 * UInt64(Self.mib)
        }
        try #require(filled, "workload did not allocate")
        // Memory that cannot be reclaimed (no swap) makes the kernel refuse a lower limit.
        do {
            try manager.apply(CgroupResources(memoryLimit: 1 * Self.mib, memorySwap: 1 * Self.mib))
            Issue.record("limit below usage was accepted (swap available?)")
        } catch {
            #expect(error.errno == EBUSY)
            #expect(error.description.contains("memory.limit_in_bytes=1048576"))
            #expect(error.description.contains("current usage"))
        }
    }

    @Test func failedCreateRemovesWhatItMade() throws {
        let name = Host.uniqueName("rollback")
        // "cgroup.procs" exists as a file below the new directory, so the second level cannot be created.
        let manager = try makeCgroupManager(path: name + "/cgroup.procs")
        do {
            try manager.create()
            Issue.record("a cgroup over an interface file was accepted")
        } catch {
            #expect(error.errno == ENOTDIR)
        }
        let parent = try makeCgroupManager(path: name)
        for directory in parent.directories { #expect(!Host.exists(directory), "\(directory) left behind") }
        if parent.directories.contains(where: Host.exists) { Host.cleanup(parent) }
    }

    @Test func killAllStopsAForkLoop() throws {
        let manager = try makeManager("forkloop")
        // The pids limit only bounds the damage should killAll be broken.
        try manager.createAndApply(CgroupResources(pidsLimit: 40))
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) sh -c 'while :; do \(Host.busybox) sleep 30 & done'")
        defer { Host.cleanup(manager, reaping: [pid]) }
        #expect(try Host.eventually { try manager.processes().count >= 20 })
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
        // Killed, or already exited with "can't fork" once the limit was hit.
        #expect(Host.wait(pid) != .stillRunning)
        let freezer = try dir(manager, "freezer")
        #expect(try Host.read("\(freezer)/freezer.state") == "THAWED")
    }

    @Test func destroyRemovesNestedChildrenLeafFirst() throws {
        let parentName = Host.uniqueName("nested")
        let parent = try #require(try makeCgroupManager(path: parentName) as? CgroupV1Manager)
        let manager = try #require(try makeCgroupManager(path: parentName + "/pods/c1") as? CgroupV1Manager)
        defer { Host.cleanup(parent) }
        try manager.create()
        // A sub-cgroup the workload might have made itself.
        for directory in manager.directories {
            _ = try CgroupFS.makeDirectory(directory + "/sub")
            _ = try CgroupFS.makeDirectory(directory + "/sub/deeper")
            // cgroupfs (kernfs) on this kernel accepts names longer than NAME_MAX; readdir must not truncate them.
            do throws(CgroupError) {
                _ = try CgroupFS.makeDirectory(directory + "/" + String(repeating: "y", count: 300))
            } catch {
                guard error.errno == ENAMETOOLONG else { throw error }
            }
        }
        try manager.destroy()
        for directory in manager.directories { #expect(!Host.exists(directory)) }
        try manager.destroy()  // missing directories are fine
        for directory in parent.directories { #expect(Host.exists(directory + "/pods")) }
        try CgroupProcs.removeTree(parent.directories[0] + "/pods")
    }

    @Test func statsOfBusyProcess() throws {
        let manager = try makeManager("stats")
        try manager.createAndApply(CgroupResources(cpuQuota: 10_000, cpuPeriod: 100_000))
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) sh -c 'while :; do :; done'")
        defer { Host.cleanup(manager, reaping: [pid]) }
        let throttled = try Host.eventually(timeoutMilliseconds: 5000) { try manager.stats().cpuThrottledPeriods > 0 }
        #expect(throttled)
        let stats = try manager.stats()
        #expect(stats.cpuUsageNanos > 0)
        #expect(stats.cpuUserNanos + stats.cpuSystemNanos > 0)
        #expect(stats.cpuThrottledNanos > 0)
        #expect(stats.memoryUsage > 0)
        #expect(stats.pidsCurrent == 1)
    }
}
