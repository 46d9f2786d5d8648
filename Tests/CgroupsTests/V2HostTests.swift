// Real cgroups on a pure cgroup v2 host (the VM, or a modern machine), through the public API only.
// On the hybrid development host these are skipped; V2UnifiedTreeTests and V2FakeTreeTests cover what they can.
import Glibc
import Testing

@testable import Cgroups

@Suite(
    .serialized,
    .enabled(if: Host.isRoot, "needs root to create cgroups"),
    .enabled(if: Host.layout == .unified, "needs a pure cgroup v2 host (this one is \(Host.layout.rawValue))"))
struct V2HostTests {
    static let mib: Int64 = 1024 * 1024

    func makeManager(_ label: String) throws -> any CgroupManager {
        let manager = try makeCgroupManager(path: Host.uniqueName(label))
        #expect(manager.layout == .unified)
        #expect(manager.directories.count == 1)
        return manager
    }

    func file(_ manager: any CgroupManager, _ name: String) -> String {
        (manager.directories.first ?? "/nonexistent") + "/" + name
    }

    @Test func applyWritesV2Files() throws {
        let manager = try makeManager("v2apply")
        defer { Host.cleanup(manager) }
        let resources = CgroupResources(
            memoryLimit: 64 * Self.mib, memorySwap: 64 * Self.mib, memoryReservation: 32 * Self.mib, cpuShares: 512,
            cpuQuota: 50_000, cpuPeriod: 100_000, pidsLimit: 20, unified: ["memory.high": "50331648"])
        try manager.createAndApply(resources)
        let expected = [
            "memory.max": "67108864", "memory.low": "33554432", "cpu.weight": "59", "cpu.max": "50000 100000", "pids.max": "20",
            "memory.high": "50331648",
        ]
        for (name, value) in expected { #expect(try Host.read(file(manager, name)) == value, "\(name)") }
        if Host.exists(file(manager, "memory.swap.max")) { #expect(try Host.read(file(manager, "memory.swap.max")) == "0") }
        #expect(try manager.stats().memoryLimit == UInt64(64 * Self.mib))
    }

    @Test func childProcessIsTrackedAndKilled() throws {
        let manager = try makeManager("v2child")
        try manager.create()
        let pid = try Host.spawn([Host.busybox, "sleep", "30"])
        defer { Host.cleanup(manager, reaping: [pid]) }
        try manager.addProcess(pid)
        #expect(try manager.processes() == [pid])
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
        #expect(Host.wait(pid) == .signal(SIGKILL))
    }

    @Test func pidsLimitStopsForkLoop() throws {
        let manager = try makeManager("v2pids")
        try manager.createAndApply(CgroupResources(pidsLimit: 10))
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) sh -c 'for i in $(seq 100); do sleep 5 & done; wait'")
        defer { Host.cleanup(manager, reaping: [pid]) }
        let refused = try Host.eventually {
            (parseFlatKeyed(try CgroupFS.read(file(manager, "pids.events")))["max"] ?? 0) > 0
        }
        #expect(refused)
        #expect(try manager.stats().pidsCurrent <= 10)
        try manager.killAll()
        #expect(try manager.processes().isEmpty)
    }

    @Test func memoryHogIsOOMKilled() throws {
        let manager = try makeManager("v2oom")
        try manager.createAndApply(CgroupResources(memoryLimit: 16 * Self.mib, memorySwap: 16 * Self.mib))
        #expect(try manager.oomKillCount() == 0)
        let pid = try Host.spawnInside(manager, command: "\(Host.busybox) dd if=/dev/zero of=/dev/null bs=64M count=1")
        defer { Host.cleanup(manager, reaping: [pid]) }
        #expect(Host.wait(pid) == .signal(SIGKILL))
        #expect(try manager.oomKillCount() >= 1)
        #expect(try manager.stats().oomKills >= 1)
    }

    @Test func kernelRefusalIsClearAndLeavesNothing() throws {
        let manager = try makeManager("v2refused")
        do {
            try manager.createAndApply(CgroupResources(cpuQuota: 500))  // below the kernel's 1 ms minimum
            Issue.record("a 500 µs quota was accepted")
        } catch {
            #expect(error.description.contains("cpu.max=500 100000"))
        }
        #expect(!Host.exists(manager.directories[0]))
    }
}
