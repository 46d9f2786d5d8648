// The host's device nodes, for privileged containers (containerd `oci.WithHostDevices`): every character and
// block device under /dev, recursively, except the per-container pseudo filesystems the runtime creates itself.
import Glibc
import OCISpec

public enum HostDevices {
    /// Sub-directories skipped, as containerd does (pts, shm, mqueue, fd and container-manager state).
    static let skippedDirectories: Set<String> = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]

    /// Device nodes under `directory` as OCI devices (path, type, major/minor, mode, owner), sorted by path.
    /// `/dev/console` is skipped (the runtime binds the container's own console there). Unreadable entries are
    /// skipped: a device that vanishes while listing is not an error.
    public static func list(_ directory: String = "/dev") -> [OCI.Device] {
        var out: [OCI.Device] = []
        walk(directory, into: &out, top: directory)
        return out.sorted { $0.path < $1.path }
    }

    private static func walk(_ dir: String, into out: inout [OCI.Device], top: String) {
        guard let handle = opendir(dir) else { return }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            let kind = st.st_mode & S_IFMT
            if kind == S_IFDIR {
                if !skippedDirectories.contains(name) { walk(path, into: &out, top: top) }
                continue
            }
            guard kind == S_IFCHR || kind == S_IFBLK else { continue }
            if path == top + "/console" { continue }
            let containerPath = "/dev" + path.dropFirst(top.count)
            out.append(
                OCI.Device(
                    path: containerPath, type: kind == S_IFCHR ? "c" : "b", major: Int64(deviceMajor(UInt64(st.st_rdev))),
                    minor: Int64(deviceMinor(UInt64(st.st_rdev))), fileMode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid))
        }
    }
}

/// glibc's `gnu_dev_major` / `gnu_dev_minor` (macros Swift cannot import).
func deviceMajor(_ dev: UInt64) -> UInt64 { ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000) }
func deviceMinor(_ dev: UInt64) -> UInt64 { (dev & 0xff) | ((dev >> 12) & 0xffff_ff00) }
