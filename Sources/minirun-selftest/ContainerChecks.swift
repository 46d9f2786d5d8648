// Real containers through the minirun binary in the VM: output, limits seen from inside, OOM reporting.
import Glibc

let minirun = "/bin/minirun"
let busyboxRootfs = "/containers/busybox/rootfs"

func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// The capabilities of `runc spec`.
let specCapabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

/// An OCI runtime-spec config.json like `runc spec` writes, with `args`, a cgroups path and `resources` (JSON object).
func ociConfig(args: [String], cgroupsPath: String, resources: String, capabilities: [String] = specCapabilities) -> String {
    let argv = args.map(jsonString).joined(separator: ", ")
    let caps = capabilities.map(jsonString).joined(separator: ", ")
    return """
        {
          "ociVersion": "1.2.0",
          "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [\(argv)],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
              "bounding": [\(caps)],
              "effective": [\(caps)],
              "permitted": [\(caps)]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
          },
          "root": {"path": \(jsonString(busyboxRootfs)), "readonly": false},
          "hostname": "selftest",
          "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
          ],
          "linux": {
            "cgroupsPath": \(jsonString(cgroupsPath)),
            "resources": \(resources),
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
          }
        }

        """
}

/// Writes a bundle directory `/containers/<name>` whose config.json points at the shared busybox rootfs.
func makeBundle(
    _ name: String, args: [String], cgroupsPath: String, resources: String, capabilities: [String] = specCapabilities
) throws(CheckFailure) -> String {
    let bundle = "/containers/" + name
    if !isDirectory(bundle) && mkdir(bundle, 0o755) != 0 { throw CheckFailure("mkdir \(bundle): \(errnoString())") }
    try writeFile(bundle + "/config.json", ociConfig(args: args, cgroupsPath: cgroupsPath, resources: resources, capabilities: capabilities))
    return bundle
}

/// Skips nothing: a minirun that is not implemented yet fails these checks with its own message.
func minirunAvailable() throws(CheckFailure) {
    try expect(fileExists(minirun), "\(minirun) missing from the initramfs")
}

/// Runs `minirun <args>`; the failure message carries the command's output.
func minirunCommand(_ args: [String], timeout: Double = 60) throws(CheckFailure) -> (status: ExitStatus, output: String) {
    try run([minirun] + args, timeout: timeout)
}

/// The value of a top-level `"key": "value"` or `"key": number` in a JSON text (enough for `minirun state`).
func jsonField(_ json: String, _ key: String) -> String? {
    guard let keyRange = json.firstRange(of: "\"\(key)\"") else { return nil }
    var rest = json[keyRange.upperBound...].drop { $0 == " " || $0 == "\n" || $0 == "\t" }
    guard rest.first == ":" else { return nil }
    rest = rest.dropFirst().drop { $0 == " " || $0 == "\n" || $0 == "\t" }
    if rest.first == "\"" {
        rest = rest.dropFirst()
        return String(rest.prefix { $0 != "\"" })
    }
    return String(rest.prefix { $0.isNumber || $0 == "-" })
}

/// The largest number that follows any of `keys` in a JSON text (tolerant of runc's and our own stats shapes).
func jsonMaxNumber(_ json: String, keys: [String]) -> UInt64? {
    var best: UInt64?
    for key in keys {
        for r in json.ranges(of: "\"\(key)\"") {
            let rest = json[r.upperBound...].drop { $0 == " " || $0 == ":" || $0 == "\n" }
            if let v = UInt64(String(rest.prefix { $0.isNumber })) { best = max(best ?? 0, v) }
        }
    }
    return best
}

func uniqueID(_ base: String) -> String { "selftest-\(base)-\(getpid())" }

/// The device probe: /dev/null in use, then nodes made with mknod (allowed by `c *:* m`) for devices outside the
/// default allow-list: c 1:1 (/dev/mem) read, and c 1:11 (/dev/kmsg) write. A write-only open of /dev/kmsg needs
/// no capability, so only the device program can refuse it: that is what separates "filtered" from "not allowed
/// anyway" (opening /dev/mem also needs CAP_SYS_RAWIO, which the container lacks).
let deviceProbe = """
    exec 2>&1
    head -c 1 /dev/null; echo null-read=$?
    echo x > /dev/null; echo null-write=$?
    mknod /dev/mk-mem c 1 1; echo mknod-mem=$?
    head -c 1 /dev/mk-mem > /dev/null; echo mem-read=$?
    mknod /dev/mk-kmsg c 1 11; echo mknod-kmsg=$?
    echo '<7>minirun-selftest device probe' > /dev/mk-kmsg; echo kmsg-write=$?
    """

