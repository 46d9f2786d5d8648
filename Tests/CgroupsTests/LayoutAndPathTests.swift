import Testing

@testable import Cgroups

@Suite struct LayoutDetectionTests {
    /// A statfs probe over a fixed table of mount points.
    static func probe(_ table: [String: Int64]) -> (String) -> Int64? { { table[$0] } }

    static let probes: [([String: Int64], CgroupLayout)] = [
        (["/sys/fs/cgroup": FilesystemMagic.cgroup2], .unified),
        (["/sys/fs/cgroup": FilesystemMagic.tmpfs, "/sys/fs/cgroup/unified": FilesystemMagic.cgroup2], .hybrid),
        (["/sys/fs/cgroup": FilesystemMagic.tmpfs, "/sys/fs/cgroup/unified": FilesystemMagic.tmpfs], .legacy),
        (["/sys/fs/cgroup": FilesystemMagic.tmpfs], .legacy),
        (["/sys/fs/cgroup": FilesystemMagic.cgroup2, "/sys/fs/cgroup/unified": FilesystemMagic.cgroup2], .unified),
    ]

    @Test("statfs magic decides the layout", arguments: probes)
    func statfsDecides(table: [String: Int64], expected: CgroupLayout) {
        #expect(detectLayout(root: "/sys/fs/cgroup", statfsType: Self.probe(table), mountinfo: nil) == expected)
    }

    @Test("mountinfo decides when statfs is unavailable", arguments: [CgroupLayout.unified, .hybrid, .legacy])
    func mountinfoFallback(expected: CgroupLayout) {
        let fixtures: [CgroupLayout: String] = [.unified: Fixtures.unifiedMountinfo, .hybrid: Fixtures.hybridMountinfo, .legacy: Fixtures.legacyMountinfo]
        let mountinfo = fixtures[expected] ?? ""
        #expect(detectLayout(root: "/sys/fs/cgroup", statfsType: { _ in nil }, mountinfo: mountinfo) == expected)
    }

    @Test func injectedRoot() {
        let table = ["/tmp/cg": FilesystemMagic.tmpfs, "/tmp/cg/unified": FilesystemMagic.cgroup2]
        #expect(detectLayout(root: "/tmp/cg", statfsType: Self.probe(table), mountinfo: nil) == .hybrid)
    }

    @Test("detectCgroupLayout agrees with a direct statfs probe on this host")
    func thisHost() throws {
        try #require(statfsMagic("/sys/fs/cgroup") != nil, "statfs of /sys/fs/cgroup failed")
        let expected: CgroupLayout
        if statfsMagic("/sys/fs/cgroup") == FilesystemMagic.cgroup2 {
            expected = .unified
        } else if statfsMagic("/sys/fs/cgroup/unified") == FilesystemMagic.cgroup2 {
            expected = .hybrid
        } else {
            expected = .legacy
        }
        #expect(detectCgroupLayout() == expected)
        #expect(statfsMagic("/proc") == 0x9fa0)
        #expect(statfsMagic("/definitely/not/here") == nil)
    }
}

@Suite struct ProcFileParsingTests {
    @Test func procCgroupHybrid() {
        let entries = parseProcCgroup(Fixtures.hybridCgroup)
        #expect(entries.count == 10)
        #expect(entries.v1Path(for: "memory") == "/process_api/ec2c1b6c815e40278a96ab664562fe0e")
        #expect(entries.v1Path(for: "cpu") == "/")
        #expect(entries.v1Path(for: "cpuacct") == "/")
        #expect(entries.v1Path(for: "name=systemd") == "/")
        #expect(entries.v1Path(for: "hugetlb") == nil)
        #expect(entries.v2Path == "/")
    }

    @Test func procCgroupLegacyCoMounted() {
        let entries = parseProcCgroup(Fixtures.legacyCgroup)
        #expect(entries.v1Path(for: "cpuacct") == "/user.slice")
        #expect(entries.v1Path(for: "cpu") == "/user.slice")
        #expect(entries.v2Path == nil)
        #expect(entries.first { $0.hierarchyID == 6 }?.controllers == ["cpu", "cpuacct"])
    }

    @Test func procCgroupPathWithColon() {
        let entries = parseProcCgroup("0::/a:b/c\n")
        #expect(entries == [ProcCgroupEntry(hierarchyID: 0, controllers: [], path: "/a:b/c")])
    }

