// Integration tests: real containers from the busybox rootfs, as root (acceptance 1, 3, 4, 5, --no-pivot).
import Foundation
import OCISpec
import RuntimeSecurity
import Testing

@testable import Runtime

@Suite("Containers", .serialized, .enabled(if: Fixtures.canRunContainers, "needs root, busybox-static and a built minirun"))
struct ContainerTests {
    @Test func busyboxRunIsIsolated() throws {
        let script = """
            echo hello; echo pid=$$; hostname; echo procs=$(ls -d /proc/[0-9]* | wc -l)
            echo mounts; cat /proc/self/mountinfo; echo end
            echo keys=$(stat -c %t:%T /proc/keys); echo acpi=$(ls /proc/acpi | wc -l)
            """
        let bundle = try TestBundle(args: ["sh", "-c", script])
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "iso"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "hello")
        #expect(lines.contains("pid=1"))
        #expect(lines.contains("minirun-test"))
        // Only the shell, a subshell and its `ls` exist: host processes are invisible.
        let procs = lines.first { $0.hasPrefix("procs=") }.flatMap { Int($0.dropFirst(6)) } ?? 99
        #expect(procs <= 4)
        let mounts = lines.drop { $0 != "mounts" }.dropFirst().prefix { $0 != "end" }
        let mountPoints = mounts.map { $0.split(separator: " ")[4] }
        #expect(!mountPoints.contains("/work") && !mountPoints.contains("/run") && !mountPoints.contains("/home"))
        #expect(mountPoints.contains("/proc") && mountPoints.contains("/dev/pts") && mountPoints.contains("/sys"))
        // Masked paths: a file covered by /dev/null (1:3), a directory by an empty tmpfs.
        #expect(lines.contains("keys=1:3"))
        #expect(lines.contains("acpi=0"))
        #expect(!FileManager.default.fileExists(atPath: bundle.root + "/iso"))
    }

    @Test func lifecycleCreatedRunningStopped() throws {
        let bundle = try TestBundle(args: ["sleep", "30"])
        defer { bundle.cleanup(ids: ["life"]) }
        let create = try bundle.minirun(["create", "--bundle", bundle.dir.path, "--pid-file", bundle.dir.path + "/pid", "life"])
        #expect(create.status == 0, "\(create.stderr)")
        #expect(try bundle.state("life")["status"] as? String == "created")
        let pid = try String(contentsOfFile: bundle.dir.path + "/pid", encoding: .utf8)
        #expect(Int32(pid) == (try bundle.state("life")["pid"] as? Int).map { Int32($0) })
        #expect(try bundle.minirun(["start", "life"]).status == 0)
        #expect(try bundle.state("life")["status"] as? String == "running")
        #expect(try bundle.minirun(["start", "life"]).status != 0)
        #expect(try bundle.minirun(["delete", "life"]).status != 0, "a running container needs --force")
        #expect(try bundle.minirun(["kill", "life", "KILL"]).status == 0)
        try waitFor { try bundle.state("life")["status"] as? String == "stopped" }
        let record = try stateRecord(bundle, "life")
        let cgroupDirs = record.cgroupDirectories + (record.namedCgroupDirectories ?? [])
        #expect(try bundle.minirun(["delete", "life"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: bundle.root + "/life"))
        for dir in cgroupDirs { #expect(!FileManager.default.fileExists(atPath: dir), "cgroup \(dir) left behind") }
        #expect(try bundle.minirun(["state", "life"]).status != 0)
    }

    @Test func noPivot() throws {
        let bundle = try TestBundle(args: ["sh", "-c", "echo pivotless; ls /"])
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--no-pivot", "--bundle", bundle.dir.path, "np"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("pivotless\n"))
        #expect(result.stdout.contains("bin\n"))
    }

    @Test func badConfigLeavesNothingBehind() throws {
        let bundle = try TestBundle(args: ["/no/such/binary"])
        defer { bundle.cleanup() }
        let cgroupPath = bundle.spec.linux?.cgroupsPath ?? ""
        let result = try bundle.minirun(["create", "--bundle", bundle.dir.path, "bad"])
        #expect(result.status == 1)
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("/no/such/binary"))
        #expect(!FileManager.default.fileExists(atPath: bundle.root + "/bad"))
        #expect(!ownCgroupDirectories().contains { $0.hasSuffix("/" + cgroupPath) })
    }

    @Test func execJoinsTheRunningContainer() throws {
        let bundle = try TestBundle(args: ["sleep", "30"])
        defer { bundle.cleanup(ids: ["ex"]) }
        #expect(try bundle.minirun(["run", "--detach", "--bundle", bundle.dir.path, "ex"]).status == 0)
        let exec = try bundle.minirun(["exec", "--env", "X=42", "--cwd", "/tmp", "ex", "sh", "-c", "echo $X $(pwd) $(hostname); ls -d /proc/[0-9]* | wc -l"])
        #expect(exec.status == 0, "\(exec.stderr)")
        let lines = exec.stdout.split(separator: "\n")
        #expect(lines.first == "42 /tmp minirun-test")
        #expect(Int(lines.last ?? "") ?? 99 <= 5, "sees only the container's processes")
        #expect(try bundle.minirun(["exec", "ex", "sh", "-c", "exit 7"]).status == 7)
        let detached = try bundle.minirun(["exec", "--detach", "--pid-file", bundle.dir.path + "/exec.pid", "ex", "sleep", "20"])
        #expect(detached.status == 0)
        let ps = try bundle.minirun(["ps", "--format", "json", "ex"])
        #expect(ps.stdout.split(separator: ",").count == 2, "\(ps.stdout)")
        #expect(try bundle.minirun(["delete", "--force", "ex"]).status == 0)
    }

    @Test func userNamespaceMapsRoot() throws {
        let bundle = try TestBundle(args: ["sh", "-c", "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map; echo x > /dev/null && echo devnull-ok"]) {
            spec in
            spec.linux?.namespaces?.append(OCI.Namespace(type: "user"))
            spec.linux?.uidMappings = [OCI.IDMapping(containerID: 0, hostID: 200_000, size: 65536)]
            spec.linux?.gidMappings = [OCI.IDMapping(containerID: 0, hostID: 200_000, size: 65536)]
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "userns"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.first == "0")
        #expect(lines.dropFirst().first == "0 200000 65536")
        #expect(lines.contains("devnull-ok"))
    }

    @Test func joinsAnExistingNetworkNamespace() throws {
        let name = "minirun-test-\(getpid())"
        guard try Shell.run(["/usr/sbin/ip", "netns", "add", name]).status == 0 else {
            Issue.record("ip netns add failed")
            return
        }
        defer { _ = try? Shell.run(["/usr/sbin/ip", "netns", "delete", name]) }
        let bundle = try TestBundle(args: ["readlink", "/proc/self/ns/net"]) { spec in
            let namespaces = spec.linux?.namespaces?.map {
                $0.type == "network" ? OCI.Namespace(type: "network", path: "/run/netns/\(name)") : $0
            }
            spec.linux?.namespaces = namespaces
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "netns"])
        #expect(result.status == 0, "\(result.stderr)")
        var info = stat()
        #expect(stat("/run/netns/\(name)", &info) == 0)
        #expect(result.stdout == "net:[\(info.st_ino)]\n")
    }

    @Test func runtimeHooksRunInOrderWithTheState() throws {
        let bundle = try TestBundle(args: ["true"])
        defer { bundle.cleanup() }
        let log = bundle.dir.path + "/hooks.log"
        let script = bundle.dir.path + "/hook.sh"
        try "#!/bin/sh\necho \"$1 $(cat)\" >> \(log)\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        var spec = bundle.spec
        func hook(_ name: String) -> [OCI.Hook] { [OCI.Hook(path: script, args: ["hook.sh", name], timeout: 5)] }
        spec.hooks = OCI.Hooks(prestart: hook("prestart"), createRuntime: hook("createRuntime"), poststart: hook("poststart"), poststop: hook("poststop"))
        let hooked = try TestBundle(args: ["true"]) { $0 = spec }
        defer { hooked.cleanup() }
        let result = try hooked.minirun(["run", "--bundle", hooked.dir.path, "hooks"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n") ?? []
        #expect(lines.map { $0.split(separator: " ").first ?? "" } == ["prestart", "createRuntime", "poststart", "poststop"])
        #expect(lines.first?.contains("\"status\":\"creating\"") == true)
        #expect(lines.last?.contains("\"status\":\"stopped\"") == true)
    }

    /// A mount the kernel refuses in the init stage (after GO) is reported as such, and nothing (state, cgroup,
    /// process) is left behind.
    @Test func mountRefusedByTheKernelLeavesNothingBehind() throws {
        let bundle = try TestBundle(args: ["true"]) { spec in
            spec.mounts = (spec.mounts ?? []) + [OCI.Mount(destination: "/mnt", type: "tmpfs", source: "tmpfs", options: ["size=bogus"])]
        }
        defer { bundle.cleanup() }
        let cgroupPath = bundle.spec.linux?.cgroupsPath ?? ""
        let result = try bundle.minirun(["create", "--bundle", bundle.dir.path, "badmount"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("minirun: container init: mount "), "\(result.stderr)")
        #expect(result.stderr.hasSuffix("/mnt: Invalid argument (errno 22)\n"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: bundle.root + "/badmount"))
        #expect(!ownCgroupDirectories().contains { $0.hasSuffix("/" + cgroupPath) })
    }

    @Test func failingPrestartHookLeavesNothingBehind() throws {
        let bundle = try TestBundle(args: ["true"]) { spec in
            spec.hooks = OCI.Hooks(prestart: [OCI.Hook(path: "/bin/false")])
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["create", "--bundle", bundle.dir.path, "badhook"])
        #expect(result.status == 1)
        #expect(result.stderr == "minirun: config.json: hooks.prestart[0]: hook /bin/false exited with status 1\n")
        #expect(!FileManager.default.fileExists(atPath: bundle.root + "/badhook"))
    }

    // MARK: acceptance 3: limits

    @Test func memoryHogIsOOMKilledAndReported() throws {
        let bundle = try TestBundle(args: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"]) { spec in
            spec.linux?.resources = OCI.Resources(memory: OCI.Memory(limit: 32 << 20, swap: 32 << 20))
        }
        defer { bundle.cleanup(ids: ["oom"]) }
        #expect(try bundle.minirun(["create", "--bundle", bundle.dir.path, "oom"]).status == 0)
        #expect(try bundle.minirun(["start", "oom"]).status == 0)
        try waitFor(seconds: 30) { try bundle.state("oom")["status"] as? String == "stopped" }
        let kills = try bundle.state("oom")["oomKillCount"] as? Int ?? 0
        #expect(kills >= 1)
        let events = try bundle.minirun(["events", "--stats", "oom"])
        #expect(events.stdout.contains("\"kills\":"))
    }

    @Test func forkBombStopsAtPidsMax() throws {
        // Builtins only after the bomb: at the limit the outer shell cannot fork either.
        let script = """
            sh -c 'for i in $(seq 60); do sleep 5 & done' 2>/dev/null; echo bomb=$?
            d=/sys/fs/cgroup/pids; [ -e $d/pids.max ] || d=/sys/fs/cgroup
            read n < $d/pids.current; read m < $d/pids.max; echo current=$n max=$m
            """
        let bundle = try TestBundle(args: ["sh", "-c", script]) { spec in
            spec.linux?.resources = OCI.Resources(pids: OCI.Pids(limit: 16))
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "pids"])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("bomb=") && $0 != "bomb=0" }, "\(result.stdout)")
        let counts = lines.first { $0.hasPrefix("current=") }?.split(separator: " ") ?? []
        let current = counts.first.flatMap { Int($0.dropFirst(8)) } ?? 999
        #expect(current <= 16, "\(result.stdout)")
        #expect(counts.last == "max=16")
    }

    @Test func cpuQuotaLimitsUsage() throws {
        let script = "timeout 2 sh -c 'while :; do :; done'; cat /sys/fs/cgroup/cpuacct/cpuacct.usage 2>/dev/null || grep usage_usec /sys/fs/cgroup/cpu.stat"
        let bundle = try TestBundle(args: ["sh", "-c", script]) { spec in
            spec.linux?.resources = OCI.Resources(cpu: OCI.CPU(quota: 20000, period: 100_000))
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "cpu"])
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let seconds: Double
        if last.hasPrefix("usage_usec") {
            seconds = (Double(last.split(separator: " ").last ?? "") ?? 0) / 1e6
        } else {
            seconds = (Double(last) ?? 0) / 1e9
        }
        // 2 s of wall time at 0.2 CPU ≈ 0.4 s of CPU.
        #expect(seconds > 0.2 && seconds < 0.6, "cpu seconds \(seconds)")
    }

    // MARK: acceptance 4: security

    @Test func defaultSeccompAndDroppedCapabilities() throws {
        guard let probe = try? SecurityProbe.build() else {
            Issue.record("cannot build the static probe (gcc -static)")
            return
        }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        let bundle = try TestBundle(args: ["/probe"]) { spec in
            let caps = DefaultProfiles.capabilities.filter { $0 != "CAP_NET_RAW" && $0 != "CAP_CHOWN" }
            spec.process?.capabilities = OCI.Capabilities(bounding: caps, effective: caps, permitted: caps)
            spec.linux?.seccomp = DefaultProfiles.seccomp(capabilities: caps)
            spec.mounts?.append(OCI.Mount(destination: "/probe", type: "bind", source: probe, options: ["bind"]))
        }
        defer { bundle.cleanup() }
        let result = try bundle.minirun(["run", "--bundle", bundle.dir.path, "sec"])
        #expect(result.status == 0, "\(result.stderr)")
        for name in ["unshare", "mount", "keyctl", "rawsocket", "chown"] {
            #expect(result.stdout.contains("\(name)=1\n"), "\(name) should fail with EPERM: \(result.stdout)")
        }
    }

    /// create stores the compiled filter; exec loads it (a later edit of the profile in config.json has no effect
    /// while it is there) and compiles the profile when it is missing or damaged. keyctl is outside the default
    /// profile's allow-list, so EPERM (1) means the filter is loaded; unshare(CLONE_NEWUSER) needs no capability.
    @Test func execUsesTheStoredSeccompFilterAndFallsBackToTheProfile() throws {
        guard let probe = try? SecurityProbe.build() else {
            Issue.record("cannot build the static probe (gcc -static)")
            return
        }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        let profile = DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities)
        var bundle = try TestBundle(args: ["sleep", "30"]) { spec in
            spec.linux?.seccomp = profile
            spec.mounts?.append(OCI.Mount(destination: "/probe", type: "bind", source: probe, options: ["bind"]))
        }
        defer { bundle.cleanup(ids: ["scx"]) }
        #expect(try bundle.minirun(["run", "--detach", "--bundle", bundle.dir.path, "scx"]).status == 0)
        let stored = bundle.root + "/scx/seccomp.bpf"
        let mode = (try FileManager.default.attributesOfItem(atPath: stored)[.posixPermissions] as? Int) ?? 0
        #expect(mode == 0o600, "seccomp.bpf mode \(String(mode, radix: 8))")
        let record = try stateRecord(bundle, "scx")
        #expect(record.cgroupLayout != nil && record.cgroupMounts?.isEmpty == false, "cgroup mounts recorded at create")

        func probeExec(_ step: String) throws -> String {
            let result = try bundle.minirun(["exec", "scx", "/probe"])
            #expect(result.status == 0, "\(step): \(result.stderr)")
            return result.stdout
        }
        let blocked = try probeExec("stored filter")
        #expect(blocked.contains("keyctl=1\n") && blocked.contains("unshare=1\n"), "\(blocked)")

        bundle.spec.linux?.seccomp = OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW")
        try bundle.write()
        let edited = try probeExec("stored filter, profile edited")
        #expect(edited.contains("keyctl=1\n") && edited.contains("unshare=1\n"), "the stored filter applies: \(edited)")

        // The control: without the stored filter, exec compiles the (now allow-all) profile of config.json.
        try FileManager.default.removeItem(atPath: stored)
        let compiledAllow = try probeExec("compiled allow-all profile")
        #expect(!compiledAllow.contains("keyctl=1\n"), "\(compiledAllow)")

        bundle.spec.linux?.seccomp = profile
        try bundle.write()
        try Data([0x4D, 0x4B, 0x43, 0x54, 0x52, 0x42, 0x50, 0x46, 1, 0, 0, 0]).write(to: URL(fileURLWithPath: stored))
        let damaged = try probeExec("damaged stored filter")
        #expect(damaged.contains("keyctl=1\n") && damaged.contains("unshare=1\n"), "\(damaged)")
        try FileManager.default.removeItem(atPath: stored)
        let missing = try probeExec("no stored filter")
        #expect(missing.contains("keyctl=1\n") && missing.contains("unshare=1\n"), "\(missing)")
    }

    // MARK: acceptance 5: many at once, no leaks

    @Test func fiftyConcurrentCreateDeleteLeaveNothing() async throws {
        let bundle = try TestBundle(args: ["sleep", "60"])
        defer { bundle.cleanup() }
        let mountsBefore = try mounts(mentioning: [bundle.dir.path, Fixtures.rootfs ?? "/nonexistent"])
        let fdsBefore = try openFDs()
        let ids = (0..<50).map { "many\($0)" }
        let created = await concurrently(ids) { id in try bundle.minirun(["create", "--bundle", bundle.dir.path, id]) }
        #expect(created.allSatisfy { $0.status == 0 }, "\(created.map(\.stderr).filter { !$0.isEmpty }.prefix(3))")
        let records = ids.compactMap { try? stateRecord(bundle, $0) }
        #expect(records.count == 50)
        let deleted = await concurrently(ids) { id in try bundle.minirun(["delete", "--force", id]) }
        #expect(deleted.allSatisfy { $0.status == 0 }, "\(deleted.map(\.stderr).filter { !$0.isEmpty }.prefix(3))")
        // The host's mount table changes under other users of this machine: count only our paths.
        #expect(try mounts(mentioning: [bundle.dir.path, Fixtures.rootfs ?? "/nonexistent"]) == mountsBefore)
        // Other suites run in parallel and open files too: only fds about containers count as leaks.
        let leaked = try openFDs().subtracting(fdsBefore).filter { $0.contains(bundle.dir.path) || $0.contains("cgroup") || $0.contains("minirun") }
        #expect(leaked.isEmpty, "\(leaked)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: bundle.root))?.isEmpty ?? true)
        for record in records {
            // Gone, or a zombie waiting for the host's PID 1 to reap it (this sandbox's PID 1 is slow to).
            let stat = try? String(contentsOfFile: "/proc/\(record.pid)/stat", encoding: .utf8)
            let state = stat?.split(separator: ")").last?.split(separator: " ").first
            #expect(stat == nil || state == "Z", "init \(record.pid) still alive")
            for dir in record.cgroupDirectories + (record.namedCgroupDirectories ?? []) { #expect(!FileManager.default.fileExists(atPath: dir)) }
        }
    }
}

