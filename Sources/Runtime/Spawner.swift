// Clone the container process through the C stage and drive the sync protocol from the parent side.
import CShims
import Cgroups
import FoundationEssentials
import OCISpec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct Spawned {
    var pid: Int32
    var syncFD: Int32
    /// The child writes itself into the cgroup v1 directories and reports MK_SYNC_JOINED.
    var joinsV1Itself = false
    /// Created in the cgroup2 directory by clone3(CLONE_INTO_CGROUP).
    var createdInUnified = false
}

/// Where a new process goes, and how it gets there without the kernel's global cgroup migration lock (whose first
/// writer after a quiet period waits for an RCU grace period: 7 ms and more per create, see mk_plan.cgroup_task_fds):
/// it writes itself into the v1 directories and is cloned into the cgroup2 one. Whatever cannot be done that way
/// (too many hierarchies, clone3 refused) falls back to the parent writing the pid to cgroup.procs.
struct CgroupJoin {
    var session: CgroupSession
    /// Named v1 hierarchies (name=systemd) on top of the controllers.
    var named: NamedCgroups
}

enum Spawner {
    /// Clones the child. It moves itself into its cgroup v1 directories (finish with `join`), then waits for
    /// `release` before doing anything else.
    static func spawn(
        process: ProcessPlan, container: ContainerPlan?, namespaces: NamespacePlan, rootfs: Bool, noPivot: Bool,
        fifoFD: Int32, consoleFD: Int32, preserveFDs: Int32, cgroup: CgroupJoin
    ) throws(RuntimeError) -> Spawned {
        let pair = try Linux.socketPair()
        var opened: [Int32] = [pair.child]
        defer { for fd in opened { close(fd) } }
        // Our end of the sync socket goes to the caller with the child; on any failure before that it is closed here.
        var spawnedPID: Int32 = -1
        defer { if spawnedPID <= 0 { close(pair.parent) } }
        var tasks: [(fd: Int32, path: String)] = []
        let v1 = cgroup.session.manager.v1Directories + cgroup.named.directories
        if v1.count <= Int(MK_MAX_CGROUP_TASK_FDS) {
            for directory in v1 {
                let path = directory + "/tasks"
                let fd = mk_open(path, O_WRONLY | O_CLOEXEC, 0)
                guard fd >= 0 else { throw .system("open", path, errno: currentErrno()) }
                opened.append(fd)
                tasks.append((fd, path))
            }
        }
        var cgroupDirFD: Int32 = -1
        if let unified = cgroup.session.manager.unifiedDirectory {
            // Optional: without it the parent joins the process by pid.
            cgroupDirFD = mk_open(unified, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
            if cgroupDirFD >= 0 { opened.append(cgroupDirFD) }
        }
        var joins: [(fd: Int32, type: Int32)] = []
        for join in namespaces.joins {
            let fd = try Linux.openReadOnly(join.path)
            opened.append(fd)
            joins.append((fd, join.kind.cloneFlag))
        }
        var pidnsFD: Int32 = -1
        if let path = namespaces.pidPath {
            pidnsFD = try Linux.openReadOnly(path)
            opened.append(pidnsFD)
        }
        let native = NativePlan(
            process: process, container: container, namespaces: namespaces,
            setup: .init(
                rootfs: rootfs, noPivot: noPivot, syncFD: pair.child, fifoFD: fifoFD, consoleFD: consoleFD, preserveFDs: preserveFDs,
                joins: joins, bindDevices: namespaces.newUser, cgroupTasks: tasks, cgroupDirFD: cgroupDirFD))
        var intoCgroup: Int32 = 0
        spawnedPID = withExtendedLifetime(native) {
            withUnsafePointer(to: native.raw) { mk_spawn($0, pidnsFD, &intoCgroup) }
        }
        guard spawnedPID > 0 else { throw .system("clone", errno: currentErrno()) }
        return Spawned(pid: spawnedPID, syncFD: pair.parent, joinsV1Itself: !tasks.isEmpty, createdInUnified: intoCgroup != 0)
    }

    /// Completes the cgroup join: waits for the child's own v1 join, then writes the pid wherever it could not go
    /// itself. Returns with the process in all its cgroups.
    static func join(_ spawned: Spawned, _ cgroup: CgroupJoin) throws(RuntimeError) {
        guard spawned.joinsV1Itself else {
            try cgroup.session.add(spawned.pid)
            try cgroup.named.add(spawned.pid)
            return
        }
        let message = try Linux.receive(spawned.syncFD)
        guard let message, message.kind == Int32(MK_SYNC_JOINED) else { throw failure(message, cgroup: cgroup.session) }
        if !spawned.createdInUnified { try cgroup.session.addToUnified(spawned.pid) }
    }

    /// Lets the child proceed and waits until it is ready (or reports what failed).
    static func release(_ spawned: Spawned, cgroup: CgroupSession?) throws(RuntimeError) {
        try Linux.send(spawned.syncFD, kind: Int32(MK_SYNC_GO))
        let message = try Linux.receive(spawned.syncFD)
        if message?.kind == Int32(MK_SYNC_READY) { return }
        throw failure(message, cgroup: cgroup)
    }

    /// What the child reported instead of the expected message (nil: it exited without a word).
    private static func failure(_ message: mk_sync_msg?, cgroup: CgroupSession?) -> RuntimeError {
        guard let message else {
            if let oom = try? cgroup?.manager.oomKillCount(), oom > 0 {
                return RuntimeError("container init was OOM-killed (memory limit too low?)")
            }
            return RuntimeError("container init exited unexpectedly")
        }
        let stage = Linux.stage(of: message)
        if message.err == 0 || stage.hasSuffix("$PATH") { return RuntimeError("container init: \(stage)") }
        return RuntimeError("container init: \(stage): \(errorString(message.err)) (errno \(message.err))")
    }
}

/// The container's cgroup, with errors mapped to the config field they come from.
struct CgroupSession: Sendable {
    let manager: any CgroupManager

