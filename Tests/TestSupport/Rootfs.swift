// The busybox root filesystem used by runtime tests, built once per test run.
//
// `Rootfs.busybox()` runs `scripts/make-busybox-rootfs.sh` (Debian's busybox-static, no downloads) into a
// per-run temporary directory and returns its path; later calls return the same path. Containers must treat it
// as read-only (the default bundle has `root.readonly: true`); a test that needs a writable or re-owned root asks
// for a private copy with `Rootfs.privateCopy(...)` or `Rootfs.busyboxOwned(by:)`.
import Foundation
import Glibc
import Synchronization

/// Errors from the test fixtures, with the command or path that failed.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum Rootfs {
    private static let cache = Mutex<[String: String]>([:])

    /// The per-run scratch directory (`$TMPDIR/minikubelet-tests-<pid>`), created on first use.
    /// It is removed when the test process exits.
    public static func runDirectory() throws -> String {
        let dir = runDirectoryPath()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = cleanupRegistration
        return dir
    }

    private static func runDirectoryPath() -> String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("minikubelet-tests-\(getpid())")
    }

    private static let cleanupRegistration: Void = {
        atexit {
            // Best effort at exit: report, never abort the exit path.
            do {
                try FileManager.default.removeItem(atPath: Rootfs.runDirectoryPath())
            } catch {
                FileHandle.standardError.write(Data("minikubelet tests: could not remove \(Rootfs.runDirectoryPath()): \(error)\n".utf8))
            }
        }
    }()

    /// The repository root, found from this source file's path (`Tests/TestSupport/Rootfs.swift`).
    public static func repositoryRoot(file: String = #filePath) -> String {
        var url = URL(fileURLWithPath: file)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    /// A busybox rootfs owned by root, built once per test run. Treat it as read-only.
    public static func busybox() throws -> String {
        try cached(key: "busybox") { dest in
            let script = repositoryRoot() + "/scripts/make-busybox-rootfs.sh"
            let result = try TestSupport.run([script, dest], timeout: .seconds(120))
            guard result.succeeded else {
                throw FixtureError("\(script) \(dest) exited \(result.status): \(result.stderr)")
            }
        }
    }

    /// A copy of the busybox rootfs whose files are owned by `hostUID`/`hostGID` (`chown -R`), for bundles with
    /// user-namespace mappings where container root is `hostUID` on the host. Built once per (uid, gid) per run.
    public static func busyboxOwned(byUID hostUID: UInt32, gid hostGID: UInt32) throws -> String {
        let source = try busybox()
        return try cached(key: "busybox-\(hostUID)-\(hostGID)") { dest in
            try copyTree(from: source, to: dest)
            let chown = try TestSupport.run(["chown", "-R", "-h", "\(hostUID):\(hostGID)", dest], timeout: .seconds(60))
            guard chown.succeeded else { throw FixtureError("chown -R \(hostUID):\(hostGID) \(dest): \(chown.stderr)") }
        }
    }

    /// A private, writable copy of the busybox rootfs at `dest` (which must not exist).
    public static func privateCopy(to dest: String) throws -> String {
        try copyTree(from: try busybox(), to: dest)
        return dest
    }

    private static func copyTree(from source: String, to dest: String) throws {
        let copy = try TestSupport.run(["cp", "-a", source, dest], timeout: .seconds(60))
        guard copy.succeeded else { throw FixtureError("cp -a \(source) \(dest): \(copy.stderr)") }
    }

    /// Builds `key` once into `<run dir>/<key>` with `build`, which receives the destination path.
    /// The lock is held while building so that concurrent tests wait for one build instead of racing.
    private static func cached(key: String, build: (String) throws -> Void) throws -> String {
        let dir = try runDirectory()
        return try cache.withLock { paths in
            if let path = paths[key] { return path }
            let dest = dir + "/" + key
            if FileManager.default.fileExists(atPath: dest) {
                try FileManager.default.removeItem(atPath: dest)
            }
            try build(dest)
            paths[key] = dest
            return dest
        }
    }
}

/// The absolute path of `name`, searched in `PATH` (plus the sbin directories) when it has no slash.
public func executablePath(_ name: String) throws -> String {
    if name.contains("/") { return name }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
    for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
        return dir + "/" + name
    }
    throw FixtureError("\(name) not found in PATH")
}

/// Removes `path`, writing (not throwing) the reason to stderr if it cannot: for cleanup in `defer` blocks.
public func removeReportingFailure(_ path: String) {
    do {
        try FileManager.default.removeItem(atPath: path)
    } catch {
        FileHandle.standardError.write(Data("test cleanup: could not remove \(path): \(error)\n".utf8))
    }
}
