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

/// A pod whose only init container exits 3; its app container would sleep.
func failingInitPod(name: String, restartPolicy: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      restartPolicy: \(restartPolicy)
      initContainers:
      - name: setup
        image: \(testImage)
        command: ["sh", "-c", "exit 3"]
      containers:
      - name: app
        image: \(testImage)
        command: ["sh", "-c", "sleep 100"]
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

    /// Acceptance 6: SIGKILL the agent and start it again: nothing restarted, nothing duplicated;
    /// a pod whose file was removed meanwhile is cleaned up.
    @Test func agentKillAndRestartAdoptsRunningPods() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let names = (1...10).map { "sleeper-\($0)" }
        for name in names { try agent.write("\(name).yaml", sleeperPod(name: name)) }
        var before: [String: String] = [:]
        for name in names {
            let pod = try agent.waitForPod(name, isRunningAndReady)
            #expect(pod != nil, "\(name) not running; log:\n\(agent.log())")
            before[name] = pod?.status?.containerStatuses?.first?.containerID ?? ""
        }
        let runtimeBefore = agent.runtimeContainers()
        #expect(runtimeBefore.count == names.count)
        let gone = try #require(try agent.pod("sleeper-10")?.metadata.uid)
        let pidsBefore = runtimeBefore.compactMap { id in
            (try? String(contentsOfFile: agent.root + "/pods/\(uidOf(id, in: agent) ?? "")/containers/\(id)/pid", encoding: .utf8))
        }

        try agent.killAgent()
        try agent.remove("sleeper-10.yaml")
        // The containers do not notice.
        #expect(agent.runtimeContainers() == runtimeBefore)
        try agent.start()

        #expect(
            waitUntil(timeout: .seconds(60)) {
                (try? agent.pod("sleeper-10")) == nil && !agent.runtimeContainers().contains { $0.hasPrefix(String(gone.prefix(12))) }
            })
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
        let pod = try #require(
            try agent.waitForPod("doomed", timeout: .seconds(90)) { $0.status?.containerStatuses?.first?.restartCount == 2 && isRunningAndReady($0) })
        let uid = try #require(pod.metadata.uid)
        let podDir = agent.root + "/pods/" + uid
        let cgroups = agent.podCgroupDirectories(uid: uid)
        #expect(!cgroups.isEmpty)
        for cgroup in cgroups { #expect(FileManager.default.fileExists(atPath: cgroup), "missing \(cgroup)") }
        #expect(!MountTable.mounts(under: podDir).isEmpty, "the namespace pins should be mounted")
        #expect(!MountTable.mounts(under: agent.root + "/rootfs").isEmpty, "the rootfs overlay should be mounted")

        try agent.remove("counter.yaml")
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.pod("doomed")) == nil }, "log:\n\(agent.log())")
        // Every hierarchy, the named ones (name=systemd) included, where the runtime also makes directories.
        for base in agent.cgroupBases(includeNamed: true) {
            let cgroup = base + "/\(agent.cgroupParent)/pods/\(uid)"
            #expect(!FileManager.default.fileExists(atPath: cgroup), "left \(cgroup)")
        }
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
        try agent.write("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
        #expect(
            waitUntil(timeout: .seconds(10)) {
                let events = (try? agent.events()) ?? ""
                return events.contains("bad.yaml: spec.containers[0].image: Required value") && events.contains("broken.yaml: YAML syntax error")
                    && events.contains("zz-duplicate.yaml: pod \"default/good\" is already defined in good.yaml")
                    && events.contains("deploy.yaml: unknown kind \"Deployment\"")
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

extension AgentTests {
    /// Acceptance 3 (part): init containers run in order before the app; `Init:0/2` while the first runs.
    @Test func initContainersRunInOrder() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "init.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: with-init
            spec:
              terminationGracePeriodSeconds: 5
              volumes:
              - name: data
                emptyDir: {}
              initContainers:
              - name: first
                image: \(testImage)
                command: ["sh", "-c", "sleep 2; echo first >> /data/order"]
                volumeMounts: [{name: data, mountPath: /data}]
              - name: second
                image: \(testImage)
                command: ["sh", "-c", "echo second >> /data/order"]
                volumeMounts: [{name: data, mountPath: /data}]
              containers:
              - name: app
                image: \(testImage)
                command: ["sh", "-c", "cat /data/order; trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: data, mountPath: /data}]
            """)
        #expect(
            waitUntil(timeout: .seconds(30), interval: .milliseconds(100)) {
                let table = (try? agent.agentctl(["get", "pods"]))?.stdout ?? ""
                return table.contains("with-init") && table.contains("Init:0/2")
            }, "never saw Init:0/2")
        let pod = try agent.waitForPod("with-init", isRunningAndReady)
        #expect(pod != nil, "status: \(String(describing: try? agent.pod("with-init")?.status)); log:\n\(agent.log())")
        #expect(pod?.status?.initContainerStatuses?.map { $0.state?.terminated?.reason } == ["Completed", "Completed"])
        #expect(pod?.status?.conditions?.first { $0.type == "Initialized" }?.status == "True")
        #expect(waitUntil(timeout: .seconds(10)) { (try? agent.agentctl(["logs", "with-init"]))?.stdout == "first\nsecond\n" })
    }

    /// Acceptance 3 (part): a failing init container with restartPolicy Never fails the pod; the app never starts.
    @Test func failingInitContainerWithNeverFailsThePod() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("init-fails.yaml", failingInitPod(name: "init-fails", restartPolicy: "Never"))
        let pod = try agent.waitForPod("init-fails") { $0.status?.phase == "Failed" }
        #expect(pod != nil, "status: \(String(describing: try? agent.pod("init-fails")?.status))")
        #expect(pod?.status?.initContainerStatuses?.first?.state?.terminated?.exitCode == 3)
        #expect(pod?.status?.containerStatuses?.first?.state?.waiting?.reason == "PodInitializing")
        #expect(pod?.status?.containerStatuses?.first?.containerID == nil)
        let table = try agent.agentctl(["get", "pods"]).check().stdout
        #expect(table.contains("Init:Error"), "get pods: \(table)")
    }

    /// Acceptance 5 (part): a container that ignores SIGTERM is killed after its grace period, not before.
    @Test func sigtermIgnoringContainerIsKilledAfterGracePeriod() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "stubborn.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: stubborn
            spec:
              terminationGracePeriodSeconds: 4
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"]
            """)
        #expect(try agent.waitForPod("stubborn", isRunningAndReady) != nil)
        let start = Date()
        try agent.remove("stubborn.yaml")
        Thread.sleep(forTimeInterval: 2.5)
        #expect(agent.runtimeContainers().count == 1, "killed before the grace period ended")
        #expect(waitUntil(timeout: .seconds(20)) { (try? agent.pod("stubborn")) == nil })
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 4 && elapsed < 12, "removed after \(elapsed) s")
        #expect(try agent.events().contains("Stopping container main"))
    }

    /// Acceptance 7 (part): editing a file recreates its pod (new UID, the old one cleaned up).
    @Test func editingAFileRecreatesThePod() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write("edit.yaml", sleeperPod(name: "edit-me"))
        let before = try #require(try agent.waitForPod("edit-me", isRunningAndReady))
        let oldUID = try #require(before.metadata.uid)
        try agent.write("edit.yaml", sleeperPod(name: "edit-me").replacingOccurrences(of: "  name: edit-me", with: "  name: edit-me\n  labels: {v: \"2\"}"))
        let after = try agent.waitForPod("edit-me") { $0.metadata.uid != oldUID && isRunningAndReady($0) && $0.metadata.labels?["v"] == "2" }
        #expect(after != nil, "pods: \(String(describing: try? agent.pods().map { ($0.metadata.uid, $0.status?.phase) }))")
        #expect(waitUntil(timeout: .seconds(20)) { ((try? agent.pods()) ?? []).count == 1 })
        #expect(!FileManager.default.fileExists(atPath: agent.root + "/pods/\(oldUID)"))
        #expect(agent.runtimeContainers().count == 1)
        #expect(after?.status?.containerStatuses?.first?.restartCount == 0)
    }
}

