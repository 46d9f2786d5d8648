// ContainerPlan → the C `mk_plan`: every string and array copied into memory owned by this object,
// allocated before clone so the child only reads (ARCHITECTURE.md rule 1).
import CShims
import RuntimeSecurity

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Owns the C copies of a plan's strings and arrays for the lifetime of a spawn.
final class NativePlan {
    private(set) var raw = mk_plan()
    private var allocations: [UnsafeMutableRawPointer] = []

    /// Which parts the child performs.
    struct Setup {
        var rootfs: Bool
        var noPivot: Bool
        var syncFD: Int32
        var fifoFD: Int32
        var consoleFD: Int32
        var preserveFDs: Int32
        /// (fd, CLONE_NEW* type) in join order.
        var joins: [(fd: Int32, type: Int32)]
        var bindDevices: Bool
        /// cgroup v1 `tasks` files the child writes itself into (at most MK_MAX_CGROUP_TASK_FDS).
        var cgroupTasks: [(fd: Int32, path: String)] = []
        /// cgroup2 directory for clone3(CLONE_INTO_CGROUP), or -1.
        var cgroupDirFD: Int32 = -1
    }

    init(process: ProcessPlan, container: ContainerPlan?, namespaces: NamespacePlan, setup: Setup) {
        raw.argv = stringArray(process.args)
        raw.envp = stringArray(process.env)
        raw.cwd = string(process.cwd)
        raw.uid = process.uid
        raw.gid = process.gid
        raw.gids = UnsafePointer(array(process.additionalGids.map { gid_t($0) }))
        raw.ngids = Int32(process.additionalGids.count)
        raw.umask = process.umask.map { Int32($0) } ?? -1
        raw.no_new_privs = process.noNewPrivileges ? 1 : 0
        raw.cap_bounding = process.capabilities.bounding
        raw.cap_effective = process.capabilities.effective
        raw.cap_permitted = process.capabilities.permitted
        raw.cap_inheritable = process.capabilities.inheritable
        raw.cap_ambient = process.capabilities.ambient
        raw.last_cap = Int32(Capabilities.lastCap)
        if let filter = process.seccompFilter, !filter.isEmpty {
            raw.seccomp_filter = UnsafeRawPointer(array(filter))
            raw.seccomp_len = UInt32(filter.count / 8)
            raw.seccomp_flags = process.seccompFlags
        }
        raw.terminal = process.terminal ? 1 : 0
        raw.console_fd = setup.consoleFD
        raw.preserve_fds = setup.preserveFDs
        raw.clone_flags = namespaces.cloneFlags
        raw.unshare_flags = namespaces.unshareFlags
        raw.new_userns = namespaces.newUser ? 1 : 0
        withUnsafeMutableBytes(of: &raw.joins) { buffer in
            let joins = buffer.bindMemory(to: mk_join.self)
            for (index, join) in setup.joins.prefix(Int(MK_MAX_JOINS)).enumerated() {
                joins[index] = mk_join(fd: join.fd, nstype: join.type)
            }
        }
        raw.njoins = Int32(min(setup.joins.count, Int(MK_MAX_JOINS)))
        let tasks = setup.cgroupTasks.prefix(Int(MK_MAX_CGROUP_TASK_FDS))
        withUnsafeMutableBytes(of: &raw.cgroup_task_fds) { buffer in
            let fds = buffer.bindMemory(to: Int32.self)
            for (index, task) in tasks.enumerated() { fds[index] = task.fd }
        }
        raw.cgroup_task_paths = UnsafePointer(constStringArray(tasks.map(\.path)))
        raw.ncgroup_task_fds = Int32(tasks.count)
        raw.cgroup_dir_fd = setup.cgroupDirFD
        raw.sync_fd = setup.syncFD
        raw.fifo_fd = setup.fifoFD
        raw.setup_rootfs = setup.rootfs ? 1 : 0
        raw.no_pivot = setup.noPivot ? 1 : 0
        raw.bind_devices = setup.bindDevices ? 1 : 0
        guard let container, setup.rootfs else { return }
        raw.rootfs = string(container.rootfs)
        raw.readonly_root = container.readonlyRoot ? 1 : 0
        raw.root_propagation = container.rootPropagation.rawValue
        raw.post_pivot_propagation = container.postPivotPropagation.rawValue
        let mounts = container.mounts.map { step -> mk_mount in
            var m = mk_mount()
            m.source = string(step.source)
            m.target = string(step.target)
            m.dest = string(step.destination)
            m.fstype = string(step.type)
            m.data = step.data.isEmpty ? nil : string(step.data)
            m.flags = step.flags.rawValue
            m.remount_flags = step.remountFlags.rawValue
            m.propagation = step.propagation.rawValue
            var kind: Int32 = 0
            switch step.kind {
            case .bind: kind |= Int32(MK_MOUNT_BIND)
            case .directory: kind |= Int32(MK_MOUNT_DIR_ONLY)
            case .filesystem: break
            }
            if step.targetIsFile { kind |= Int32(MK_MOUNT_FILE) }
            if step.lateReadOnly { kind |= Int32(MK_MOUNT_LATE_RDONLY) }
            if step.sysfsFallback { kind |= Int32(MK_MOUNT_SYSFS) }
            m.kind = kind
            return m
        }
        raw.mounts = UnsafePointer(array(mounts))
        raw.nmounts = Int32(mounts.count)
        raw.setup_dev = container.setupDev ? 1 : 0
        let devices = container.devices.map { device -> mk_device in
            var d = mk_device()
            d.target = string(FileSystem.secureJoin(root: container.rootfs, device.path))
            d.host_path = string(device.path)
            d.mode = mode_t(device.mode)
            d.dev = dev_t(mk_makedev(UInt32(truncatingIfNeeded: device.major), UInt32(truncatingIfNeeded: device.minor)))
            d.uid = device.uid
            d.gid = device.gid
            return d
        }
        raw.devices = UnsafePointer(array(devices))
        raw.ndevices = Int32(devices.count)
        raw.masked = UnsafePointer(constStringArray(container.maskedPaths))
        raw.nmasked = Int32(container.maskedPaths.count)
        raw.readonly = UnsafePointer(constStringArray(container.readonlyPaths))
        raw.nreadonly = Int32(container.readonlyPaths.count)
        raw.sysctl_paths = UnsafePointer(constStringArray(container.sysctls.map { $0.path }))
        raw.sysctl_values = UnsafePointer(constStringArray(container.sysctls.map { $0.value }))
        raw.nsysctl = Int32(container.sysctls.count)
        raw.hostname = container.hostname.map { string($0) }
        raw.domainname = container.domainname.map { string($0) }
    }

    deinit {
        for pointer in allocations { free(pointer) }
    }

    private func string(_ text: String) -> UnsafePointer<CChar> {
        let copy = strdup(text)
        guard let copy else { fatalError("out of memory") }
        allocations.append(UnsafeMutableRawPointer(copy))
        return UnsafePointer(copy)
    }

    private func array<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
        // malloc (not Swift's allocator) so that deinit can free every allocation the same way.
        guard let memory = malloc(MemoryLayout<T>.stride * max(values.count, 1)) else { fatalError("out of memory") }
        allocations.append(memory)
        let pointer = memory.bindMemory(to: T.self, capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
        return pointer
    }

    /// A NULL-terminated `char *const *`.
    private func stringArray(_ values: [String]) -> UnsafePointer<UnsafeMutablePointer<CChar>?> {
        let pointers: [UnsafeMutablePointer<CChar>?] = values.map { UnsafeMutablePointer(mutating: string($0)) } + [nil]
        return UnsafePointer(array(pointers))
    }

    private func constStringArray(_ values: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        array(values.map { Optional(string($0)) } + [nil])
    }
}
