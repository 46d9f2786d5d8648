// The v2 manager. Limits need a cgroup2 tree with controllers (the VM selftest); here we check the values it
// writes against a plain directory, and its process mechanics against the controller-less unified tree of a
// hybrid host.
import Glibc
import Testing

@testable import Cgroups

@Suite struct V2FakeTreeTests {
    /// A plain directory posing as a cgroup2 parent; files the kernel would create are pre-created empty.
    static func fakeTree() throws -> (root: String, manager: CgroupV2Manager) {
        var template = Array("/tmp/minikubelet-fakecg-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } }
        let root = try #require(made, "mkdtemp failed")
        do {
            try Self.createFile(joinPath(root, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma")
            try Self.createFile(joinPath(root, "cgroup.subtree_control"), "")
        } catch {
            removeFakeTree(root)
            throw error
        }
        return (root, CgroupV2Manager(placement: CgroupPlacement(base: root, components: ["pod", "ctr"])))
    }

    /// cgroupfs files exist already, so CgroupFS.write never creates; plain files need O_CREAT.
    static func createFile(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SpawnError(message: "create \(path): errno \(errno)") }
        defer { close(fd) }
        let written = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == text.utf8.count else { throw SpawnError(message: "write \(path): errno \(errno)") }
    }

    static func removeFakeTree(_ root: String) {
        for dir in [root + "/pod/ctr", root + "/pod", root] {
            for name in listFiles(dir) ?? [] { unlink(dir + "/" + name) }
            if rmdir(dir) != 0 && errno != ENOENT { Issue.record("fake tree \(dir) left behind: errno \(errno)") }
        }
    }

    static func listFiles(_ dir: String) -> [String]? {
        guard let handle = opendir(dir) else { return nil }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if entry.pointee.d_type != UInt8(DT_DIR) { names.append(name) }
        }
        return names
    }

    static let limitFiles = ["memory.swap.max", "memory.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems", "pids.max", "memory.high"]

    @Test func createEnablesAvailableControllersInEachParent() throws {
        let (root, manager) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        try manager.create()
        #expect(try CgroupFS.read(root + "/cgroup.subtree_control") == "+cpuset +cpu +io +memory +pids")
        // The intermediate level has no cgroup.controllers in a plain directory: nothing is enabled there.
        #expect(!Host.exists(root + "/pod/cgroup.subtree_control"))
        #expect(Host.exists(root + "/pod/ctr"))
        #expect(manager.directories == [root + "/pod/ctr"])
    }

    static let applied: [(CgroupResources, [String: String])] = [
        (
            CgroupResources(memoryLimit: 268_435_456, memorySwap: 536_870_912, memoryReservation: 134_217_728),
            ["memory.swap.max": "268435456", "memory.max": "268435456", "memory.low": "134217728"]
        ),
        (CgroupResources(memoryLimit: 268_435_456, memorySwap: 268_435_456), ["memory.swap.max": "0", "memory.max": "268435456"]),
        (CgroupResources(memoryLimit: -1), ["memory.swap.max": "max", "memory.max": "max"]),
        (CgroupResources(cpuShares: 512, cpuQuota: 100_000, cpuPeriod: 100_000), ["cpu.weight": "59", "cpu.max": "100000 100000"]),
        (CgroupResources(cpuShares: 102, cpuQuota: 25_000), ["cpu.weight": "17", "cpu.max": "25000 100000"]),
        (CgroupResources(cpuQuota: -1), ["cpu.max": "max 100000"]),
        (CgroupResources(cpusetCpus: "0-1", cpusetMems: "0", pidsLimit: 64), ["cpuset.cpus": "0-1", "cpuset.mems": "0", "pids.max": "64"]),
        (CgroupResources(pidsLimit: -1), ["pids.max": "max"]),
        (CgroupResources(pidsLimit: 0), [:]),
        (CgroupResources(unified: ["memory.high": "1000000"]), ["memory.high": "1000000"]),
    ]

    @Test func failedCreateRemovesWhatItMade() throws {
        let (root, _) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        let manager = CgroupV2Manager(placement: CgroupPlacement(base: root, components: ["pod", "ctr", String(repeating: "x", count: 300)]))
        do {
            try manager.create()
            Issue.record("a 300-byte directory name was accepted")
        } catch {
            #expect(error.errno == ENAMETOOLONG)
            #expect(error.operation == "mkdir")
        }
        #expect(!Host.exists(root + "/pod"))
    }

    @Test("values written for OCI resources", arguments: applied)
    func appliedValues(resources: CgroupResources, expected: [String: String]) throws {
        let (root, manager) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        try manager.create()
        for file in Self.limitFiles { try Self.createFile(joinPath(manager.path, file), "") }
        try manager.apply(resources)
        for file in Self.limitFiles {
            #expect(try CgroupFS.read(joinPath(manager.path, file)) == expected[file] ?? "", "\(file)")
        }
    }

    @Test func missingControllerFileIsExplained() throws {
        let (root, manager) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        try manager.create()
        do {
            try manager.apply(CgroupResources(memoryLimit: 1_048_576))
            Issue.record("write to a missing memory.max succeeded")
        } catch {
            #expect(error.errno == ENOENT)
            #expect(error.description.contains("memory.max=1048576"))
            #expect(error.description.contains("controller 'memory' not enabled"))
        }
        // Swap "max" without swap accounting is not an error.
        try Self.createFile(joinPath(manager.path, "memory.max"), "")
        try manager.apply(CgroupResources(memoryLimit: -1))
    }

    @Test func invalidSwapAndUnifiedKeysAreRefused() throws {
        let (root, manager) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        try manager.create()
        #expect(throws: CgroupError.self) { try manager.apply(CgroupResources(memoryLimit: 2000, memorySwap: 1000)) }
        #expect(throws: CgroupError.self) { try manager.apply(CgroupResources(unified: ["../../cgroup.procs": "1"])) }
    }

    @Test func statsFromV2Files() throws {
        let (root, manager) = try Self.fakeTree()
        defer { Self.removeFakeTree(root) }
        try manager.create()
        let files = [
            "memory.current": "4096\n", "memory.max": "max\n", "memory.peak": "8192\n",
            "cpu.stat": "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 9\nnr_throttled 2\nthrottled_usec 7\n",
            "pids.current": "3\n", "pids.max": "64\n", "memory.events": "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n",
        ]
        for (file, text) in files { try Self.createFile(joinPath(manager.path, file), text) }
        let expected = CgroupStats(
            memoryUsage: 4096, memoryLimit: nil, memoryMaxUsage: 8192, cpuUsageNanos: 10_000, cpuUserNanos: 6000, cpuSystemNanos: 4000,
            cpuThrottledPeriods: 2, cpuThrottledNanos: 7000, pidsCurrent: 3, pidsLimit: 64, oomEvents: 2, oomKills: 1)
        #expect(try manager.stats() == expected)
        #expect(try manager.oomKillCount() == 1)
    }
}

@Suite(
    .serialized,
    .enabled(if: Host.isRoot, "needs root to create cgroups"),
    .enabled(if: Host.layout == .hybrid, "needs the controller-less cgroup2 tree of a hybrid host"))
struct V2UnifiedTreeTests {
    func makeManager(_ label: String) throws -> CgroupV2Manager {
        CgroupV2Manager(placement: try v2Placement(path: Host.uniqueName(label), layout: .hybrid, info: ProcessCgroupInfo.current()))
    }

