// fsGroup on writable volumes, as kubelet's `SetVolumeOwnership` (pkg/volume/volume_linux.go) does before the
// containers start: every file and directory under the volume gets group fsGroup, group read/write (read-only
// volumes: group read), directories also group execute and setgid so that new files inherit the group.
// Symbolic links are skipped (never followed). `fsGroupChangePolicy: OnRootMismatch` skips the walk when the
// volume root already has the group, the setgid bit and the permission bits.
import Glibc

public enum VolumeOwnership {
    /// Why a volume could not be prepared: the path and errno text.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "failed to set volume ownership on \(path): \(message)" }
    }

    /// Applies `fsGroup` to the tree at `root`. Returns false when `OnRootMismatch` found nothing to do.
    @discardableResult
    public static func apply(fsGroup: UInt32, to root: String, readOnly: Bool = false, changePolicy: String? = nil) throws(Failure) -> Bool {
        let mask: mode_t = readOnly ? 0o440 : 0o660
        if changePolicy == "OnRootMismatch" {
            var st = stat()
            if lstat(root, &st) == 0, st.st_gid == fsGroup, st.st_mode & (mask | 0o110 | S_ISGID) == (mask | 0o110 | S_ISGID) { return false }
        }
        try walk(root, gid: fsGroup, mask: mask)
        return true
    }

    private static func walk(_ path: String, gid: UInt32, mask: mode_t) throws(Failure) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw Failure(path: path, message: String(cString: strerror(errno))) }
        let kind = st.st_mode & S_IFMT
        if kind == S_IFLNK { return }
        guard lchown(path, UInt32.max, gid) == 0 else { throw Failure(path: path, message: String(cString: strerror(errno))) }
        var mode = (st.st_mode & 0o7777) | mask
        if kind == S_IFDIR { mode |= S_ISGID | 0o110 }
        guard chmod(path, mode) == 0 else { throw Failure(path: path, message: String(cString: strerror(errno))) }
        guard kind == S_IFDIR else { return }
        guard let dir = opendir(path) else { throw Failure(path: path, message: String(cString: strerror(errno))) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        for name in names { try walk(path + "/" + name, gid: gid, mask: mask) }
    }
}
