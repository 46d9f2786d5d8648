// Running processes from tests: run a command to completion with a timeout, or spawn one in the
// background and signal it. posix_spawn-based (no Foundation.Process): each child gets its own
// process group (so a timeout kills the whole tree), stdin on /dev/null, default signal
// dispositions and an empty signal mask (the test process may block or ignore some).
import Glibc

/// How a process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a wait(2) status word.
    public init(waitStatus s: Int32) {
        let low = s & 0x7f
        self = low == 0 ? .exited((s >> 8) & 0xff) : .signaled(low)
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit \(code)"
        case .signaled(let sig): return "signal \(sig)"
        }
    }
}

/// The outcome of a finished command.
public struct CommandResult: Sendable, CustomStringConvertible {
    public var status: ExitStatus
    public var stdout: String
    public var stderr: String

    public init(status: ExitStatus, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    public var succeeded: Bool { status == .exited(0) }

    /// Returns self if the command exited 0, else throws `ProcessError.failed` carrying the output.
    @discardableResult
    public func check(_ argv: [String] = []) throws -> CommandResult {
        guard succeeded else { throw ProcessError.failed(argv, self) }
        return self
    }

    public var description: String { "\(status); stdout: \(stdout.debugDescription); stderr: \(stderr.debugDescription)" }
}

public enum ProcessError: Error, CustomStringConvertible {
    case spawnFailed([String], errno: Int32)
    case timedOut([String], partial: CommandResult)
    case failed([String], CommandResult)
    case system(String, errno: Int32)

