import CShims
import Foundation
import Glibc
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
    /// another command's pipe ends (the pipes are close-on-exec from the start, and the spawn closes every
    /// descriptor above 2 anyway; the lock costs nothing uncontended).
    private static let spawnLock = Mutex(())

    /// Runs `argv` to completion; SIGKILL after `timeout` (a pod worker must not wedge forever on one command). A child
    /// that exited while something it started still holds its output pipes is done at its next deadline (the timeout
    /// at the latest), with the output read so far.
    /// `stdoutFile` sends stdout and stderr to files instead of pipes, for programs that leave a daemon behind
    /// holding them (the shim). `deadlines` run on the watcher thread while the child runs; `outputLimit` caps
    /// what is kept of each stream (the rest is read and dropped).
    nonisolated(nonsending) static func run(
        _ argv: [String], stdoutFile: String? = nil, timeout: Duration = .seconds(60), deadlines: [ChildWatcher.Deadline] = [],
        outputLimit: Int = .max
    ) async throws(CommandError) -> CommandResult {
        guard !argv.isEmpty else { throw CommandError(argv: argv, detail: "empty command") }
        let spawned = try spawn(argv, stdoutFile: stdoutFile)
        let kill = ChildWatcher.Deadline.kill(after: timeout)
        let exit: ChildWatcher.Exit
        do {
            exit = try await ChildWatcher.shared.wait(
                pid: spawned.pid, out: spawned.out, err: spawned.err, deadlines: deadlines + [kill], outputLimit: outputLimit)
        } catch {
            throw CommandError(argv: argv, detail: error.detail)
        }
        var stdout = String(decoding: exit.stdout, as: UTF8.self)
        var stderr = String(decoding: exit.stderr, as: UTF8.self)
        if let stdoutFile {
            stdout = (try? String(contentsOfFile: stdoutFile, encoding: .utf8)) ?? ""
            stderr = (try? String(contentsOfFile: stdoutFile + ".err", encoding: .utf8)) ?? ""
        }
        return CommandResult(status: exit.status, stdout: stdout, stderr: stderr)
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

    /// Returns the pid and the read ends (-1 when the stream goes to a file).
    static func spawn(_ argv: [String], stdoutFile: String?) throws(CommandError) -> (pid: pid_t, out: Int32, err: Int32) {
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
                    guard mk_pipe_cloexec(&fds) == 0 else {
                        cleanup()
                        throw CommandError(argv: argv, detail: "pipe: \(String(cString: strerror(errno)))")
                    }
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
            // The child's SIGCHLD is sent to this thread's process and discarded at once only if this thread does not
            // block it (SIG_DFL ignores it). Threads of the runtime's pools block every signal: the signal was then
            // queued and delivered to the one thread that blocks none, the main thread waiting in sigsuspend, waking it
            // for every exit (a hundred times a second under exec probes).
            var childSignal = sigset_t()
            sigemptyset(&childSignal)
            sigaddset(&childSignal, SIGCHLD)
            pthread_sigmask(SIG_UNBLOCK, &childSignal, nil)
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
