// Entry points of the Cgroups module.

/// Detects the host's layout from `/sys/fs/cgroup` (runc/crun rule: statfs magic of `/sys/fs/cgroup`, then
/// `/sys/fs/cgroup/unified`). `root` is injectable for tests.
public func detectCgroupLayout(root: String = "/sys/fs/cgroup") -> CgroupLayout {
    // mountinfo is only a fallback for when statfs itself fails (e.g. the path is missing).
    let needsFallback = statfsMagic(root) == nil
    return detectLayout(root: root, statfsType: statfsMagic, mountinfo: needsFallback ? bestEffortRead("/proc/self/mountinfo") : nil)
}

/// The calling process's cgroups and the host's cgroup mounts (/proc/self/cgroup and /proc/self/mountinfo), read
/// once: `create` needs them for the manager, the container's cgroup mounts and the mount records in state.json.
public struct CgroupHostSnapshot: Sendable {
    let info: ProcessCgroupInfo

    public static func read() throws(CgroupError) -> CgroupHostSnapshot {
        CgroupHostSnapshot(info: try ProcessCgroupInfo.current())
    }

    /// The cgroup and cgroup2 mounts: mount point, type and, for a named v1 hierarchy, its `name=...` option.
    public var cgroupMounts: [(mountPoint: String, fsType: String, name: String?)] {
        info.mounts.compactMap { mount in
            guard mount.fsType == "cgroup" || mount.fsType == "cgroup2" else { return nil }
            return (mount.mountPoint, mount.fsType, mount.superOptions.first { $0.hasPrefix("name=") })
        }
    }

    /// The caller's own cgroup per hierarchy, keyed by the controller field of /proc/self/cgroup
    /// (`name=systemd`, `cpu,cpuacct`, "" for cgroup2).
    public var ownPaths: [String: String] {
        var paths: [String: String] = [:]
        for entry in info.ownCgroups { paths[entry.controllers.joined(separator: ",")] = entry.path }
        return paths
    }
}

/// `makeCgroupManager(path:layout:)` from a snapshot read earlier.
public func makeCgroupManager(path: String, layout: CgroupLayout, host: CgroupHostSnapshot) throws(CgroupError) -> any CgroupManager {
    try makeManager(path: path, layout: layout, info: host.info)
}

/// A manager for the OCI `cgroupsPath` `path` in the detected (or given) layout.
/// Relative paths are resolved under the calling process's own cgroup (per controller on v1).
/// `path` must be non-empty and free of `.`/`..` components.
public func makeCgroupManager(path: String, layout: CgroupLayout? = nil) throws(CgroupError) -> any CgroupManager {
    try makeManager(path: path, layout: layout ?? detectCgroupLayout(), info: ProcessCgroupInfo.current())
}

/// The runc/crun (>= runc 1.3.2, crun 1.23) conversion of v1 cpu.shares to v2 cpu.weight.
public func cpuWeight(fromShares shares: UInt64) -> UInt64 {
    sharesToWeight(shares)
}

/// A manager for directories recorded earlier from `CgroupManager.directories` (e.g. in the runtime's state.json).
/// Later commands (`state`, `kill`, `delete`) may run in a different cgroup than `create` did, so a relative
/// `cgroupsPath` would resolve elsewhere; the recorded absolute directories do not. Nothing is created or checked.
public func restoreCgroupManager(directories: [String], layout: CgroupLayout? = nil) throws(CgroupError) -> any CgroupManager {
    try restoreManager(directories: directories, layout: layout ?? detectCgroupLayout(), mounts: ProcessCgroupInfo.current().mounts)
}

/// The mount facts `restoreCgroupManager` learns from /proc/self/mountinfo, recorded next to the directories so
/// that later commands (`exec` above all, run per exec probe) restore the manager without parsing mountinfo.
public struct CgroupMountRecord: Codable, Sendable, Equatable {
    public var mountPoint: String
    /// `cgroup` (v1) or `cgroup2`.
    public var fsType: String
    /// The v1 controllers mounted there (its super options that name one); empty for cgroup2.
    public var controllers: [String]

    public init(mountPoint: String, fsType: String, controllers: [String]) {
        self.mountPoint = mountPoint
        self.fsType = fsType
        self.controllers = controllers
    }
}

/// The mounts that `directories` (from `CgroupManager.directories`) live on, one record per mount, for
/// `restoreCgroupManager(directories:layout:mounts:)`.
public func cgroupMountRecords(for directories: [String]) throws(CgroupError) -> [CgroupMountRecord] {
    try cgroupMountRecords(for: directories, host: .read())
}

/// `cgroupMountRecords(for:)` from a snapshot read earlier.
public func cgroupMountRecords(for directories: [String], host: CgroupHostSnapshot) throws(CgroupError) -> [CgroupMountRecord] {
    let mounts = host.info.mounts
    var records: [CgroupMountRecord] = []
    for dir in directories {
        let mount = try placement(ofDirectory: dir, mounts: mounts).mount
        let record = CgroupMountRecord(
            mountPoint: mount.mountPoint, fsType: mount.fsType, controllers: v1Controllers.filter { mount.superOptions.contains($0) })
        if !records.contains(record) { records.append(record) }
    }
    return records
}

/// `restoreCgroupManager(directories:layout:)` from recorded mounts instead of /proc/self/mountinfo.
public func restoreCgroupManager(directories: [String], layout: CgroupLayout, mounts: [CgroupMountRecord]) throws(CgroupError) -> any CgroupManager {
    let entries = mounts.map { MountInfoEntry(root: "/", mountPoint: $0.mountPoint, fsType: $0.fsType, superOptions: $0.controllers) }
    return try restoreManager(directories: directories, layout: layout, mounts: entries)
}

func makeManager(path: String, layout: CgroupLayout, info: ProcessCgroupInfo) throws(CgroupError) -> any CgroupManager {
    switch layout {
    case .unified:
        return CgroupV2Manager(placement: try v2Placement(path: path, layout: .unified, info: info))
    case .hybrid:
        return CgroupV1Manager(
            layout: .hybrid, controllers: try v1Placements(path: path, info: info),
            unified: try v2Placement(path: path, layout: .hybrid, info: info))
    case .legacy:
        return CgroupV1Manager(layout: .legacy, controllers: try v1Placements(path: path, info: info), unified: nil)
    }
}

extension CgroupManager {
    /// Joins `pid` to the cgroup2 directory alone: the fallback when the process could not be created in it with
    /// `clone3(CLONE_INTO_CGROUP)` (it joined the `v1Directories` itself).
    public func addProcessToUnified(_ pid: Int32) throws(CgroupError) {
        if let directory = unifiedDirectory { try CgroupProcs.add(pid, to: directory) }
    }

    /// `create()` then `apply(_:)`, for container creation. If either fails, the cgroup is destroyed again
    /// (create() already rolls back the directories it made itself) so a failed create leaves nothing behind;
    /// the thrown error is the original one, with any cleanup failure appended to its detail.
    /// Do not use it to update an existing cgroup: on failure it removes the leaf directories.
    public func createAndApply(_ resources: CgroupResources) throws(CgroupError) {
        try create()
        do throws(CgroupError) {
            try apply(resources)
        } catch {
            var reported = error
            do throws(CgroupError) {
                try destroy()
            } catch {
                reported.detail += "; cleanup also failed: \(error)"
            }
            throw reported
        }
    }
}
