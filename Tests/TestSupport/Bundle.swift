// OCI bundles for runtime tests, and the runtimes that run them.
//
//     let bundle = try BundleBuilder(rootfs: try Rootfs.busybox(), args: ["sh", "-c", "id"], cgroupsPath: path)
//         .noNewPrivileges(false)
//         .write(to: dir)
//     let result = try OCIRuntime.runc().run(bundle: bundle, id: "c1", root: stateDir)
//
// `BundleBuilder` starts from what `runc spec` (runc 1.1) writes, with three changes for tests: `terminal` is false
// (output is captured), the NOFILE rlimit is at most the test process's hard limit (root here lacks
// CAP_SYS_RESOURCE, so a runtime cannot raise it), and `cgroupsPath` is relative, so the container's cgroups land
// under the test process's own cgroup and never beside the host's.
import Foundation
import Glibc
import OCISpec

public struct BundleBuilder: Sendable {
    public var spec: OCI.Spec

    /// A runc-like default spec running `args`, with `root.path` = `rootfs` (absolute).
    public init(rootfs: String, args: [String], cgroupsPath: String) {
        spec = Self.runcDefaultSpec(rootfs: rootfs, args: args, cgroupsPath: cgroupsPath)
    }

    /// The capabilities `runc spec` grants (in bounding, effective, permitted and ambient).
    public static let runcDefaultCapabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

    /// The 14 capabilities of Docker/containerd/runtime-tools (reference/runtime.md 2.1).
    public static let dockerDefaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    /// The NOFILE limit for test bundles: runc's 1024, lowered to the test process's hard limit if that is smaller.
    public static func defaultNofile() -> UInt64 {
        var limit = Glibc.rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return min(1024, UInt64(limit.rlim_max))
    }