    public var description: String {
        switch self {
        case .spawnFailed(let argv, let e): return "cannot run \(argv): \(String(cString: strerror(e)))"
        case .timedOut(let argv, let r): return "timed out (killed): \(argv): \(r)"
        case .failed(let argv, let r): return "command failed: \(argv): \(r)"
        case .system(let what, let e): return "\(what): \(String(cString: strerror(e)))"
        }
    }
}

/// Runs `argv` (argv[0] is looked up in PATH) to completion and captures its output.
/// `environment` entries override the inherited environment. On timeout the child's process
/// group is SIGKILLed and `ProcessError.timedOut` is thrown with the output so far.
public func run(_ argv: [String], timeout: Duration = .seconds(60), environment: [String: String] = [:]) throws -> CommandResult {
    let child = try spawn(argv, environment: environment)
    return try child.wait(timeout: timeout)
}

/// Starts `argv` in the background, in a new process group led by the child.
/// With `captureOutput` its stdout/stderr are pipes read by `wait`; a child writing more than a
/// pipe's capacity (64 KiB) blocks until then. Without it they go to /dev/null.
public func spawn(_ argv: [String], environment: [String: String] = [:], captureOutput: Bool = true) throws -> Child {
    precondition(!argv.isEmpty, "empty argv")
    var outPipe: [Int32] = [-1, -1]
    var errPipe: [Int32] = [-1, -1]
    if captureOutput {
        // Close-on-exec: children spawned concurrently by other tests must not inherit our pipe
        // ends (a leaked write end would keep our reader from seeing EOF). pipe2 is not imported
        // into Swift, so a spawn racing the tiny window between pipe and fcntl could still leak.
        guard pipe(&outPipe) == 0 else { throw ProcessError.system("pipe", errno: errno) }
        guard pipe(&errPipe) == 0 else {
            let e = errno
            closeAll(outPipe)
            throw ProcessError.system("pipe", errno: e)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }
    defer {  // the parent keeps only the read ends
        closeAll([outPipe[1], errPipe[1]])
    }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if captureOutput {
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setpgroup(&attr, 0)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var env: [String: String] = [:]
    var entry = environ
    while let p = entry.pointee {
        let kv = String(cString: p)
        if let eq = kv.firstIndex(of: "=") { env[String(kv[..<eq])] = String(kv[kv.index(after: eq)...]) }
        entry += 1
    }
    env.merge(environment) { _, new in new }

    let cArgv = argv.map { strdup($0) } + [nil]
    let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        for p in cArgv { free(p) }
        for p in cEnv { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, cEnv)
    guard rc == 0 else {
        closeAll([outPipe[0], errPipe[0]])
        throw ProcessError.spawnFailed(argv, errno: rc)
    }
    return Child(argv: argv, pid: pid, stdoutFD: outPipe[0], stderrFD: errPipe[0])
}

/// A background process started by `spawn`. Not thread-safe: use it from one task.
public final class Child {
    public let argv: [String]
    public let pid: pid_t
    private var stdoutFD: Int32
    private var stderrFD: Int32
    private var out: [UInt8] = []
    private var err: [UInt8] = []
    /// Set once reaped; from then on signals are not sent (the pid may be reused).
    public private(set) var status: ExitStatus?

    init(argv: [String], pid: pid_t, stdoutFD: Int32, stderrFD: Int32) {
        self.argv = argv
        self.pid = pid
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
    }

    deinit {
        if status == nil {  // never leave a stray process or a zombie behind a failed test
            Glibc.kill(-pid, SIGKILL)
            _ = waitpidRetry(pid, nil, 0)
        }
        closeAll([stdoutFD, stderrFD])
    }

    /// Sends `signal` to the child, or with `group` to its whole process group.
    public func kill(_ signal: Int32 = SIGKILL, group: Bool = false) {
        guard status == nil else { return }
        Glibc.kill(group ? -pid : pid, signal)
    }

    /// Whether it has not exited yet (reaps it if it has).
    public var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        if waitpidRetry(pid, &s, WNOHANG) == pid { status = ExitStatus(waitStatus: s) }
        return status == nil
    }

    /// Waits for the exit while collecting output. On timeout the process group is SIGKILLed,
    /// reaped, and `ProcessError.timedOut` is thrown.
    public func wait(timeout: Duration = .seconds(60)) throws -> CommandResult {
        let deadline = monotonicMillis() + timeout.milliseconds
        while stdoutFD >= 0 || stderrFD >= 0 {
            let left = deadline - monotonicMillis()
            if left <= 0 { break }
            var fds = [pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, Int32(min(left, 1000)))
            if n < 0 && errno != EINTR { throw ProcessError.system("poll", errno: errno) }
            if fds[0].revents != 0 { drain(&stdoutFD, into: &out) }
            if fds[1].revents != 0 { drain(&stderrFD, into: &err) }
            // A process may close its output and keep running (or leave it to a daemon it started):
            // stop reading once it has exited and nothing is immediately readable.
            if n == 0 && !isRunning { break }
        }
        while isRunning {
            if monotonicMillis() >= deadline {
                kill(SIGKILL, group: true)
                var s: Int32 = 0
                if waitpidRetry(pid, &s, 0) == pid { status = ExitStatus(waitStatus: s) }
                closeAll([stdoutFD, stderrFD])
                (stdoutFD, stderrFD) = (-1, -1)
                throw ProcessError.timedOut(argv, partial: result(.signaled(SIGKILL)))
            }
            usleep(5000)
        }
        closeAll([stdoutFD, stderrFD])
        (stdoutFD, stderrFD) = (-1, -1)
        return result(status ?? .signaled(0))
    }

    private func result(_ s: ExitStatus) -> CommandResult {
        CommandResult(status: s, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }

    private func drain(_ fd: inout Int32, into buf: inout [UInt8]) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n > 0 {
            buf.append(contentsOf: chunk[0..<n])
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            close(fd)
            fd = -1
        }
    }
}

/// Polls `condition` every `interval` until it holds (true) or `timeout` passes (false).
public func waitUntil(timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicMillis() + timeout.milliseconds
    while true {
        if try condition() { return true }
        if monotonicMillis() >= deadline { return false }
        usleep(useconds_t(max(1, interval.milliseconds) * 1000))
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

func monotonicMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

private func waitpidRetry(_ pid: pid_t, _ status: UnsafeMutablePointer<Int32>?, _ flags: Int32) -> pid_t {
    while true {
        let r = waitpid(pid, status, flags)
        if r >= 0 || errno != EINTR { return r }
    }
}

private func closeAll(_ fds: [Int32]) {
    for fd in fds where fd >= 0 { close(fd) }
}
