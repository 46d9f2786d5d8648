// config.json → ContainerPlan: validation with field-path errors, then resolution of every value the
// C stage needs (flags, paths under the rootfs, masks, the seccomp program).
import Cgroups
import OCISpec
import RuntimeSecurity

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Facts about the host the plan depends on, injectable for tests.
public struct HostFacts: Sendable {
    /// The current hard limit of an rlimit resource (root here lacks CAP_SYS_RESOURCE, so it is a ceiling).
    public var hardLimit: @Sendable (Int32) -> UInt64
    public var cgroupLayout: CgroupLayout
    /// Bind sources for a `cgroup` mount: (directory name under the mount, host directory).
    public var cgroupMountSources: @Sendable (_ cgroupsPath: String) -> [(name: String, source: String)]
    /// Compiles an OCI seccomp profile to BPF (the Security module).
    public var compileSeccomp: @Sendable (_ profile: OCI.Seccomp) throws(RuntimeError) -> (filter: [UInt8], flags: UInt32)

    public init(
        hardLimit: @escaping @Sendable (Int32) -> UInt64, cgroupLayout: CgroupLayout,
        cgroupMountSources: @escaping @Sendable (String) -> [(name: String, source: String)],
        compileSeccomp: @escaping @Sendable (OCI.Seccomp) throws(RuntimeError) -> (filter: [UInt8], flags: UInt32)
    ) {
        self.hardLimit = hardLimit
        self.cgroupLayout = cgroupLayout
        self.cgroupMountSources = cgroupMountSources
        self.compileSeccomp = compileSeccomp
    }
}

public struct SpecResolver {
    public var spec: OCI.Spec
    public var bundle: String
    public var id: String
    public var host: HostFacts

    public init(spec: OCI.Spec, bundle: String, id: String, host: HostFacts) {
        self.spec = spec
        self.bundle = bundle
        self.id = id
        self.host = host
    }

    /// The runtime-spec default devices (config-linux.md "Default Devices"), mode 0666, in runc's order
    /// (visible in the mount table when they are bind-mounted in a user namespace).
    static let defaultDevices: [DeviceNode] = [
        DeviceNode(path: "/dev/null", mode: 0o020666, major: 1, minor: 3, uid: 0, gid: 0),
        DeviceNode(path: "/dev/random", mode: 0o020666, major: 1, minor: 8, uid: 0, gid: 0),
        DeviceNode(path: "/dev/full", mode: 0o020666, major: 1, minor: 7, uid: 0, gid: 0),
        DeviceNode(path: "/dev/tty", mode: 0o020666, major: 5, minor: 0, uid: 0, gid: 0),
        DeviceNode(path: "/dev/zero", mode: 0o020666, major: 1, minor: 5, uid: 0, gid: 0),
        DeviceNode(path: "/dev/urandom", mode: 0o020666, major: 1, minor: 9, uid: 0, gid: 0),
    ]

    public func resolve() throws(RuntimeError) -> ContainerPlan {
        guard let process = spec.process else { throw .config("process", "required field is missing") }
        let namespaces = try resolveNamespaces()
        let rootfs = try resolveRootfs()
        let processPlan = try resolveProcess(process, field: "process")
        let linux = spec.linux
        if namespaces.newUser {
            guard let uids = linux?.uidMappings, !uids.isEmpty else {
                throw .config("linux.uidMappings", "a user namespace needs uid mappings")
            }
            guard let gids = linux?.gidMappings, !gids.isEmpty else {
                throw .config("linux.gidMappings", "a user namespace needs gid mappings")
            }
        }
        if spec.hostname.map({ !$0.isEmpty }) == true && !namespaces.has(.uts) {
            throw .config("hostname", "setting the hostname needs a private UTS namespace")
        }
        if let hooks = spec.hooks {
            // These run inside the container between setup steps; the C stage does not run programs.
            if !(hooks.createContainer ?? []).isEmpty { throw .config("hooks.createContainer", "not supported by minirun") }
            if !(hooks.startContainer ?? []).isEmpty { throw .config("hooks.startContainer", "not supported by minirun") }
        }
        let cgroupsPath = resolveCgroupsPath()
        let mounts = try resolveMounts(rootfs: rootfs, namespaces: namespaces, cgroupsPath: cgroupsPath)
        let devices = try resolveDevices()
        let devBound = mounts.contains { $0.destination == "/dev" && $0.kind == .bind }
        let propagation = try resolvePropagation()
        return ContainerPlan(
            bundle: bundle, rootfs: rootfs, readonlyRoot: spec.root?.readonly ?? false, process: processPlan,
            namespaces: namespaces, uidMappings: linux?.uidMappings ?? [], gidMappings: linux?.gidMappings ?? [],
            mounts: mounts, setupDev: !devBound, devices: devices,
            maskedPaths: try absolutePaths(linux?.maskedPaths ?? [], field: "linux.maskedPaths"),
            readonlyPaths: try absolutePaths(linux?.readonlyPaths ?? [], field: "linux.readonlyPaths"),
            sysctls: try resolveSysctls(namespaces), hostname: spec.hostname.flatMap { $0.isEmpty ? nil : $0 },
            domainname: spec.domainname.flatMap { $0.isEmpty ? nil : $0 },
            rootPropagation: propagation.initial, postPivotPropagation: propagation.afterPivot,
            cgroupsPath: cgroupsPath, resources: try resolveResources(), hooks: spec.hooks,
            annotations: spec.annotations ?? [:])
    }

