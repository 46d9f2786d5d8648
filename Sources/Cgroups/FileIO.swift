// Plain POSIX file access for cgroupfs. Foundation is avoided on purpose: these calls sit on the
// container start path, and cgroupfs needs exactly one write(2) per value anyway.
import Glibc

enum CgroupFS {
    /// Writes `value` to `path` with a single write(2), as cgroupfs parses each write as a whole.
    static func write(_ path: String, _ value: String) throws(CgroupError) {
        let fd = retryingEINTR { open(path, O_WRONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw .posix("write", path: path, value: value, errno: errno) }
        defer { close(fd) }
        var bytes = Array(value.utf8)
        let written = bytes.withUnsafeMutableBytes { buf in
            retryingEINTR { Glibc.write(fd, buf.baseAddress, buf.count) }
        }
        guard written >= 0 else { throw .posix("write", path: path, value: value, errno: errno) }
        guard written == bytes.count else {
            throw CgroupError(operation: "write", path: path, detail: "short write (\(written) of \(bytes.count) bytes)", value: value)
        }
    }

    /// Reads the whole file.
    static func read(_ path: String) throws(CgroupError) -> String {
        guard let text = try readIfPresent(path) else { throw .posix("read", path: path, errno: ENOENT) }
        return text
    }

    /// Reads the whole file; nil when it does not exist (controller not enabled, older kernel).
    static func readIfPresent(_ path: String) throws(CgroupError) -> String? {
        let fd = retryingEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { return nil }
            throw .posix("read", path: path, errno: err)
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in retryingEINTR { Glibc.read(fd, buf.baseAddress, buf.count) } }
            if n < 0 { throw .posix("read", path: path, errno: errno) }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: result, as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates one directory. Returns false when it already existed.
    static func makeDirectory(_ path: String) throws(CgroupError) -> Bool {
        if mkdir(path, 0o755) == 0 { return true }
        let err = errno
        guard err == EEXIST else { throw .posix("mkdir", path: path, errno: err) }
        // A cgroup interface file of that name (e.g. a cgroupsPath ending in "cgroup.procs") is not a cgroup.
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw .posix("mkdir", path: path, errno: ENOTDIR) }
        return false
    }

    /// Removes one directory. Returns false when it did not exist.
    static func removeDirectory(_ path: String) throws(CgroupError) -> Bool {
        if rmdir(path) == 0 { return true }
        let err = errno
        if err == ENOENT { return false }
        throw .posix("rmdir", path: path, errno: err)
    }

    /// Names of the subdirectories of `path` (child cgroups); empty when `path` is missing.
    static func subdirectories(_ path: String) throws(CgroupError) -> [String] {
        guard let dir = opendir(path) else {
            let err = errno
            if err == ENOENT { return [] }
            throw .posix("opendir", path: path, errno: err)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let isDir = entry.pointee.d_type == UInt8(DT_DIR)
            // Read in place rather than copying the fixed 256-byte d_name: cgroupfs accepts longer names.
            let name = withUnsafePointer(to: &entry.pointee.d_name) { field in
                String(cString: UnsafeRawPointer(field).assumingMemoryBound(to: CChar.self))
            }
            if isDir && name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// For enriching error messages only: a failure here must not replace the error being reported.
func bestEffortRead(_ path: String) -> String? {
    do throws(CgroupError) {
        return try CgroupFS.readIfPresent(path)
    } catch {
        return nil
    }
}

/// Joins path components with exactly one "/" between them.
func joinPath(_ base: String, _ rest: String) -> String {
    let tail = rest.drop { $0 == "/" }
    if tail.isEmpty { return base }
    return base.hasSuffix("/") ? base + tail : base + "/" + tail
}

func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// Sleeps for `milliseconds` (used by the short EBUSY / EINVAL retry loops).
func sleepMilliseconds(_ milliseconds: UInt32) {
    usleep(milliseconds * 1000)
}

extension CgroupError {
    static func posix(_ operation: String, path: String, value: String? = nil, errno err: Int32) -> CgroupError {
        CgroupError(operation: operation, path: path, errno: err, detail: String(cString: strerror(err)), value: value)
    }
}
