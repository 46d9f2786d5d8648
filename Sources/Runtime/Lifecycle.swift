// Container lifecycle over the state directory: create, start, state, kill, delete (runtime.md §5.2).
import CShims
import Cgroups
import OCISpec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

public struct CreateOptions: Sendable, Equatable {
    public var id: String
    public var bundle: String
    public var pidFile: String?
    public var consoleSocket: String?
    public var noPivot = false
    public var preserveFDs: Int32 = 0

    public init(id: String, bundle: String, pidFile: String? = nil, consoleSocket: String? = nil, noPivot: Bool = false, preserveFDs: Int32 = 0) {
        self.id = id
        self.bundle = bundle
        self.pidFile = pidFile
        self.consoleSocket = consoleSocket
        self.noPivot = noPivot
        self.preserveFDs = preserveFDs
    }
}

/// Undo actions for a failing create, run newest first (spec: errors leave nothing behind).
final class Rollback {
    private var actions: [() -> Void] = []
    func add(_ action: @escaping () -> Void) { actions.append(action) }
    func run() {
        for action in actions.reversed() { action() }
        actions.removeAll()
    }
    func discard() { actions.removeAll() }
}

public struct Lifecycle: Sendable {
    public let store: StateStore

    public init(root: String) {
        store = StateStore(root: root)
    }

    // MARK: - create

    /// Sets the container up and leaves its init blocked on exec.fifo. Returns the init pid.
    @discardableResult
    public func create(_ options: CreateOptions) throws(RuntimeError) -> Int32 {
        try create(options, ownConsole: false).record.pid
    }

    /// `ownConsole`: with `process.terminal` and no --console-socket, minirun receives the pty master
    /// itself (foreground `run`) and returns it. The record is what state.json holds, for `run` to go on without
    /// reading it back.
    func create(_ options: CreateOptions, ownConsole: Bool) throws(RuntimeError) -> (record: ContainerRecord, console: Int32?) {
        try StateStore.validate(id: options.id)
        let bundle = FileSystem.absolute(options.bundle)
        let spec = try ConfigLoader.load(bundle: bundle)
        let layout = detectCgroupLayout()
        // One manager and one read of the host's cgroup mounts serve both the plan (the container's
        // /sys/fs/cgroup binds) and the cgroup setup.
        let cgroupsPath = SpecResolver(spec: spec, bundle: bundle, id: options.id, host: .current(layout: layout, stateRoot: store.root))
            .resolveCgroupsPath()
        let manager: any CgroupManager
        let cgroupHost: CgroupHostSnapshot
        do throws(CgroupError) {
            cgroupHost = try CgroupHostSnapshot.read()
            manager = try makeCgroupManager(path: cgroupsPath, layout: layout, host: cgroupHost)
        } catch {
            throw CgroupSession.describe(error)
        }
        let mounts = CgroupMounts(layout: layout, host: cgroupHost, directories: manager.directories)
        let host = HostFacts.current(layout: layout, stateRoot: store.root, cgroups: mounts)
        let plan = try SpecResolver(spec: spec, bundle: bundle, id: options.id, host: host).resolve()
        if plan.process.terminal && options.consoleSocket == nil && !ownConsole {
            throw .config("process.terminal", "a terminal needs --console-socket")
        }
        try store.reserve(options.id)
        let rollback = Rollback()
        rollback.add {
            do {
                try store.remove(options.id)
            } catch {
                Log.warn("cleanup: \(error)")
            }
        }
        do {
            if let filter = plan.process.seccompFilter, !filter.isEmpty {
                try store.saveSeccomp(options.id, filter: filter, flags: plan.process.seccompFlags)
            }
            let created = try spawnInit(plan, options: options, cgroup: CgroupSession(manager: manager), mounts: mounts, rollback: rollback)
            rollback.discard()
            return created
        } catch {
            rollback.run()
            throw error
        }
    }