    // MARK: - root

    func resolveRootfs() throws(RuntimeError) -> String {
        guard let root = spec.root else { throw .config("root", "required field is missing") }
        guard !root.path.isEmpty else { throw .config("root.path", "must not be empty") }
        let path = root.path.hasPrefix("/") ? FileSystem.clean(root.path) : FileSystem.clean(bundle + "/" + root.path)
        guard FileSystem.isDirectory(path) else {
            throw .config("root.path", "rootfs \"\(path)\" does not exist or is not a directory")
        }
        return path
    }

    // MARK: - process

    /// Also used for `exec --process`, hence the field prefix.
    func resolveProcess(_ process: OCI.Process, field: String) throws(RuntimeError) -> ProcessPlan {
        guard let args = process.args, !args.isEmpty, !args[0].isEmpty else {
            throw .config("\(field).args", "must name the program to run")
        }
        guard process.cwd.hasPrefix("/") else {
            throw .config("\(field).cwd", "must be an absolute path, got \"\(process.cwd)\"")
        }
        let caps: CapabilityMasks
        do throws(SecurityError) {
            // Names the kernel does not know are dropped, as runc does (it warns and ignores them).
            let sets = try CapabilitySets(process.capabilities, field: "\(field).capabilities").masked(by: Capabilities.supportedMask)
            caps = CapabilityMasks(
                bounding: sets.bounding, effective: sets.effective, inheritable: sets.inheritable, permitted: sets.permitted,
                ambient: sets.ambient)
        } catch {
            throw RuntimeError(error)
        }
        var rlimits: [Rlimit] = []
        for (index, limit) in (process.rlimits ?? []).enumerated() {
            let here = "\(field).rlimits[\(index)]"
            guard let resource = RlimitKind.byName[limit.type] else {
                throw .config("\(here).type", "unknown rlimit \"\(limit.type)\"")
            }
            guard limit.soft <= limit.hard else {
                throw .config(here, "\(limit.type) soft limit \(limit.soft) is above the hard limit \(limit.hard)")
            }
            let ceiling = host.hardLimit(resource)
            guard limit.hard <= ceiling else {
                throw .config(
                    here,
                    "\(limit.type) hard limit \(limit.hard) is above the current hard limit \(ceiling) (raising it needs CAP_SYS_RESOURCE)")
            }
            guard !rlimits.contains(where: { $0.resource == resource }) else {
                throw .config(here, "duplicate rlimit \(limit.type)")
            }
            rlimits.append(Rlimit(resource: resource, name: limit.type, soft: limit.soft, hard: limit.hard))
        }
        var seccomp: (filter: [UInt8], flags: UInt32)?
        if let profile = spec.linux?.seccomp {
            seccomp = try host.compileSeccomp(profile)
        }
        if let adj = process.oomScoreAdj, adj < -1000 || adj > 1000 {
            throw .config("\(field).oomScoreAdj", "must be between -1000 and 1000, got \(adj)")
        }
        return ProcessPlan(
            args: args, env: try environmentWithHome(process.env ?? [], uid: process.user.uid), cwd: process.cwd, uid: process.user.uid, gid: process.user.gid,
            additionalGids: process.user.additionalGids ?? [], umask: process.user.umask,
            noNewPrivileges: process.noNewPrivileges ?? false, capabilities: caps, seccompFilter: seccomp?.filter,
            seccompFlags: seccomp?.flags ?? 0, terminal: process.terminal ?? false, rlimits: rlimits,
            oomScoreAdj: process.oomScoreAdj)
    }

