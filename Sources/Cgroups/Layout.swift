// Layout detection by filesystem magic, the runc/crun rule (reference/runtime.md §3.1).

enum FilesystemMagic {
    static let cgroup2: Int64 = 0x6367_7270
    static let cgroup1: Int64 = 0x0027_e0eb
    static let tmpfs: Int64 = 0x0102_1994
}

// The Glibc module map does not include <sys/statfs.h>, and CShims belongs to another module; so bind the libc
// symbol directly. The arguments are two pointers and the result an int, which the Swift and C conventions
// pass identically.
@_silgen_name("statfs")
private func libcStatfs(_ path: UnsafePointer<CChar>, _ buf: UnsafeMutableRawPointer) -> Int32

/// statfs(2) f_type of `path`, nil when statfs fails.
func statfsMagic(_ path: String) -> Int64? {
    // struct statfs is 120 bytes on 64-bit Linux, f_type (a long) first on every architecture.
    let buf = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
    defer { buf.deallocate() }
    buf.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
    let rc = path.withCString { libcStatfs($0, buf) }
    guard rc == 0 else { return nil }
    return Int64(buf.load(as: Int.self))
}

/// The detection rule with the probe injected: `root` cgroup2 → unified; `root/unified` cgroup2 → hybrid;
/// otherwise legacy. When statfs is unavailable for a path, mountinfo's fstype for that mount point decides.
func detectLayout(root: String, statfsType: (String) -> Int64?, mountinfo: String?) -> CgroupLayout {
    let mounts = mountinfo.map(parseMountInfo) ?? []
    func isCgroup2(_ path: String) -> Bool {
        if let magic = statfsType(path) { return magic == FilesystemMagic.cgroup2 }
        return mounts.contains { $0.mountPoint == path && $0.fsType == "cgroup2" }
    }
    if isCgroup2(root) { return .unified }
    if isCgroup2(joinPath(root, "unified")) { return .hybrid }
    return .legacy
}
