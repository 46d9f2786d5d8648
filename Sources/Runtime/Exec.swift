// `minirun exec`: a new process in a running container, through the same C stage without the
// filesystem setup: setns into the init's namespaces, cgroup joined before it runs, then the
// process's own ids, capabilities, seccomp and no_new_privs.
import CShims
import Cgroups
import OCISpec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension Lifecycle {
    /// Returns the exit code to exit with: 0 when detached, else the process's status.
    public func exec(_ options: ExecOptions) throws(RuntimeError) -> Int32 {
        let record = try store.load(options.id)
        let status = self.status(of: record)
        guard status == .running || status == .created else {
            throw RuntimeError("cannot exec in a \(status.rawValue) container")
        }
        let (spec, host) = try execSpec(record)
        let process = try execProcess(options, base: spec.process)
        let resolver = SpecResolver(spec: spec, bundle: record.bundle, id: record.id, host: host)
        let plan = try resolver.resolveProcess(process, field: options.processFile == nil ? "process" : "process.json")
        if plan.terminal && options.consoleSocket == nil && options.detach { throw .usage("exec: a detached terminal needs --console-socket") }
        let namespaces = try joinedNamespaces(of: record.pid)
        var consoleFD: Int32 = -1
        // In the foreground without --console-socket, minirun keeps the pty master itself and relays it to its
        // own stdin/stdout, as `runc exec -t` does (what `agentctl exec -it` relies on).
        var ownConsole: Int32 = -1
        if plan.terminal, let path = options.consoleSocket {
            consoleFD = try Linux.connectUnix(path)
        } else if plan.terminal {
            let pair = try Linux.socketPair(type: Int32(SOCK_STREAM.rawValue))
            consoleFD = pair.child
            ownConsole = pair.parent
        }
        defer { if consoleFD >= 0 { close(consoleFD) } }
        defer { if ownConsole >= 0 { close(ownConsole) } }
        let join = CgroupJoin(session: try CgroupSession.open(record), named: NamedCgroups(directories: record.namedCgroupDirectories ?? []))
        let spawned = try Spawner.spawn(
            process: plan, container: nil, namespaces: namespaces, rootfs: false, noPivot: false, fifoFD: -1, consoleFD: consoleFD,
            preserveFDs: options.preserveFDs, cgroup: join)
        defer { close(spawned.syncFD) }
        do {
            try Spawner.join(spawned, join)
            try ProcessSettings.apply(pid: spawned.pid, process: plan)
            try Spawner.release(spawned, cgroup: join.session)
        } catch {
            Glibc.kill(spawned.pid, SIGKILL)
            _ = Linux.wait(spawned.pid)
            throw error
        }
        if let pidFile = options.pidFile {
            try FileSystem.writeAtomically(FileSystem.absolute(pidFile), Array("\(spawned.pid)".utf8))
        }
        if options.detach { return 0 }
        mk_forward_signals(spawned.pid)
        if ownConsole >= 0 {
            // The child sent the master before it was released, so it is already queued.
            let master = mk_recv_fd(ownConsole)
            guard master >= 0 else { throw .system("receive pty master", errno: currentErrno()) }
            mk_pty_proxy(master)
            close(master)
        }
        return Linux.wait(spawned.pid)
    }

    /// The parts of config.json exec uses, and the host facts to resolve its process with. linux.seccomp is the same
    /// for every process of the container (`--process` cannot change it): the filter create stored is loaded
    /// instead of compiling the profile again, and then the profile (most of config.json) is not decoded either.
    /// Without a stored filter (a container created by an older minirun, a damaged file) the profile is compiled.
    func execSpec(_ record: ContainerRecord) throws(RuntimeError) -> (OCI.Spec, HostFacts) {
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(record.bundle + "/config.json")
        } catch {
            throw RuntimeError("config.json: \(error.message)")
        }
        var host = HostFacts.current(layout: record.cgroupLayout ?? detectCgroupLayout(), stateRoot: store.root)
        let view = try ConfigLoader.decode(ExecConfig.self, bytes, file: "config.json")
        guard view.linux?.seccomp != nil else { return (OCI.Spec(process: view.process, root: view.root), host) }
        guard let stored = store.loadSeccomp(record.id) else { return (try ConfigLoader.decode(bytes), host) }
        host.compileSeccomp = { _ throws(RuntimeError) in stored }
        // The profile's content is not read: the stored program stands for it.
        let profile = OCI.Seccomp(defaultAction: "SCMP_ACT_KILL_PROCESS")
        return (OCI.Spec(process: view.process, root: view.root, linux: OCI.Linux(seccomp: profile)), host)
    }

    /// The process to run: `--process` as given, else the container's process with the CLI overrides (runc).
    func execProcess(_ options: ExecOptions, base: OCI.Process?) throws(RuntimeError) -> OCI.Process {
        if let file = options.processFile {
            var process = try ConfigLoader.decode(OCI.Process.self, try FileSystem.read(file), file: "process.json")
            if options.tty { process.terminal = true }
            return process
        }
        var process = base ?? OCI.Process()
        process.args = options.args
        process.terminal = options.tty
        var env = process.env ?? []
        for entry in options.env {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            env.removeAll { $0.hasPrefix(key + "=") }
            env.append(entry)
        }
        process.env = env
        if let cwd = options.cwd { process.cwd = cwd }
        if let user = options.user {
            let parts = user.split(separator: ":", maxSplits: 1)
            guard let uid = UInt32(parts[0]), parts.count == 1 || UInt32(parts[1]) != nil else {
                throw .usage("exec: --user: expected UID[:GID] as numbers, got \(user)")
            }
            process.user.uid = uid
            process.user.gid = parts.count == 2 ? UInt32(parts[1]) ?? 0 : 0
        }
        if !options.additionalGids.isEmpty { process.user.additionalGids = options.additionalGids }
        if !options.capabilities.isEmpty {
            var caps = process.capabilities ?? OCI.Capabilities()
            caps.bounding = (caps.bounding ?? []) + options.capabilities
            caps.effective = (caps.effective ?? []) + options.capabilities
            caps.permitted = (caps.permitted ?? []) + options.capabilities
            process.capabilities = caps
        }
        if options.noNewPrivileges { process.noNewPrivileges = true }
        return process
    }

    /// The init's namespaces that differ from ours, in join order.
    func joinedNamespaces(of pid: Int32) throws(RuntimeError) -> NamespacePlan {
        var plan = NamespacePlan()
        for kind in NamespaceKind.all {
            let theirs = "/proc/\(pid)/ns/\(kind.procName)"
            var their = stat()
            var ours = stat()
            guard stat(theirs, &their) == 0 else { throw .system("stat", theirs, errno: currentErrno()) }
            guard stat("/proc/self/ns/\(kind.procName)", &ours) == 0 else { continue }
            if their.st_ino == ours.st_ino && their.st_dev == ours.st_dev { continue }
            if kind == .pid { plan.pidPath = theirs } else { plan.joins.append((kind, theirs)) }
        }
        return plan
    }
}

/// config.json as exec reads it: what it resolves a process with, and whether the container has a seccomp profile.
struct ExecConfig: Decodable {
    var process: OCI.Process?
    var root: OCI.Root?
    var linux: Linux?

    struct Linux: Decodable {
        var seccomp: Present?
    }

    /// Any non-null JSON value, not decoded.
    struct Present: Decodable {
        init(from decoder: any Decoder) throws {}
    }
}