extension AgentTests {
    /// Admission: kubelet's reasons and messages; a rejected pod is Failed and never started.
    @Test func admissionRejectsPodsThatDoNotFit() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let tooBig = sleeperPod(name: "too-big").replacingOccurrences(
            of: "    command:", with: "    resources:\n      requests:\n        cpu: \"1000\"\n    command:")
        try agent.write("too-big.yaml", tooBig)
        let selector = sleeperPod(name: "elsewhere").replacingOccurrences(of: "  containers:", with: "  nodeSelector:\n    disk: ssd\n  containers:")
        try agent.write("elsewhere.yaml", selector)
        let big = try agent.waitForPod("too-big") { $0.status?.phase == "Failed" }
        #expect(big?.status?.reason == "OutOfcpu")
        #expect(big?.status?.message?.hasPrefix("Pod was rejected: Node didn't have enough resource: cpu, requested: 1000000, used: 0, capacity: ") == true)
        let other = try agent.waitForPod("elsewhere") { $0.status?.phase == "Failed" }
        #expect(other?.status?.reason == "NodeAffinity")
        let table = try agent.agentctl(["get", "pods"]).check().stdout
        #expect(table.contains("OutOfcpu") && table.contains("NodeAffinity"), "get pods: \(table)")
        #expect(agent.runtimeContainers().isEmpty)
        #expect(try agent.events().contains("Node didn't have enough resource: cpu"))
    }

    /// Resources reach the cgroup: a container over its memory limit is OOM-killed and reported so.
    @Test func memoryLimitOOMKillIsReported() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "hog.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: hog
            spec:
              restartPolicy: Never
              containers:
              - name: hog
                image: \(testImage)
                resources:
                  limits:
                    cpu: 100m
                    memory: 32Mi
                # The shell keeps the whole 200 MB output of the command substitution in memory.
                command: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\\\0' a); echo ${#x}"]
            """)
        let pod = try agent.waitForPod("hog", timeout: .seconds(60)) { $0.status?.phase == "Failed" }
        #expect(pod != nil, "status: \(String(describing: try? agent.pod("hog")?.status))")
        let terminated = pod?.status?.containerStatuses?.first?.state?.terminated
        #expect(terminated?.reason == "OOMKilled", "terminated: \(String(describing: terminated))")
        #expect(terminated?.exitCode == 137)
        #expect(pod?.status?.qosClass == "Guaranteed")
    }

    /// The API socket is 0600 and serves root only (SO_PEERCRED): another user gets no answer even when
    /// the file mode would let it connect.
    @Test func apiServesRootOnly() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        var st = stat()
        #expect(stat(agent.socket, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        let refused = try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", agent.binaries + "/agentctl", "--socket", agent.socket, "ps"])
        #expect(!refused.succeeded)
        #expect(refused.stderr.contains("Permission denied"), "\(refused)")
        // Open the mode up: the peer check still refuses.
        #expect(chmod(agent.socket, 0o666) == 0)
        chmod(agent.dir, 0o755)
        let unanswered = try run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", agent.binaries + "/agentctl", "--socket", agent.socket, "ps"])
        #expect(!unanswered.succeeded)
        #expect(unanswered.stderr.contains("closed the connection without a reply"), "\(unanswered)")
        #expect(try agent.agentctl(["ps"]).succeeded)
        let unknown = try agent.agentctl(["get", "pods", "nope"])
        #expect(!unknown.succeeded && unknown.stderr.contains("pods \"nope\" not found"))
    }
}

extension AgentTests {
    /// `agentctl exec` runs in the container (its namespaces and hostname); preStop runs before SIGTERM;
    /// postStart runs after the start.
    @Test func execAndLifecycleHooks() throws {
        // hostPath volumes are a baseline Pod Security violation (the agent's default level).
        let agent = try AgentHarness(extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        let hostDir = agent.dir + "/hooks"
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        try agent.write(
            "hooks.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: hooks
            spec:
              terminationGracePeriodSeconds: 10
              volumes:
              - name: out
                hostPath: {path: \(hostDir)}
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: out, mountPath: /out}]
                lifecycle:
                  postStart:
                    exec: {command: ["sh", "-c", "echo poststart >> /out/log"]}
                  preStop:
                    exec: {command: ["sh", "-c", "echo prestop >> /out/log"]}
            """)
        #expect(try agent.waitForPod("hooks", isRunningAndReady) != nil, "log:\n\(agent.log())")
        let hostname = try agent.agentctl(["exec", "hooks", "--", "hostname"])
        #expect(hostname.succeeded && hostname.stdout == "hooks\n", "\(hostname)")
        let failing = try agent.agentctl(["exec", "hooks", "--", "sh", "-c", "echo oops >&2; exit 7"])
        #expect(failing.status == .exited(7) && failing.stderr == "oops\n", "\(failing)")
        try agent.remove("hooks.yaml")
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.pod("hooks")) == nil })
        let log = try String(contentsOfFile: hostDir + "/log", encoding: .utf8)
        #expect(log == "poststart\nprestop\nterm\n", "hook log: \(log)")
    }
}

