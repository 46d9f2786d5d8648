import Foundation

/// Small POSIX helpers; every failure names the path.
enum FileIO {
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(ImageError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageError.errno(path, "write")
            }
            offset += n
        }
    }

    /// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename.
    static func writeAtomically(_ data: Data, to path: String) throws(ImageError) {
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageError.errno(temp, "create") }
        do throws(ImageError) {
            let written: Result<Void, ImageError> = data.withUnsafeBytes { raw in Result { () throws(ImageError) in try writeAll(fd, raw, path: temp) } }
            try written.get()
            guard fsync(fd) == 0 else { throw ImageError.errno(temp, "fsync") }
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw ImageError.errno(path, "rename", code)
        }
        syncDirectory(of: path)
    }

    /// fsyncs the directory holding `path` so a rename survives a crash.
    static func syncDirectory(of path: String) {
        let dir = parent(of: path)
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// `a/b/c` → `a/b`, `/a` → `/`, `a` → `` (without Foundation's NSString bridging).
    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(ImageError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ImageError.io(path: path, message: "exists and is not a directory") }
            return
        }
        let parentPath = parent(of: path)
        if !parentPath.isEmpty && parentPath != path { try makeDirectories(parentPath, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw ImageError.errno(path, "mkdir") }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Removes `path` recursively without following symlinks and without crossing into mount points.
    static func removeTree(_ path: String) throws(ImageError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw ImageError.errno(path, "lstat")
        }
        try removeTree(path, device: st.st_dev)
    }

    private static func removeTree(_ path: String, device: dev_t) throws(ImageError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw ImageError.errno(path, "lstat")
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            guard unlink(path) == 0 || errno == ENOENT else { throw ImageError.errno(path, "unlink") }
            return
        }
        guard st.st_dev == device else { throw ImageError.io(path: path, message: "refusing to remove across a mount point") }
        for name in try listDirectory(path) { try removeTree(path + "/" + name, device: device) }
        guard rmdir(path) == 0 || errno == ENOENT else { throw ImageError.errno(path, "rmdir") }
    }

    static func listDirectory(_ path: String) throws(ImageError) -> [String] {
        guard let dir = opendir(path) else { throw ImageError.errno(path, "opendir") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Bytes used by a tree (allocated blocks), without following symlinks.
    static func diskUsage(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        var total = Int64(st.st_blocks) * 512
        if (st.st_mode & S_IFMT) == S_IFDIR, let names = try? listDirectory(path) {
            for name in names { total += diskUsage(path + "/" + name) }
        }
        return total
    }

    static func randomSuffix() -> String { String(UInt64.random(in: 0...UInt64.max), radix: 36) }
}