    @Test func mountinfoHybrid() {
        let mounts = parseMountInfo(Fixtures.hybridMountinfo)
        #expect(mounts.count == 12)
        #expect(mounts.v1Mount(for: "cpu")?.mountPoint == "/sys/fs/cgroup/cpu")
        #expect(mounts.v1Mount(for: "cpuacct")?.mountPoint == "/sys/fs/cgroup/cpuacct")
        #expect(mounts.v1Mount(for: "name=systemd")?.mountPoint == "/sys/fs/cgroup/systemd")
        #expect(mounts.v1Mount(for: "hugetlb") == nil)
        #expect(mounts.v2Mount(preferred: "/sys/fs/cgroup/unified")?.mountPoint == "/sys/fs/cgroup/unified")
    }

    @Test func mountinfoLegacyCoMountedAndEscapes() {
        let legacy = parseMountInfo(Fixtures.legacyMountinfo)
        #expect(legacy.v1Mount(for: "cpu")?.mountPoint == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(legacy.v1Mount(for: "cpuacct")?.mountPoint == "/sys/fs/cgroup/cpu,cpuacct")
        #expect(legacy.v2Mount(preferred: "/sys/fs/cgroup") == nil)
        let unified = parseMountInfo(Fixtures.unifiedMountinfo)
        #expect(unified.contains { $0.mountPoint == "/mnt/with space" })
        #expect(unified.v2Mount(preferred: "/sys/fs/cgroup")?.superOptions == ["rw", "nsdelegate", "memory_recursiveprot"])
    }

    @Test func thisHostFilesParse() throws {
        let info = try ProcessCgroupInfo.current()
        #expect(!info.ownCgroups.isEmpty)
        #expect(info.mounts.contains { $0.mountPoint == "/" })
    }
}

@Suite struct PathResolutionTests {
    static let hybrid = ProcessCgroupInfo(ownCgroups: parseProcCgroup(Fixtures.hybridCgroup), mounts: parseMountInfo(Fixtures.hybridMountinfo))
    static let legacy = ProcessCgroupInfo(ownCgroups: parseProcCgroup(Fixtures.legacyCgroup), mounts: parseMountInfo(Fixtures.legacyMountinfo))
    static let unified = ProcessCgroupInfo(ownCgroups: parseProcCgroup(Fixtures.unifiedCgroup), mounts: parseMountInfo(Fixtures.unifiedMountinfo))

    static let hybridLeaves: [(String, String)] = [
        ("memory", "/sys/fs/cgroup/memory/process_api/ec2c1b6c815e40278a96ab664562fe0e/pods/p1/c1"),
        ("cpu", "/sys/fs/cgroup/cpu/pods/p1/c1"),
        ("cpuacct", "/sys/fs/cgroup/cpuacct/pods/p1/c1"),
        ("pids", "/sys/fs/cgroup/pids/pods/p1/c1"),
    ]

    @Test("hybrid: relative paths go under each controller's own cgroup", arguments: hybridLeaves)
    func hybridRelative(controller: String, expected: String) throws {
        let placements = try v1Placements(path: "pods/p1/c1", info: Self.hybrid)
        #expect(placements[controller]?.leaf == expected)
        #expect(placements[controller]?.components == ["pods", "p1", "c1"])
    }

    @Test func hybridAbsolute() throws {
        let placements = try v1Placements(path: "/kubepods/p1/c1", info: Self.hybrid)
        #expect(placements["memory"]?.leaf == "/sys/fs/cgroup/memory/kubepods/p1/c1")
        #expect(placements["memory"]?.base == "/sys/fs/cgroup/memory")
        #expect(placements.count == 8)
        #expect(try v2Placement(path: "/kubepods/p1/c1", layout: .hybrid, info: Self.hybrid).leaf == "/sys/fs/cgroup/unified/kubepods/p1/c1")
    }

    @Test func hybridManagerDirectories() throws {
        let manager = try makeManager(path: "pods/p1", layout: .hybrid, info: Self.hybrid)
        #expect(manager.directories.count == 9)
        #expect(manager.directories.last == "/sys/fs/cgroup/unified/pods/p1")
        #expect(manager.layout == .hybrid)
    }

    @Test(
        "restoring from recorded directories gives the same manager",
        arguments: [CgroupLayout.hybrid, .legacy, .unified])
    func restore(layout: CgroupLayout) throws {
        let info = [CgroupLayout.hybrid: Self.hybrid, .legacy: Self.legacy, .unified: Self.unified][layout] ?? Self.hybrid
        let original = try makeManager(path: "pods/p1/c1", layout: layout, info: info)
        let restored = try restoreManager(directories: original.directories, layout: layout, mounts: info.mounts)
        #expect(restored.directories == original.directories)
        #expect(restored.layout == original.layout)
        #expect(restored.unifiedDirectory == original.unifiedDirectory)
    }