extension AgentTests {
    /// terminationMessagePath is read after the exit; FallbackToLogsOnError uses the log's tail.
    @Test func terminationMessages() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "messages.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: messages
            spec:
              restartPolicy: Never
              containers:
              - name: file
                image: \(testImage)
                command: ["sh", "-c", "printf bye > /dev/termination-log"]
              - name: logs
                image: \(testImage)
                terminationMessagePolicy: FallbackToLogsOnError
                command: ["sh", "-c", "echo first words; echo last words; exit 2"]
            """)
        let pod = try agent.waitForPod("messages") { $0.status?.phase == "Failed" }
        #expect(pod != nil, "status: \(String(describing: try? agent.pod("messages")?.status))")
        let statuses = pod?.status?.containerStatuses ?? []
        #expect(statuses.first { $0.name == "file" }?.state?.terminated?.message == "bye")
        #expect(statuses.first { $0.name == "file" }?.state?.terminated?.reason == "Completed")
        #expect(statuses.first { $0.name == "logs" }?.state?.terminated?.message == "first words\nlast words")
        #expect(statuses.first { $0.name == "logs" }?.state?.terminated?.exitCode == 2)
    }
}

extension AgentTests {
    /// env: values with $(VAR) expansion, downward-API fieldRef and resourceFieldRef; `logs -f` follows
    /// until the container stops.
    @Test func environmentAndFollowedLogs() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "env.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: env
              labels: {app: web}
            spec:
              restartPolicy: Never
              containers:
              - name: main
                image: \(testImage)
                # kubelet expands $(VAR) in command too, where $$ means a literal $: $$$$v reaches the shell as $$v.
                command: ["sh", "-c", "sleep 1; for v in GREETING NAME NS UID APP MEM CPU; do eval echo $v=\\\\$$$$v; sleep 0.2; done"]
                resources:
                  requests: {cpu: 250m, memory: 64Mi}
                  limits: {memory: 128Mi}
                env:
                - {name: WHO, value: world}
                - {name: GREETING, value: "hello $(WHO) $(NOPE) $$(WHO)"}
                - name: NAME
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
                - name: NS
                  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
                - name: UID
                  valueFrom: {fieldRef: {fieldPath: metadata.uid}}
                - name: APP
                  valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
                - name: MEM
                  valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
                - name: CPU
                  valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}
            """)
        let running = try agent.waitForPod("env") { $0.status?.containerStatuses?.first?.state?.running != nil }
        let uid = running?.metadata.uid ?? ""
        // Started while the container runs; returns once it has exited.
        let followed = try agent.agentctl(["logs", "-f", "env"])
        let expected = "GREETING=hello world $(NOPE) $(WHO)\nNAME=env\nNS=default\nUID=\(uid)\nAPP=web\nMEM=128\nCPU=250\n"
        #expect(followed.stdout == expected, "\(followed)")
        #expect(try agent.pod("env")?.status?.phase == "Succeeded")
    }
}

