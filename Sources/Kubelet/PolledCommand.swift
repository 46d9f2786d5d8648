import Foundation
import Glibc
import Prober

extension Command {
    /// `run` for callers on the probe loop (exec probes): the child is checked with non-blocking reads and
    /// `waitpid(WNOHANG)` at the loop's timer slots instead of being handed to ChildWatcher's thread. At 100 exec probes
    /// a second that hand-off (a wake-up of the watcher thread per event, then of the loop to resume the probe) was about
    /// half of what the agent spent per exec beyond bench/probe-floor.c's minimal prober. The checks back off 1, 2, 4,
    /// 8, then 16 ms, which on the loop's 10 ms grid is one check per slot: two or three for a 10-20 ms exec, and
    /// each shares its wake-up with the other probes' timers.
    ///
    /// `deadlines` run while the child runs; `timeout` kills it. Once it exited, its pipes are read to end of file
    /// until the next deadline: a background process it left holding them (`sleep 100 &`) ends the wait there, with
    /// the exit status and the output read so far. (containerd's ExecSync waits for the output by default and the probe
    /// then times out; its `drain_exec_sync_io_timeout` set to the probe timeout behaves as here. The command did
    /// finish, so its status is the more useful answer.)
    nonisolated(nonsending) static func runPolled(
        _ argv: [String], timeout: Duration, deadlines: [ChildWatcher.Deadline] = [], outputLimit: Int = .max, sleeper: ProbeSleeper
    ) async throws(CommandError) -> CommandResult {
        guard !argv.isEmpty else { throw CommandError(argv: argv, detail: "empty command") }
        let spawned = try spawn(argv, stdoutFile: nil)
        var child = PolledChild(pid: spawned.pid, out: spawned.out, err: spawned.err, outputLimit: outputLimit)
        defer { child.closePipes() }
        let clock = ContinuousClock()
        var pending = deadlines + [ChildWatcher.Deadline.kill(after: timeout)]
        var delay = Duration.milliseconds(1)
        while true {
            child.check()
            if child.finished { break }
            let now = clock.now
            let due = pending.filter { $0.at <= now }
            pending.removeAll { $0.at <= now }
            if child.status == nil {
                // Not reaped yet, so the pid is still this child's.
                for deadline in due { deadline.action(child.pid) }
            } else if !due.isEmpty {
                break
            }
            await sleeper.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(16))
        }
        return CommandResult(
            status: child.status ?? 0, stdout: String(decoding: child.stdout, as: UTF8.self), stderr: String(decoding: child.stderr, as: UTF8.self))
    }
}

/// A spawned child with its two output pipes (non-blocking read ends), checked without waiting.
private struct PolledChild {
    let pid: pid_t
    var out: Int32
    var err: Int32
    let outputLimit: Int
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    /// The exit status, or 128 + the signal that ended it; nil while it runs.
    var status: Int32?
    var finished: Bool { status != nil && out < 0 && err < 0 }

    init(pid: pid_t, out: Int32, err: Int32, outputLimit: Int) {
        self.pid = pid
        self.out = out
        self.err = err
        self.outputLimit = outputLimit
        for fd in [out, err] where fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// Reads what the pipes hold, then reaps the child if it exited. The reads come first: output written just before
    /// the exit is in the pipe by the time the exit is seen.
    mutating func check() {
        out = Self.drain(out, into: &stdout, limit: outputLimit)
        err = Self.drain(err, into: &stderr, limit: outputLimit)
        guard status == nil else { return }
        var raw: Int32 = 0
        var reaped = waitpid(pid, &raw, WNOHANG)
        while reaped < 0 && errno == EINTR { reaped = waitpid(pid, &raw, WNOHANG) }
        if reaped == pid {
            status = ChildOutput.exitStatus(raw)
        } else if reaped < 0 {
            // ECHILD: nobody else reaps the agent's children, so this cannot happen; end the wait rather than spin.
            status = 128 + SIGKILL
        }
    }

    mutating func closePipes() {
        for fd in [out, err] where fd >= 0 { close(fd) }
        out = -1
        err = -1
    }

    /// Reads what is available, at most a pipe's default capacity per check, keeping up to `limit` bytes; returns the
    /// descriptor, or -1 once at end of file (closed). The bound is a guard: a command writing without end that refilled
    /// the pipe as fast as it is read would hold an unbounded loop, so the probe loop and every other probe, until the
    /// command ended. Bounded, such a writer waits for the next check and the timeout still ends it. (On this machine
    /// single writers, `yes` and `dd bs=1M`, did not outpace the reader; the test checks the cap, the kill and the loop.)
    private static func drain(_ fd: Int32, into data: inout [UInt8], limit: Int) -> Int32 {
        guard fd >= 0 else { return fd }
        // On the stack: most checks find the pipe empty, and a heap buffer per check was an allocation for nothing.
        let ended = withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 1) { buffer in
            ChildOutput.read(fd, into: &data, limit: limit, buffer: buffer, reads: 16)
        }
        guard ended else { return fd }
        close(fd)
        return -1
    }
}
