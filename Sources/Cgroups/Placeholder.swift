// Entry points of the Cgroups module (contract; implemented by the cgroups work).

/// Detects the host's layout from `/sys/fs/cgroup` (runc/crun rule: statfs magic of `/sys/fs/cgroup`, then
/// `/sys/fs/cgroup/unified`). `root` is injectable for tests.
public func detectCgroupLayout(root: String = "/sys/fs/cgroup") -> CgroupLayout {
    fatalError("not implemented yet")
}

/// A manager for the OCI `cgroupsPath` `path` in the detected (or given) layout.
/// Relative paths are resolved under the calling process's own cgroup (per controller on v1).
public func makeCgroupManager(path: String, layout: CgroupLayout? = nil) throws(CgroupError) -> any CgroupManager {
    throw CgroupError(operation: "create manager", path: path, detail: "not implemented yet")
}

/// The runc/crun (>= runc 1.3.2, crun 1.23) conversion of v1 cpu.shares to v2 cpu.weight.
public func cpuWeight(fromShares shares: UInt64) -> UInt64 {
    fatalError("not implemented yet")
}