extension AgentTests {
    /// `agentctl diagnose`: a crashing container, a missing image, a manifest that does not decode.
    @Test func diagnoseExplainsCommonFailures() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "broken-pods.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: crasher
            spec:
              containers:
              - name: app
                image: \(testImage)
                command: ["sh", "-c", "echo cannot open /etc/app.conf; exit 4"]
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: no-image
            spec:
              containers:
              - name: app
                image: example.invalid/nothing:1.0
                imagePullPolicy: Never
            """)
        try agent.write("typo.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n")
        _ = try agent.waitForPod("crasher") { $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CrashLoopBackOff" }
        _ = try agent.waitForPod("no-image") { $0.status?.containerStatuses?.first?.state?.waiting?.reason == "ErrImageNeverPull" }

        let crasher = try agent.agentctl(["diagnose", "crasher"])
        #expect(crasher.stdout.contains("container app keeps failing: last run ended with Error (exit code 4)"), "\(crasher)")
        #expect(crasher.stdout.contains("cannot open /etc/app.conf"), "\(crasher)")
        let noImage = try agent.agentctl(["diagnose", "no-image"])
        #expect(noImage.stdout.contains("image example.invalid/nothing:1.0 cannot be used: ErrImageNeverPull"), "\(noImage)")
        #expect(noImage.stdout.contains("agentctl image load"), "\(noImage)")
        let typo = try agent.agentctl(["diagnose", "typo"])
        #expect(!typo.succeeded)
        #expect(typo.stdout.contains("typo.yaml: spec.containers[0].image: Required value"), "\(typo)")
        let good = try agent.agentctl(["diagnose", "nothing-here"])
        #expect(good.stdout.contains("does not exist"), "\(good)")
    }
}

extension AgentTests {
    /// emptyDir with medium Memory is a tmpfs (unmounted with the pod); an image in use cannot be removed,
    /// an unused one can.
    @Test func memoryEmptyDirAndImageRemoval() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "tmpfs.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: tmpfs
            spec:
              terminationGracePeriodSeconds: 5
              volumes:
              - name: cache
                emptyDir: {medium: Memory, sizeLimit: 8Mi}
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: cache, mountPath: /cache}]
            """)
        let pod = try #require(try agent.waitForPod("tmpfs", isRunningAndReady))
        let mounts = try agent.agentctl(["exec", "tmpfs", "--", "grep", " /cache ", "/proc/mounts"])
        #expect(mounts.stdout.hasPrefix("tmpfs /cache tmpfs") && mounts.stdout.contains("size=8192k"), "\(mounts)")
        let podDir = agent.root + "/pods/" + (pod.metadata.uid ?? "")
        #expect(!MountTable.mounts(under: podDir + "/volumes").isEmpty)

        let inUse = try agent.agentctl(["image", "rm", testImage])
        #expect(!inUse.succeeded, "\(inUse)")
        try agent.remove("tmpfs.yaml")
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.pod("tmpfs")) == nil })
        #expect(MountTable.mounts(under: podDir).isEmpty)
        let removed = try agent.agentctl(["image", "rm", testImage])
        #expect(removed.succeeded, "\(removed)")
        #expect(!(try agent.agentctl(["image", "ls"]).stdout.contains(testImage)))
    }
}

