// End-to-end tests of minikubelet + agentctl: a real agent process, real containers (minirun under
// minirun-shim), the busybox image built with umoci and loaded through `agentctl image load`.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

/// A pod whose container exits 1 on its first run, 0 on its second, then keeps running; the run count
/// lives in an emptyDir, which survives container restarts.
func countingPod(name: String, restartPolicy: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      restartPolicy: \(restartPolicy)
      terminationGracePeriodSeconds: 5
      volumes:
      - name: data
        emptyDir: {}
      containers:
      - name: counter
        image: \(testImage)
        command:
        - sh
        - -c
        - |
          n=$(cat /data/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/runs; echo "run $n"
          if [ $n -eq 1 ]; then exit 1; fi
          if [ $n -eq 2 ]; then exit 0; fi
          trap 'exit 0' TERM; while true; do sleep 1; done
        volumeMounts:
        - name: data
          mountPath: /data
    """
}

func sleeperPod(name: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: \(testImage)
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    """
}

func isRunningAndReady(_ pod: Pod) -> Bool {
    pod.status?.phase == "Running" && (pod.status?.containerStatuses ?? []).allSatisfy { $0.ready && $0.state?.running != nil }
        && !(pod.status?.containerStatuses ?? []).isEmpty
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct AgentTests {
    /// Acceptance 1: the seed example reaches Running and `agentctl ps` / `get pods` / `logs` show it.
    @Test func seedPodReachesRunningAndPsShowsIt() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let seed = try String(contentsOfFile: repoRoot() + "/examples/my-pod.yml", encoding: .utf8)
        try agent.write("my-pod.yml", seed)
        let pod = try agent.waitForPod("my-pod", isRunningAndReady)
        #expect(pod != nil, "my-pod not Running; status: \(String(describing: try? agent.pod("my-pod")?.status)); log:\n\(agent.log())")

        let ps = try agent.agentctl(["ps"]).check()
        let row = ps.stdout.split(separator: "\n").first { $0.hasPrefix("my-pod ") }.map(String.init) ?? ""
        let cells = row.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        #expect(cells.count >= 7, "ps: \(ps.stdout)")
        if cells.count >= 7 {
            #expect(Array(cells[0..<6]) == ["my-pod", "my-container", testImage, "running", "true", "0"], "ps: \(ps.stdout)")
        }
        #expect(ps.stdout.hasPrefix("POD "), "ps: \(ps.stdout)")

        let get = try agent.agentctl(["get", "pods"]).check()
        let lines = get.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
        #expect(lines.dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true).prefix(4) == ["my-pod", "1/1", "Running", "0"])
        let wide = try agent.agentctl(["get", "pods", "-o", "wide"]).check()
        #expect(wide.stdout.contains("test-node"), "wide: \(wide.stdout)")

        #expect(waitUntil(timeout: .seconds(10)) { (try? agent.agentctl(["logs", "my-pod"]))?.stdout == "Hello from my-pod\n" })

        // Events with kubelet's texts.
        let events = try agent.events()
        for text in ["Created container: my-container", "Started container my-container", "already present on machine"] {
            #expect(events.contains(text), "events: \(events)")
        }
        // The pod's UTS namespace carries the pod name as hostname.
        let describe = try agent.agentctl(["describe", "pod", "my-pod"]).check()
        #expect(describe.stdout.contains("Status:           Running"), "describe: \(describe.stdout)")
        #expect(describe.stdout.contains("Started container my-container"), "describe: \(describe.stdout)")
    }

    /// Acceptance 2: exits 1, then 0, then keeps running.
    @Test(arguments: [("Always", Int32(2), "Running"), ("OnFailure", Int32(1), "Succeeded"), ("Never", Int32(0), "Failed")])
    func restartPolicyTable(policy: String, restarts: Int32, phase: String) throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let name = "counter-\(policy.lowercased())"
        try agent.write("\(name).yaml", countingPod(name: name, restartPolicy: policy))
        let pod = try agent.waitForPod(name, timeout: .seconds(90)) { pod in
            pod.status?.phase == phase && pod.status?.containerStatuses?.first?.restartCount == restarts
                && (phase != "Running" || pod.status?.containerStatuses?.first?.ready == true)
        }
        #expect(pod != nil, "\(policy): status \(String(describing: try? agent.pod(name)?.status)); log:\n\(agent.log())")
        // And it stays there: no further restarts.
        Thread.sleep(forTimeInterval: 3)
        let later = try agent.pod(name)
        #expect(later?.status?.phase == phase)
        #expect(later?.status?.containerStatuses?.first?.restartCount == restarts)
        if policy == "Always" {
            // The second restart waited for CrashLoopBackOff's 10 s.
            let events = try agent.events()
            #expect(events.contains("Back-off restarting failed container counter in pod \(name)_default("), "events: \(events)")
            #expect(later?.status?.containerStatuses?.first?.lastState?.terminated?.reason == "Completed")
        }
        if policy == "Never" {
            #expect(later?.status?.containerStatuses?.first?.state?.terminated?.reason == "Error")
            #expect(later?.status?.containerStatuses?.first?.state?.terminated?.exitCode == 1)
        }
    }

    /// Acceptance 6 (smaller): SIGKILL the agent and start it again: nothing restarted, nothing duplicated;
    /// a pod whose file was removed meanwhile is cleaned up.
    @Test func agentKillAndRestartAdoptsRunningPods() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let names = (1...5).map { "sleeper-\($0)" }
        for name in names { try agent.write("\(name).yaml", sleeperPod(name: name)) }
        var before: [String: String] = [:]
        for name in names {
            let pod = try agent.waitForPod(name, isRunningAndReady)
            #expect(pod != nil, "\(name) not running; log:\n\(agent.log())")
            before[name] = pod?.status?.containerStatuses?.first?.containerID ?? ""
        }
        let runtimeBefore = agent.runtimeContainers()
        #expect(runtimeBefore.count == names.count)
        let gone = try #require(try agent.pod("sleeper-5")?.metadata.uid)
        let pidsBefore = runtimeBefore.compactMap { id in
            (try? String(contentsOfFile: agent.root + "/pods/\(uidOf(id, in: agent) ?? "")/containers/\(id)/pid", encoding: .utf8))
        }

        try agent.killAgent()
        try agent.remove("sleeper-5.yaml")
        // The containers do not notice.
        #expect(agent.runtimeContainers() == runtimeBefore)
        try agent.start()

        #expect(waitUntil(timeout: .seconds(60)) { (try? agent.pod("sleeper-5")) == nil && !agent.runtimeContainers().contains { $0.hasPrefix(String(gone.prefix(12))) } })
        #expect(!FileManager.default.fileExists(atPath: agent.root + "/pods/\(gone)"))
        Thread.sleep(forTimeInterval: 3)
        for name in names.dropLast() {
            let pod = try agent.pod(name)
            #expect(pod.map(isRunningAndReady) == true, "\(name): \(String(describing: pod?.status))")
            #expect(pod?.status?.containerStatuses?.first?.containerID == before[name], "\(name) was restarted")
            #expect(pod?.status?.containerStatuses?.first?.restartCount == 0)
        }
        let runtimeAfter = agent.runtimeContainers()
        #expect(runtimeAfter == runtimeBefore.filter { !$0.hasPrefix(String(gone.prefix(12))) }, "runtime: \(runtimeAfter)")
        let pidsAfter = runtimeAfter.compactMap { id in
            (try? String(contentsOfFile: agent.root + "/pods/\(uidOf(id, in: agent) ?? "")/containers/\(id)/pid", encoding: .utf8))
        }
        #expect(Set(pidsAfter).isSubset(of: Set(pidsBefore)) && pidsAfter.count == names.count - 1)
        let log = agent.log()
        #expect(log.components(separatedBy: "Started container").count - 1 == names.count, "log:\n\(log)")
    }

    /// Acceptance 7 (deletion): removing the file removes the pod, its cgroups, mounts and state.
    @Test func deletingTheFileRemovesEverything() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("counter.yaml", countingPod(name: "doomed", restartPolicy: "Always"))
        let pod = try #require(try agent.waitForPod("doomed", timeout: .seconds(90)) { $0.status?.containerStatuses?.first?.restartCount == 2 && isRunningAndReady($0) })
        let uid = try #require(pod.metadata.uid)
        let podDir = agent.root + "/pods/" + uid
        let cgroups = agent.podCgroupDirectories(uid: uid)
        #expect(!cgroups.isEmpty)
        for cgroup in cgroups { #expect(FileManager.default.fileExists(atPath: cgroup), "missing \(cgroup)") }
        #expect(!MountTable.mounts(under: podDir).isEmpty, "the namespace pins should be mounted")
        #expect(!MountTable.mounts(under: agent.root + "/rootfs").isEmpty, "the rootfs overlay should be mounted")

        try agent.remove("counter.yaml")
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.pod("doomed")) == nil }, "log:\n\(agent.log())")
        for cgroup in cgroups { #expect(!FileManager.default.fileExists(atPath: cgroup), "left \(cgroup)") }
        #expect(MountTable.mounts(under: podDir).isEmpty)
        #expect(MountTable.mounts(under: agent.root + "/rootfs").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: podDir))
        #expect(agent.runtimeContainers().isEmpty)
        let rootfs = (try? FileManager.default.contentsOfDirectory(atPath: agent.root + "/rootfs")) ?? []
        #expect(rootfs.isEmpty, "rootfs left: \(rootfs)")
        let events = try agent.events()
        #expect(events.contains("Stopping container counter"), "events: \(events)")
    }

    /// Bad input: located errors as events; a good pod is not disturbed; a duplicate name keeps the first.
    @Test func badManifestYieldsLocatedEventAndGoodPodIsUndisturbed() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("good.yaml", sleeperPod(name: "good"))
        let good = try #require(try agent.waitForPod("good", isRunningAndReady))
        let id = good.status?.containerStatuses?.first?.containerID

        try agent.write(
            "bad.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: bad
            spec:
              containers:
              - name: c
                imagePullPolcy: Always
            """)
        try agent.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n")
        try agent.write("zz-duplicate.yaml", sleeperPod(name: "good"))
        try agent.write("notes.txt~", "ignored")
        #expect(
            waitUntil(timeout: .seconds(10)) {
                let events = (try? agent.events()) ?? ""
                return events.contains("bad.yaml: spec.containers[0].image: Required value") && events.contains("broken.yaml: YAML syntax error")
                    && events.contains("zz-duplicate.yaml: pod \"default/good\" is already defined in good.yaml")
            }, "events: \((try? agent.events()) ?? "")")
        let log = agent.log()
        #expect(log.contains("bad.yaml: spec.containers[0].image: Required value"), "log:\n\(log)")
        #expect(try agent.pod("bad") == nil)
        let after = try agent.pod("good")
        #expect(after.map(isRunningAndReady) == true)
        #expect(after?.status?.containerStatuses?.first?.containerID == id)
        #expect(after?.status?.containerStatuses?.first?.restartCount == 0)
        #expect(try agent.pods().count == 1)
    }
}

/// The pod UID for a runtime container ID (`<uid prefix 12>-<container>-<attempt>`).
func uidOf(_ id: String, in agent: AgentHarness) -> String? {
    ((try? FileManager.default.contentsOfDirectory(atPath: agent.root + "/pods")) ?? []).first { id.hasPrefix(String($0.prefix(12)) + "-") }
}

enum MountTable {
    static func mounts(under prefix: String) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4])
            return point == prefix || point.hasPrefix(prefix + "/") ? point : nil
        }
    }
}