    /// Creates the directories and writes the limits (removing them again if the kernel refuses one).
    func createAndApply(_ resources: CgroupResources) throws(RuntimeError) {
        do throws(CgroupError) {
            try manager.createAndApply(resources)
        } catch {
            throw CgroupSession.describe(error)
        }
    }

    static func open(_ record: ContainerRecord) throws(RuntimeError) -> CgroupSession {
        do throws(CgroupError) {
            // From the recorded directories: a later caller may sit in another cgroup than `create` did.
            if !record.cgroupDirectories.isEmpty, let layout = record.cgroupLayout, let mounts = record.cgroupMounts {
                return CgroupSession(manager: try restoreCgroupManager(directories: record.cgroupDirectories, layout: layout, mounts: mounts))
            }
            if !record.cgroupDirectories.isEmpty {
                return CgroupSession(manager: try restoreCgroupManager(directories: record.cgroupDirectories))
            }
            return CgroupSession(manager: try makeCgroupManager(path: record.cgroupsPath))
        } catch {
            throw describe(error)
        }
    }

    var directories: [String] { manager.directories }

    func add(_ pid: Int32) throws(RuntimeError) {
        do throws(CgroupError) {
            try manager.addProcess(pid)
        } catch {
            throw CgroupSession.describe(error)
        }
    }

    func addToUnified(_ pid: Int32) throws(RuntimeError) {
        do throws(CgroupError) {
            try manager.addProcessToUnified(pid)
        } catch {
            throw CgroupSession.describe(error)
        }
    }

    /// Best-effort removal on a failed create; what cannot be removed is reported on stderr.
    func destroy() {
        do throws(CgroupError) {
            try manager.killAll()
            _ = Linux.poll(timeout: 5) { ((try? manager.processes()) ?? []).isEmpty }
            try manager.destroy()
        } catch {
            Log.warn("cleanup: \(error)")
        }
    }

    /// Which config field a refused cgroup file comes from.
    private static let fields: [(file: String, field: String)] = [
        ("memory.memsw.limit_in_bytes", "linux.resources.memory.swap"), ("memory.swap.max", "linux.resources.memory.swap"),
        ("memory.limit_in_bytes", "linux.resources.memory.limit"), ("memory.max", "linux.resources.memory.limit"),
        ("memory.soft_limit_in_bytes", "linux.resources.memory.reservation"), ("memory.low", "linux.resources.memory.reservation"),
        ("cpu.cfs_quota_us", "linux.resources.cpu.quota"), ("cpu.cfs_period_us", "linux.resources.cpu.period"),
        ("cpu.max", "linux.resources.cpu.quota"), ("cpu.shares", "linux.resources.cpu.shares"), ("cpu.weight", "linux.resources.cpu.shares"),
        ("cpuset.cpus", "linux.resources.cpu.cpus"), ("cpuset.mems", "linux.resources.cpu.mems"), ("pids.max", "linux.resources.pids.limit"),
        ("memory.swappiness", "linux.resources.memory.swappiness"), ("devices.allow", "linux.resources.devices"),
        ("devices.deny", "linux.resources.devices"), ("devices.list", "linux.resources.devices"), ("linux.resources.devices", "linux.resources.devices"),
    ]

