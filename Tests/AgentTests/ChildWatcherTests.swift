// The exit descriptor's fallback for kernels without pidfd_open: an eventfd a thread signals once the child exited.
import Foundation
import Glibc
import Testing

@testable import Kubelet

@Suite struct ChildWatcherTests {
    @Test func withoutPidfdOpenAnEventfdSignalsTheExitAndLeavesTheChildToReap() throws {
        var pid: pid_t = 0
        let argv = ["/bin/sh", "-c", "sleep 0.3; exit 7"]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        try #require(posix_spawn(&pid, "/bin/sh", nil, nil, &cArgs, environ) == 0)
        let fd = ChildWatcher.exitDescriptor(pid) { _ in
            errno = ENOSYS
            return -1
        }
        try #require(fd >= 0)
        defer { close(fd) }
        // Not readable while the child runs.
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(Glibc.poll(&poll, 1, 0) == 0)
        // Readable once it exited (generous: the machine may be loaded).
        #expect(Glibc.poll(&poll, 1, 30_000) == 1)
        // The waiter used WNOWAIT: the exit status is still there to collect.
        var raw: Int32 = 0
        #expect(waitpid(pid, &raw, WNOHANG) == pid)
        #expect((raw >> 8) & 0xff == 7)
    }

    @Test func pidfdOpenIsUsedWhenTheKernelHasIt() throws {
        let fd = ChildWatcher.exitDescriptor(getpid())
        try #require(fd >= 0)
        defer { close(fd) }
        var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        // Our own process is alive: a pidfd of it is not readable (an eventfd fallback would be too, so also check
        // it is a pidfd by its /proc link).
        #expect(Glibc.poll(&poll, 1, 0) == 0)
        var link = [CChar](repeating: 0, count: 256)
        let n = readlink("/proc/self/fd/\(fd)", &link, link.count)
        let target = String(decoding: link.prefix(max(0, n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(target.contains("pidfd"))
    }
}

/// How helper programs start (posix_spawn): output, status, and a clean slate.
@Suite struct CommandSpawnTests {
    @Test func outputStatusAndAStartLikePosixSpawn() async throws {
        // The agent ignores SIGPIPE and its pool threads block signals: the child must see neither, and no descriptor
        // but stdin (/dev/null), stdout and stderr.
        let script = """
            echo out; echo err >&2
            grep -E '^(SigBlk|SigIgn):' /proc/self/status
            readlink /proc/self/fd/0
            ls /proc/$$/fd | tr '\\n' ' '
            exit 3
            """
        // As in the agent (not restored: other tests may write to closed sockets meanwhile).
        signal(SIGPIPE, SIG_IGN)
        let result = try await Command.run(["/bin/sh", "-c", script], timeout: .seconds(60))
        #expect(result.status == 3)
        #expect(result.stderr == "err\n")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "out")
        #expect(lines.contains("SigBlk:\t0000000000000000"), "\(lines)")
        let ignored = lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) }
        #expect(ignored.map { $0 & (1 << (SIGPIPE - 1)) } == 0, "\(lines)")
        #expect(lines.contains("/dev/null"), "\(lines)")
        #expect(lines.last == "0 1 2 ", "\(lines)")
    }

    @Test func aBackgroundHolderOfThePipesEndsTheWaitAtTheTimeout() async throws {
        // The shell exits at once; the background sleep keeps stdout open. The wait ends at the 1 s timeout with the
        // shell's status and output, while the sleep still runs. (No upper bound on the time: the result is resumed on
        // the global pool, which the blocking tests running in parallel can keep busy for minutes.)
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await Command.run(["/bin/sh", "-c", "sleep 300 & echo $!; exit 4"], timeout: .seconds(1))
        let took = clock.now - start
        let background = try #require(pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(background, 0) == 0, "the wait ended only when the background sleep did")
        kill(background, SIGKILL)
        #expect(result.status == 4)
        #expect(took >= .milliseconds(900), "\(took)")
    }

    @Test func anEndlessWriterIsEndedByItsTimeout() async throws {
        // `yes` writes without end; the watcher must still get to the deadline, and keep only the limit.
        let result = try await Command.run(["/usr/bin/yes"], timeout: .seconds(1), outputLimit: 10 * 1024)
        #expect(result.status == 128 + SIGKILL)
        #expect(result.stdout.utf8.count == 10 * 1024)
    }

    @Test func aMissingProgramCannotStart() async throws {
        await #expect(throws: CommandError.self) {
            _ = try await Command.run(["/nonexistent/program"], timeout: .seconds(10))
        }
        do {
            _ = try await Command.run(["/nonexistent/program"], timeout: .seconds(10))
        } catch {
            #expect(error.detail == "cannot start: No such file or directory")
        }
    }
}