// MARK: - helpers

func waitFor(seconds: Double = 10, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    Issue.record("condition not met within \(seconds)s")
}

func stateRecord(_ bundle: TestBundle, _ id: String) throws -> ContainerRecord {
    try StateStore(root: bundle.root).load(id)
}

/// Lines of /proc/self/mountinfo that mention any of `paths`.
func mounts(mentioning paths: [String]) throws -> [String] {
    try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).split(separator: "\n").map(String.init)
        .filter { line in paths.contains { line.contains($0) } }
}

/// "fd -> target" for every open fd of the test process.
func openFDs() throws -> Set<String> {
    let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
    return Set(fds.map { fd in "\(fd) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + fd)) ?? "?") })
}

/// Absolute directories of the test process's own cgroups (v1 per controller).
func ownCgroupDirectories() -> [String] {
    guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return [] }
    var out: [String] = []
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count == 3, let controller = parts[1].split(separator: ",").first else { continue }
        let base = "/sys/fs/cgroup/" + controller + parts[2]
        out += ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).map { base + "/" + $0 }
    }
    return out
}

func concurrently(_ ids: [String], _ body: @escaping @Sendable (String) throws -> CommandResult) async -> [CommandResult] {
    await withTaskGroup(of: CommandResult.self) { group in
        for id in ids {
            group.addTask {
                (try? body(id)) ?? CommandResult(status: -1, stdout: "", stderr: "spawn failed for \(id)")
            }
        }
        var results: [CommandResult] = []
        for await result in group { results.append(result) }
        return results
    }
}

