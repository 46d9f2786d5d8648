// The real host facts for SpecResolver: rlimit ceilings, cgroup layout and mount sources, seccomp.
import Cgroups
import OCISpec
import Security

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension HostFacts {
    /// `stateRoot` holds the seccomp cache (`<root>/.cache/seccomp`, like crun): compiling a ~440-name
    /// profile with libseccomp on every start would cost more than the rest of the start.
    public static func current(layout: CgroupLayout, stateRoot: String) -> HostFacts {
        HostFacts(
            hardLimit: { resource in
                var limit = rlimit()
                guard getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) == 0 else { return UInt64.max }
                return limit.rlim_max == rlim_t.max ? UInt64.max : UInt64(limit.rlim_max)
            },
            cgroupLayout: layout,
            cgroupMountSources: { path in CgroupMounts.sources(cgroupsPath: path, layout: layout) },
            compileSeccomp: { profile throws(RuntimeError) in try SeccompBridge.compile(profile, cacheDirectory: stateRoot + "/.cache/seccomp") })
    }
}

/// Host cgroup mount points, for the container's /sys/fs/cgroup.
enum CgroupMounts {
    /// (mount point, fstype) of every cgroup/cgroup2 mount, in mountinfo order.
    static func hostMounts() -> [(mountPoint: String, type: String)] {
        guard let text = try? FileSystem.readString("/proc/self/mountinfo") else { return [] }
        var out: [(mountPoint: String, type: String)] = []
        for line in text.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let type = halves[1].split(separator: " ").first.map(String.init) ?? ""
            guard left.count > 4, type == "cgroup" || type == "cgroup2" else { continue }
            out.append((String(left[4]), type))
        }
        return out
    }

    /// For each host cgroup v1 hierarchy the container's cgroup lives in: (name, host directory).
    /// On cgroup v2: the container's directory alone.
    static func sources(cgroupsPath: String, layout: CgroupLayout) -> [(name: String, source: String)] {
        guard let manager = try? makeCgroupManager(path: cgroupsPath, layout: layout) else { return [] }
        let directories = manager.directories
        if layout == .unified { return directories.first.map { [("", $0)] } ?? [] }
        var out: [(name: String, source: String)] = []
        for mount in hostMounts() where mount.type == "cgroup" {
            let prefix = mount.mountPoint + "/"
            guard let directory = directories.first(where: { $0.hasPrefix(prefix) || $0 == mount.mountPoint }) else { continue }
            let name = mount.mountPoint.split(separator: "/").last.map(String.init) ?? ""
            out.append((name, directory))
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
