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

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct SharedProcessNamespaceTests {
    /// shareProcessNamespace: the containers see each other's processes, PID 1 is the holder (catatonit), the
    /// holder survives an agent restart, and it is gone with the pod. Without it each container is PID 1 alone.
    @Test func containersSeeEachOthersProcesses() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        func pod(_ name: String, shared: Bool) -> String {
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: \(name)
            spec:
              shareProcessNamespace: \(shared)
              terminationGracePeriodSeconds: 2
              containers:
              - name: a
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
              - name: b
                image: \(testImage)
                command: ["sh", "-c", "exec sleep 31337"]
            """
        }
        try agent.write("shared.yaml", pod("shared", shared: true))
        try agent.write("private.yaml", pod("private", shared: false))
        let shared = try #require(try agent.waitForPod("shared", isRunningAndReady))
        #expect(try agent.waitForPod("private", isRunningAndReady) != nil)

        let seen = try agent.agentctl(["exec", "shared", "-c", "a", "--", "ps", "-o", "pid,args"]).check().stdout
        #expect(seen.contains("sleep 31337"), "ps in a: \(seen)")
        let first = try agent.agentctl(["exec", "shared", "-c", "a", "--", "cat", "/proc/1/cmdline"]).check().stdout
        #expect(first.contains("catatonit"), "PID 1: \(first.debugDescription)")
        let alone = try agent.agentctl(["exec", "private", "-c", "a", "--", "ps", "-o", "pid,args"]).check().stdout
        #expect(!alone.contains("sleep 31337"), "ps in an unshared pod: \(alone)")

        let holderFile = agent.root + "/pods/\(shared.metadata.uid ?? "")/ns/pid-holder"
        let holder = try #require(Int32((try String(contentsOfFile: holderFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        try agent.killAgent()
        try agent.start()
        #expect(processAlive(holder), "the holder died with the agent")
        let again = try agent.agentctl(["exec", "shared", "-c", "b", "--", "ps", "-o", "pid,args"]).check().stdout
        #expect(again.contains("while true"), "ps in b after the restart: \(again)")
        #expect(try agent.pod("shared")?.status?.containerStatuses?.allSatisfy { $0.restartCount == 0 } == true)

        try agent.remove("shared.yaml")
        #expect(waitUntil(timeout: .seconds(60)) { (try? agent.pod("shared")) == nil })
        #expect(!processAlive(holder), "the holder outlived its pod")
    }
}