/// A static C program run inside the container: prints the errno of unshare, mount, keyctl, a raw
/// socket and chown (0 = allowed).
enum SecurityProbe {
    static let source = """
        #define _GNU_SOURCE
        #include <errno.h>
        #include <netinet/in.h>
        #include <sched.h>
        #include <stdio.h>
        #include <sys/mount.h>
        #include <sys/socket.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        int main(void) {
            printf("unshare=%d\\n", unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
            printf("mount=%d\\n", mount("none", "/tmp", "tmpfs", 0, NULL) == 0 ? 0 : errno);
            printf("keyctl=%d\\n", syscall(SYS_keyctl, 0, 0, 0, 0, 0) >= 0 ? 0 : errno);
            printf("rawsocket=%d\\n", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) >= 0 ? 0 : errno);
            printf("chown=%d\\n", chown("/probe", 1234, 1234) == 0 ? 0 : errno);
            return 0;
        }
        """

    static func build() throws -> String {
        let dir = try TemporaryDirectory(prefix: "minirun-probe")
        try source.write(toFile: dir.path + "/probe.c", atomically: true, encoding: .utf8)
        let result = try Shell.run(["/usr/bin/cc", "-static", "-O", "-o", dir.path + "/probe", dir.path + "/probe.c"])
        guard result.status == 0 else { throw RuntimeError("cc: \(result.stderr)") }
        return dir.path + "/probe"
    }
}