    private func spawnInit(
        _ plan: ContainerPlan, options: CreateOptions, cgroup: CgroupSession, mounts: CgroupMounts, rollback: Rollback
    ) throws(RuntimeError) -> (record: ContainerRecord, console: Int32?) {
        let id = options.id
        let fifo = store.fifoPath(id)
        guard mkfifo(fifo, 0o622) == 0 else { throw .system("mkfifo", fifo, errno: currentErrno()) }
        // The container user (possibly mapped to another host uid) opens it for writing.
        chmod(fifo, 0o622)
        let fifoFD = mk_open_path(fifo)
        guard fifoFD >= 0 else { throw .system("open", fifo, errno: currentErrno()) }
        defer { close(fifoFD) }

        try cgroup.createAndApply(plan.resources)
        rollback.add { cgroup.destroy() }
        let named = try NamedCgroups.create(cgroupsPath: plan.cgroupsPath, mounts: mounts)
        rollback.add { named.remove() }

        var consoleFD: Int32 = -1
        var ownConsole: Int32 = -1
        if plan.process.terminal, let socketPath = options.consoleSocket {
            consoleFD = try Linux.connectUnix(socketPath)
        } else if plan.process.terminal {
            let pair = try Linux.socketPair(type: Int32(SOCK_STREAM.rawValue))
            consoleFD = pair.child
            ownConsole = pair.parent
        }
        defer { if consoleFD >= 0 { close(consoleFD) } }
        defer { if ownConsole >= 0 { close(ownConsole) } }
        let join = CgroupJoin(session: cgroup, named: named)
        let spawned = try Spawner.spawn(
            process: plan.process, container: plan, namespaces: plan.namespaces, rootfs: true, noPivot: options.noPivot,
            fifoFD: fifoFD, consoleFD: consoleFD, preserveFDs: options.preserveFDs, cgroup: join)
        rollback.add {
            Glibc.kill(spawned.pid, SIGKILL)
            _ = Linux.wait(spawned.pid)
        }
        defer { close(spawned.syncFD) }
        try Spawner.join(spawned, join)
        if plan.namespaces.newUser {
            try IDMaps.write(pid: spawned.pid, uids: plan.uidMappings, gids: plan.gidMappings)
        }
        try ProcessSettings.apply(pid: spawned.pid, process: plan.process)
        try Hooks.run(plan.hooks?.prestart, field: "hooks.prestart", state: creatingState(id, plan, spawned.pid))
        try Hooks.run(plan.hooks?.createRuntime, field: "hooks.createRuntime", state: creatingState(id, plan, spawned.pid))
        try Spawner.release(spawned, cgroup: cgroup)

        guard let start = ProcStat.read(spawned.pid) else { throw RuntimeError("container init exited during create") }
        let record = ContainerRecord(
            ociVersion: OCI.specVersion, id: id, pid: spawned.pid, pidStartTime: start.startTime, bundle: plan.bundle,
            rootfs: plan.rootfs, created: Timestamp.now(), cgroupsPath: plan.cgroupsPath, cgroupDirectories: cgroup.directories,
            namedCgroupDirectories: named.directories, cgroupLayout: cgroup.manager.layout,
            // Without the mounts, later commands read them from mountinfo: the record is an optimisation only.
            cgroupMounts: mounts.records(), annotations: plan.annotations, owner: "", poststart: plan.hooks?.poststart,
            poststop: plan.hooks?.poststop)
        try store.save(record)
        if let pidFile = options.pidFile {
            try FileSystem.writeAtomically(FileSystem.absolute(pidFile), Array("\(spawned.pid)".utf8))
        }
        guard ownConsole >= 0 else { return (record, nil) }
        // The child sent the master before READY, so it is already queued.
        let master = mk_recv_fd(ownConsole)
        guard master >= 0 else { throw .system("receive pty master", errno: currentErrno()) }
        return (record, master)
    }

    private func creatingState(_ id: String, _ plan: ContainerPlan, _ pid: Int32) -> OCI.State {
        OCI.State(id: id, status: .creating, pid: pid, bundle: plan.bundle, annotations: plan.annotations)
    }

    // MARK: - start

    /// Releases a created container: opens exec.fifo for reading, which lets init execve.
    public func start(id: String) throws(RuntimeError) {
        try start(record: try store.load(id))
    }

