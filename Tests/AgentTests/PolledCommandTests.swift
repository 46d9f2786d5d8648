// Command.runPolled: the exec probes' way of running the runtime, checked on the probe loop's timers.
import Foundation
import Glibc
import Prober
import Synchronization
import Testing

@testable import Kubelet

@Suite struct PolledCommandTests {
    let sleeper = ProbeSleeper(loop: ProbeLoop.shared)

    /// On the probe loop, as exec probes call it: each check resumes there. (On the global pool, which blocking tests
    /// running in parallel can occupy for seconds, every one of the checks would wait for a free thread.)
    func polled(_ argv: [String], timeout: Duration, deadlines: [ChildWatcher.Deadline] = [], outputLimit: Int = .max) async throws(CommandError)
        -> CommandResult
    {
        try await withTaskExecutorPreference(LoopTaskExecutor(ProbeLoop.shared)) { () async throws(CommandError) -> CommandResult in
            try await Command.runPolled(argv, timeout: timeout, deadlines: deadlines, outputLimit: outputLimit, sleeper: sleeper)
        }
    }

    @Test func statusAndBothStreams() async throws {
        let result = try await polled(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(60))
        #expect(result.status == 3)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func outputPastTheLimitIsReadAndDropped() async throws {
        // 1 MiB is far more than a pipe holds: the child only exits if the pipe keeps being drained.
        let result = try await polled(
            ["/bin/sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' a; echo tail >&2"], timeout: .seconds(60), outputLimit: 10 * 1024)
        #expect(result.status == 0)
        #expect(result.stdout == String(repeating: "a", count: 10 * 1024))
        #expect(result.stderr == "tail\n")
    }

    @Test func anEndlessWriterHoldsNeitherTheLoopNorItsTimeout() async throws {
        // dd writing 1 MiB blocks refills its pipe as fast as it is read. While it runs, a timer on the same loop must
        // keep firing (other probes), and the 1 s timeout must end it.
        let ticks = Atomic<Int>(0)
        let ticker = Task(executorPreference: LoopTaskExecutor(ProbeLoop.shared)) {
            while !Task.isCancelled {
                await sleeper.sleep(for: .milliseconds(50))
                ticks.add(1, ordering: .relaxed)
            }
        }
        defer { ticker.cancel() }
        let result = try await polled(["/bin/dd", "if=/dev/zero", "bs=1M", "status=none"], timeout: .seconds(1), outputLimit: 10 * 1024)
        #expect(result.status == 128 + SIGKILL)
        #expect(result.stdout.utf8.count == 10 * 1024)
        // Not held by the writer: about 20 ticks in a second (50 ms apart, on the 10 ms grid); a handful suffices.
        #expect(ticks.load(ordering: .relaxed) >= 5, "\(ticks.load(ordering: .relaxed)) ticks")
    }

    @Test func theTimeoutKills() async throws {
        let result = try await polled(["/bin/sh", "-c", "echo started; exec sleep 300"], timeout: .milliseconds(300))
        #expect(result.status == 128 + SIGKILL)
        #expect(result.stdout == "started\n")
    }

    @Test func deadlinesActOnTheRunningChild() async throws {
        let seen = Mutex<pid_t>(0)
        let term = ChildWatcher.Deadline(at: .now + .milliseconds(200)) { pid in
            seen.withLock { $0 = pid }
            _ = kill(pid, SIGTERM)
        }
        let result = try await polled(["/bin/sleep", "300"], timeout: .seconds(60), deadlines: [term])
        #expect(result.status == 128 + SIGTERM)
        #expect(seen.withLock { $0 } > 0)
    }

    @Test func aBackgroundHolderOfThePipesEndsTheWaitAtTheNextDeadline() async throws {
        // The shell exits at once, but the background sleep keeps stdout open: the wait ends at the next deadline (1 s)
        // with the shell's status and output while the sleep still runs, and the deadline's action is not run (the
        // shell was reaped; its pid may be reused). No upper bound on the time: returning to the test's executor may
        // wait for a pool thread that parallel blocking tests occupy.
        let clock = ContinuousClock()
        let start = clock.now
        let ran = Mutex(false)
        let marker = ChildWatcher.Deadline(at: .now + .seconds(1)) { _ in ran.withLock { $0 = true } }
        let result = try await polled(["/bin/sh", "-c", "sleep 300 & echo $!; exit 4"], timeout: .seconds(60), deadlines: [marker])
        let took = clock.now - start
        let background = try #require(pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(background, 0) == 0, "the wait ended only when the background sleep did")
        kill(background, SIGKILL)
        #expect(result.status == 4)
        #expect(!ran.withLock { $0 })
        #expect(took >= .milliseconds(900), "\(took)")
    }

    @Test func aMissingProgramCannotStart() async throws {
        do {
            _ = try await polled(["/nonexistent/program"], timeout: .seconds(10))
            Issue.record("started")
        } catch {
            #expect(error.detail == "cannot start: No such file or directory")
        }
    }
}
