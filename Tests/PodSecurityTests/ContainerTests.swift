// Real containers (as root): bundles generated from pods through EffectiveSecurity.apply(to:) on top of a runc-like
// default spec, run under the built minirun and under runc (/usr/sbin/runc) — issue 6 acceptance 3 (differential
// /proc/self/status table) and part of acceptance 1 and 2 (attack suite, privileged, NET_ADMIN).
//
// Host safety: every container has its own pid/net/ipc/uts/mount namespaces (never hostNetwork), a relative
// cgroupsPath (so the cgroup is created below the test process's own cgroup and removed by the runtime), a unique
// id, and a temporary directory for rootfs, bundles and runtime state that is removed at the end.
import Foundation
import Glibc
import KubeAPI
import OCISpec
import PodSecurity
import RuntimeSecurity
import TestSupport
import Testing

/// A busybox rootfs, runtime state directories and helpers; one per test function.
final class Harness {
    static let runcPath = "/usr/sbin/runc"

    /// Why the real tests cannot run here, or nil.
    static let unavailable: String? = {
        if getuid() != 0 { return "needs root" }
        if access(runcPath, X_OK) != 0 { return "runc not installed" }
        if access("/bin/busybox", X_OK) != 0 { return "busybox-static not installed" }
        if minirunPath == nil { return "minirun not built" }
        return nil
    }()

    /// The built minirun: `swift build --show-bin-path`, else beside the test bundle.
    static let minirunPath: String? = {
        var candidates: [String] = []
        if let out = try? TestSupport.run(["swift", "build", "--show-bin-path"], timeout: .seconds(120)), out.succeeded {
            candidates.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/minirun")
        }
        var dir = URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("minirun").path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { access($0, X_OK) == 0 }
    }()

