// The real host facts for SpecResolver: rlimit ceilings, cgroup layout and mount sources, seccomp.
import Cgroups
import OCISpec
import RuntimeSecurity

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension HostFacts {
    /// `stateRoot` holds the seccomp cache (`<root>/.cache/seccomp`, like crun): compiling a ~440-name
    /// profile with libseccomp on every start would cost more than the rest of the start.
    /// `cgroups` (the container's manager and one read of the host's cgroup mounts) gives the
    /// sources of a `cgroup` mount; without it they are looked up on demand.
    public static func current(layout: CgroupLayout, stateRoot: String, cgroups: CgroupMounts? = nil) -> HostFacts {
        HostFacts(
            hardLimit: { resource in
                var limit = rlimit()
                guard getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0 else { return UInt64.max }
                return limit.rlim_max == rlim_t.max ? UInt64.max : UInt64(limit.rlim_max)
            },
            cgroupLayout: layout,
            cgroupMountSources: { path in
                if let cgroups { return cgroups.sources(cgroupsPath: path) }
                guard let manager = try? makeCgroupManager(path: path, layout: layout) else { return [] }
                return CgroupMounts.read(layout: layout, directories: manager.directories).sources(cgroupsPath: path)
            },
            compileSeccomp: { profile throws(RuntimeError) in try SeccompBridge.compile(profile, cacheDirectory: stateRoot + "/.cache/seccomp") })
    }
}

/// The host's cgroup mounts and the caller's own cgroups, read once per command (parsing
/// /proc/self/mountinfo is a visible part of the start time), plus the container's directories.
public struct CgroupMounts: Sendable {
    struct Mount: Sendable {
        var mountPoint: String
        var type: String
        /// `name=systemd` for a named v1 hierarchy.
        var name: String?
    }
    var layout: CgroupLayout
    var mounts: [Mount]
    /// /proc/self/cgroup: hierarchy key (`name=systemd`, `cpu,cpuacct`, "") → path.
    var ownPaths: [String: String]
    /// The container's directories from its CgroupManager.
    var directories: [String]
    /// What `mounts` and `ownPaths` came from, when built from a snapshot (create reuses it for state.json).
    var host: CgroupHostSnapshot?

    init(layout: CgroupLayout, mounts: [Mount], ownPaths: [String: String], directories: [String]) {
        self.layout = layout
        self.mounts = mounts
        self.ownPaths = ownPaths
        self.directories = directories
    }

    init(layout: CgroupLayout, host: CgroupHostSnapshot, directories: [String]) {
        self.layout = layout
        mounts = host.cgroupMounts.map { Mount(mountPoint: $0.mountPoint, type: $0.fsType, name: $0.name) }
        ownPaths = host.ownPaths
        self.directories = directories
        self.host = host
    }

    static func read(layout: CgroupLayout, directories: [String]) -> CgroupMounts {
        // Over UTF-8 bytes: String's Character-level split (grapheme breaking) was a visible part of `create`.
        func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
        let space = UInt8(ascii: " ")
        var mounts: [Mount] = []
        if let info = try? FileSystem.read("/proc/self/mountinfo") {
            for line in info.split(separator: UInt8(ascii: "\n")) {
                let fields = line.split(separator: space)
                // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
                guard let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }), dash > 4,
                    dash + 1 < fields.count
                else { continue }
                let type = text(fields[dash + 1])
                guard type == "cgroup" || type == "cgroup2" else { continue }
                let options = dash + 3 < fields.count ? fields[dash + 3].split(separator: UInt8(ascii: ",")).map(text) : []
                mounts.append(Mount(mountPoint: text(fields[4]), type: type, name: options.first { $0.hasPrefix("name=") }))
            }
        }
        var own: [String: String] = [:]
        if let cgroups = try? FileSystem.read("/proc/self/cgroup") {
            for entry in cgroups.split(separator: UInt8(ascii: "\n")) {
                let parts = entry.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
                if parts.count == 3 { own[text(parts[1])] = text(parts[2]) }
            }
        }
        return CgroupMounts(layout: layout, mounts: mounts, ownPaths: own, directories: directories)
    }

    /// The mount records of the container's directories for state.json; nil when they cannot be determined (later
    /// commands then read mountinfo: the record is an optimisation only).
    func records() -> [CgroupMountRecord]? {
        if let host { return try? cgroupMountRecords(for: directories, host: host) }
        return try? cgroupMountRecords(for: directories)
    }

    /// Named v1 hierarchies (`name=systemd`): no controllers, so the Cgroups managers skip them, but runc
    /// puts the container in them too and shows them in its /sys/fs/cgroup. (mount point, directory).
    func namedHierarchies(cgroupsPath: String) -> [(mountPoint: String, directory: String)] {
        guard layout != .unified else { return [] }
        return mounts.compactMap { mount in
            guard mount.type == "cgroup", let name = mount.name else { return nil }
            let relative = cgroupsPath.hasPrefix("/") ? cgroupsPath : (ownPaths[name] ?? "/") + "/" + cgroupsPath
            return (mount.mountPoint, FileSystem.clean(mount.mountPoint + "/" + relative))
        }
    }

    /// For each host cgroup v1 hierarchy the container's cgroup lives in: (name, host directory).
    /// On cgroup v2: the container's directory alone.
    func sources(cgroupsPath: String) -> [(name: String, source: String)] {
        if layout == .unified { return directories.first.map { [("", $0)] } ?? [] }
        var out: [(name: String, source: String)] = []
        for mount in mounts where mount.type == "cgroup" && mount.name == nil {
            let prefix = mount.mountPoint + "/"
            guard let directory = directories.first(where: { $0.hasPrefix(prefix) || $0 == mount.mountPoint }) else { continue }
            out.append((mount.mountPoint.split(separator: "/").last.map(String.init) ?? "", directory))
        }
        for named in namedHierarchies(cgroupsPath: cgroupsPath) {
            out.append((named.mountPoint.split(separator: "/").last.map(String.init) ?? "", named.directory))
        }
        return out
    }
}

/// The seccomp compiler (the Security module: libseccomp → raw BPF). Syscalls newer than the installed
/// libseccomp are skipped by it; unknown names (typos) fail with their field path.
enum SeccompBridge {
    static func compile(_ profile: OCI.Seccomp, cacheDirectory: String) throws(RuntimeError) -> (filter: [UInt8], flags: UInt32) {
        do throws(SecurityError) {
            let program = try Seccomp.compile(profile, cacheDirectory: cacheDirectory)
            return (program.filter, program.flags)
        } catch {
            throw RuntimeError(error)
        }
    }
}

extension RuntimeError {
    /// A Security error names its config field already.
    init(_ error: SecurityError) {
        self.init(error.field.isEmpty ? error.message : "config.json: \(error.field): \(error.message)")
    }
}