extension AgentTests {
    /// A command missing from the image: StartError (exit 128) as with containerd, restarted with back-off
    /// under Always, final under Never.
    @Test func missingCommandIsAStartError() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let always = sleeperPod(name: "nocmd").replacingOccurrences(
            of: "command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1; done\"]", with: "command: [\"/nonexistent\"]")
        #expect(always.contains("/nonexistent"))
        try agent.write("nocmd.yaml", always)
        try agent.write(
            "nocmd-never.yaml",
            always.replacingOccurrences(of: "name: nocmd", with: "name: nocmd-never\n  labels: {}").replacingOccurrences(
                of: "spec:\n", with: "spec:\n  restartPolicy: Never\n"))
        let looping = try agent.waitForPod("nocmd") { $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CrashLoopBackOff" }
        let last = looping?.status?.containerStatuses?.first?.lastState?.terminated
        #expect(last?.reason == "StartError" && last?.exitCode == 128, "\(String(describing: last))")
        #expect(last?.message?.contains("/nonexistent") == true)
        #expect((looping?.status?.containerStatuses?.first?.restartCount ?? 0) >= 1)
        let never = try agent.waitForPod("nocmd-never") { $0.status?.phase == "Failed" }
        #expect(never?.status?.containerStatuses?.first?.state?.terminated?.reason == "StartError", "\(String(describing: never?.status))")
        #expect(never?.status?.containerStatuses?.first?.restartCount == 0)
    }
}

