// The container's directories in named cgroup v1 hierarchies (`name=systemd`). They carry no limits,
// so the Cgroups managers do not handle them; runc still joins them, and podman/the differential
// tests see them in the container's /sys/fs/cgroup. Created, joined and removed here.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

struct NamedCgroups: Sendable {
    var directories: [String]

    static func create(cgroupsPath: String, mounts: CgroupMounts) throws(RuntimeError) -> NamedCgroups {
        var made: [String] = []
        for entry in mounts.namedHierarchies(cgroupsPath: cgroupsPath) {
            // Parents (e.g. podman's libpod_parent) are created as needed and kept, like cgroup parents.
            do {
                try FileSystem.makeDirectories(entry.directory, mode: 0o755)
            } catch {
                NamedCgroups(directories: made).remove()
                throw error
            }
            made.append(entry.directory)
        }
        return NamedCgroups(directories: made)
    }

    func add(_ pid: Int32) throws(RuntimeError) {
        for directory in directories {
            try FileSystem.write(directory + "/cgroup.procs", "\(pid)")
        }
    }

    /// rmdir once the processes are gone; EBUSY is retried briefly (exit is asynchronous).
    func remove() {
        for directory in directories {
            let removed = Linux.poll(timeout: 2) { rmdir(directory) == 0 || errno == ENOENT }
            if !removed { Log.warn("cannot remove cgroup \(directory): \(errorString(currentErrno()))") }
        }
    }
}
