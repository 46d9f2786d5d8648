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
            let result = try HarnessCommand.run([script, dest], timeout: .seconds(120))
            guard result.status == 0 else {
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
            let chown = try HarnessCommand.run(["chown", "-R", "-h", "\(hostUID):\(hostGID)", dest], timeout: .seconds(60))
            guard chown.status == 0 else { throw FixtureError("chown -R \(hostUID):\(hostGID) \(dest): \(chown.stderr)") }
        }
    }

    /// A private, writable copy of the busybox rootfs at `dest` (which must not exist).
    public static func privateCopy(to dest: String) throws -> String {
        try copyTree(from: try busybox(), to: dest)
        return dest
    }

    private static func copyTree(from source: String, to dest: String) throws {
        let copy = try HarnessCommand.run(["cp", "-a", source, dest], timeout: .seconds(60))
        guard copy.status == 0 else { throw FixtureError("cp -a \(source) \(dest): \(copy.stderr)") }
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

/// What a finished command did.
public struct HarnessResult: Sendable {
    /// The exit status, or `128 + signal` if it was killed by a signal.
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// True if the command was killed because it outlived its timeout.
    public var timedOut: Bool
}

/// A minimal process runner for the runtime fixtures (until the shared `Tests/TestSupport/Process.swift` lands):
/// `posix_spawn`s `argv` (argv[0] looked up in `PATH` unless it contains a slash) in its own process group, with
/// stdin from /dev/null, stdout/stderr captured through temporary files (no pipe can fill up, and a daemon that
/// inherits them, like conmon, cannot hold the call open), default signal dispositions and an empty signal mask;
/// on `timeout` it SIGKILLs the process group. Not Foundation's `Process`: it did not reap a podman whose conmon
/// had daemonised, and the call hung with podman a zombie.
public enum HarnessCommand {
    public static func run(_ argv: [String], timeout: Duration = .seconds(60), environment: [String: String]? = nil) throws -> HarnessResult {
        guard let name = argv.first else { throw FixtureError("empty argv") }
        let path = try resolve(name)
        let dir = try Rootfs.runDirectory()
        let tag = UUID().uuidString
        let outPath = dir + "/.out-\(tag)"
        let errPath = dir + "/.err-\(tag)"
        defer {
            for path in [outPath, errPath] where FileManager.default.fileExists(atPath: path) { removeReportingFailure(path) }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgv + cEnv { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, cArgv, cEnv)
        guard spawned == 0 else { throw FixtureError("posix_spawn \(path): \(String(cString: strerror(spawned)))") }

        let deadline = ContinuousClock.now.advanced(by: timeout)
        var timedOut = false
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw FixtureError("waitpid \(pid): \(String(cString: strerror(errno)))") }
            if !timedOut && ContinuousClock.now >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)
            }
            usleep(1_000)
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (C macros are not imported).
        let signal = status & 0x7f
        let exitStatus = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        return HarnessResult(
            status: exitStatus,
            stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self),
            timedOut: timedOut)
    }

    /// The absolute path of `name`, searched in `PATH` (plus the sbin directories) when it has no slash.
    public static func resolve(_ name: String) throws -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        for dir in dirs where FileManager.default.isExecutableFile(atPath: dir + "/" + name) {
            return dir + "/" + name
        }
        throw FixtureError("\(name) not found in PATH")
    }
}

/// Removes `path`, writing (not throwing) the reason to stderr if it cannot: for cleanup in `defer` blocks.
public func removeReportingFailure(_ path: String) {
    do {
        try FileManager.default.removeItem(atPath: path)
    } catch {
        FileHandle.standardError.write(Data("test cleanup: could not remove \(path): \(error)\n".utf8))
    }
}