    /// What `runc spec` writes (runc 1.1 `specconv.Example()`), adapted as described at the top of this file.
    public static func runcDefaultSpec(rootfs: String, args: [String], cgroupsPath: String) -> OCI.Spec {
        let caps = runcDefaultCapabilities
        let nofile = defaultNofile()
        return OCI.Spec(
            ociVersion: "1.0.2-dev",
            process: OCI.Process(
                terminal: false,
                user: OCI.User(uid: 0, gid: 0),
                args: args,
                env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
                cwd: "/",
                capabilities: OCI.Capabilities(bounding: caps, effective: caps, permitted: caps, ambient: caps),
                rlimits: [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: nofile, soft: nofile)],
                noNewPrivileges: true),
            root: OCI.Root(path: rootfs, readonly: true),
            hostname: "runc",
            mounts: [
                OCI.Mount(destination: "/proc", type: "proc", source: "proc"),
                OCI.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
                OCI.Mount(
                    destination: "/dev/pts", type: "devpts", source: "devpts",
                    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
                OCI.Mount(
                    destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
                OCI.Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
                OCI.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
                OCI.Mount(
                    destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
            ],
            linux: OCI.Linux(
                resources: OCI.Resources(devices: [OCI.DeviceCgroup(allow: false, access: "rwm")]),
                cgroupsPath: cgroupsPath,
                namespaces: ["pid", "network", "ipc", "uts", "mount"].map { OCI.Namespace(type: $0) },
                maskedPaths: [
                    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                    "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
                ],
                readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]))
    }

    // MARK: Mutators. Each returns a modified copy, so variants compose: `base.readonlyRoot(false).hostname("x")`.

    /// Any change not covered by a named mutator.
    public func modified(_ body: (inout OCI.Spec) throws -> Void) rethrows -> BundleBuilder {
        var copy = self
        try body(&copy.spec)
        return copy
    }

    private func process(_ body: (inout OCI.Process) -> Void) -> BundleBuilder {
        modified { spec in
            var process = spec.process ?? OCI.Process()
            body(&process)
            spec.process = process
        }
    }

    private func linux(_ body: (inout OCI.Linux) -> Void) -> BundleBuilder {
        modified { spec in
            var linux = spec.linux ?? OCI.Linux()
            body(&linux)
            spec.linux = linux
        }
    }

    public func args(_ args: [String]) -> BundleBuilder { process { $0.args = args } }

    public func env(_ env: [String]) -> BundleBuilder { process { $0.env = env } }

    public func hostname(_ name: String?) -> BundleBuilder { modified { $0.hostname = name } }

    public func readonlyRoot(_ readonly: Bool) -> BundleBuilder { modified { $0.root?.readonly = readonly } }

    public func rootfs(_ path: String) -> BundleBuilder { modified { $0.root?.path = path } }

    public func noNewPrivileges(_ on: Bool) -> BundleBuilder { process { $0.noNewPrivileges = on } }

    /// Sets bounding, effective and permitted to `caps`, and ambient to `ambient` (runc's default puts them
    /// everywhere but inheritable).
    public func capabilities(_ caps: [String], ambient: [String] = []) -> BundleBuilder {
        process { $0.capabilities = OCI.Capabilities(bounding: caps, effective: caps, permitted: caps, ambient: ambient) }
    }

    public func user(uid: UInt32, gid: UInt32, additionalGids: [UInt32]? = nil, umask: UInt32? = nil) -> BundleBuilder {
        process { $0.user = OCI.User(uid: uid, gid: gid, umask: umask, additionalGids: additionalGids) }
    }

    /// Replaces the rlimit of `type` (e.g. `RLIMIT_NOFILE`) or adds it. Never ask for more than the test
    /// process's hard limit: root here cannot raise limits.
    public func rlimit(_ type: String, soft: UInt64, hard: UInt64) -> BundleBuilder {
        process { process in
            var limits = (process.rlimits ?? []).filter { $0.type != type }
            limits.append(OCI.Rlimit(type: type, hard: hard, soft: soft))
            process.rlimits = limits
        }
    }

    /// Appends a mount (after the defaults, so it may cover one of them).
    public func mount(_ mount: OCI.Mount) -> BundleBuilder {
        modified { $0.mounts = ($0.mounts ?? []) + [mount] }
    }

    /// Adds the namespace `type`, or sets its `path` (to join an existing one) if present.
    public func namespace(_ type: String, path: String? = nil) -> BundleBuilder {
        linux { linux in
            var namespaces = (linux.namespaces ?? []).filter { $0.type != type }
            namespaces.append(OCI.Namespace(type: type, path: path))
            linux.namespaces = namespaces
        }
    }

    public func withoutNamespace(_ type: String) -> BundleBuilder {
        linux { $0.namespaces = ($0.namespaces ?? []).filter { $0.type != type } }
    }

    /// A user namespace mapping container IDs 0..<size to host IDs hostID..<hostID+size (uid and gid alike).
    /// The rootfs must be owned by hostID (see `Rootfs.busyboxOwned(byUID:gid:)`).
    public func userNamespace(hostID: UInt32, size: UInt32) -> BundleBuilder {
        namespace("user").linux { linux in
            linux.uidMappings = [OCI.IDMapping(containerID: 0, hostID: hostID, size: size)]
            linux.gidMappings = [OCI.IDMapping(containerID: 0, hostID: hostID, size: size)]
        }
    }

    public func seccomp(_ profile: OCI.Seccomp?) -> BundleBuilder { linux { $0.seccomp = profile } }

    /// Merges memory/cpu/pids limits into `linux.resources`, keeping the device rules.
    public func resources(memory: OCI.Memory? = nil, cpu: OCI.CPU? = nil, pids: OCI.Pids? = nil) -> BundleBuilder {
        linux { linux in
            var resources = linux.resources ?? OCI.Resources()
            if let memory { resources.memory = memory }
            if let cpu { resources.cpu = cpu }
            if let pids { resources.pids = pids }
            linux.resources = resources
        }
    }

    public func cgroupsPath(_ path: String?) -> BundleBuilder { linux { $0.cgroupsPath = path } }

    public func maskedPaths(_ paths: [String]) -> BundleBuilder { linux { $0.maskedPaths = paths } }

    public func readonlyPaths(_ paths: [String]) -> BundleBuilder { linux { $0.readonlyPaths = paths } }

    public func sysctl(_ values: [String: String]) -> BundleBuilder { linux { $0.sysctl = values } }

    // MARK: Output

    /// Writes `config.json` into `directory` (created if needed) and returns the bundle.
    public func write(to directory: String) throws -> Bundle {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = directory + "/config.json"
        try encoder.encode(spec).write(to: URL(fileURLWithPath: path))
        return Bundle(path: directory, spec: spec)
    }

    /// A relative cgroups path unique to this test process and `name` (flat, so that deleting the container
    /// removes all of it).
    public static func uniqueCgroupsPath(_ name: String) -> String {
        "minikubelet-test-\(getpid())-\(name)"
    }
}

/// A bundle directory with its `config.json`.
public struct Bundle: Sendable {
    public var path: String
    public var spec: OCI.Spec
    public var configPath: String { path + "/config.json" }
}

// MARK: - Runtimes

/// An OCI runtime binary with the runc command line.
public struct OCIRuntime: Sendable, CustomStringConvertible {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    public var description: String { "\(name) (\(path))" }

    /// The reference runtime: Debian's runc.
    public static func runc() throws -> OCIRuntime {
        let path = FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc") ? "/usr/sbin/runc" : try executablePath("runc")
        return OCIRuntime(name: "runc", path: path)
    }

    /// Why the runtime under test is missing, or the runtime.
    public enum Availability: Sendable {
        case available(OCIRuntime)
        case unavailable(reason: String)

        public var runtime: OCIRuntime? {
            if case .available(let runtime) = self { return runtime }
            return nil
        }

        /// The reason it is unavailable, or a line naming the runtime in use.
        public var unavailableReason: String {
            switch self {
            case .available(let runtime): "runtime under test: \(runtime)"
            case .unavailable(let reason): "runtime under test unavailable, minirun side skipped: \(reason)"
            }
        }
    }

