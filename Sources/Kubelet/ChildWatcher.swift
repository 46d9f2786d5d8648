import CShims
import Foundation
import Glibc
import Synchronization

/// Waits for the helper programs the agent spawns (exec probes excepted: they are checked on the probe loop, see
/// `Command.runPolled`): one thread polls (epoll) the output pipes and a pidfd of every running child, and runs their
/// deadlines. Hand-written rather than a thread per command (Dispatch blocking reads, waitpid and a watchdog task, as
/// before) because those threads' creations and wake-ups were most of the agent's CPU when exec probes still came
/// through here, a hundred a second. Foundation's Process is no option (see `Command`), and
/// swift-subprocess would be a new dependency doing the same with its own thread.
final class ChildWatcher: Sendable {
    /// Something to do to a running child at a time (kill it, kill what it started); `pid` is the child's.
    struct Deadline: Sendable {
        var at: ContinuousClock.Instant
        var action: @Sendable (_ pid: pid_t) -> Void

        /// SIGKILL to the child `timeout` from now: every command's last deadline.
        static func kill(after timeout: Duration) -> Deadline {
            Deadline(at: .now + timeout) { pid in _ = Glibc.kill(pid, SIGKILL) }
        }
    }

    struct Exit: Sendable {
        /// The exit status, or 128 + the signal that ended it.
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]
    }

    private struct Child {
        var pid: pid_t
        var pidfd: Int32
        /// Read ends; -1 once at end of file (or when the stream went to a file).
        var out: Int32
        var err: Int32
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var outputLimit: Int
        var status: Int32?
        var deadlines: [Deadline]
        var continuation: CheckedContinuation<Exit, Never>
        var done: Bool { status != nil && out < 0 && err < 0 }
    }

    private struct State {
        var children: [UInt64: Child] = [:]
        var nextID: UInt64 = 1
        /// When the poll thread wakes up next on its own; only a new deadline earlier than that must wake it.
        var wakeAt: ContinuousClock.Instant?
    }

    private enum Stream: UInt64 { case stdout = 1, stderr = 2, exit = 3 }

    static let shared = ChildWatcher()
    /// The longest the poll thread sleeps without an event.
    static let idleWake = Duration.seconds(1)

    private let state = Mutex(State())
    private let epoll: Int32
    private let wakeFD: Int32

    private init() {
        epoll = mk_epoll_create()
        wakeFD = mk_eventfd()
        if epoll < 0 || wakeFD < 0 || mk_epoll_add(epoll, wakeFD, 0) != 0 {
            // Without epoll or eventfd the agent cannot run a single helper; nothing sensible remains to do.
            fatalError("ChildWatcher: epoll/eventfd: \(String(cString: strerror(errno)))")
        }
        let thread = Thread { [self] in pollLoop() }
        thread.name = "child-watcher"
        thread.start()
    }

    /// Waits for a spawned child: its exit status and everything it wrote to `out` and `err` (read ends, owned and
    /// closed here; -1 for none) up to `outputLimit` bytes each (the rest is read and dropped). The result comes
    /// once the child exited and both pipes reached end of file.
    nonisolated(nonsending) func wait(pid: pid_t, out: Int32, err: Int32, deadlines: [Deadline], outputLimit: Int = .max) async throws(CommandError) -> Exit {
        let pidfd = Self.exitDescriptor(pid)
        guard pidfd >= 0 else {
            let text = String(cString: strerror(errno))
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            for fd in [out, err] where fd >= 0 { close(fd) }
            throw CommandError(argv: [], detail: "pidfd_open: \(text)")
        }
        for fd in [out, err] where fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Exit, Never>) in
            let wake = state.withLock { s -> Bool in
                let id = s.nextID
                s.nextID += 1
                s.children[id] = Child(
                    pid: pid, pidfd: pidfd, out: out, err: err, outputLimit: outputLimit, deadlines: deadlines, continuation: continuation)
                // Registered under the lock: the poll thread cannot see an event before the child is in the table.
                if out >= 0 { _ = mk_epoll_add(epoll, out, id << 2 | Stream.stdout.rawValue) }
                if err >= 0 { _ = mk_epoll_add(epoll, err, id << 2 | Stream.stderr.rawValue) }
                _ = mk_epoll_add(epoll, pidfd, id << 2 | Stream.exit.rawValue)
                guard let first = deadlines.map(\.at).min() else { return false }
                return s.wakeAt.map { first < $0 } ?? true
            }
            if wake {
                var one: UInt64 = 1
                _ = Glibc.write(wakeFD, &one, 8)
            }
        }
    }

    /// A descriptor that becomes readable when `pid` exits: its pidfd, or on kernels without pidfd_open (before 5.3,
    /// and under valgrind, which scripts/gen-order-file.sh uses) an eventfd that a thread of the child's own signals
    /// once the child exited. The thread leaves the child unreaped (WNOWAIT) for `reap`. -1 and errno on failure.
    /// `pidfdOpen` is replaceable for the test of the fallback.
    static func exitDescriptor(_ pid: pid_t, pidfdOpen: (pid_t) -> Int32 = { mk_pidfd_open($0) }) -> Int32 {
        let pidfd = pidfdOpen(pid)
        guard pidfd < 0, errno == ENOSYS else { return pidfd }
        let fd = mk_eventfd()
        guard fd >= 0 else { return -1 }
        let waiter = Thread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            var one: UInt64 = 1
            _ = Glibc.write(fd, &one, 8)
        }
        waiter.name = "child-waiter"
        waiter.start()
        return fd
    }

    private func pollLoop() {
        var tokens = [UInt64](repeating: 0, count: 64)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let clock = ContinuousClock()
        while true {
            let timeout = state.withLock { s -> Int32 in
                // Never longer than `idleWake`: a child registered meanwhile whose deadlines are all later (every exec
                // probe's, 1 s or more) then needs no wake-up write; under exec probes that was one write and one
                // extra wake-up of this thread per probe, as there is often no other child running.
                let idle = clock.now + Self.idleWake
                let next = min(s.children.values.lazy.flatMap { $0.deadlines.map(\.at) }.min() ?? idle, idle)
                s.wakeAt = next
                let (seconds, attoseconds) = (next - clock.now).components
                // Rounded up to the next millisecond: waking early would only loop once more.
                return Int32(clamping: max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1))
            }
            let count = tokens.withUnsafeMutableBufferPointer { mk_epoll_wait(epoll, $0.baseAddress, 64, timeout) }
            var finished: [(CheckedContinuation<Exit, Never>, Exit)] = []
            for token in tokens.prefix(Int(max(0, count))) {
                if token == 0 {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, 8)
                    continue
                }
                guard let stream = Stream(rawValue: token & 3) else { continue }
                let id = token >> 2
                state.withLock { s in
                    guard var child = s.children[id] else { return }
                    switch stream {
                    case .stdout: child.out = drain(child.out, into: &child.stdout, limit: child.outputLimit, buffer: &buffer)
                    case .stderr: child.err = drain(child.err, into: &child.stderr, limit: child.outputLimit, buffer: &buffer)
                    case .exit: child.status = reap(child.pid)
                    }
                    if child.status != nil, child.pidfd >= 0 {
                        _ = mk_epoll_del(epoll, child.pidfd)
                        close(child.pidfd)
                        child.pidfd = -1
                    }
                    if child.done {
                        s.children[id] = nil
                        finished.append((child.continuation, Exit(status: child.status ?? 0, stdout: child.stdout, stderr: child.stderr)))
                    } else {
                        s.children[id] = child
                    }
                }
            }
            let now = clock.now
            let due = state.withLock { s -> [(pid_t, Deadline)] in
                var due: [(pid_t, Deadline)] = []
                for (id, child) in s.children where child.deadlines.contains(where: { $0.at <= now }) {
                    if let status = child.status {
                        // It exited, but a process it left behind holds its pipes (`sleep 100 &`): the wait ends here
                        // with what was read, and no action runs on the reaped pid (it may have been reused).
                        for fd in [child.out, child.err] where fd >= 0 {
                            _ = mk_epoll_del(epoll, fd)
                            close(fd)
                        }
                        s.children[id] = nil
                        finished.append((child.continuation, Exit(status: status, stdout: child.stdout, stderr: child.stderr)))
                        continue
                    }
                    due += child.deadlines.filter { $0.at <= now }.map { (child.pid, $0) }
                    s.children[id]?.deadlines.removeAll { $0.at <= now }
                }
                return due
            }
            // Only children not yet reaped are here: their pids cannot have been reused.
            for (pid, deadline) in due { deadline.action(pid) }
            for (continuation, exit) in finished { continuation.resume(returning: exit) }
        }
    }

    /// Reads what is available; returns the descriptor, or -1 once it reached end of file (closed).
    /// At most four buffers per event, as a guard: a child writing without end that refilled its pipe as fast as it is
    /// read would keep an unbounded loop here, starving the other children and the deadlines (its own timeout
    /// included). The pipe stays readable, so epoll reports it again on the next turn.
    private func drain(_ fd: Int32, into data: inout [UInt8], limit: Int, buffer: inout [UInt8]) -> Int32 {
        guard fd >= 0 else { return fd }
        let ended = buffer.withUnsafeMutableBytes { ChildOutput.read(fd, into: &data, limit: limit, buffer: $0, reads: 4) }
        guard ended else { return fd }
        _ = mk_epoll_del(epoll, fd)
        close(fd)
        return -1
    }

    /// The exit status of an exited child (its pidfd is readable).
    private func reap(_ pid: pid_t) -> Int32 {
        var raw: Int32 = 0
        while waitpid(pid, &raw, WNOHANG) < 0 && errno == EINTR {}
        return ChildOutput.exitStatus(raw)
    }
}

/// What both ways of waiting for a helper (ChildWatcher's thread, `Command.runPolled` on the probe loop) do with its
/// output pipes and its wait status.
enum ChildOutput {
    /// Reads a non-blocking pipe into `data`, keeping up to `limit` bytes (the rest is read and dropped), at most
    /// `reads` reads of `buffer`'s size. True once at end of file or a read error: the caller closes the descriptor.
    static func read(_ fd: Int32, into data: inout [UInt8], limit: Int, buffer: UnsafeMutableRawBufferPointer, reads: Int) -> Bool {
        for _ in 0..<reads {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n > 0 {
                let keep = min(n, max(0, limit - data.count))
                if keep > 0 { data.append(contentsOf: buffer[0..<keep]) }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return false }
            return true
        }
        return false
    }

    /// waitpid's raw status as the exit status, or 128 + the signal that ended the child (WIFEXITED / WEXITSTATUS /
    /// WTERMSIG by hand: the macros are not imported).
    static func exitStatus(_ raw: Int32) -> Int32 {
        let signal = raw & 0x7f
        return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
    }
}