extension AgentTests {
    /// Exec probes: readiness gates READY; a failing liveness probe restarts the container.
    @Test func execProbes() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "probed.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: probed
            spec:
              terminationGracePeriodSeconds: 2
              containers:
              - name: app
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/healthy; sleep 3; touch /tmp/ready; sleep 3; rm /tmp/healthy; while true; do sleep 1; done"]
                readinessProbe:
                  exec: {command: ["cat", "/tmp/ready"]}
                  periodSeconds: 1
                livenessProbe:
                  exec: {command: ["cat", "/tmp/healthy"]}
                  periodSeconds: 1
                  failureThreshold: 2
            """)
        let notReady = try agent.waitForPod("probed") { $0.status?.containerStatuses?.first?.state?.running != nil }
        #expect(notReady?.status?.containerStatuses?.first?.ready == false, "ready before the readiness probe passed")
        let table = try agent.agentctl(["get", "pods"]).check().stdout
        #expect(table.contains("0/1") && table.contains("Running"), "get pods: \(table)")
        #expect(try agent.waitForPod("probed", timeout: .seconds(20)) { $0.status?.containerStatuses?.first?.ready == true } != nil)
        // /tmp/healthy disappears at ~6 s: two failures, then the container is killed and restarted.
        let restarted = try agent.waitForPod("probed", timeout: .seconds(40)) { $0.status?.containerStatuses?.first?.restartCount == 1 }
        #expect(restarted != nil, "status: \(String(describing: try? agent.pod("probed")?.status)); log:\n\(agent.log())")
        let events = try agent.events()
        #expect(events.contains("Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory"), "events: \(events)")
        #expect(events.contains("Container app failed liveness probe, will be restarted"), "events: \(events)")
        #expect(events.contains("Readiness probe failed"), "events: \(events)")
    }
}

extension AgentTests {
    /// `agentctl apply -f` / `delete -f` / `delete pod` with the docs' exec liveness example (restarted once
    /// the probe starts failing at ~30 s).
    @Test func applyDeleteAndTheLivenessExample() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let example = repoRoot() + "/examples/exec-liveness.yaml"
        let applied = try agent.agentctl(["apply", "-f", example])
        #expect(applied.succeeded && applied.stdout == "pod/liveness-exec configured\n", "\(applied)")
        #expect(FileManager.default.fileExists(atPath: agent.manifests + "/exec-liveness.yaml"))
        let invalid = agent.dir + "/invalid.yaml"
        try "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: c\n".write(toFile: invalid, atomically: true, encoding: .utf8)
        let refused = try agent.agentctl(["apply", "-f", invalid])
        #expect(!refused.succeeded && refused.stderr.contains("invalid.yaml: spec.containers[0].image: Required value"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: agent.manifests + "/invalid.yaml"))

        try agent.write("other.yaml", sleeperPod(name: "other"))
        #expect(try agent.waitForPod("other", isRunningAndReady) != nil)
        let deletedPod = try agent.agentctl(["delete", "pod", "other"])
        #expect(deletedPod.succeeded && deletedPod.stdout == "pod \"other\" deleted\n", "\(deletedPod)")
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.pod("other")) == nil })

        let restarted = try agent.waitForPod("liveness-exec", timeout: .seconds(90)) { $0.status?.containerStatuses?.first?.restartCount == 1 }
        #expect(restarted != nil, "status: \(String(describing: try? agent.pod("liveness-exec")?.status))")
        let deleted = try agent.agentctl(["delete", "-f", example])
        #expect(deleted.succeeded, "\(deleted)")
        #expect(waitUntil(timeout: .seconds(60)) { (try? agent.pod("liveness-exec")) == nil })
    }
}

/// The pod UID for a runtime container ID (`<uid prefix 12>-<container>-<attempt>`).
func uidOf(_ id: String, in agent: AgentHarness) -> String? {
    ((try? FileManager.default.contentsOfDirectory(atPath: agent.root + "/pods")) ?? []).first { id.hasPrefix(String($0.prefix(12)) + "-") }
}

enum MountTable {
    static func mounts(under prefix: String) -> [String] {
        // Not String(contentsOfFile:): it returns only the first page of a /proc file.
        let fd = open("/proc/self/mountinfo", O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let n = read(fd, &buffer, buffer.count), n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4])
            return point == prefix || point.hasPrefix(prefix + "/") ? point : nil
        }
    }
}
