// Issue 4 acceptance 4 and 8: the full CrashLoopBackOff ladder and the bad-manifest corpus, each in a suite of
// its own so their long waits overlap with the other agent suites.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

/// True while the process exists and has not exited (a zombie counts as gone).
func processAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    guard let close = stat.lastIndex(of: ")") else { return false }
    return !stat[close...].hasPrefix(") Z")
}

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct CrashLoopBackOffTests {
    /// Acceptance 4: restarts wait 0 (the first restart is immediate, as in kubelet), then ≈10, 20 and 40 s;
    /// STATUS shows CrashLoopBackOff and the waiting message is kubelet's.
    @Test func restartIntervalsDoubleFromTenSeconds() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "crashy.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: crashy
            spec:
              containers:
              - name: crash
                image: \(testImage)
                command: ["sh", "-c", "echo crash; exit 1"]
            """)
        func status(_ pod: Pod?) -> ContainerStatus? { pod?.status?.containerStatuses?.first }
        let first = try #require(
            try agent.waitForPod("crashy") { status($0)?.restartCount == 1 && status($0)?.state?.waiting?.reason == "CrashLoopBackOff" },
            "status: \(String(describing: try? agent.pod("crashy")?.status))")
        let uid = first.metadata.uid ?? ""
        #expect(status(first)?.state?.waiting?.message == "back-off 10s restarting failed container=crash pod=crashy_default(\(uid))")
        #expect(status(first)?.lastState?.terminated?.reason == "Error")
        let table = try agent.agentctl(["get", "pods"]).check().stdout
        #expect(table.contains("CrashLoopBackOff"), "get pods: \(table)")

        // Each step: the restart that ends the current back-off, the wait it took, the next back-off shown.
        var finished = try #require(status(first)?.lastState?.terminated?.finishedAt)
        for (restarts, expected, nextBackOff) in [(Int32(2), 10.0, "20s"), (3, 20, "40s"), (4, 40, "1m20s")] {
            let pod = try #require(
                try agent.waitForPod("crashy", timeout: .seconds(Int(expected) + 30)) {
                    status($0)?.restartCount == restarts && status($0)?.state?.waiting?.message?.hasPrefix("back-off \(nextBackOff) ") == true
                }, "restart \(restarts): \(String(describing: try? agent.pod("crashy")?.status))")
            let started = try #require(status(pod)?.lastState?.terminated?.startedAt)
            let waited = started.timeIntervalSince(finished)
            #expect(waited >= expected - 1 && waited <= expected + 4, "restart \(restarts) came \(waited) s after the exit; expected ≈\(expected) s")
            finished = try #require(status(pod)?.lastState?.terminated?.finishedAt)
        }
        let events = try agent.events()
        #expect(events.contains("Back-off restarting failed container crash in pod crashy_default(\(uid))"), "events: \(events)")
    }
}

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct BadManifestCorpusTests {
    static let goodPod = sleeperPod(name: "good")

    /// Acceptance 8: every kind of bad file gives a located event and a log line; the agent keeps running;
    /// the good pod is never restarted; a file fixed later is picked up.
    @Test func corpusIsReportedAndNothingElseIsDisturbed() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("good.yaml", Self.goodPod)
        let good = try #require(try agent.waitForPod("good", isRunningAndReady))
        let containerID = good.status?.containerStatuses?.first?.containerID
        let agentPID = try #require(agent.agent?.pid)

        var laughs =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\nl0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        for level in 1...9 { laughs += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n" }
        laughs += "spec: {containers: *l9}\n"
        let deep =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\nspec: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        var junk = SplitMix(seed: 7)
        let binary = Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: junk.next()) })
        let huge = "apiVersion: v1\nkind: Pod\nmetadata: {name: huge}\n# " + String(repeating: "x", count: 11 * 1024 * 1024) + "\n"
        let corpus: [(file: String, content: Data, expected: String)] = [
            ("syntax.yaml", Data("apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n".utf8), "syntax.yaml: YAML syntax error"),
            (
                "types.yaml", Data("apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec: {containers: [{name: c, image: i, args: [[1]]}]}\n".utf8),
                "types.yaml: spec.containers[0].args[0]: Invalid value"
            ),
            (
                "missing.yaml", Data("apiVersion: v1\nkind: Pod\nmetadata: {name: m}\nspec: {containers: [{name: c}]}\n".utf8),
                "missing.yaml: spec.containers[0].image: Required value"
            ),
            ("kind.yaml", Data("apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: f}\n".utf8), "kind.yaml: unknown kind \"Frobnicator\""),
            ("huge.yaml", Data(huge.utf8), "huge.yaml: file is"),
            ("laughs.yaml", Data(laughs.utf8), "laughs.yaml:"),
            ("deep.yaml", Data(deep.utf8), "deep.yaml: line 4: YAML nesting deeper than 100 levels"),
            ("junk.yaml", binary, "junk.yaml: not a text manifest: invalid UTF-8"),
            ("zz-dup.yaml", Data(Self.goodPod.utf8), "zz-dup.yaml: pod \"default/good\" is already defined in good.yaml"),
        ]
        for entry in corpus {
            let temporary = agent.manifests + "/.\(entry.file).tmp"
            #expect(FileManager.default.createFile(atPath: temporary, contents: entry.content))
            #expect(rename(temporary, agent.manifests + "/" + entry.file) == 0)
        }
        #expect(symlink("/etc/passwd", agent.manifests + "/outside.yaml") == 0)

        let expectations = corpus.map(\.expected) + ["outside.yaml: symbolic link to /etc/passwd points outside the manifest directory"]
        var events = ""
        let reported = waitUntil(timeout: .seconds(30), interval: .milliseconds(250)) {
            events = (try? agent.events()) ?? ""
            return expectations.allSatisfy { events.contains($0) }
        }
        #expect(reported, "missing: \(expectations.filter { !events.contains($0) })\nevents:\n\(events)")
        let log = agent.log()
        for expected in expectations where expected != "outside.yaml: symbolic link to /etc/passwd points outside the manifest directory" {
            #expect(log.contains(expected), "log lacks \(expected)")
        }
        #expect(processAlive(agentPID), "the agent died; log:\n\(log.suffix(4000))")
        let names = try agent.pods().compactMap(\.metadata.name)
        #expect(names == ["good"], "pods: \(names)")
        let after = try #require(try agent.pod("good"))
        #expect(isRunningAndReady(after))
        #expect(after.status?.containerStatuses?.first?.containerID == containerID)
        #expect(after.status?.containerStatuses?.first?.restartCount == 0)

        // A half-written file is reported, then retried on the next change: fixing it creates the pod.
        try agent.write("missing.yaml", sleeperPod(name: "m"))
        #expect(try agent.waitForPod("m", timeout: .seconds(60), isRunningAndReady) != nil)
        #expect(processAlive(agentPID))
    }
}

/// A seeded generator, so the junk file is the same on every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct InitContainerBackOffTests {
    /// Acceptance 3 (rest): a failing init container with restartPolicy Always is restarted with back-off, the pod
    /// stays Pending, STATUS shows `Init:CrashLoopBackOff`, and the app container never starts.
    @Test func failingInitContainerWithAlwaysRestartsWithBackOff() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("init-loops.yaml", failingInitPod(name: "init-loops", restartPolicy: "Always"))
        let pod = try #require(
            try agent.waitForPod("init-loops") {
                let setup = $0.status?.initContainerStatuses?.first
                return (setup?.restartCount ?? 0) >= 1 && setup?.state?.waiting?.reason == "CrashLoopBackOff"
            }, "status: \(String(describing: try? agent.pod("init-loops")?.status))")
        let uid = pod.metadata.uid ?? ""
        #expect(pod.status?.phase == "Pending")
        #expect(pod.status?.initContainerStatuses?.first?.lastState?.terminated?.exitCode == 3)
        #expect(
            pod.status?.initContainerStatuses?.first?.state?.waiting?.message
                == "back-off 10s restarting failed container=setup pod=init-loops_default(\(uid))")
        #expect(pod.status?.containerStatuses?.first?.state?.waiting?.reason == "PodInitializing")
        #expect(pod.status?.containerStatuses?.first?.containerID == nil)
        let table = try agent.agentctl(["get", "pods"]).check().stdout
        #expect(table.contains("Init:CrashLoopBackOff"), "get pods: \(table)")
    }
}