    /// The runtime under test: `$MINIRUN_TEST_RUNTIME` if set (a path, or `runc` to check the harness against
    /// itself), else the `minirun` built next to the test bundle. A build that is still the placeholder
    /// ("not built yet") counts as unavailable; any other binary is the runtime under test, broken or not.
    public static let underTest: Availability = {
        if let requested = ProcessInfo.processInfo.environment["MINIRUN_TEST_RUNTIME"], !requested.isEmpty {
            do {
                let path = try executablePath(requested)
                guard FileManager.default.isExecutableFile(atPath: path) else {
                    return .unavailable(reason: "MINIRUN_TEST_RUNTIME=\(requested) is not executable")
                }
                return .available(OCIRuntime(name: (path as NSString).lastPathComponent, path: path))
            } catch {
                return .unavailable(reason: "MINIRUN_TEST_RUNTIME=\(requested): \(error)")
            }
        }
        guard let path = builtProduct("minirun") else {
            return .unavailable(reason: "minirun is not built next to the test bundle; `swift build --product minirun` or set MINIRUN_TEST_RUNTIME")
        }
        do {
            let probe = try TestSupport.run([path, "features"], timeout: .seconds(20))
            if (probe.stdout + probe.stderr).contains("not built yet") {
                return .unavailable(reason: "\(path) is the placeholder (\"not built yet\"); merge the runtime branch")
            }
        } catch {
            return .unavailable(reason: "\(path) features: \(error)")
        }
        return .available(OCIRuntime(name: "minirun", path: path))
    }()

    /// The path of an executable product built in the same directory as the running test bundle
    /// (`.build/<triple>/<config>/`), if present.
    public static func builtProduct(_ name: String) -> String? {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // The test binary may sit inside `<name>.xctest/` on some layouts.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return nil
    }

    /// `RUNTIME --root root run --bundle B id`: runs the container in the foreground and captures its stdio.
    public func run(bundle: Bundle, id: String, root: String, timeout: Duration = .seconds(60)) throws -> CommandResult {
        try TestSupport.run([path, "--root", root, "run", "--bundle", bundle.path, id], timeout: timeout)
    }

    /// Any other command, with `--root root` prepended.
    public func command(_ arguments: [String], root: String, timeout: Duration = .seconds(30)) throws -> CommandResult {
        try TestSupport.run([path, "--root", root] + arguments, timeout: timeout)
    }

    /// `delete --force id` for cleanup after a failed or timed-out run; a container that is already gone is fine.
    /// Returns a description of the failure, if any, for the caller to report.
    @discardableResult
    public func forceDelete(id: String, root: String) -> String? {
        do {
            let result = try command(["delete", "--force", id], root: root)
            if result.succeeded || result.stderr.contains("does not exist") || result.stderr.contains("not found") { return nil }
            return "\(name) delete --force \(id): exit \(result.status): \(result.stderr)"
        } catch {
            return "\(name) delete --force \(id): \(error)"
        }
    }
}

// MARK: - The test process's own cgroups

/// Where the test process sits in each mounted cgroup hierarchy (from `/proc/self/cgroup`), for checking that
/// containers land under it and leave nothing behind.
public enum OwnCgroups {
    /// (hierarchy mount point, own path inside it) for each line of /proc/self/cgroup whose hierarchy is mounted:
    /// v1 controllers at /sys/fs/cgroup/<controllers>, named ones (name=systemd) at /sys/fs/cgroup/<name>, and
    /// the v2 tree at /sys/fs/cgroup/unified (hybrid) or /sys/fs/cgroup (pure v2).
    public static func hierarchies() -> [(mount: String, path: String)] {
        guard let data = FileManager.default.contents(atPath: "/proc/self/cgroup") else { return [] }
        var result: [(mount: String, path: String)] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].replacingOccurrences(of: "name=", with: "")
            let mount: String
            if controllers.isEmpty {
                mount = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
            } else {
                mount = "/sys/fs/cgroup/" + controllers
            }
            guard FileManager.default.fileExists(atPath: mount + "/cgroup.procs") else { continue }
            result.append((mount, String(fields[2])))
        }
        return result
    }

    /// Directories named `relative` under the test process's own cgroup that exist now (leaks, after a container
    /// is deleted).
    public static func existing(_ relative: String) -> [String] {
        hierarchies().map { join($0.mount + $0.path, relative) }.filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// One absolute cgroup path that is inside the test process's own cgroup in every hierarchy, for tools that
    /// take a single absolute parent (podman `--cgroup-parent`): the deepest own path, provided every other
    /// hierarchy's own path is an ancestor of it (true on this host: memory is nested, the rest are at `/`).
    public static func commonAbsoluteParent() -> String? {
        let paths = hierarchies().map(\.path)
        guard let deepest = paths.max(by: { $0.count < $1.count }) else { return nil }
        for path in paths where !(path == "/" || deepest == path || deepest.hasPrefix(path + "/")) { return nil }
        return deepest
    }

    public static func join(_ base: String, _ relative: String) -> String {
        (base.hasSuffix("/") ? base : base + "/") + (relative.hasPrefix("/") ? String(relative.dropFirst()) : relative)
    }
}
