// Checks of the Cgroups module against the real cgroup v2 hierarchy of the VM (reference/runtime.md §3).
import Cgroups
import Glibc

let cgroupRoot = "/sys/fs/cgroup"
/// Everything the selftest creates lives under this cgroup; the last check asserts it is empty.
let selftestParent = "/minikubelet-selftest"

/// One limits case: resources in OCI units, and the v2 files with the values the kernel must then hold.
struct LimitCase: Sendable {
    var name: String
    var resources: CgroupResources
    var expected: [(file: String, value: String)]
    /// Controller the case needs in the root's cgroup.controllers (skipped with a reason if absent).
    var needs: String? = nil
}

let mi: Int64 = 1024 * 1024

/// The limits table. The same cases (and the kubelet end-to-end mapping) the host suite runs in hybrid mode,
/// here in the v2 vocabulary (runc fs2 / crun cgroup-resources.c).
let limitCases: [LimitCase] = [
    LimitCase(name: "memory.max", resources: CgroupResources(memoryLimit: 64 * mi), expected: [("memory.max", "67108864")]),
    LimitCase(name: "memory.max-unlimited", resources: CgroupResources(memoryLimit: -1), expected: [("memory.max", "max")]),
    LimitCase(
        name: "memory.swap.max", resources: CgroupResources(memoryLimit: 64 * mi, memorySwap: 96 * mi),
        expected: [("memory.max", "67108864"), ("memory.swap.max", "33554432")]),
    LimitCase(
        name: "memory.swap.max-no-swap", resources: CgroupResources(memoryLimit: 64 * mi, memorySwap: 64 * mi),
        expected: [("memory.max", "67108864"), ("memory.swap.max", "0")]),
    LimitCase(
        name: "memory.swap.max-unlimited", resources: CgroupResources(memoryLimit: 64 * mi, memorySwap: -1),
        expected: [("memory.max", "67108864"), ("memory.swap.max", "max")]),
    LimitCase(name: "memory.low", resources: CgroupResources(memoryReservation: 32 * mi), expected: [("memory.low", "33554432")]),
    LimitCase(
        name: "cpu.max", resources: CgroupResources(cpuQuota: 50000, cpuPeriod: 100000), expected: [("cpu.max", "50000 100000")]),
    LimitCase(name: "cpu.max-quota-only", resources: CgroupResources(cpuQuota: 20000), expected: [("cpu.max", "20000 100000")]),
    LimitCase(
        name: "cpu.max-custom-period", resources: CgroupResources(cpuQuota: 25000, cpuPeriod: 50000),
        expected: [("cpu.max", "25000 50000")]),
    LimitCase(
        name: "cpu.max-unlimited", resources: CgroupResources(cpuQuota: -1, cpuPeriod: 100000), expected: [("cpu.max", "max 100000")]),
    LimitCase(name: "cpu.weight-1024", resources: CgroupResources(cpuShares: 1024), expected: [("cpu.weight", "100")]),
    LimitCase(name: "cpu.weight-512", resources: CgroupResources(cpuShares: 512), expected: [("cpu.weight", "59")]),
    LimitCase(name: "cpu.weight-2", resources: CgroupResources(cpuShares: 2), expected: [("cpu.weight", "1")]),
    LimitCase(name: "cpu.weight-102", resources: CgroupResources(cpuShares: 102), expected: [("cpu.weight", "17")]),
    LimitCase(name: "cpu.weight-262144", resources: CgroupResources(cpuShares: 262144), expected: [("cpu.weight", "10000")]),
    LimitCase(name: "pids.max", resources: CgroupResources(pidsLimit: 42), expected: [("pids.max", "42")]),
    LimitCase(name: "pids.max-unlimited", resources: CgroupResources(pidsLimit: -1), expected: [("pids.max", "max")]),
    LimitCase(
        name: "cpuset", resources: CgroupResources(cpusetCpus: "0", cpusetMems: "0"),
        expected: [("cpuset.cpus", "0"), ("cpuset.mems", "0")], needs: "cpuset"),
    LimitCase(
        name: "unified-memory.high", resources: CgroupResources(unified: ["memory.high": "50331648"]),
        expected: [("memory.high", "50331648")]),
    // The table the host suite applies (Tests/CgroupsTests/V2Tests.swift `applied`), here against real kernel files.
    LimitCase(
        name: "host-table-memory-swap-low",
        resources: CgroupResources(memoryLimit: 256 * mi, memorySwap: 512 * mi, memoryReservation: 128 * mi),
        expected: [("memory.swap.max", "268435456"), ("memory.max", "268435456"), ("memory.low", "134217728")]),
    LimitCase(
        name: "host-table-cpu-102-quota-only", resources: CgroupResources(cpuShares: 102, cpuQuota: 25000),
        expected: [("cpu.weight", "17"), ("cpu.max", "25000 100000")]),
    LimitCase(
        name: "host-table-cpuset-pids", resources: CgroupResources(cpusetCpus: "0-1", cpusetMems: "0", pidsLimit: 64),
        expected: [("cpuset.cpus", "0-1"), ("cpuset.mems", "0"), ("pids.max", "64")], needs: "cpuset"),
    LimitCase(name: "host-table-pids-0-untouched", resources: CgroupResources(pidsLimit: 0), expected: [("pids.max", "max")]),
    // Kubelet: request 500m / limit 1 CPU, 256Mi → shares 512, quota 100000/100000 (reference/runtime.md §3.5).
    LimitCase(
        name: "kubelet-500m-1cpu-256Mi",
        resources: CgroupResources(memoryLimit: 256 * mi, memorySwap: 256 * mi, cpuShares: 512, cpuQuota: 100000, cpuPeriod: 100000, pidsLimit: 1024),
        expected: [("memory.max", "268435456"), ("memory.swap.max", "0"), ("cpu.weight", "59"), ("cpu.max", "100000 100000"), ("pids.max", "1024")]),
]