    /// `start` of a container whose record the caller holds (`run`: the one create just saved).
    func start(record: ContainerRecord) throws(RuntimeError) {
        let id = record.id
        let status = self.status(of: record)
        guard status == .created else { throw RuntimeError("cannot start a container that is \(status.rawValue)") }
        let fifo = store.fifoPath(id)
        let fd = mk_open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .system("open", fifo, errno: currentErrno()) }
        defer { close(fd) }
        while true {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&entry, 1, 100)
            if ready < 0 && errno != EINTR { throw .system("poll", fifo, errno: currentErrno()) }
            if ready > 0 {
                var byte: UInt8 = 0
                let count = read(fd, &byte, 1)
                guard count == 1 else { throw RuntimeError("exec fifo is empty: container init did not signal execve readiness") }
                break
            }
            guard isAlive(record) else { throw RuntimeError("container init exited before start") }
        }
        unlink(fifo)
        // From the record: config.json edits after create have no effect (runtime.md §5.2).
        if let hooks = record.poststart, !hooks.isEmpty {
            do {
                try Hooks.run(hooks, field: "hooks.poststart", state: try state(id: id))
            } catch {
                Glibc.kill(record.pid, SIGKILL)
                throw error
            }
        }
    }

    // MARK: - state

    public func status(of record: ContainerRecord) -> OCI.Status {
        guard isAlive(record) else { return .stopped }
        return FileSystem.exists(store.fifoPath(record.id)) ? .created : .running
    }

    func isAlive(_ record: ContainerRecord) -> Bool {
        guard let stat = ProcStat.read(record.pid) else { return false }
        return stat.startTime == record.pidStartTime && stat.state != "Z" && stat.state != "X"
    }

    public func state(id: String) throws(RuntimeError) -> OCI.State {
        state(of: try store.load(id))
    }

    func state(of record: ContainerRecord) -> OCI.State {
        let status = self.status(of: record)
        return OCI.State(
            id: record.id, status: status, pid: status == .stopped ? 0 : record.pid, bundle: record.bundle,
            annotations: record.annotations.isEmpty ? nil : record.annotations, rootfs: record.rootfs, created: record.created,
            owner: record.owner)
    }

    /// OOM kills so far in the container's cgroup (nil when the cgroup is gone).
    public func oomKillCount(id: String) -> UInt64? {
        guard let record = try? store.load(id), let cgroup = try? CgroupSession.open(record) else { return nil }
        return try? cgroup.manager.oomKillCount()
    }

    // MARK: - kill

    public func kill(id: String, signal: Int32, all: Bool) throws(RuntimeError) {
        let record = try store.load(id)
        let status = self.status(of: record)
        if all {
            let cgroup = try CgroupSession.open(record)
            let pids: [Int32]
            do throws(CgroupError) {
                pids = try cgroup.manager.processes()
            } catch {
                throw CgroupSession.describe(error)
            }
            if pids.isEmpty && status == .stopped { throw RuntimeError("container \"\(id)\" is not running") }
            for pid in pids { Glibc.kill(pid, signal) }
            return
        }
        guard status == .created || status == .running else { throw RuntimeError("container \"\(id)\" is not running") }
        guard Glibc.kill(record.pid, signal) == 0 else { throw .system("kill", "pid \(record.pid)", errno: currentErrno()) }
    }

    // MARK: - delete

    public func delete(id: String, force: Bool) throws(RuntimeError) {
        let record: ContainerRecord
        do {
            record = try store.load(id)
        } catch {
            // A half-created directory (create crashed) is removed too.
            if FileSystem.exists(store.directory(id)) && !FileSystem.exists(store.directory(id) + "/state.json") {
                try store.remove(id)
                return
            }
            throw error
        }
        try delete(record: record, force: force)
    }

    /// `delete` of a container whose record the caller holds (`run`: the one create saved).
    func delete(record: ContainerRecord, force: Bool) throws(RuntimeError) {
        let id = record.id
        let status = self.status(of: record)
        if status == .running && !force {
            throw RuntimeError("cannot delete container \"\(id)\" that is not stopped: running")
        }
        let cgroup = try? CgroupSession.open(record)
        if status != .stopped { Glibc.kill(record.pid, SIGKILL) }
        if let cgroup {
            // Everything left in the cgroup goes too (forked daemons, exec'd processes).
            let empty = Linux.poll(timeout: 10) {
                let pids = (try? cgroup.manager.processes()) ?? []
                for pid in pids { Glibc.kill(pid, SIGKILL) }
                return pids.isEmpty
            }
            if !empty { throw RuntimeError("delete \(id): processes remain in the cgroup after SIGKILL") }
        }
        _ = Linux.poll(timeout: 5) { !isAlive(record) }
        if let cgroup {
            do throws(CgroupError) {
                try cgroup.manager.destroy()
            } catch {
                throw RuntimeError("delete \(id): \(error)")
            }
        }
        NamedCgroups(directories: record.namedCgroupDirectories ?? []).remove()
        try store.remove(id)
        if let hooks = record.poststop {
            // Poststop failures only warn (runtime.md §5.2).
            do {
                try Hooks.run(hooks, field: "hooks.poststop", state: state(of: record))
            } catch {
                Log.warn("\(error)")
            }
        }
    }

    public func list() -> [OCI.State] {
        store.ids().compactMap { try? state(id: $0) }
    }
}