    @Test func restoreRefusesForeignDirectories() {
        #expect(throws: CgroupError.self) { try restoreManager(directories: ["/tmp/x"], layout: .unified, mounts: Self.unified.mounts) }
        #expect(throws: CgroupError.self) { try restoreManager(directories: ["/sys/fs/cgroup"], layout: .unified, mounts: Self.unified.mounts) }
        #expect(throws: CgroupError.self) {
            try restoreManager(directories: ["/sys/fs/cgroup/unified/x"], layout: .hybrid, mounts: Self.hybrid.mounts)
        }
    }

    @Test func unifiedDirectoryPerLayout() throws {
        #expect(try makeManager(path: "c", layout: .hybrid, info: Self.hybrid).unifiedDirectory == "/sys/fs/cgroup/unified/c")
        #expect(try makeManager(path: "c", layout: .legacy, info: Self.legacy).unifiedDirectory == nil)
        #expect(
            try makeManager(path: "c", layout: .unified, info: Self.unified).unifiedDirectory == "/sys/fs/cgroup/system.slice/minikubelet.service/c")
    }

    /// What a new process writes itself into (`tasks`) versus what it is cloned into (CLONE_INTO_CGROUP): together
    /// every directory of the manager, each exactly once.
    @Test func selfJoinCoversEveryDirectoryOnce() throws {
        for (layout, info) in [(CgroupLayout.hybrid, Self.hybrid), (.legacy, Self.legacy), (.unified, Self.unified)] {
            let manager = try makeManager(path: "c", layout: layout, info: info)
            let joined = manager.v1Directories + (manager.unifiedDirectory.map { [$0] } ?? [])
            #expect(joined.sorted() == manager.directories.sorted(), "\(layout)")
            #expect(!manager.v1Directories.contains { $0.hasPrefix("/sys/fs/cgroup/unified") }, "\(layout)")
            #expect(manager.v1Directories.isEmpty == (layout == .unified), "\(layout)")
        }
    }

    @Test func legacyCoMountedShareOneDirectory() throws {
        let manager = try makeManager(path: "c1", layout: .legacy, info: Self.legacy)
        #expect(
            manager.directories == [
                "/sys/fs/cgroup/cpu,cpuacct/user.slice/c1", "/sys/fs/cgroup/cpuset/c1",
                "/sys/fs/cgroup/memory/user.slice/user-0.slice/session-1.scope/c1",
                "/sys/fs/cgroup/pids/user.slice/user-0.slice/session-1.scope/c1",
            ])
    }

    static let unifiedCases: [(String, String, String)] = [
        ("pods/p1/c1", "/sys/fs/cgroup/system.slice/minikubelet.service", "/sys/fs/cgroup/system.slice/minikubelet.service/pods/p1/c1"),
        ("/kubepods/p1/c1", "/sys/fs/cgroup", "/sys/fs/cgroup/kubepods/p1/c1"),
        ("//kubepods//c1/", "/sys/fs/cgroup", "/sys/fs/cgroup/kubepods/c1"),
    ]

    @Test("unified: relative under own cgroup, absolute from the root", arguments: unifiedCases)
    func unified(path: String, base: String, leaf: String) throws {
        let placement = try v2Placement(path: path, layout: .unified, info: Self.unified)
        #expect(placement.base == base)
        #expect(placement.leaf == leaf)
        #expect(try makeManager(path: path, layout: .unified, info: Self.unified).directories == [leaf])
    }

    @Test func unifiedLevels() throws {
        let placement = try v2Placement(path: "a/b", layout: .unified, info: Self.unified)
        #expect(placement.levels == ["/sys/fs/cgroup/system.slice/minikubelet.service/a", "/sys/fs/cgroup/system.slice/minikubelet.service/a/b"])
    }

    @Test func subtreeMountStripsMountRoot() throws {
        let info = ProcessCgroupInfo(ownCgroups: parseProcCgroup("0::/kubepods/pod1/ctr/inner\n"), mounts: parseMountInfo(Fixtures.subtreeMountinfo))
        #expect(try v2Placement(path: "x", layout: .unified, info: info).leaf == "/sys/fs/cgroup/inner/x")
    }

    @Test func missingProcFallsBackToRoot() throws {
        let info = ProcessCgroupInfo(ownCgroups: [], mounts: [])
        #expect(try v2Placement(path: "x", layout: .unified, info: info).leaf == "/sys/fs/cgroup/x")
        #expect(throws: CgroupError.self) { try v1Placements(path: "x", info: info) }
    }

    @Test("unsafe cgroupsPath values are refused", arguments: ["", "/", "a/../b", "../escape", "./x"])
    func refused(path: String) {
        #expect(throws: CgroupError.self) { try makeManager(path: path, layout: .unified, info: Self.unified) }
        #expect(throws: CgroupError.self) { try makeManager(path: path, layout: .hybrid, info: Self.hybrid) }
    }
}