    static func describe(_ error: CgroupError) -> RuntimeError {
        let text = "\(error)"
        if let match = fields.first(where: { text.contains($0.file) }), error.operation.contains("write") || error.operation.contains("apply") {
            return .config(match.field, "the kernel refused the limit: \(text)")
        }
        return RuntimeError(text)
    }
}

/// uid_map / gid_map written by the parent (the child has no rights in the parent user namespace).
enum IDMaps {
    static func write(pid: Int32, uids: [OCI.IDMapping], gids: [OCI.IDMapping]) throws(RuntimeError) {
        func text(_ maps: [OCI.IDMapping]) -> String {
            maps.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
        }
        do {
            try FileSystem.write("/proc/\(pid)/uid_map", text(uids))
            try FileSystem.write("/proc/\(pid)/gid_map", text(gids))
        } catch {
            throw .config("linux.uidMappings", "the kernel refused the id mappings: \(error)")
        }
    }
}

/// Settings the parent applies to the child before it runs: oom_score_adj and rlimits.
enum ProcessSettings {
    static func apply(pid: Int32, process: ProcessPlan) throws(RuntimeError) {
        if let adj = process.oomScoreAdj {
            do {
                try FileSystem.write("/proc/\(pid)/oom_score_adj", "\(adj)")
            } catch {
                throw .config("process.oomScoreAdj", "\(error)")
            }
        }
        for limit in process.rlimits {
            guard mk_prlimit(pid, limit.resource, limit.soft, limit.hard) == 0 else {
                let code = currentErrno()
                throw .config("process.rlimits", "prlimit \(limit.name) soft \(limit.soft) hard \(limit.hard): \(errorString(code)) (errno \(code))")
            }
        }
    }
}

/// Runtime-namespace hooks (prestart, createRuntime, poststart, poststop): the state JSON on stdin.
enum Hooks {
    static func run(_ hooks: [OCI.Hook]?, field: String, state: OCI.State) throws(RuntimeError) {
        guard let hooks, !hooks.isEmpty else { return }
        let json: [UInt8]
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            json = Array(try encoder.encode(state))
        } catch {
            throw RuntimeError("\(field): encode state: \(error)")
        }
        for (index, hook) in hooks.enumerated() {
            try runOne(hook, field: "\(field)[\(index)]", input: json)
        }
    }

    private static func runOne(_ hook: OCI.Hook, field: String, input: [UInt8]) throws(RuntimeError) {
        var pipeFDs: [Int32] = [-1, -1]
        guard mk_pipe_cloexec(&pipeFDs) == 0 else { throw .system("pipe", errno: currentErrno()) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[0], 0)
        let args = hook.args ?? [hook.path]
        let env = hook.env ?? []
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, hook.path, &actions, nil, &argv, &envp)
        close(pipeFDs[0])
        guard result == 0 else {
            close(pipeFDs[1])
            throw .config(field, "cannot run hook \(hook.path): \(errorString(result))")
        }
        writeIgnoringEPIPE(pipeFDs[1], input)
        close(pipeFDs[1])
        if let timeout = hook.timeout, timeout > 0 {
            var status: Int32 = 0
            let finished = Linux.poll(timeout: Double(timeout)) { waitpid(pid, &status, WNOHANG) == pid }
            if !finished {
                kill(pid, SIGKILL)
                _ = Linux.wait(pid)
                throw .config(field, "hook \(hook.path) timed out after \(timeout)s")
            }
            let code = mk_wifexited(status) != 0 ? mk_wexitstatus(status) : 128 + mk_wtermsig(status)
            if code != 0 { throw .config(field, "hook \(hook.path) exited with status \(code)") }
            return
        }
        let code = Linux.wait(pid)
        if code != 0 { throw .config(field, "hook \(hook.path) exited with status \(code)") }
    }

    /// A hook may exit without reading its state (`/bin/false`): the write then fails with EPIPE, and the SIGPIPE
    /// it raises, blocked here and taken back, must not kill minirun before it reports the hook's status.
    private static func writeIgnoringEPIPE(_ fd: Int32, _ bytes: [UInt8]) {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written < 0 && errno == EPIPE {
            var now = timespec()
            _ = sigtimedwait(&pipeSignal, nil, &now)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}

/// Warnings go to stderr; errors are printed by the CLI (and to --log).
enum Log {
    static func warn(_ message: String) {
        let line = "minirun: warning: \(message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}