/// `cpuWeight(fromShares:)` on its own (the pure conversion, runc >= 1.3.2).
let weightCases: [(shares: UInt64, weight: UInt64)] = [(2, 1), (102, 17), (512, 59), (1024, 100), (262144, 10000), (1, 1), (300000, 10000)]

func rootControllers() -> [String] {
    (readFile(cgroupRoot + "/cgroup.controllers") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

/// Creates a manager for `/minikubelet-selftest/<name>`, runs `body`, and always kills + destroys afterwards.
func withCgroup<R>(_ name: String, _ body: (any CgroupManager, String) throws -> R) throws -> R {
    let path = selftestParent + "/" + name
    let manager = try makeCgroupManager(path: path, layout: .unified)
    try manager.create()
    let dir = cgroupRoot + path
    defer {
        do {
            try manager.killAll()
            _ = waitUntil(timeout: 5) { (try? manager.processes().isEmpty) ?? true }
            try manager.destroy()
        } catch {
            emit("selftest: cleanup of \(dir) failed: \(error)")
        }
    }
    return try body(manager, dir)
}

func expectFile(_ dir: String, _ file: String, _ value: String) throws(CheckFailure) {
    let actual = try readTrimmed(dir + "/" + file)
    try expect(actual == value, "\(file) is '\(actual)', expected '\(value)'")
}

func limitCheck(_ c: LimitCase) -> Check {
    Check(name: "limits/" + c.name) {
        if let needs = c.needs, !rootControllers().contains(needs) {
            return .skip("controller \(needs) not in \(cgroupRoot)/cgroup.controllers")
        }
        return try withCgroup("limits-" + c.name) { manager, dir in
            try manager.apply(c.resources)
            for (file, value) in c.expected { try expectFile(dir, file, value) }
            // Applying the same resources again must be accepted (the runtime re-applies on update).
            try manager.apply(c.resources)
            return .pass
        }
    }
}

/// The process's cgroup v2 path from /proc/<pid>/cgroup ("0::/path").
func cgroupOf(_ pid: pid_t) -> String? {
    guard let text = readFile("/proc/\(pid)/cgroup") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("0::") { return String(line.dropFirst(3)) }
    return nil
}

let cgroupChecks: [Check] =
    [
        Check(name: "layout/detect-unified") {
            let layout = detectCgroupLayout()
            try expect(layout == .unified, "detectCgroupLayout() = \(layout), expected unified")
            let manager = try makeCgroupManager(path: selftestParent + "/layout")
            try expect(manager.layout == .unified, "makeCgroupManager chose \(manager.layout), expected unified")
            return .pass
        },
        Check(name: "convert/cpu-weight-from-shares") {
            for (shares, weight) in weightCases {
                let got = cpuWeight(fromShares: shares)
                try expect(got == weight, "cpuWeight(fromShares: \(shares)) = \(got), expected \(weight)")
            }
            return .pass
        },
        Check(name: "create/dir-and-controllers") {
            // The intermediate levels belong to the caller (pod level), not to the leaf's manager: remove them here.
            defer {
                for level in ["/create/nested", "/create"] { rmdir(cgroupRoot + selftestParent + level) }
            }
            return try withCgroup("create/nested/leaf") { manager, dir in
                try expect(isDirectory(dir), "\(dir) not created")
                try expect(manager.directories == [dir], "directories = \(manager.directories), expected [\(dir)]")
                // Every parent (root included) must delegate the controllers the limits need.
                var parent = dir
                while parent != cgroupRoot {
                    parent = String(parent[..<(parent.lastIndex(of: "/") ?? parent.endIndex)])
                    let enabled = try readTrimmed(parent + "/cgroup.subtree_control").split(separator: " ").map(String.init)
                    for c in ["cpu", "memory", "pids"] {
                        try expect(enabled.contains(c), "\(parent)/cgroup.subtree_control is '\(enabled.joined(separator: " "))', missing \(c)")
                    }
                }
                for file in ["memory.max", "memory.events", "cpu.max", "cpu.weight", "pids.max", "io.stat"] {
                    try expect(fileExists(dir + "/" + file), "\(dir)/\(file) missing: controller not enabled")
                }
                try manager.create()  // idempotent
                return .pass
            }
        },
    ]
    + limitCases.map(limitCheck)
    + [
        Check(name: "limits/invalid-value-names-file") {
            try withCgroup("invalid") { manager, _ in
                do {
                    // The kernel refuses a CFS quota below 1 ms.
                    try manager.apply(CgroupResources(cpuQuota: 500, cpuPeriod: 100000))
                } catch {
                    try expect(String(describing: error).contains("cpu.max"), "error does not name cpu.max: \(error)")
                    return .pass
                }
                throw CheckFailure(
                    "apply(cpuQuota: 500) succeeded; the kernel should refuse it (cpu.max = \((readFile(cgroupRoot + selftestParent + "/invalid/cpu.max") ?? "?")))"
                )
            }
        },
        Check(name: "limits/swap-below-limit-rejected") {
            try withCgroup("swap-below") { manager, _ in
                do {
                    try manager.apply(CgroupResources(memoryLimit: 64 * mi, memorySwap: 32 * mi))
                } catch {
                    try expect(String(describing: error).contains("swap"), "error does not name the swap limit: \(error)")
                    return .pass
                }
                throw CheckFailure("memorySwap < memoryLimit accepted (runc: 'memory+swap limit should be >= memory limit')")
            }
        },
        Check(name: "process/add-and-list") {
            try withCgroup("procs") { manager, dir in
                let child = try spawn(["/bin/busybox", "sleep", "60"], captureOutput: false)
                defer {
                    kill(child.pid, SIGKILL)
                    _ = child.wait(timeout: 5)
                }
                try manager.addProcess(child.pid)
                let procs = try manager.processes()
                try expect(procs == [child.pid], "processes() = \(procs), expected [\(child.pid)]")
                let path = String(dir.dropFirst(cgroupRoot.count))
                let inKernel = cgroupOf(child.pid) ?? "?"
                try expect(inKernel == path, "/proc/\(child.pid)/cgroup says \(inKernel), expected \(path)")
                let procsFile = try readTrimmed(dir + "/cgroup.procs")
                try expect(procsFile == "\(child.pid)", "cgroup.procs is '\(procsFile)'")
                return .pass
            }
        },
        Check(name: "stats/memory-cpu-pids") {
            try withCgroup("stats") { manager, dir in
                try manager.apply(CgroupResources(memoryLimit: 128 * mi, pidsLimit: 100))
                // 8 MiB written to tmpfs from inside the cgroup stay charged to it (shmem) after the writer exits;
                // then a busy loop burns CPU, and a sleeper keeps pids.current at 1.
                var writer = try spawn(
                    [
                        "/bin/busybox", "sh", "-c",
                        "dd if=/dev/zero of=/dev/shm/selftest-stats bs=1M count=8 2>/dev/null; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; exec sleep 60",
                    ],
                    gated: true)
                defer {
                    kill(writer.pid, SIGKILL)
                    _ = writer.wait(timeout: 5)
                    writer.removeOutput()
                    unlink("/dev/shm/selftest-stats")
                }
                try manager.addProcess(writer.pid)
                writer.release()
                let settled = waitUntil(timeout: 30) {
                    // The shell has exec'd sleep once its command name changes.
                    trimmed(readFile("/proc/\(writer.pid)/comm") ?? "") == "sleep"
                }
                try expect(settled, "writer did not finish within 30 s: \(tail(writer.output))")
                let stats = try manager.stats()
                let current = UInt64(try readTrimmed(dir + "/memory.current")) ?? 0
                try expect(stats.memoryUsage >= 8 * 1024 * 1024, "memoryUsage = \(stats.memoryUsage), expected >= 8 MiB (memory.current = \(current))")
                try expect(stats.memoryLimit == UInt64(128 * mi), "memoryLimit = \(String(describing: stats.memoryLimit)), expected \(128 * mi)")
                try expect(stats.cpuUsageNanos > 0, "cpuUsageNanos = 0 after a busy loop (cpu.stat: \(tail(readFile(dir + "/cpu.stat") ?? "")))")
                try expect(stats.cpuUserNanos + stats.cpuSystemNanos > 0, "cpuUserNanos + cpuSystemNanos = 0")
                try expect(stats.pidsCurrent == 1, "pidsCurrent = \(stats.pidsCurrent), expected 1")
                try expect(stats.pidsLimit == 100, "pidsLimit = \(String(describing: stats.pidsLimit)), expected 100")
                try expect(stats.oomKills == 0, "oomKills = \(stats.oomKills) without any OOM")
                return .pass
            }
        },
        Check(name: "stats/cpu-throttling") {
            try withCgroup("throttle") { manager, _ in
                try manager.apply(CgroupResources(cpuQuota: 10000, cpuPeriod: 100000))
                var spinner = try spawn(["/bin/busybox", "timeout", "1", "/bin/busybox", "sh", "-c", "while :; do :; done"], gated: true)
                defer { spinner.removeOutput() }
                try manager.addProcess(spinner.pid)
                spinner.release()
                _ = spinner.wait(timeout: 20)
                let stats = try manager.stats()
                try expect(stats.cpuThrottledPeriods > 0, "cpuThrottledPeriods = 0 after 1 s of spinning under 10% quota")
                try expect(stats.cpuThrottledNanos > 0, "cpuThrottledNanos = 0")
                return .pass
            }
        },
        // The Cgroups API alone: an allow-list without /dev/zero refuses it, and applying a list that allows it
        // replaces the program (all attached device programs must allow an access, so a leftover would refuse it).
        Check(name: "devices/reapply-replaces-program") {
            try withCgroup("devices") { manager, _ in
                let base = [DeviceRule(allow: false, type: .all, access: .all), DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all)]
                func readZero() throws -> (ExitStatus, String) {
                    var reader = try spawn(["/bin/busybox", "sh", "-c", "head -c 1 /dev/zero > /dev/null"], gated: true)
                    defer { reader.removeOutput() }
                    try manager.addProcess(reader.pid)
                    reader.release()
                    return (reader.wait(timeout: 20), reader.output)
                }
                try manager.apply(CgroupResources(devices: base))
                let (denied, deniedOutput) = try readZero()
                try expect(denied == .exited(1), "reading /dev/zero under 'c 1:3 rwm' only: \(denied), expected exit 1: \(tail(deniedOutput))")
                try expect(deniedOutput.contains("Operation not permitted"), "no EPERM reading /dev/zero: \(tail(deniedOutput))")
                try manager.apply(CgroupResources(devices: base + [DeviceRule(allow: true, type: .char, major: 1, minor: 5, access: [.read])]))
                let (allowed, allowedOutput) = try readZero()
                try expect(allowed == .exited(0), "reading /dev/zero after allowing 'c 1:5 r': \(allowed): \(tail(allowedOutput))")
                return .pass
            }
        },
        Check(name: "oom/kill-detected-via-memory.events") {
            try withCgroup("oom") { manager, dir in
                try manager.apply(CgroupResources(memoryLimit: 16 * mi, memorySwap: 16 * mi))
                try expect(try manager.oomKillCount() == 0, "oomKillCount() not 0 before the hog ran")
                var hog = try spawn(["/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], gated: true)
                defer { hog.removeOutput() }
                try manager.addProcess(hog.pid)
                hog.release()
                let status = hog.wait(timeout: 60)
                try expect(status == .signaled(SIGKILL), "hog: \(status), expected killed by SIGKILL (OOM); output: \(tail(hog.output))")
                let events = keyedValues(readFile(dir + "/memory.events") ?? "")
                try expect((events["oom_kill"] ?? 0) >= 1, "memory.events oom_kill = \(events["oom_kill"] ?? 0)")
                let count = try manager.oomKillCount()
                try expect(count >= 1, "oomKillCount() = \(count) after an OOM kill (memory.events oom_kill = \(events["oom_kill"] ?? 0))")
                let stats = try manager.stats()
                try expect(stats.oomKills >= 1, "stats().oomKills = \(stats.oomKills)")
                try expect(stats.oomEvents >= 1, "stats().oomEvents = \(stats.oomEvents) (memory.events oom = \(events["oom"] ?? 0))")
                return .pass
            }
        },
        Check(name: "pids/limit-stops-fork-loop") {
            try withCgroup("forkloop") { manager, dir in
                try manager.apply(CgroupResources(pidsLimit: 8))
                // Each iteration forks a sleeper; the shell dies at the first refused fork ("can't fork").
                var loop = try spawn(["/bin/busybox", "sh", "-c", "i=0; while [ $i -lt 50 ]; do sleep 60 & i=$((i+1)); done; echo forked=$i"], gated: true)
                defer { loop.removeOutput() }
                try manager.addProcess(loop.pid)
                loop.release()
                _ = loop.wait(timeout: 30)
                let output = loop.output
                try expect(!output.contains("forked=50"), "all 50 forks succeeded under pids.max=8: \(tail(output))")
                let current = try manager.stats().pidsCurrent
                try expect(current <= 8, "pidsCurrent = \(current) > 8")
                let events = keyedValues(readFile(dir + "/pids.events") ?? "")
                try expect((events["max"] ?? 0) >= 1, "pids.events max = \(events["max"] ?? 0): no fork was refused")
                return .pass
            }
        },
        Check(name: "kill/kill-all") {
            try withCgroup("killall") { manager, _ in
                var children: [Child] = []
                defer {
                    for c in children {
                        kill(c.pid, SIGKILL)
                        _ = c.wait(timeout: 5)
                    }
                }
                for _ in 0..<3 {
                    let c = try spawn(["/bin/busybox", "sleep", "60"], captureOutput: false)
                    children.append(c)
                    try manager.addProcess(c.pid)
                }
                let before = try manager.processes()
                try expect(before.count == 3, "processes() = \(before), expected 3")
                try manager.killAll()
                for c in children {
                    let status = c.wait(timeout: 10)
                    try expect(status == .signaled(SIGKILL), "pid \(c.pid): \(status) after killAll(), expected SIGKILL")
                }
                children.removeAll()
                let emptied = waitUntil(timeout: 5) { (try? manager.processes().isEmpty) ?? false }
                try expect(emptied, "processes() not empty after killAll(): \(String(describing: try? manager.processes()))")
                return .pass
            }
        },
        Check(name: "destroy/removes-dir") {
            let path = selftestParent + "/destroy"
            let dir = cgroupRoot + path
            let manager = try makeCgroupManager(path: path, layout: .unified)
            try manager.create()
            try manager.apply(CgroupResources(memoryLimit: 32 * mi, pidsLimit: 10))
            var child = try spawn(["/bin/busybox", "true"], gated: true, captureOutput: false)
            try manager.addProcess(child.pid)
            child.release()
            _ = child.wait(timeout: 10)
            try manager.destroy()
            try expect(!fileExists(dir), "\(dir) still exists after destroy()")
            try manager.destroy()  // missing dir is fine
            return .pass
        },
        Check(name: "destroy/with-running-process-kills-or-fails") {
            // destroy() is documented for after processes are gone; with a live process it must not report success
            // while leaving the directory behind.
            let path = selftestParent + "/destroy-busy"
            let dir = cgroupRoot + path
            let manager = try makeCgroupManager(path: path, layout: .unified)
            try manager.create()
            let child = try spawn(["/bin/busybox", "sleep", "60"], captureOutput: false)
            defer {
                kill(child.pid, SIGKILL)
                _ = child.wait(timeout: 5)
                _ = try? manager.killAll()
                _ = waitUntil(timeout: 5) { (try? manager.processes().isEmpty) ?? true }
                _ = try? manager.destroy()
            }
            try manager.addProcess(child.pid)
            do {
                try manager.destroy()
            } catch {
                try expect(fileExists(dir), "destroy() threw but removed \(dir)")
                return .pass
            }
            try expect(!fileExists(dir), "destroy() returned success but \(dir) still exists")
            return .pass
        },
    ]

/// Runs last: nothing the checks created may be left behind (ARCHITECTURE.md rule 6).
let leakCheck = Check(name: "cleanup/no-leftover-cgroups") {
    let parent = cgroupRoot + selftestParent
    let left = subdirectories(parent)
    let stuck = removeCgroupTree(parent)
    try expect(stuck.isEmpty, "cannot remove: \(stuck.joined(separator: ", "))")
    try expect(left.isEmpty, "left behind under \(parent): \(left.sorted().joined(separator: " "))")
    return .pass
}
