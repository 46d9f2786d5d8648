import CShims
import Dispatch
import Foundation
import Synchronization

/// The result of running a helper program (minirun, the shim, unshare, umount).
struct CommandResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
    var succeeded: Bool { status == 0 }
}

/// A helper program that could not be run or failed; says what was run and what it printed.
struct CommandError: Error, Sendable, CustomStringConvertible {
    var argv: [String]
    var detail: String
    var description: String { argv.isEmpty ? detail : "\(argv.joined(separator: " ")): \(detail)" }
}

/// Runs helper programs with posix_spawn. Not Foundation's Process: on Linux it sets up a CFSocket
/// wake-up pair over loopback, which fails inside a fresh network namespace whose `lo` is down.
enum Command {
    /// Pipe creation and spawn happen under one lock so that no child spawned concurrently inherits
    /// another command's pipe ends (Swift does not import pipe2, so CLOEXEC is set right after pipe).
    private static let spawnLock = Mutex(())

    /// Runs `argv` to completion. Output is read on a Dispatch thread (blocking reads must stay off the
    /// Swift concurrency pool). `stdoutFile` sends stdout and stderr to files instead of pipes, for programs
    /// that leave a daemon behind holding them (the shim).
    static func run(_ argv: [String], stdoutFile: String? = nil, timeout: Duration = .seconds(60)) async throws(CommandError) -> CommandResult {
        guard !argv.isEmpty else { throw CommandError(argv: argv, detail: "empty command") }
        let spawned: (pid: pid_t, out: Int32, err: Int32)
        do { spawned = try spawn(argv, stdoutFile: stdoutFile) } catch { throw error }
        let pid = spawned.pid
        // Kill a hung helper; a pod worker must not wedge forever on one command.
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        let (status, outData, errData) = await withCheckedContinuation { (continuation: CheckedContinuation<(Int32, [UInt8], [UInt8]), Never>) in
            DispatchQueue.global().async {
                let group = DispatchGroup()
                nonisolated(unsafe) var out: [UInt8] = []
                nonisolated(unsafe) var err: [UInt8] = []
                if spawned.out >= 0 {
                    group.enter()
                    DispatchQueue.global().async {
                        out = readAll(spawned.out)
                        group.leave()
                    }
                }
                if spawned.err >= 0 { err = readAll(spawned.err) }
                group.wait()
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS / WTERMSIG by hand (the macros are not imported).
                let signal = raw & 0x7f
                let status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
                continuation.resume(returning: (status, out, err))
            }
        }
        watchdog.cancel()
        var stdout = String(decoding: outData, as: UTF8.self)
        var stderr = String(decoding: errData, as: UTF8.self)
        if let stdoutFile {
            stdout = (try? String(contentsOfFile: stdoutFile, encoding: .utf8)) ?? ""
            stderr = (try? String(contentsOfFile: stdoutFile + ".err", encoding: .utf8)) ?? ""
        }
        return CommandResult(status: status, stdout: stdout, stderr: stderr)
    }

    /// Runs and requires success.
    @discardableResult
    static func check(_ argv: [String], stdoutFile: String? = nil, timeout: Duration = .seconds(60)) async throws(CommandError) -> CommandResult {
        let result = try await run(argv, stdoutFile: stdoutFile, timeout: timeout)
        guard result.succeeded else {
            throw CommandError(argv: argv, detail: "exit status \(result.status): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result
    }

    private static func readAll(_ fd: Int32) -> [UInt8] {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        close(fd)
        return data
    }

    /// Returns the pid and the read ends (-1 when the stream goes to a file).
    private static func spawn(_ argv: [String], stdoutFile: String?) throws(CommandError) -> (pid: pid_t, out: Int32, err: Int32) {
        try spawnLock.withLock { _ throws(CommandError) -> (pid: pid_t, out: Int32, err: Int32) in
            var targets: [Int32] = []
            var readEnds: [Int32] = []
            func cleanup() { for fd in targets + readEnds { close(fd) } }
            if let stdoutFile {
                for path in [stdoutFile, stdoutFile + ".err"] {
                    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
                    guard fd >= 0 else {
                        cleanup()
                        throw CommandError(argv: argv, detail: "cannot open \(path): \(String(cString: strerror(errno)))")
                    }
                    targets.append(fd)
                }
                readEnds = [-1, -1]
            } else {
                for _ in 0..<2 {
                    var fds: [Int32] = [-1, -1]
                    guard pipe(&fds) == 0 else {
                        cleanup()
                        throw CommandError(argv: argv, detail: "pipe: \(String(cString: strerror(errno)))")
                    }
                    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                    readEnds.append(fds[0])
                    targets.append(fds[1])
                }
            }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, targets[0], 1)
            posix_spawn_file_actions_adddup2(&actions, targets[1], 2)
            // Nothing else crosses: not every descriptor of the agent is close-on-exec (NIO's epoll and sockets,
            // SQLite's), and a long-lived helper (a shim, the PID namespace holder) holding the API's listening
            // socket would leave clients of a restarted agent hanging on a socket nobody accepts on.
            _ = mk_spawn_file_actions_closefrom(&actions, 3)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            // The agent ignores SIGPIPE; its helpers (and the shim's containers) must not inherit that.
            var defaults = sigset_t()
            sigemptyset(&defaults)
            sigaddset(&defaults, SIGPIPE)
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attributes, &empty)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
            var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
            defer { for arg in cArgs { free(arg) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, environ)
            for fd in targets { close(fd) }
            guard rc == 0 else {
                for fd in readEnds where fd >= 0 { close(fd) }
                throw CommandError(argv: argv, detail: "cannot start: \(String(cString: strerror(rc)))")
            }
            return (pid, readEnds[0], readEnds[1])
        }
    }
}
