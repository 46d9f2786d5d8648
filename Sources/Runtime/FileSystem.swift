// Minimal file helpers over libc: the CLI avoids Foundation's file APIs to keep start-up cheap.
import CShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

enum FileSystem {
    /// The whole file, or an error naming it.
    static func read(_ path: String) throws(RuntimeError) -> [UInt8] {
        let fd = mk_open(path, O_RDONLY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw .system("open", path, errno: currentErrno()) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system("read", path, errno: currentErrno())
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    static func readString(_ path: String) throws(RuntimeError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Writes `bytes` to `path` (truncating); `exclusive` fails if it exists.
    static func write(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644, exclusive: Bool = false) throws(RuntimeError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = mk_open(path, flags, mode)
        guard fd >= 0 else { throw .system("open", path, errno: currentErrno()) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress?.advanced(by: offset), $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .system("write", path, errno: currentErrno())
            }
            offset += n
        }
    }

    static func write(_ path: String, _ text: String) throws(RuntimeError) {
        try write(path, Array(text.utf8))
    }

    /// Writes atomically (temp file + rename) so a concurrent reader never sees half a file.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(RuntimeError) {
        let temp = path + ".tmp"
        try write(temp, bytes, mode: mode)
        guard rename(temp, path) == 0 else { throw .system("rename", path, errno: currentErrno()) }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func makeDirectories(_ path: String, mode: mode_t = 0o711) throws(RuntimeError) {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw .system("mkdir", current, errno: currentErrno())
            }
        }
    }

    /// Names in a directory (without . and ..); empty if it does not exist.
    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes a directory and the plain files in it (a state dir has no subdirectories).
    static func removeFlatDirectory(_ path: String) throws(RuntimeError) {
        for name in list(path) {
            let child = path + "/" + name
            if unlink(child) != 0 && errno != ENOENT { throw .system("unlink", child, errno: currentErrno()) }
        }
        if rmdir(path) != 0 && errno != ENOENT { throw .system("rmdir", path, errno: currentErrno()) }
    }

    /// `path` made absolute against the current directory, with `.` and `..` folded.
    static func absolute(_ path: String) -> String {
        var base = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd = buffer.withUnsafeMutableBufferPointer { getcwd($0.baseAddress, $0.count) }.map { String(cString: $0) }
            base = (cwd ?? "/") + "/" + path
        }
        return clean(base)
    }

    /// Lexical cleaning: collapses `//`, `.` and `..` (never above "/").
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Joins `unsafePath` under `root`, resolving symlinks as if `root` were "/" so that a symlink in
    /// the rootfs cannot point a mount outside it (the securejoin rule runc follows).
    static func secureJoin(root: String, _ unsafePath: String) -> String {
        var resolved: [String] = []
        var pending = unsafePath.split(separator: "/").map(String.init)
        var hops = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." || part.isEmpty { continue }
            if part == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = buffer.withUnsafeMutableBufferPointer { pointer -> Int in
                guard let base = pointer.baseAddress else { return -1 }
                return readlink(candidate, base, pointer.count - 1)
            }
            if n > 0 && hops < 255 {
                hops += 1
                let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if target.hasPrefix("/") { resolved = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            resolved.append(part)
        }
        return clean(root + "/" + resolved.joined(separator: "/"))
    }
}
