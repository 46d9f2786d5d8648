// Differential tests: the same bundle run under runc (the reference) and under the runtime under test
// (minirun, or `$MINIRUN_TEST_RUNTIME`) must produce the same observations from inside the container.
//
// Each variant runs one busybox `sh -c` script that prints labelled sections (`### name`); the two outputs are
// normalised (see `Observation.normalise`) and compared section by section, with a `diff -u` per differing
// section. Every variant also has expectations checked on each runtime's output on its own, so that a variant
// that does not exercise what it claims fails even against runc alone (`referenceMeetsExpectations`).
import Foundation
import OCISpec
import TestSupport
import Testing

// MARK: - The probe script

/// The sections every variant prints. `exec 2>&1` keeps error messages in order with the output.
private let commonScript = #"""
    exec 2>&1
    sec() { echo "### $1"; }
    sec id; id
    sec hostname; hostname
    sec status; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
    sec dev; ls /dev
    sec devnodes; stat -c '%n %F %a %u:%g %t:%T' /dev/* /dev/pts/* | sort
    sec mounts; while read -r src dst type opts rest; do echo "$src $dst $type $opts"; done < /proc/self/mounts
    sec ulimit; ulimit -a
    sec cgroup; cat /proc/self/cgroup
    sec cgroup-limits
    for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes memory/memory.soft_limit_in_bytes \
        memory/memory.swappiness pids/pids.max cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares \
        cpuset/cpuset.cpus devices/devices.list; do
        echo "$f: $(cat /sys/fs/cgroup/$f | tr '\n' ' ')"
    done
    sec process; echo "pid=$$ ppid=$PPID cwd=$(pwd) umask=$(umask)"; env | sort
    sec masked
    for p in /proc/kcore /proc/keys /proc/timer_list /proc/acpi /proc/scsi /sys/firmware /proc/interrupts; do
        if [ -d "$p" ]; then echo "$p dir $(ls -A "$p" | wc -l)"
        elif [ -e "$p" ]; then echo "$p file $(head -c 64 "$p" | wc -c)"
        else echo "$p absent"; fi
    done
    sec writes
    for d in "" /tmp /dev /dev/shm /proc/sys /sys; do touch "$d/.probe-$$" && echo "$d/ writable" && rm -f "$d/.probe-$$"; done
    """#

// MARK: - Variants

/// Per-run facts a variant's bundle may depend on.
struct VariantContext: Sendable {
    /// A scratch directory private to this variant and runtime.
    var scratch: String
    var runtimeName: String
    /// `/var/run/netns/<name>` when the variant asked for a network namespace.
    var netnsPath: String?
}

/// A line-level expectation: some line of `section`, with runs of blanks collapsed to one space, contains `text`
/// (or is exactly `text` with `wholeLine`; or, with `absent`, no line does).
struct Expectation: Sendable {
    var section: String
    var text: String
    var absent = false
    var wholeLine = false
}

struct Variant: Sendable, CustomTestStringConvertible {
    var name: String
    /// Extra sections appended to `commonScript`.
    var script: String = ""
    var needsNetns = false
    var build: @Sendable (BundleBuilder, VariantContext) throws -> BundleBuilder = { builder, _ in builder }
    var expectations: [Expectation]
    /// Checks on the host after the container ran (e.g. a file written through a bind mount); returns problems.
    var verifyHost: @Sendable (VariantContext) -> [String] = { _ in [] }

    var testDescription: String { name }
}

private func has(_ section: String, _ text: String) -> Expectation { Expectation(section: section, text: text) }
private func hasLine(_ section: String, _ text: String) -> Expectation { Expectation(section: section, text: text, wholeLine: true) }
private func lacks(_ section: String, _ text: String) -> Expectation { Expectation(section: section, text: text, absent: true) }

/// The seccomp profile: allow everything, but `mkdir`/`mkdirat` fail with EOPNOTSUPP (95), an errno no
/// permission check would give, so its presence proves the filter ran.
private let mkdirDenied = OCI.Seccomp(
    defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    syscalls: [OCI.Syscall(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 95)])

/// Ulimits to request: a value, never above what the test process itself has as its hard limit.
private func capped(_ resource: __rlimit_resource, _ value: UInt64) -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(resource.rawValue), &limit) == 0 else { return value }
    return min(value, UInt64(limit.rlim_max))
}

let variants: [Variant] = [
    Variant(
        name: "default",
        expectations: [
            has("id", "uid=0(root) gid=0(root)"), hasLine("hostname", "runc"), has("status", "NoNewPrivs: 1"),
            has("status", "CapEff: 0000000020000420"), has("status", "CapBnd: 0000000020000420"), has("status", "Seccomp: 0"),
            has("ulimit", "open files (-n) \(BundleBuilder.defaultNofile())"), has("writes", "touch: /.probe-1: Read-only file system"),
            has("writes", "/dev/shm/ writable"), has("dev", "urandom"), has("mounts", "/dev/mqueue mqueue"),
            has("masked", "/proc/keys file 0"), has("process", "pid=1 "),
        ]),
    Variant(
        name: "user-mapped",
        script: #"""
            sec idmap; cat /proc/self/uid_map /proc/self/gid_map
            sec owners; stat -c '%n %u:%g' / /bin/busybox /etc/passwd
            """#,
        build: { builder, _ in
            builder.rootfs(try Rootfs.busyboxOwned(byUID: 100_000, gid: 100_000)).userNamespace(hostID: 100_000, size: 65536)
        },
        expectations: [
            has("idmap", "0 100000 65536"), has("owners", "/bin/busybox 0:0"), has("id", "uid=0(root) gid=0(root)"),
        ]),
    Variant(
        name: "read-only-root",
        build: { builder, _ in
            builder.readonlyRoot(true)
                .maskedPaths((builder.spec.linux?.maskedPaths ?? []) + ["/proc/interrupts", "/sys/devices/virtual/powercap"])
        },
        expectations: [
            has("writes", "touch: /.probe-1: Read-only file system"), has("writes", "/tmp/.probe"), lacks("writes", "/tmp/ writable"),
            has("writes", "/proc/sys/.probe"), has("masked", "/proc/interrupts file 0"),
        ]),
    Variant(
        name: "writable-root",
        build: { builder, context in builder.rootfs(try Rootfs.privateCopy(to: context.scratch + "/rootfs")).readonlyRoot(false) },
        expectations: [hasLine("writes", "/ writable"), hasLine("writes", "/tmp/ writable")]),
    Variant(
        name: "reduced-capabilities",
        script: #"""
            sec cap-probes
            touch /dev/shm/f; chown 1:1 /dev/shm/f && echo chown-ok
            mknod /dev/shm/n c 1 3 && echo mknod-ok
            """#,
        build: { builder, _ in builder.capabilities(["CAP_CHOWN", "CAP_NET_RAW"]) },
        expectations: [
            has("status", "CapEff: 0000000000002001"), has("status", "CapAmb: 0000000000000000"), has("cap-probes", "chown-ok"),
            lacks("cap-probes", "mknod-ok"),
        ]),
    Variant(
        name: "docker-capabilities",
        script: #"""
            sec cap-probes
            mknod /dev/shm/n c 1 3 && echo mknod-ok
            """#,
        build: { builder, _ in builder.capabilities(BundleBuilder.dockerDefaultCapabilities) },
        expectations: [has("status", "CapEff: 00000000a80425fb"), has("cap-probes", "mknod-ok")]),
    Variant(
        name: "seccomp",
        script: #"""
            sec seccomp-probes
            mkdir /dev/shm/d && echo mkdir-ok
            touch /dev/shm/f && echo touch-ok
            """#,
        build: { builder, _ in builder.seccomp(mkdirDenied) },
        expectations: [
            has("status", "Seccomp: 2"), has("status", "Seccomp_filters: 1"), has("seccomp-probes", "Operation not supported"),
            lacks("seccomp-probes", "mkdir-ok"), has("seccomp-probes", "touch-ok"),
        ]),
    Variant(
        name: "rlimits",
        build: { builder, _ in
            builder.rlimit("RLIMIT_NOFILE", soft: capped(RLIMIT_NOFILE, 256), hard: capped(RLIMIT_NOFILE, 512))
                .rlimit("RLIMIT_NPROC", soft: capped(__RLIMIT_NPROC, 512), hard: capped(__RLIMIT_NPROC, 1024))
                .rlimit("RLIMIT_CORE", soft: 0, hard: 0)
                .rlimit("RLIMIT_STACK", soft: capped(RLIMIT_STACK, 4 << 20), hard: capped(RLIMIT_STACK, 16 << 20))
                .rlimit("RLIMIT_MEMLOCK", soft: capped(__RLIMIT_MEMLOCK, 1 << 20), hard: capped(__RLIMIT_MEMLOCK, 1 << 20))
        },
        expectations: [
            has("ulimit", "open files (-n) 256"), has("ulimit", "max user processes (-u) 512"),
            has("ulimit", "stack size (kb) (-s) 4096"), has("ulimit", "core file size (blocks) (-c) 0"),
            has("ulimit", "max locked memory (kb) (-l) 1024"),
        ]),
    Variant(
        name: "cgroup-limits",
        build: { builder, _ in
            builder.resources(
                memory: OCI.Memory(limit: 64 << 20, reservation: 32 << 20, swap: 96 << 20, swappiness: 10),
                cpu: OCI.CPU(shares: 512, quota: 50_000, period: 100_000, cpus: "0"),
                pids: OCI.Pids(limit: 64))
        },
        expectations: [
            has("cgroup-limits", "memory/memory.limit_in_bytes: 67108864"),
            has("cgroup-limits", "memory/memory.memsw.limit_in_bytes: 100663296"),
            has("cgroup-limits", "memory/memory.soft_limit_in_bytes: 33554432"), has("cgroup-limits", "pids/pids.max: 64"),
            has("cgroup-limits", "cpu/cpu.cfs_quota_us: 50000"), has("cgroup-limits", "cpu/cpu.shares: 512"),
            has("cgroup-limits", "cpuset/cpuset.cpus: 0"),
        ]),
    Variant(
        name: "extra-mounts",
        script: #"""
            sec extra-mounts
            cat /data/nested/hello
            touch /data/nested/x && echo ro-bind-writable
            echo in-container > /var/written && echo wrote-var
            touch /run/x && echo tmpfs-writable
            """#,
        build: { builder, context in
            let hostRO = context.scratch + "/host-ro"
            let hostRW = context.scratch + "/host-rw"
            for dir in [hostRO, hostRW] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            try Data("from-host\n".utf8).write(to: URL(fileURLWithPath: hostRO + "/hello"))
            return builder.rootfs(try Rootfs.privateCopy(to: context.scratch + "/rootfs"))
                .mount(OCI.Mount(destination: "/data/nested", type: "bind", source: hostRO, options: ["rbind", "ro"]))
                .mount(OCI.Mount(destination: "/var", type: "bind", source: hostRW, options: ["rbind", "rw"]))
                .mount(OCI.Mount(destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777", "size=1m"]))
        },
        expectations: [
            has("extra-mounts", "from-host"), lacks("extra-mounts", "ro-bind-writable"), has("extra-mounts", "wrote-var"),
            has("extra-mounts", "tmpfs-writable"), has("mounts", "/run tmpfs rw,nosuid,nodev,relatime,size=1024k"),
            has("mounts", "/data/nested ext4 ro,"),
        ],
        verifyHost: { context in
            let written = String(decoding: FileManager.default.contents(atPath: context.scratch + "/host-rw/written") ?? Data(), as: UTF8.self)
            return written == "in-container\n" ? [] : ["host-rw/written should hold \"in-container\", has \(written.debugDescription)"]
        }),
    Variant(
        name: "process-fields",
        // No `domainname`: runc 1.1 (the reference here) ignores it (added in runc 1.2), so it cannot arbitrate.
        build: { builder, _ in
            builder.hostname("mk-host").modified { spec in
                spec.process?.cwd = "/tmp"
                spec.process?.env = ["PATH=/bin:/sbin", "HOME=/home", "MK_VAR=a b=c", "EMPTY="]
            }
        },
        expectations: [
            hasLine("hostname", "mk-host"), has("process", "cwd=/tmp "), hasLine("process", "MK_VAR=a b=c"),
            hasLine("process", "HOME=/home"), hasLine("process", "EMPTY="),
        ]),
    Variant(
        name: "sysctl",
        script: #"""
            sec sysctl
            cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range /proc/sys/kernel/msgmax
            """#,
        build: { builder, _ in
            builder.sysctl(["net.ipv4.ip_unprivileged_port_start": "80", "net.ipv4.ping_group_range": "0 1000", "kernel.msgmax": "16384"])
        },
        expectations: [hasLine("sysctl", "80"), hasLine("sysctl", "0 1000"), hasLine("sysctl", "16384")]),
    Variant(
        name: "joined-netns",
        script: #"""
            sec netns; readlink /proc/self/ns/net; ip -o link | cut -d' ' -f2,3
            """#,
        needsNetns: true,
        build: { builder, context in builder.namespace("network", path: context.netnsPath) },
        expectations: [has("netns", "lo: <LOOPBACK,UP,LOWER_UP>")]),
    Variant(
        name: "no-new-privs-off",
        build: { builder, _ in builder.noNewPrivileges(false) },
        expectations: [has("status", "NoNewPrivs: 0")]),
    Variant(
        name: "uid-gid",
        script: #"""
            sec files; touch /dev/shm/f; stat -c '%a %u:%g' /dev/shm/f
            """#,
        build: { builder, _ in builder.user(uid: 1000, gid: 1000, additionalGids: [100, 5], umask: 0o027) },
        expectations: [
            has("id", "uid=1000(app) gid=1000(app) groups=5(tty),100(users)"), has("files", "640 1000:1000"),
            has("process", "umask=0027"),
        ]),
]

// MARK: - Running and observing

/// One runtime's run of one variant: the exit status and the normalised sections.
struct Observation {
    var runtime: String
    var status: TestSupport.ExitStatus
    var raw: String
    var sections: [(name: String, body: String)]

    func section(_ name: String) -> String? { sections.first { $0.name == name }?.body }

    /// Normalisations, each for something that legitimately differs between two runs:
    /// - the container id and the per-container cgroups path (both chosen per run) become `<ID>` / `<CGROUP>`;
    /// - in the mount table, a run of consecutive bind mounts of the default device nodes (a user namespace makes
    ///   runtimes bind /dev/null, /dev/zero, ... instead of mknod) is sorted: the spec does not order them and the
    ///   order has no observable effect. Their presence, types and options are still compared.
    /// That is all; in particular mount options (tmpfs `size=`, `mode=`) are compared as printed.
    static func normalise(_ text: String, id: String, cgroupsPath: String) -> String {
        let renamed = text.replacingOccurrences(of: cgroupsPath, with: "<CGROUP>").replacingOccurrences(of: id, with: "<ID>")
        return sortDeviceBindRuns(renamed)
    }

    private static let defaultDevices: Set<String> = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]

    private static func sortDeviceBindRuns(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func isDeviceBind(_ line: String) -> Bool {
            let fields = line.split(separator: " ")
            return fields.count >= 3 && defaultDevices.contains(String(fields[1]))
        }
        var start = 0
        while start < lines.count {
            guard isDeviceBind(lines[start]) else {
                start += 1
                continue
            }
            var end = start
            while end < lines.count && isDeviceBind(lines[end]) { end += 1 }
            lines.replaceSubrange(start..<end, with: lines[start..<end].sorted())
            start = end
        }
        return lines.joined(separator: "\n")
    }

    static func parse(_ text: String) -> [(name: String, body: String)] {
        var sections: [(name: String, body: String)] = [("preamble", "")]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("### ") {
                sections.append((String(line.dropFirst(4)), ""))
            } else if let last = sections.indices.last {
                sections[last].body += line + "\n"
            }
        }
        return sections
    }
}

private func collapseBlanks(_ line: Substring) -> String {
    line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
}

/// Problems with `observation` against the variant's expectations (empty if it meets them).
private func unmet(_ expectations: [Expectation], in observation: Observation) -> [String] {
    var problems: [String] = []
    if observation.status != .exited(0) { problems.append("\(observation.runtime) ended with \(observation.status)") }
    for item in expectations {
        guard let body = observation.section(item.section) else {
            problems.append("\(observation.runtime): no section \(item.section)")
            continue
        }
        let found = body.split(separator: "\n").contains { line in
            item.wholeLine ? collapseBlanks(line) == item.text : collapseBlanks(line).contains(item.text)
        }
        if found == item.absent {
            problems.append("\(observation.runtime): section \(item.section) \(item.absent ? "contains" : "lacks") \"\(item.text)\":\n\(body)")
        }
    }
    return problems
}

/// Runs `variant` under `runtime` and returns what it printed, after checking the container left no cgroup.
private func observe(_ variant: Variant, runtime: OCIRuntime, scratch: String, netnsPath: String?) throws -> (Observation, [String]) {
    let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let id = "dt-\(variant.name)-\(runtime.name)-\(tag)"
    let cgroupsPath = BundleBuilder.uniqueCgroupsPath(id)
    let dir = scratch + "/" + runtime.name
    let context = VariantContext(scratch: dir, runtimeName: runtime.name, netnsPath: netnsPath)
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let base = BundleBuilder(
        rootfs: try Rootfs.busybox(), args: ["sh", "-c", commonScript + "\n" + variant.script + "\nsec end\nexit 0\n"], cgroupsPath: cgroupsPath)
    let bundle = try variant.build(base, context).write(to: dir + "/bundle")
    let stateRoot = dir + "/state"
    var problems: [String] = []
    let result: CommandResult
    do {
        result = try runtime.run(bundle: bundle, id: id, root: stateRoot, timeout: .seconds(60))
    } catch ProcessError.timedOut(_, let partial) {
        problems.append("\(runtime.name) run timed out after 60 s")
        result = partial
    }
    if !result.succeeded {
        problems.append("\(runtime.name) run ended with \(result.status); stderr:\n\(result.stderr)")
        if let failure = runtime.forceDelete(id: id, root: stateRoot) { problems.append(failure) }
    }
    let leftovers = OwnCgroups.existing(cgroupsPath)
    if !leftovers.isEmpty { problems.append("\(runtime.name) left cgroups behind: \(leftovers)") }
    problems += variant.verifyHost(context)
    let text = Observation.normalise(result.stdout, id: id, cgroupsPath: cgroupsPath)
    return (Observation(runtime: runtime.name, status: result.status, raw: text, sections: Observation.parse(text)), problems)
}

/// A network namespace `mk-test-<rand>` with `lo` up, for the joined-netns variant; deleted by `close()`.
private struct TestNetns {
    var name: String
    var path: String { "/var/run/netns/" + name }

    init() throws {
        name = "mk-test-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let add = try TestSupport.run(["ip", "netns", "add", name], timeout: .seconds(10))
        guard add.succeeded else { throw FixtureError("ip netns add \(name): \(add.stderr)") }
        let up = try TestSupport.run(["ip", "-n", name, "link", "set", "lo", "up"], timeout: .seconds(10))
        guard up.succeeded else {
            close()
            throw FixtureError("ip -n \(name) link set lo up: \(up.stderr)")
        }
    }

    func close() {
        do {
            let del = try TestSupport.run(["ip", "netns", "delete", name], timeout: .seconds(10))
            if !del.succeeded { Issue.record("ip netns delete \(name): \(del.stderr)") }
        } catch {
            Issue.record("ip netns delete \(name): \(error)")
        }
    }

    /// `net:[inode]` as `readlink /proc/self/ns/net` prints it inside a process of this namespace.
    func inodeLink() throws -> String {
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        guard let inode = attrs[.systemFileNumber] as? UInt64 ?? (attrs[.systemFileNumber] as? Int).map(UInt64.init) else {
            throw FixtureError("no inode for \(path)")
        }
        return "net:[\(inode)]"
    }
}

/// Runs `body` with the variant's scratch directory and, if it needs one, a fresh netns; cleans both up.
private func withVariantFixtures(_ variant: Variant, _ body: (String, TestNetns?) throws -> Void) throws {
    let scratch = try Rootfs.runDirectory() + "/diff-\(variant.name)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { removeReportingFailure(scratch) }
    let netns = variant.needsNetns ? try TestNetns() : nil
    defer { netns?.close() }
    try body(scratch, netns)
}

private func netnsExpectations(_ netns: TestNetns?) throws -> [Expectation] {
    guard let netns else { return [] }
    return [has("netns", try netns.inodeLink())]
}

/// A readable per-section `diff -u` of the two observations (empty if they agree).
private func sectionDiffs(reference: Observation, candidate: Observation, scratch: String) throws -> [String] {
    var diffs: [String] = []
    let names = reference.sections.map(\.name) + candidate.sections.map(\.name).filter { name in !reference.sections.contains { $0.name == name } }
    for name in names {
        let left = reference.section(name) ?? "<section missing>\n"
        let right = candidate.section(name) ?? "<section missing>\n"
        if left == right { continue }
        let leftPath = scratch + "/\(reference.runtime).\(name)"
        let rightPath = scratch + "/\(candidate.runtime).\(name)"
        try Data(left.utf8).write(to: URL(fileURLWithPath: leftPath))
        try Data(right.utf8).write(to: URL(fileURLWithPath: rightPath))
        let diff = try TestSupport.run([
            "diff", "-u", "--label", "\(reference.runtime) \(name)", "--label", "\(candidate.runtime) \(name)", leftPath, rightPath,
        ])
        diffs.append("section \(name) differs:\n\(diff.stdout)")
    }
    return diffs
}

// MARK: - Lifecycle

/// The observable create → start → kill → delete sequence of one runtime, as comparable lines: each command's
/// success, each `state`'s status, and whether `pid`/`bundle`/`id` in it agree with the pid file and the bundle.
private func lifecycleTranscript(_ runtime: OCIRuntime, scratch: String) throws -> [String] {
    let id = "dt-life-\(runtime.name)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    let dir = scratch + "/" + runtime.name
    let root = dir + "/state"
    let pidFile = dir + "/pid"
    let bundle = try BundleBuilder(rootfs: try Rootfs.busybox(), args: ["sleep", "1000"], cgroupsPath: BundleBuilder.uniqueCgroupsPath(id))
        .write(to: dir + "/bundle")
    defer {
        if let failure = runtime.forceDelete(id: id, root: root) { Issue.record("cleanup: \(failure)") }
    }
    var lines: [String] = []
    func step(_ label: String, _ args: [String]) throws -> CommandResult {
        let result = try runtime.command(args, root: root)
        lines.append("\(label): \(result.succeeded ? "ok" : "fails")")
        return result
    }
    func state(_ label: String) throws {
        let result = try runtime.command(["state", id], root: root)
        guard result.succeeded else {
            lines.append("\(label): state fails")
            return
        }
        do {
            let state = try JSONDecoder().decode(OCI.State.self, from: Data(result.stdout.utf8))
            let pid = FileManager.default.contents(atPath: pidFile).map { String(decoding: $0, as: UTF8.self) }?
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let pidAgrees = state.status == .stopped || (state.pid.map { String($0) } == pid)
            lines.append(
                "\(label): status=\(state.status.rawValue) id-ok=\(state.id == id) bundle-ok=\(state.bundle == bundle.path) pid-ok=\(pidAgrees)")
        } catch {
            lines.append("\(label): state output not OCI state JSON (\(error)): \(result.stdout)")
        }
    }
    _ = try step("create", ["create", "--bundle", bundle.path, "--pid-file", pidFile, id])
    try state("after create")
    _ = try step("create same id again", ["create", "--bundle", bundle.path, id])
    _ = try step("start", ["start", id])
    try state("after start")
    _ = try step("start again", ["start", id])
    _ = try step("delete while running", ["delete", id])
    _ = try step("kill KILL", ["kill", id, "KILL"])
    let deadline = ContinuousClock.now.advanced(by: .seconds(10))
    while ContinuousClock.now < deadline {
        let result = try runtime.command(["state", id], root: root)
        if result.stdout.contains("\"stopped\"") { break }
        usleep(20_000)
    }
    try state("after kill")
    _ = try step("kill stopped", ["kill", id, "KILL"])
    _ = try step("delete", ["delete", id])
    try state("after delete")
    lines.append("cgroup left: \(!OwnCgroups.existing(BundleBuilder.uniqueCgroupsPath(id)).isEmpty)")
    return lines
}

// MARK: - Tests

@Suite("Differential: runc vs the runtime under test", .serialized)
struct DifferentialTests {
    /// The harness itself, against runc alone: every variant runs and shows what it claims to exercise.
    @Test(arguments: variants)
    func referenceMeetsExpectations(_ variant: Variant) throws {
        let runc = try OCIRuntime.runc()
        try withVariantFixtures(variant) { scratch, netns in
            let (observation, problems) = try observe(variant, runtime: runc, scratch: scratch, netnsPath: netns?.path)
            let unmetExpectations = unmet(variant.expectations + (try netnsExpectations(netns)), in: observation)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            #expect(unmetExpectations.isEmpty, "\(unmetExpectations.joined(separator: "\n"))\n--- output:\n\(observation.raw)")
        }
    }

    /// `BundleBuilder`'s default is what `runc spec` writes, except for the documented test changes.
    @Test func builderDefaultMirrorsRuncSpec() throws {
        let dir = try Rootfs.runDirectory() + "/runc-spec-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { removeReportingFailure(dir) }
        let runc = try OCIRuntime.runc()
        let generated = try TestSupport.run(["sh", "-c", "cd \"$1\" && exec \"$2\" spec", "sh", dir, runc.path])
        try #require(generated.succeeded, "runc spec: \(generated.stderr)")
        guard let data = FileManager.default.contents(atPath: dir + "/config.json") else { throw FixtureError("runc spec wrote nothing") }
        var expected = try JSONDecoder().decode(OCI.Spec.self, from: data)
        // The documented differences: captured output, NOFILE within the hard limit, a relative cgroups path,
        // an absolute rootfs.
        expected.process?.terminal = false
        expected.process?.args = ["true"]
        let nofile = BundleBuilder.defaultNofile()
        expected.process?.rlimits = [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: nofile, soft: nofile)]
        expected.linux?.cgroupsPath = "x"
        expected.root?.path = "/rootfs"
        let built = BundleBuilder(rootfs: "/rootfs", args: ["true"], cgroupsPath: "x").spec
        #expect(built == expected)
        #expect(built.linux?.cgroupsPath?.hasPrefix("/") == false)
    }

    /// The reference lifecycle, so that the transcript below is known to be meaningful.
    @Test func referenceLifecycle() throws {
        let scratch = try Rootfs.runDirectory() + "/life-ref-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        defer { removeReportingFailure(scratch) }
        let transcript = try lifecycleTranscript(try OCIRuntime.runc(), scratch: scratch)
        let expected = [
            "create: ok", "after create: status=created id-ok=true bundle-ok=true pid-ok=true", "create same id again: fails", "start: ok",
            "after start: status=running id-ok=true bundle-ok=true pid-ok=true", "start again: fails", "delete while running: fails",
            "kill KILL: ok", "after kill: status=stopped id-ok=true bundle-ok=true pid-ok=true", "kill stopped: fails", "delete: ok",
            "after delete: state fails", "cgroup left: false",
        ]
        #expect(transcript == expected)
    }

    /// create/state/start/kill/delete: the same successes, failures and states as runc.
    @Test(.enabled(if: OCIRuntime.underTest.runtime != nil, Comment(rawValue: OCIRuntime.underTest.unavailableReason)))
    func sameLifecycle() throws {
        var candidate = try #require(OCIRuntime.underTest.runtime)
        if candidate.name == "runc" { candidate.name += "-candidate" }
        let scratch = try Rootfs.runDirectory() + "/life-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        defer { removeReportingFailure(scratch) }
        let reference = try lifecycleTranscript(try OCIRuntime.runc(), scratch: scratch)
        let observed = try lifecycleTranscript(candidate, scratch: scratch)
        let differences = zip(reference, observed).filter { $0 != $1 }.map { "runc: \($0.0)\n\(candidate.name): \($0.1)" }
        #expect(reference.count == observed.count && differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }

    /// runc and the runtime under test agree on every section, and both meet the variant's expectations.
    /// Skipped, visibly ("Test ... skipped: <reason>"), when no runtime under test is built or named.
    @Test(.enabled(if: OCIRuntime.underTest.runtime != nil, Comment(rawValue: OCIRuntime.underTest.unavailableReason)), arguments: variants)
    func sameObservations(_ variant: Variant) throws {
        let candidate = try #require(OCIRuntime.underTest.runtime, "\(OCIRuntime.underTest.unavailableReason)")
        let runc = try OCIRuntime.runc()
        try withVariantFixtures(variant) { scratch, netns in
            let (reference, referenceProblems) = try observe(variant, runtime: runc, scratch: scratch, netnsPath: netns?.path)
            var renamed = candidate
            if renamed.name == runc.name { renamed.name += "-candidate" }
            let (observation, problems) = try observe(variant, runtime: renamed, scratch: scratch, netnsPath: netns?.path)
            let expectations = variant.expectations + (try netnsExpectations(netns))
            #expect(referenceProblems.isEmpty, "\(referenceProblems.joined(separator: "\n"))")
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            let reasons = unmet(expectations, in: observation)
            #expect(reasons.isEmpty, "\(reasons.joined(separator: "\n"))\n--- \(renamed.name) output:\n\(observation.raw)")
            #expect(observation.status == reference.status, "exit status: runc \(reference.status), \(renamed.name) \(observation.status)")
            let diffs = try sectionDiffs(reference: reference, candidate: observation, scratch: scratch)
            #expect(diffs.isEmpty, "\(variant.name): \(diffs.count) section(s) differ between runc and \(renamed.name):\n\(diffs.joined(separator: "\n"))")
        }
    }
}