    /// runc (`setupUser`): when the environment has no HOME, or an empty one, HOME is the home directory of the
    /// process uid's entry in the container's `/etc/passwd`, or "/" without one. Resolved here, before the fork,
    /// from the rootfs on the host side (symlinks resolved inside the rootfs). An existing empty HOME is replaced
    /// in place, a missing one appended, as Go's os.Setenv does in runc's init.
    func environmentWithHome(_ env: [String], uid: UInt32) throws(RuntimeError) -> [String] {
        let existing = env.lastIndex { $0.hasPrefix("HOME=") }
        if let existing, env[existing] != "HOME=" { return env }
        var home = "/"
        let passwd = FileSystem.secureJoin(root: try resolveRootfs(), "/etc/passwd")
        if FileSystem.exists(passwd), let entry = Self.passwdHome(try FileSystem.readString(passwd), uid: uid) {
            home = entry
        }
        var out = env
        if let existing { out[existing] = "HOME=" + home } else { out.append("HOME=" + home) }
        return out
    }

    /// The home field of the first `name:password:uid:gid:gecos:home:shell` line with `uid`; nil if none (or empty).
    static func passwdHome(_ text: String, uid: UInt32) -> String? {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 6, UInt32(fields[2]) == uid else { continue }
            return fields[5].isEmpty ? nil : String(fields[5])
        }
        return nil
    }

    // MARK: - namespaces

    func resolveNamespaces() throws(RuntimeError) -> NamespacePlan {
        var plan = NamespacePlan()
        var seen: Set<String> = []
        var joined: [(kind: NamespaceKind, path: String)] = []
        for (index, entry) in (spec.linux?.namespaces ?? []).enumerated() {
            let here = "linux.namespaces[\(index)]"
            guard let kind = NamespaceKind(name: entry.type) else {
                if entry.type == "time" { throw .config("\(here).type", "the time namespace is not supported") }
                throw .config("\(here).type", "unknown namespace type \"\(entry.type)\"")
            }
            guard seen.insert(kind.name).inserted else {
                throw .config("\(here).type", "duplicate namespace type \"\(entry.type)\"")
            }
            if let path = entry.path, !path.isEmpty {
                guard FileSystem.exists(path) else {
                    throw .config("\(here).path", "namespace path \"\(path)\" does not exist")
                }
                joined.append((kind, path))
            } else if kind == .cgroup {
                plan.unshareFlags |= kind.cloneFlag
            } else {
                plan.cloneFlags |= kind.cloneFlag
            }
        }
        if plan.newUser {
            // runc's order: the user namespace first, the others unshared once the child is root in it
            // (so they are owned by it, e.g. the mqueue mount of the new IPC namespace belongs to the
            // container's root). PID stays in clone so that the child is PID 1 without another fork.
            let deferred = plan.cloneFlags & ~(NamespaceKind.user.cloneFlag | NamespaceKind.pid.cloneFlag)
            plan.cloneFlags &= ~deferred
            plan.unshareFlags |= deferred
        }
        if plan.newUser, let other = joined.first {
            // The new user namespace would own nothing we join, and setns needs rights in the owner.
            throw .config("linux.namespaces", "joining the \(other.kind.name) namespace together with a new user namespace is not supported")
        }
        if joined.contains(where: { $0.kind == .user }) {
            throw .config("linux.namespaces", "joining an existing user namespace at create is not supported (exec joins it)")
        }
        for kind in NamespaceKind.all {
            guard let entry = joined.first(where: { $0.kind == kind }) else { continue }
            if kind == .pid { plan.pidPath = entry.path } else { plan.joins.append(entry) }
        }
        return plan
    }

    // MARK: - mounts

    func resolveMounts(rootfs: String, namespaces: NamespacePlan, cgroupsPath: String) throws(RuntimeError) -> [MountStep] {
        var steps: [MountStep] = []
        for (index, mount) in (spec.mounts ?? []).enumerated() {
            let here = "mounts[\(index)]"
            guard mount.destination.hasPrefix("/") else {
                throw .config("\(here).destination", "must be an absolute path, got \"\(mount.destination)\"")
            }
            let destination = FileSystem.clean(mount.destination)
            let options = MountOptions.parse(mount.options ?? [])
            let type = mount.type ?? ""
            let target = FileSystem.secureJoin(root: rootfs, destination)
            let isBind = options.isBind || type == "bind"
            var step = MountStep(
                kind: isBind ? .bind : .filesystem, source: mount.source ?? "", target: target, destination: destination,
                type: type, flags: options.flags, remountFlags: [], propagation: options.propagation,
                data: options.data.joined(separator: ","))
            if isBind {
                guard var source = mount.source, !source.isEmpty else {
                    throw .config("\(here).source", "a bind mount needs a source")
                }
                if !source.hasPrefix("/") { source = FileSystem.clean(bundle + "/" + source) }
                guard FileSystem.exists(source) else {
                    throw .config("\(here).source", "bind source \"\(source)\" does not exist")
                }
                step.source = source
                step.targetIsFile = !FileSystem.isDirectory(source)
                step.flags = options.flags.intersection([.bind, .recursive]).union(.bind)
                let extra = options.flags.subtracting([.bind, .recursive, .remount])
                step.remountFlags = extra.isEmpty ? [] : extra
                steps.append(step)
                continue
            }
            switch type {
            case "cgroup", "cgroup2":
                steps += cgroupMounts(step, namespaces: namespaces, cgroupsPath: cgroupsPath)
                continue
            case "sysfs":
                step.sysfsFallback = true
            case "tmpfs":
                if options.flags.contains(.readOnly) {
                    step.flags.remove(.readOnly)
                    step.lateReadOnly = true
                }
            case "":
                throw .config("\(here).type", "required for a non-bind mount")
            default:
                break
            }
            steps.append(step)
        }
        return steps
    }

    /// runc's layout: with a cgroup namespace on cgroup v2 a real cgroup2 mount; otherwise (v1 and
    /// hybrid) a tmpfs with one read-only bind per controller of the container's own cgroup.
    func cgroupMounts(_ base: MountStep, namespaces: NamespacePlan, cgroupsPath: String) -> [MountStep] {
        if host.cgroupLayout == .unified {
            if namespaces.has(.cgroup) {
                var step = base
                step.type = "cgroup2"
                step.source = "cgroup2"
                step.data = ""
                return [step]
            }
            guard let source = host.cgroupMountSources(cgroupsPath).first?.source else { return [] }
            var step = base
            step.kind = .bind
            step.source = source
            step.flags = [.bind, .recursive]
            step.remountFlags = base.flags
            return [step]
        }
        var tmpfs = base
        tmpfs.type = "tmpfs"
        tmpfs.source = "tmpfs"
        tmpfs.flags = base.flags.subtracting(.readOnly)
        tmpfs.data = "mode=755"
        var steps = [tmpfs]
        for entry in host.cgroupMountSources(cgroupsPath) {
            var bind = base
            bind.kind = .bind
            bind.source = entry.source
            bind.target = base.target + "/" + entry.name
            bind.destination = base.destination + "/" + entry.name
            bind.flags = [.bind, .recursive]
            bind.remountFlags = base.flags
            bind.data = ""
            steps.append(bind)
        }
        return steps
    }

    func resolvePropagation() throws(RuntimeError) -> (initial: MountFlags, afterPivot: MountFlags) {
        guard let name = spec.linux?.rootfsPropagation, !name.isEmpty else { return ([.slave, .recursive], []) }
        guard let flags = MountOptions.propagationOptions[name] else {
            throw .config("linux.rootfsPropagation", "unknown propagation \"\(name)\"")
        }
        if flags.contains(.shared) {
            // pivot_root refuses a shared parent: start as slave, share the new root afterwards (runc).
            return ([.slave, .recursive], flags)
        }
        return (flags, [])
    }

    // MARK: - devices, paths, sysctls

    func resolveDevices() throws(RuntimeError) -> [DeviceNode] {
        var devices: [DeviceNode] = []
        for (index, device) in (spec.linux?.devices ?? []).enumerated() {
            let here = "linux.devices[\(index)]"
            guard let typeBits = DeviceKind.modeBits(device.type) else {
                throw .config("\(here).type", "unknown device type \"\(device.type)\"")
            }
            guard device.path.hasPrefix("/dev/") else {
                throw .config("\(here).path", "must be under /dev, got \"\(device.path)\"")
            }
            let mode = typeBits | ((device.fileMode ?? 0o666) & 0o7777)
            devices.append(
                DeviceNode(
                    path: FileSystem.clean(device.path), mode: mode, major: device.major, minor: device.minor, uid: device.uid ?? 0, gid: device.gid ?? 0))
        }
        for device in Self.defaultDevices where !devices.contains(where: { $0.path == device.path }) {
            devices.append(device)
        }
        return devices
    }

    func absolutePaths(_ paths: [String], field: String) throws(RuntimeError) -> [String] {
        var out: [String] = []
        for (index, path) in paths.enumerated() {
            guard path.hasPrefix("/") else { throw .config("\(field)[\(index)]", "must be an absolute path, got \"\(path)\"") }
            out.append(FileSystem.clean(path))
        }
        return out
    }

    /// Only namespaced sysctls, for namespaces the container has (runc's validation).
    func resolveSysctls(_ namespaces: NamespacePlan) throws(RuntimeError) -> [(path: String, value: String)] {
        var out: [(path: String, value: String)] = []
        for key in (spec.linux?.sysctl ?? [:]).keys.sorted() {
            let value = spec.linux?.sysctl?[key] ?? ""
            let here = "linux.sysctl.\(key)"
            guard !key.isEmpty, !key.contains(".."), !key.hasPrefix("/"), key.allSatisfy({ $0 != " " }) else {
                throw .config(here, "invalid sysctl name")
            }
            let ipcKeys: Set<String> = [
                "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                "kernel.shm_rmid_forced",
            ]
            if ipcKeys.contains(key) || key.hasPrefix("fs.mqueue.") {
                guard namespaces.has(.ipc) else { throw .config(here, "needs a private IPC namespace") }
            } else if key.hasPrefix("net.") {
                guard namespaces.has(.network) else { throw .config(here, "needs a private network namespace") }
            } else if key == "kernel.hostname" || key == "kernel.domainname" {
                guard namespaces.has(.uts) else { throw .config(here, "needs a private UTS namespace") }
            } else {
                throw .config(here, "sysctl \"\(key)\" is not in a separate kernel namespace")
            }
            let path = "/proc/sys/" + key.split(separator: ".").joined(separator: "/")
            out.append((path, value))
        }
        return out
    }

    // MARK: - cgroups

    /// runc's `AllowedDevices` device cgroup rules (specconv): mknod of anything, the default nodes, pts, ptmx, tun.
    /// A path marks the rules of default device nodes, dropped when `linux.devices` replaces that node.
    static let defaultDeviceRules: [(path: String?, rule: DeviceRule)] = [
        (nil, DeviceRule(allow: true, type: .char, access: .mknod)),
        (nil, DeviceRule(allow: true, type: .block, access: .mknod)),
        ("/dev/null", DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all)),
        ("/dev/random", DeviceRule(allow: true, type: .char, major: 1, minor: 8, access: .all)),
        ("/dev/full", DeviceRule(allow: true, type: .char, major: 1, minor: 7, access: .all)),
        ("/dev/tty", DeviceRule(allow: true, type: .char, major: 5, minor: 0, access: .all)),
        ("/dev/zero", DeviceRule(allow: true, type: .char, major: 1, minor: 5, access: .all)),
        ("/dev/urandom", DeviceRule(allow: true, type: .char, major: 1, minor: 9, access: .all)),
        (nil, DeviceRule(allow: true, type: .char, major: 136, access: .all)),
        (nil, DeviceRule(allow: true, type: .char, major: 5, minor: 2, access: .all)),
        (nil, DeviceRule(allow: true, type: .char, major: 10, minor: 200, access: .all)),
    ]

    /// `linux.resources.devices` in order, then the default rules (runc's specconv order). Applied to a deny-all
    /// start by the Cgroups module, so a spec without rules still gets an allow-list of the defaults, as in runc.
    func resolveDeviceRules() throws(RuntimeError) -> [DeviceRule] {
        var rules: [DeviceRule] = []
        for (index, entry) in (spec.linux?.resources?.devices ?? []).enumerated() {
            let here = "linux.resources.devices[\(index)]"
            let typeName = entry.type.flatMap { $0.isEmpty ? nil : $0 } ?? "a"
            guard typeName.count == 1, let letter = typeName.first, let type = DeviceRuleType(rawValue: letter) else {
                throw .config("\(here).type", "must be a, b or c, got \"\(typeName)\"")
            }
            guard let accessText = entry.access, !accessText.isEmpty else {
                throw .config("\(here).access", "must not be empty")
            }
            guard let access = DeviceAccess(accessText) else {
                throw .config("\(here).access", "must be letters of \"rwm\", got \"\(accessText)\"")
            }
            // runc and the spec use -1 (or an absent field) for "any".
            func number(_ value: Int64?, _ name: String) throws(RuntimeError) -> Int64? {
                guard let value, value != -1 else { return nil }
                guard value >= 0, value <= Int64(UInt32.max) else { throw .config("\(here).\(name)", "must be -1 or 0...4294967295, got \(value)") }
                return value
            }
            rules.append(
                DeviceRule(
                    allow: entry.allow, type: type, major: try number(entry.major, "major"), minor: try number(entry.minor, "minor"),
                    access: access))
        }
        let replaced = Set((spec.linux?.devices ?? []).map { FileSystem.clean($0.path) })
        for entry in Self.defaultDeviceRules where entry.path.map({ !replaced.contains($0) }) ?? true {
            rules.append(entry.rule)
        }
        return rules
    }

    /// `cgroupsPath` as given; systemd-style `slice:prefix:name` is mapped to a cgroupfs path
    /// (`--systemd-cgroup` is accepted, but minirun always drives cgroupfs).
    func resolveCgroupsPath() -> String {
        // Flat, so that delete leaves no parent directory behind.
        guard let path = spec.linux?.cgroupsPath, !path.isEmpty else { return "minirun-\(id)" }
        let parts = path.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3 && !path.hasPrefix("/") {
            let slice = parts[0].isEmpty ? "system.slice" : String(parts[0])
            return "/\(slice)/\(parts[1])-\(parts[2]).scope"
        }
        return path
    }

    func resolveResources() throws(RuntimeError) -> CgroupResources {
        var out = CgroupResources()
        out.devices = try resolveDeviceRules()
        guard let resources = spec.linux?.resources else { return out }
        if let memory = resources.memory {
            out.memorySwappiness = memory.swappiness
            if let limit = memory.limit, limit != -1, limit <= 0 {
                throw .config("linux.resources.memory.limit", "must be positive or -1, got \(limit)")
            }
            out.memoryLimit = memory.limit
            out.memorySwap = memory.swap
            out.memoryReservation = memory.reservation
            if let swap = memory.swap, let limit = memory.limit, swap != -1, limit > 0, swap < limit {
                throw .config("linux.resources.memory.swap", "memory+swap \(swap) is below the memory limit \(limit)")
            }
        }
        if let cpu = resources.cpu {
            out.cpuShares = cpu.shares
            out.cpuQuota = cpu.quota
            out.cpuPeriod = cpu.period
            out.cpusetCpus = cpu.cpus
            out.cpusetMems = cpu.mems
            if let period = cpu.period, period != 0, period < 1000 || period > 1_000_000 {
                throw .config("linux.resources.cpu.period", "must be between 1000 and 1000000 microseconds, got \(period)")
            }
            if let quota = cpu.quota, quota != -1, quota > 0, quota < 1000 {
                throw .config("linux.resources.cpu.quota", "must be at least 1000 microseconds or -1, got \(quota)")
            }
        }
        if let pids = resources.pids { out.pidsLimit = pids.limit }
        out.unified = resources.unified ?? [:]
        return out
    }
}