    static let repoRoot: String = {
        // Tests/PodSecurityTests/ContainerTests.swift → repository root.
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    let dir: String
    let rootfs: String
    private var counter = 0

    init() throws {
        var template = Array("/tmp/podsec-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ProcessError.system("mkdtemp", errno: errno) }
        dir = String(cString: made)
        rootfs = dir + "/rootfs"
        do {
            try TestSupport.run(["bash", Harness.repoRoot + "/scripts/make-busybox-rootfs.sh", rootfs]).check()
            try FileManager.default.createDirectory(atPath: rootfs + "/mnt", withIntermediateDirectories: true)
            try installSuidHelper()
        } catch {
            cleanup()
            throw error
        }
    }

    /// `/bin/suid-id`: a static program printing its effective uid, setuid root (mode 4755). busybox itself drops
    /// setuid for `id`, so a real setuid binary is compiled; nil if no C compiler.
    private(set) var hasSuidHelper = false
    private func installSuidHelper() throws {
        let source = dir + "/suid-id.c"
        try "#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf(\"%u\\n\", (unsigned)geteuid()); return 0; }\n"
            .write(toFile: source, atomically: true, encoding: .utf8)
        let target = rootfs + "/bin/suid-id"
        guard let cc = try? TestSupport.run(["cc", "-static", "-O1", "-o", target, source]), cc.succeeded else { return }
        guard chown(target, 0, 0) == 0, chmod(target, 0o4755) == 0 else { throw ProcessError.system("chmod suid-id", errno: errno) }
        hasSuidHelper = true
        // `/bin/syscall-probe`: the errno of syscalls busybox has no applet for. The key is created in the process
        // keyring (freed at exit); reboot uses LINUX_REBOOT_CMD_CAD_OFF, which in a pid namespace other than the
        // host's is EINVAL even when allowed — nothing can reboot.
        let probe = dir + "/probe.c"
        try """
        #include <errno.h>
        #include <stdio.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        static int e(long r) { return r < 0 ? errno : 0; }
        int main(void) {
            int add = e(syscall(SYS_add_key, "user", "podsec", "v", 1, -2));
            int ctl = e(syscall(SYS_keyctl, 0, -3, 0));
            int rb = e(syscall(SYS_reboot, 0xfee1dead, 672274793, 0, 0));
            printf("add_key=%d keyctl=%d reboot=%d\\n", add, ctl, rb);
            return 0;
        }
        """.write(toFile: probe, atomically: true, encoding: .utf8)
        if let out = try? TestSupport.run(["cc", "-static", "-O1", "-o", rootfs + "/bin/syscall-probe", probe]), out.succeeded {
            hasSyscallProbe = true
        }
    }

    private(set) var hasSyscallProbe = false

    func cleanup() {
        do {
            try FileManager.default.removeItem(atPath: dir)
        } catch {
            Issue.record("cannot remove \(dir): \(error)")
        }
    }

    /// runc's `spec` defaults adapted for a test: relative cgroupsPath, NOFILE within the current hard limit, a
    /// deny-all device cgroup, a tmpfs /tmp; the pod's settings are then applied on top.
    func spec(id: String, args: [String]) -> OCI.Spec {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let nofile = min(UInt64(1024), UInt64(limit.rlim_max))
        let caps = DefaultProfiles.capabilities
        return OCI.Spec(
            process: OCI.Process(
                terminal: false, user: OCI.User(uid: 0, gid: 0), args: args, env: ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root"],
                cwd: "/", capabilities: OCI.Capabilities(bounding: caps, effective: caps, permitted: caps),
                rlimits: [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: nofile, soft: nofile)], noNewPrivileges: true),
            root: OCI.Root(path: rootfs, readonly: true), hostname: "podsec",
            mounts: [
                OCI.Mount(destination: "/proc", type: "proc", source: "proc"),
                OCI.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                OCI.Mount(
                    destination: "/dev/pts", type: "devpts", source: "devpts",
                    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
                OCI.Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                OCI.Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
                OCI.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
                OCI.Mount(destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=16m"]),
            ],
            linux: OCI.Linux(
                resources: OCI.Resources(devices: [OCI.DeviceCgroup(allow: false, access: "rwm")]), cgroupsPath: "podsec-\(id)",
                namespaces: ["pid", "network", "ipc", "uts", "mount"].map { OCI.Namespace(type: $0) },
                maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"]))
    }

    enum Runtime: String, CaseIterable {
        case minirun, runc
        var path: String { self == .runc ? Harness.runcPath : Harness.minirunPath ?? "minirun" }
    }

    /// Runs `args` in a container made from `pod`'s first container under `runtime`; the result of `runtime run`.
    func run(
        _ runtime: Runtime, pod: Pod, imageUser: String = "", options: SecurityOptions = SecurityOptions(seccompDefault: true), args: [String]
    ) throws -> CommandResult {
        counter += 1
        let id = "podsec-\(getpid())-\(counter)"
        let eff = try EffectiveSecurity.resolve(
            pod: pod, container: pod.spec.containers[0], imageUser: imageUser, options: options,
            lookupUser: { name in busyboxPasswd[name] })
        var config = spec(id: id, args: args)
        eff.apply(to: &config)
        let bundle = dir + "/bundle-\(counter)"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(config).write(to: URL(fileURLWithPath: bundle + "/config.json"))
        let state = dir + "/state-\(runtime.rawValue)"
        let result = try TestSupport.run([runtime.path, "--root", state, "run", "--bundle", bundle, id], timeout: .seconds(60))
        // The container has exited; delete is a no-op unless the runtime left state behind.
        _ = try? TestSupport.run([runtime.path, "--root", state, "delete", "--force", id], timeout: .seconds(30))
        return result
    }
}

/// The fields of /proc/self/status the differential test compares.
let statusFields = ["Uid", "Gid", "Groups", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp"]

func parseStatus(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let key = String(line[..<colon])
        guard statusFields.contains(key) else { continue }
        out[key] = line[line.index(after: colon)...].split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
    }
    return out
}

func capHex(_ names: [String]) -> String {
    let mask = (try? RuntimeSecurity.Capabilities.mask(of: names, field: "test")) ?? 0
    let hex = String(mask, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

struct StatusCase: Sendable, CustomTestStringConvertible {
    var name: String
    var pod: PodSecurityContext?
    var container: SecurityContext?
    var image: String = ""
    var seccompDefault = true
    var expected: [String: String]
    var testDescription: String { name }
}

let default14 = capHex(DefaultProfiles.capabilities)
let allCaps = capHex(CurrentCapabilities.all)

func expect(
    uid: UInt32 = 0, gid: UInt32 = 0, groups: String = "0", capEff: String = default14, capBnd: String = default14, nnp: Int = 0,
    seccomp: Int = 2
) -> [String: String] {
    [
        "Uid": "\(uid) \(uid) \(uid) \(uid)", "Gid": "\(gid) \(gid) \(gid) \(gid)", "Groups": groups, "CapEff": capEff, "CapBnd": capBnd,
        "NoNewPrivs": "\(nnp)", "Seccomp": "\(seccomp)",
    ]
}

let statusCases: [StatusCase] = [
    StatusCase(name: "defaults (RuntimeDefault, 14 caps, root)", expected: expect()),
    StatusCase(name: "--seccomp-default=false", seccompDefault: false, expected: expect(seccomp: 0)),
    StatusCase(name: "image USER 1000", image: "1000", expected: expect(uid: 1000, gid: 1000, groups: "1000", capEff: capHex([]))),
    StatusCase(name: "image USER nobody (resolved)", image: "nobody", expected: expect(uid: 65534, gid: 65534, groups: "65534", capEff: capHex([]))),
    StatusCase(name: "runAsUser 1000", container: sc(runAsUser: 1000), expected: expect(uid: 1000, gid: 1000, groups: "1000", capEff: capHex([]))),
    StatusCase(
        name: "runAsUser+runAsGroup+fsGroup+supplementalGroups",
        pod: podSC(runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]),
        expected: expect(uid: 1000, gid: 3000, groups: "2000 3000 4000", capEff: capHex([]))),
    StatusCase(
        name: "runAsNonRoot with runAsUser 1000", pod: podSC(runAsUser: 1000, runAsNonRoot: true),
        expected: expect(uid: 1000, gid: 1000, groups: "1000", capEff: capHex([]))),
    StatusCase(name: "allowPrivilegeEscalation false", container: sc(allowPrivilegeEscalation: false), expected: expect(nnp: 1)),
    StatusCase(name: "allowPrivilegeEscalation true", container: sc(allowPrivilegeEscalation: true), expected: expect()),
    StatusCase(
        name: "drop ALL, add NET_BIND_SERVICE", container: sc(add: ["NET_BIND_SERVICE"], drop: ["ALL"]),
        expected: expect(capEff: capHex(["CAP_NET_BIND_SERVICE"]), capBnd: capHex(["CAP_NET_BIND_SERVICE"]))),
    StatusCase(
        name: "add NET_ADMIN, drop NET_RAW", container: sc(add: ["NET_ADMIN"], drop: ["NET_RAW"]),
        expected: expect(
            capEff: capHex(DefaultProfiles.capabilities.filter { $0 != "CAP_NET_RAW" } + ["CAP_NET_ADMIN"]),
            capBnd: capHex(DefaultProfiles.capabilities.filter { $0 != "CAP_NET_RAW" } + ["CAP_NET_ADMIN"]))),
    StatusCase(name: "drop ALL", container: sc(drop: ["ALL"]), expected: expect(capEff: capHex([]), capBnd: capHex([]))),
    StatusCase(name: "privileged", container: sc(privileged: true), expected: expect(capEff: allCaps, capBnd: allCaps, seccomp: 0)),
    StatusCase(name: "seccomp Unconfined (pod)", pod: podSC(seccomp: "Unconfined"), expected: expect(seccomp: 0)),
    StatusCase(name: "seccomp RuntimeDefault, --seccomp-default=false", container: sc(seccomp: "RuntimeDefault"), seccompDefault: false, expected: expect()),
    StatusCase(
        name: "restricted-style container", pod: podSC(runAsUser: 1000, runAsNonRoot: true, seccomp: "RuntimeDefault"),
        container: sc(allowPrivilegeEscalation: false, drop: ["ALL"]),
        expected: expect(uid: 1000, gid: 1000, groups: "1000", capEff: capHex([]), capBnd: capHex([]), nnp: 1)),
]

/// Serializes the real tests: they share the machine's two cores with other engineers.
@Suite(.serialized, .enabled(if: Harness.unavailable == nil, "real container tests need root, runc, busybox-static and minirun"))
struct ContainerTests {
    @Test func procSelfStatusMatchesTableAndRunc() throws {
        let h = try Harness()
        defer { h.cleanup() }
        var table: [String] = []
        for c in statusCases {
            let pod = makePod(c.container, pod: c.pod)
            var seen: [Harness.Runtime: [String: String]] = [:]
            for runtime in Harness.Runtime.allCases {
                let out = try h.run(
                    runtime, pod: pod, imageUser: c.image, options: SecurityOptions(seccompDefault: c.seccompDefault), args: ["/bin/cat", "/proc/self/status"])
                #expect(out.succeeded, "\(c.name) under \(runtime): \(out)")
                let status = parseStatus(out.stdout)
                seen[runtime] = status
                for field in statusFields {
                    #expect(status[field] == c.expected[field], "\(c.name) under \(runtime): \(field)")
                }
            }
            #expect(seen[.minirun] == seen[.runc], "\(c.name): minirun and runc differ")
            let m = seen[.minirun] ?? [:]
            let r = seen[.runc] ?? [:]
            let cells = statusFields.map { f in m[f] == r[f] ? (m[f] ?? "-") : "\(m[f] ?? "-") ≠ runc \(r[f] ?? "-")" }
            table.append("| \(c.name) | " + cells.joined(separator: " | ") + " |")
        }
        print("| case | " + statusFields.joined(separator: " | ") + " |\n" + table.joined(separator: "\n"))
    }

    /// A shell snippet in a container from `pod` under minirun; stdout+stderr.
    static func sh(_ h: Harness, _ pod: Pod, _ script: String, runtime: Harness.Runtime = .minirun) throws -> CommandResult {
        try h.run(runtime, pod: pod, args: ["/bin/sh", "-c", script])
    }

    struct Attack: Sendable, CustomTestStringConvertible {
        var name: String
        var container: SecurityContext?
        var script: String
        /// Text the output (stdout + stderr) must contain (one of).
        var refused: [String]
        var testDescription: String { name }
    }

    static let attacks: [Attack] = [
        Attack(name: "mount", container: nil, script: "mount -t tmpfs t /mnt 2>&1; echo rc=$?", refused: ["rc=1"]),
        Attack(name: "unshare", container: nil, script: "unshare -m true 2>&1; echo rc=$?", refused: ["Operation not permitted"]),
        Attack(name: "swapon", container: nil, script: "swapon /dev/null 2>&1; echo rc=$?", refused: ["Operation not permitted"]),
        // reboot(2) is refused by the RuntimeDefault filter (EPERM) before CAP_SYS_BOOT is even considered; the
        // container has its own pid namespace, so even a successful call would only end the container.
        Attack(name: "reboot", container: nil, script: "reboot -f 2>&1; echo rc=$?; echo alive", refused: ["alive"]),
        Attack(
            name: "raw socket without NET_RAW", container: sc(drop: ["NET_RAW"]), script: "ping -c1 -W1 127.0.0.1 2>&1; echo rc=$?",
            refused: ["permission denied"]),
        Attack(
            name: "chown without CHOWN", container: sc(drop: ["CHOWN"]), script: "touch /tmp/f && chown 1000 /tmp/f 2>&1; echo rc=$?",
            refused: ["Operation not permitted"]),
        Attack(
            name: "write /proc/sysrq-trigger", container: nil, script: "echo h > /proc/sysrq-trigger 2>&1; echo rc=$?",
            refused: ["Read-only file system", "nonexistent directory"]),
        Attack(name: "read /proc/kcore (masked)", container: nil, script: "echo bytes=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)", refused: ["bytes=0"]),
        Attack(
            name: "mknod without MKNOD", container: sc(drop: ["MKNOD"]), script: "mknod /dev/x b 7 0 2>&1; echo rc=$?", refused: ["Operation not permitted"]),
        Attack(
            name: "device node use (device cgroup)", container: nil, script: "mknod /dev/x b 7 0 && head -c1 /dev/x 2>&1; echo rc=$?",
            refused: ["Operation not permitted"]),
        Attack(
            name: "readOnlyRootFilesystem", container: sc(readOnlyRootFilesystem: true), script: "touch /x 2>&1; echo rc=$?", refused: ["Read-only file system"]
        ),
    ]

    @Test func attacksRefused() throws {
        let h = try Harness()
        defer { h.cleanup() }
        for attack in Self.attacks {
            for runtime in Harness.Runtime.allCases {
                let out = try Self.sh(h, makePod(attack.container), attack.script, runtime: runtime)
                let text = out.stdout + out.stderr
                #expect(attack.refused.contains { text.contains($0) }, "\(attack.name) under \(runtime): \(out)")
                #expect(!text.contains("rc=0"), "\(attack.name) succeeded under \(runtime): \(out)")
            }
        }
        // Controls: the same operations work when the capability is there, so the refusals above are the drops.
        let chown = try Self.sh(h, makePod(), "touch /tmp/f && chown 1000 /tmp/f; echo rc=$?")
        #expect(chown.stdout.contains("rc=0"), "chown with CHOWN: \(chown)")
        let ping = try Self.sh(h, makePod(), "ping -c1 -W1 127.0.0.1 2>&1; echo rc=$?")
        #expect(!(ping.stdout + ping.stderr).contains("permission denied"), "raw socket with NET_RAW: \(ping)")
        let rw = try Self.sh(h, makePod(), "touch /tmp/rw && touch /rw-\(getpid()); echo rc=$?")
        #expect(rw.stdout.contains("rc=0"), "writable root: \(rw)")
    }

    /// Fields not visible in /proc/self/status, under both runtimes: a Localhost seccomp profile, procMount, a pod
    /// sysctl and the masked/readonly /proc paths.
    @Test func localhostSeccompProcMountAndSysctls() throws {
        let h = try Harness()
        defer { h.cleanup() }
        let root = h.dir + "/agent"
        try FileManager.default.createDirectory(atPath: root + "/seccomp/profiles", withIntermediateDirectories: true)
        let profile = #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#
        try profile.write(toFile: root + "/seccomp/profiles/nomkdir.json", atomically: true, encoding: .utf8)
        let options = SecurityOptions(root: root)
        for runtime in Harness.Runtime.allCases {
            let local = try h.run(
                runtime, pod: makePod(sc(seccomp: "Localhost", localhostProfile: "profiles/nomkdir.json")), options: options,
                args: ["/bin/sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?; grep Seccomp: /proc/self/status; touch /tmp/f; echo touch=$?"])
            #expect(local.stdout.contains("Operation not permitted") && local.stdout.contains("touch=0"), "\(runtime) Localhost: \(local)")
            #expect(local.stdout.contains("Seccomp:\t2"), "\(runtime) Localhost: \(local)")

            let mounts = "grep -c -E ' /proc/(sys|kcore|sysrq-trigger|keys|timer_list) ' /proc/self/mountinfo"
            let masked = try h.run(runtime, pod: makePod(sc(procMount: "Default")), args: ["/bin/sh", "-c", mounts])
            let unmasked = try h.run(runtime, pod: makePod(sc(procMount: "Unmasked")), args: ["/bin/sh", "-c", mounts])
            #expect(Int(masked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 2, "\(runtime) Default: \(masked)")
            #expect(unmasked.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(runtime) Unmasked: \(unmasked)")

            var pod = makePod(pod: podSC(sysctls: ["net.ipv4.ip_unprivileged_port_start"]))
            pod.spec.securityContext?.sysctls?[0].value = "80"
            let sysctl = try h.run(runtime, pod: pod, args: ["/bin/cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
            #expect(sysctl.stdout == "80\n", "\(runtime) sysctl: \(sysctl)")
        }
    }

    /// keyctl, add_key and reboot are refused (EPERM) by the default seccomp profile under both runtimes.
    @Test func keyctlAndRebootRefused() throws {
        let h = try Harness()
        defer { h.cleanup() }
        try #require(h.hasSyscallProbe, "no C compiler for the syscall probe")
        for runtime in Harness.Runtime.allCases {
            let out = try h.run(runtime, pod: makePod(), args: ["/bin/syscall-probe"])
            #expect(out.stdout == "add_key=1 keyctl=1 reboot=1\n", "\(runtime): \(out)")
        }
    }

    @Test func setuidDoesNotGainRootWithNoNewPrivs() throws {
        let h = try Harness()
        defer { h.cleanup() }
        try #require(h.hasSuidHelper, "no C compiler for the setuid helper")
        let pod = makePod(sc(runAsUser: 1000, allowPrivilegeEscalation: false))
        for runtime in Harness.Runtime.allCases {
            let nnp = try Self.sh(h, pod, "/bin/suid-id", runtime: runtime)
            #expect(nnp.stdout == "1000\n", "\(runtime) with NNP: \(nnp)")
            let escalates = try Self.sh(h, makePod(sc(runAsUser: 1000)), "/bin/suid-id", runtime: runtime)
            #expect(escalates.stdout == "0\n", "\(runtime) without NNP: \(escalates)")
        }
    }

    @Test func privilegedCanMountAndSeesHostDevices() throws {
        let h = try Harness()
        defer { h.cleanup() }
        let pod = makePod(sc(privileged: true))
        let out = try Self.sh(
            h, pod,
            "mount -t tmpfs t /mnt && echo mounted; ls /dev; grep -c . /proc/self/mountinfo >/dev/null; echo sys=$(grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,')"
        )
        #expect(out.stdout.contains("mounted"), "\(out)")
        #expect(out.stdout.contains("sys=1"), "/sys not writable: \(out)")
        // A host device that is not in the runtime's default set.
        let hostOnly = HostDevices.list().map { String($0.path.dropFirst(5)) }.filter {
            !["null", "zero", "full", "random", "urandom", "tty", "ptmx", "console"].contains($0) && !$0.contains("/")
        }
        if let device = hostOnly.first {
            #expect(out.stdout.split(separator: "\n").contains(Substring(device)), "host device \(device) missing: \(out)")
        }
        let unprivileged = try Self.sh(h, makePod(), "ls /dev")
        if let device = hostOnly.first {
            #expect(!unprivileged.stdout.split(separator: "\n").contains(Substring(device)), "unprivileged sees \(device)")
        }
    }

    @Test func netAdminCanAddAddressToItsOwnLoopback() throws {
        let h = try Harness()
        defer { h.cleanup() }
        let script = "ip addr add 10.213.0.1/32 dev lo 2>&1; echo rc=$?; ip -4 addr show dev lo"
        let out = try Self.sh(h, makePod(sc(add: ["NET_ADMIN"])), script)
        #expect(out.stdout.contains("rc=0") && out.stdout.contains("10.213.0.1"), "\(out)")
        let refused = try Self.sh(h, makePod(), script)
        #expect(!refused.stdout.contains("rc=0"), "without NET_ADMIN: \(refused)")
    }
}
