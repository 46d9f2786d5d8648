// `agentctl exec -i/-t`: the caller's terminal (a real pty from util-linux `script`) attached to a process in the container.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct InteractiveExecTests {
    @Test func ttyAndStdinReachTheContainer() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("shell.yaml", sleeperPod(name: "shell"))
        #expect(try agent.waitForPod("shell", isRunningAndReady) != nil)
        let agentctl = "'\(agent.binaries)/agentctl' --socket '\(agent.socket)'"

        // -it under a pty: the process sees a terminal of its own, input typed on ours reaches it, and its exit
        // status is agentctl's.
        let typed = try run(
            ["/bin/sh", "-c", "printf 'tty; echo typed-$((6*7)); exit 3\\n' | script -qec \"\(agentctl) exec -it shell -- sh\" /dev/null"],
            timeout: .seconds(60))
        #expect(typed.stdout.contains("/dev/pts/0"), "output: \(typed.stdout) \(typed.stderr)")
        #expect(typed.stdout.contains("typed-42"), "output: \(typed.stdout)")
        #expect(typed.status == .exited(3), "status \(typed.status): \(typed.stdout) \(typed.stderr)")

        // -i without a terminal: stdin is passed through, no TTY is allocated.
        let piped = try run(["/bin/sh", "-c", "echo 'echo from-stdin; tty || true' | \(agentctl) exec -i shell -- sh"], timeout: .seconds(60))
        #expect(piped.succeeded, "\(piped.stderr)")
        #expect(piped.stdout.contains("from-stdin"), "output: \(piped.stdout)")
        #expect(piped.stdout.contains("not a tty"), "output: \(piped.stdout)")

        // -t without a terminal on our side: kubectl's warning, and the command still runs.
        let noTTY = try run(["/bin/sh", "-c", "\(agentctl) exec -t shell -- echo still-ran </dev/null"], timeout: .seconds(60))
        #expect(noTTY.stderr.contains("Unable to use a TTY"), "stderr: \(noTTY.stderr)")
        #expect(noTTY.stdout.contains("still-ran"))

        let missing = try run(["/bin/sh", "-c", "\(agentctl) exec -it nosuchpod -- sh </dev/null"], timeout: .seconds(60))
        #expect(!missing.succeeded)
        #expect(missing.stderr.contains("pods \"nosuchpod\" not found"), "stderr: \(missing.stderr)")
    }
}