    @Test func processMechanicsOnRealCgroup2() throws {
        let manager = try makeManager("v2")
        try manager.create()
        let pid = try Host.spawn([Host.busybox, "sleep", "30"])
        defer { Host.cleanup(manager, reaping: [pid]) }
        #expect(manager.path.hasPrefix("/sys/fs/cgroup/unified/"))
        try manager.addProcess(pid)
        #expect(try manager.processes() == [pid])
        #expect(
            parseProcCgroup(try CgroupFS.read("/proc/\(pid)/cgroup")).v2Path?.hasSuffix(manager.path.split(separator: "/").last.map { "/" + $0 } ?? "?") == true
        )
        // No controllers are delegated here, so a limit is a clear error, not a silent no-op.
        do {
            try manager.apply(CgroupResources(pidsLimit: 5))
            Issue.record("pids.max written without a pids controller")
        } catch {
            #expect(error.description.contains("controller 'pids' not enabled"))
        }
        #expect(throws: CgroupError.self) { try manager.oomKillCount() }
        try manager.killAll()  // through cgroup.kill
        #expect(try manager.processes().isEmpty)
        #expect(Host.wait(pid) == .signal(SIGKILL))
    }

    @Test func killAllTakesForksToo() throws {
        let manager = try makeManager("v2fork")
        try manager.create()
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) sh -c 'sleep 30 & sleep 30 & sleep 30 & wait'")
        defer { Host.cleanup(manager, reaping: [pid]) }
        #expect(try Host.eventually { try manager.processes().count == 4 })
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
        try manager.destroy()
        #expect(!Host.exists(manager.path))
    }
}
