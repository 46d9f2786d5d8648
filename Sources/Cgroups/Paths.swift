// OCI cgroupsPath → directories, per hierarchy.

/// Where one hierarchy's cgroup lives: `base` already exists (hierarchy root, or the caller's own cgroup),
/// `components` are created below it, leaf last.
struct CgroupPlacement: Equatable, Sendable {
    var base: String
    var components: [String]

    var leaf: String { components.reduce(base) { joinPath($0, $1) } }

    /// Every directory from the first one below `base` down to the leaf.
    var levels: [String] {
        var current = base
        return components.map { component in
            current = joinPath(current, component)
            return current
        }
    }
}

/// The v1 controllers a v1/hybrid manager manages (runc's set minus the rarely used ones).
let v1Controllers = ["cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio"]

/// Host facts path resolution depends on; read once, injectable for tests.
struct ProcessCgroupInfo: Sendable {
    var ownCgroups: [ProcCgroupEntry]
    var mounts: [MountInfoEntry]

    static func current() throws(CgroupError) -> ProcessCgroupInfo {
        // Missing /proc (minimal VM init) degrades to "own cgroup is the root", which is what PID 1 sees anyway.
        let cgroups = try CgroupFS.readIfPresent("/proc/self/cgroup") ?? ""
        let mounts = try CgroupFS.readIfPresent("/proc/self/mountinfo") ?? ""
        return ProcessCgroupInfo(ownCgroups: parseProcCgroup(cgroups), mounts: parseMountInfo(mounts))
    }
}

/// Splits and validates an OCI cgroupsPath; `..` and `.` are refused so a manager can never reach outside its base.
func cgroupPathComponents(_ path: String) throws(CgroupError) -> (absolute: Bool, components: [String]) {
    let components = path.split(separator: "/").map(String.init)
    guard !components.isEmpty else {
        throw CgroupError(operation: "resolve", path: path, detail: "empty cgroupsPath (would be the caller's own cgroup)")
    }
    if components.contains(where: { $0 == ".." || $0 == "." }) {
        throw CgroupError(operation: "resolve", path: path, detail: "cgroupsPath must not contain '.' or '..'")
    }
    return (path.hasPrefix("/"), components)
}

/// Absolute paths hang from the hierarchy root; relative ones from the caller's own cgroup in that hierarchy.
func placement(
    path: String, mount: MountInfoEntry, ownCgroup: String?
) throws(CgroupError) -> CgroupPlacement {
    let (absolute, components) = try cgroupPathComponents(path)
    if absolute { return CgroupPlacement(base: mount.mountPoint, components: components) }
    return CgroupPlacement(base: joinPath(mount.mountPoint, ownPathBelowMountRoot(ownCgroup ?? "/", mountRoot: mount.root)), components: components)
}

/// /proc/self/cgroup paths are relative to the hierarchy root; a bind mount of a subtree (mount root != "/")
/// shows only the part below its root.
func ownPathBelowMountRoot(_ own: String, mountRoot: String) -> String {
    if mountRoot == "/" || mountRoot.isEmpty { return own }
    if own == mountRoot { return "/" }
    if own.hasPrefix(mountRoot + "/") { return String(own.dropFirst(mountRoot.count)) }
    return own
}

/// The v2 placement (unified layout, or the process-tracking tree of a hybrid host).
func v2Placement(path: String, layout: CgroupLayout, info: ProcessCgroupInfo) throws(CgroupError) -> CgroupPlacement {
    let preferred = layout == .hybrid ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup"
    let mount = info.mounts.v2Mount(preferred: preferred) ?? MountInfoEntry(root: "/", mountPoint: preferred, fsType: "cgroup2", superOptions: [])
    return try placement(path: path, mount: mount, ownCgroup: info.ownCgroups.v2Path)
}

/// One placement per mounted v1 controller (co-mounted controllers share a directory).
func v1Placements(path: String, info: ProcessCgroupInfo) throws(CgroupError) -> [String: CgroupPlacement] {
    var result: [String: CgroupPlacement] = [:]
    for controller in v1Controllers {
        guard let mount = info.mounts.v1Mount(for: controller) else { continue }
        result[controller] = try placement(path: path, mount: mount, ownCgroup: info.ownCgroups.v1Path(for: controller))
    }
    if result.isEmpty {
        throw CgroupError(operation: "resolve", path: path, detail: "no cgroup v1 controller is mounted (see /proc/self/mountinfo)")
    }
    return result
}

/// Splits a recorded absolute directory into the mount it lives on and the components below it.
func placement(ofDirectory dir: String, mounts: [MountInfoEntry]) throws(CgroupError) -> (mount: MountInfoEntry, placement: CgroupPlacement) {
    let candidates = mounts.filter { ($0.fsType == "cgroup" || $0.fsType == "cgroup2") && dir.hasPrefix($0.mountPoint + "/") }
    guard let mount = candidates.max(by: { $0.mountPoint.count < $1.mountPoint.count }) else {
        throw CgroupError(operation: "restore", path: dir, detail: "not below a cgroup mount point")
    }
    let rest = String(dir.dropFirst(mount.mountPoint.count))
    let (_, components) = try cgroupPathComponents(rest)
    return (mount, CgroupPlacement(base: mount.mountPoint, components: components))
}

func restoreManager(directories: [String], layout: CgroupLayout, mounts: [MountInfoEntry]) throws(CgroupError) -> any CgroupManager {
    var controllers: [String: CgroupPlacement] = [:]
    var unified: CgroupPlacement?
    for dir in directories {
        let (mount, placement) = try placement(ofDirectory: dir, mounts: mounts)
        if mount.fsType == "cgroup2" {
            unified = placement
        } else {
            for controller in v1Controllers where mount.superOptions.contains(controller) { controllers[controller] = placement }
        }
    }
    switch layout {
    case .unified:
        guard let unified, controllers.isEmpty else {
            throw CgroupError(operation: "restore", path: directories.joined(separator: " "), detail: "expected one cgroup2 directory")
        }
        return CgroupV2Manager(placement: unified)
    case .hybrid, .legacy:
        guard !controllers.isEmpty else {
            throw CgroupError(operation: "restore", path: directories.joined(separator: " "), detail: "no cgroup v1 controller directory")
        }
        return CgroupV1Manager(layout: layout, controllers: controllers, unified: layout == .hybrid ? unified : nil)
    }
}