/// The device checks need mknod inside the container.
let deviceCapabilities = specCapabilities + ["CAP_MKNOD"]

/// Runs the device probe in a container with `resources` and returns its output.
func runDeviceProbe(_ name: String, resources: String) throws(CheckFailure) -> String {
    let bundle = try makeBundle(
        name, args: ["/bin/sh", "-c", deviceProbe], cgroupsPath: selftestParent + "/ctr-" + name, resources: resources,
        capabilities: deviceCapabilities)
    let (status, output) = try minirunCommand(["run", "--bundle", bundle, uniqueID(name)])
    try expect(status == .exited(0), "minirun run: \(status): \(tail(output, lines: 12))")
    return output
}

let containerChecks: [Check] = [
    // cgroup v2 has no devices.* files: these prove the eBPF device program minirun attaches.
    Check(name: "container/devices-default-rules") {
        try minirunAvailable()
        let output = try runDeviceProbe("devices", resources: #"{"devices": [{"allow": false, "access": "rwm"}]}"#)
        for want in ["null-read=0", "null-write=0", "mknod-mem=0", "mknod-kmsg=0", "mem-read=1", "kmsg-write=1"] {
            try expect(output.contains(want), "device probe: missing '\(want)': \(tail(output, lines: 12))")
        }
        for node in ["/dev/mk-mem", "/dev/mk-kmsg"] {
            try expect(
                output.contains(node + ": Operation not permitted"), "opening \(node) did not fail with EPERM: \(tail(output, lines: 12))")
        }
        return .pass
    },
    Check(name: "container/devices-spec-rule-allows") {
        try minirunAvailable()
        // The control: the same probe with c 1:11 write allowed by a spec rule succeeds in writing /dev/kmsg.
        let rules = #"[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]"#
        let output = try runDeviceProbe("devices-allow", resources: #"{"devices": "# + rules + "}")
        for want in ["null-read=0", "mknod-kmsg=0", "kmsg-write=0", "mem-read=1"] {
            try expect(output.contains(want), "device probe: missing '\(want)': \(tail(output, lines: 12))")
        }
        return .pass
    },
    Check(name: "container/run-output") {
        try minirunAvailable()
        let id = uniqueID("echo")
        let bundle = try makeBundle(
            "echo", args: ["/bin/sh", "-c", "echo hello from minirun; echo pid=$$; hostname"], cgroupsPath: selftestParent + "/ctr-echo",
            resources: #"{"memory": {"limit": 33554432}}"#)
        let (status, output) = try minirunCommand(["run", "--bundle", bundle, id])
        try expect(status == .exited(0), "minirun run: \(status): \(tail(output))")
        try expect(output.contains("hello from minirun"), "output lacks 'hello from minirun': \(tail(output))")
        try expect(output.contains("pid=1"), "container shell is not PID 1 in its namespace: \(tail(output))")
        try expect(output.contains("selftest"), "hostname not 'selftest': \(tail(output))")
        try expect(!isDirectory(cgroupRoot + selftestParent + "/ctr-echo"), "container cgroup left after run")
        return .pass
    },
    Check(name: "container/exit-code") {
        try minirunAvailable()
        let bundle = try makeBundle("exit", args: ["/bin/sh", "-c", "exit 7"], cgroupsPath: selftestParent + "/ctr-exit", resources: "{}")
        let (status, output) = try minirunCommand(["run", "--bundle", bundle, uniqueID("exit")])
        try expect(status == .exited(7), "minirun run: \(status), expected exit status 7: \(tail(output))")
        return .pass
    },
    Check(name: "container/limits-visible-inside") {
        try minirunAvailable()
        let bundle = try makeBundle(
            "limits",
            args: [
                "/bin/sh", "-c",
                "for f in memory.max memory.swap.max cpu.max cpu.weight pids.max; do echo \"$f=$(cat /sys/fs/cgroup/$f)\"; done; echo cgroup=$(cat /proc/self/cgroup)",
            ],
            cgroupsPath: selftestParent + "/ctr-limits",
            resources: #"{"memory": {"limit": 33554432, "swap": 33554432}, "cpu": {"shares": 512, "quota": 50000, "period": 100000}, "pids": {"limit": 64}}"#)
        let (status, output) = try minirunCommand(["run", "--bundle", bundle, uniqueID("limits")])
        try expect(status == .exited(0), "minirun run: \(status): \(tail(output))")
        for want in ["memory.max=33554432", "memory.swap.max=0", "cpu.max=50000 100000", "cpu.weight=59", "pids.max=64", "cgroup=0::/"] {
            try expect(output.contains(want), "inside the container: missing '\(want)': \(tail(output, lines: 8))")
        }
        return .pass
    },
    Check(name: "container/oom-killed-exit-137") {
        try minirunAvailable()
        let bundle = try makeBundle(
            "oom-run", args: ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], cgroupsPath: selftestParent + "/ctr-oom-run",
            resources: #"{"memory": {"limit": 16777216, "swap": 16777216}}"#)
        let (status, output) = try minirunCommand(["run", "--bundle", bundle, uniqueID("oom-run")])
        try expect(status == .exited(137), "minirun run: \(status), expected 137 (SIGKILL by the OOM killer): \(tail(output))")
        return .pass
    },
    Check(name: "container/oom-reported-by-state-and-events") {
        try minirunAvailable()
        let id = uniqueID("oom")
        let dir = cgroupRoot + selftestParent + "/ctr-oom"
        // The hog is a child of the container's shell, which survives (unless memory.oom.group) and keeps running.
        let bundle = try makeBundle(
            "oom", args: ["/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1; exec sleep 120"], cgroupsPath: selftestParent + "/ctr-oom",
            resources: #"{"memory": {"limit": 16777216, "swap": 16777216}}"#)
        defer {
            _ = try? minirunCommand(["kill", id, "KILL"], timeout: 10)
            _ = waitUntil(timeout: 5) { (try? minirunCommand(["state", id], timeout: 5).output.contains("stopped")) ?? true }
            _ = try? minirunCommand(["delete", "--force", id], timeout: 10)
        }
        let created = try minirunCommand(["create", "--bundle", bundle, id])
        try expect(created.status == .exited(0), "minirun create: \(created.status): \(tail(created.output))")
        let created2 = try minirunCommand(["state", id])
        try expect(jsonField(created2.output, "status") == "created", "state after create: \(tail(created2.output))")
        let started = try minirunCommand(["start", id])
        try expect(started.status == .exited(0), "minirun start: \(started.status): \(tail(started.output))")
        let oomSeen = waitUntil(timeout: 30) { (keyedValues(readFile(dir + "/memory.events") ?? "")["oom_kill"] ?? 0) >= 1 }
        try expect(oomSeen, "no oom_kill in \(dir)/memory.events within 30 s: \(readFile(dir + "/memory.events") ?? "missing")")
        let state = try minirunCommand(["state", id])
        try expect(state.status == .exited(0), "minirun state: \(state.status): \(tail(state.output))")
        let s = jsonField(state.output, "status") ?? "?"
        try expect(s == "running" || s == "stopped", "state status '\(s)': \(tail(state.output))")
        let events = try minirunCommand(["events", "--stats", id])
        try expect(events.status == .exited(0), "minirun events --stats: \(events.status): \(tail(events.output))")
        // minirun's `state` adds "oomKillCount"; `events --stats` carries data.oom {"events", "kills"}.
        let stateKills = jsonMaxNumber(state.output, keys: ["oomKillCount"])
        try expect((stateKills ?? 0) >= 1, "state shows no OOM kill (oomKillCount >= 1): \(tail(state.output, lines: 3))")
        let kills = jsonMaxNumber(events.output, keys: ["kills", "oom_kill", "oomKills"])
        try expect((kills ?? 0) >= 1, "events --stats shows no OOM kill (oom.kills >= 1): \(tail(events.output, lines: 3))")
        let killed = try minirunCommand(["kill", id, "KILL"])
        try expect(killed.status == .exited(0), "minirun kill: \(killed.status): \(tail(killed.output))")
        let stopped = waitUntil(timeout: 10) { jsonField((try? minirunCommand(["state", id], timeout: 5).output) ?? "", "status") == "stopped" }
        try expect(stopped, "state not 'stopped' 10 s after kill")
        let deleted = try minirunCommand(["delete", id])
        try expect(deleted.status == .exited(0), "minirun delete: \(deleted.status): \(tail(deleted.output))")
        try expect(!isDirectory(dir), "\(dir) left after delete")
        return .pass
    },
]
