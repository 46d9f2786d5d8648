// Probes end to end: a real agent, real containers, probes run by the agent (issue 5, kubelet.md §1 and §3).
// Many pods per test keep the run short; every pod's expectations are checked against what the agent's API shows.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

/// One pod's observed history, sampled from the API while the test runs.
struct PodTrace {
    var samples: [(at: Date, pod: Pod)] = []

    var container: [ContainerStatus] { samples.last?.pod.status?.containerStatuses ?? [] }
    func first(_ condition: (Pod) -> Bool) -> (at: Date, pod: Pod)? { samples.first { condition($0.pod) } }
    func any(_ condition: (Pod) -> Bool) -> Bool { samples.contains { condition($0.pod) } }
    var last: Pod? { samples.last?.pod }
}

func app(_ pod: Pod) -> ContainerStatus? { pod.status?.containerStatuses?.first { $0.name == "app" } }
func condition(_ pod: Pod, _ type: String) -> PodCondition? { pod.status?.conditions?.first { $0.type == type } }

/// A busybox pod with one container `app`; `probes` is indented YAML under the container.
func busyboxPod(_ name: String, script: String, restartPolicy: String = "Always", grace: Int = 60, probes: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      restartPolicy: \(restartPolicy)
      terminationGracePeriodSeconds: \(grace)
      containers:
      - name: app
        image: \(testImage)
        command: ["sh", "-c", \(goQuoted(script))]
    \(probes)
    """
}

/// A testserver pod with one container `app` exposing `http` 8080 and `grpc` 9090.
func testserverPod(_ name: String, args: [String] = [], probes: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      terminationGracePeriodSeconds: 60
      containers:
      - name: app
        image: \(testserverImage)
        args: [\(args.map(goQuoted).joined(separator: ", "))]
        ports:
        - {name: http, containerPort: 8080}
        - {name: grpc, containerPort: 9090}
    \(probes)
    """
}

func goQuoted(_ s: String) -> String {
    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}

/// Samples all pods every half second until `done` holds or the timeout passes.
func trace(_ agent: AgentHarness, names: [String], timeout: Duration, until done: ([String: PodTrace]) -> Bool) -> [String: PodTrace] {
    var traces: [String: PodTrace] = [:]
    for name in names { traces[name] = PodTrace() }
    _ = waitUntil(timeout: timeout, interval: .milliseconds(500)) {
        let now = Date()
        for pod in (try? agent.pods()) ?? [] {
            guard let name = pod.metadata.name, traces[name] != nil else { continue }
            traces[name]?.samples.append((now, pod))
        }
        return done(traces)
    }
    return traces
}

func seconds(_ from: Date?, _ to: Date?) -> Double? {
    guard let from, let to else { return nil }
    return to.timeIntervalSince(from)
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct ProbeE2ETests {
    /// exec probes of every kind: liveness kill with the probe's grace and CrashLoopBackOff, readiness timing and
    /// loss, startup gating readiness (re-probed at once), startup failure, exec timeout, restartPolicy Never,
    /// and readiness still probed while the pod terminates (liveness is not).
    @Test func execProbes() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let pods: [String: String] = [
            "live-exec": busyboxPod(
                "live-exec", script: "touch /tmp/healthy; sleep 6; rm /tmp/healthy; sleep 600",
                probes: """
                        livenessProbe:
                          exec: {command: [cat, /tmp/healthy]}
                          initialDelaySeconds: 1
                          periodSeconds: 1
                          failureThreshold: 2
                          terminationGracePeriodSeconds: 3
                    """),
            "ready-exec": busyboxPod(
                "ready-exec", script: "touch /tmp/ready; sleep 16; rm /tmp/ready; sleep 600",
                probes: """
                        readinessProbe:
                          exec: {command: [cat, /tmp/ready]}
                          initialDelaySeconds: 5
                          periodSeconds: 1
                    """),
            "startup-exec": busyboxPod(
                "startup-exec", script: "sleep 8; touch /tmp/started; sleep 600",
                probes: """
                        startupProbe:
                          exec: {command: [cat, /tmp/started]}
                          periodSeconds: 1
                          failureThreshold: 120
                        readinessProbe:
                          exec: {command: ["true"]}
                          periodSeconds: 40
                    """),
            "startup-fail": busyboxPod(
                "startup-fail", script: "sleep 600",
                probes: """
                        startupProbe:
                          exec: {command: ["false"]}
                          periodSeconds: 1
                          failureThreshold: 3
                          terminationGracePeriodSeconds: 2
                    """),
            "exec-timeout": busyboxPod(
                "exec-timeout", script: "sleep 600",
                probes: """
                        readinessProbe:
                          exec: {command: [sleep, "5"]}
                          timeoutSeconds: 1
                          periodSeconds: 2
                    """),
            "live-never": busyboxPod(
                "live-never", script: "sleep 600", restartPolicy: "Never",
                probes: """
                        livenessProbe:
                          exec: {command: ["false"]}
                          initialDelaySeconds: 2
                          periodSeconds: 1
                          failureThreshold: 1
                          terminationGracePeriodSeconds: 2
                    """),
        ]
        let agentStarted = Date()
        // startup-exec comes once the agent has run longer than its readiness period: kubelet (and this agent) delay a
        // worker's first probe by a random part of its period during the first period after start, which would hide
        // whether readiness is re-probed right after startup succeeds.
        for (name, manifest) in pods where name != "startup-exec" { try agent.write(name + ".yaml", manifest) }
        var startupWritten = false
        let traces = trace(agent, names: Array(pods.keys), timeout: .seconds(200)) { traces in
            if !startupWritten && Date().timeIntervalSince(agentStarted) > 45, let manifest = pods["startup-exec"] {
                startupWritten = (try? agent.write("startup-exec.yaml", manifest)) != nil
            }
            let liveDone =
                (traces["live-exec"]?.last.flatMap(app)?.restartCount ?? 0) >= 2
                && traces["live-exec"]?.any { app($0)?.state?.waiting?.reason == "CrashLoopBackOff" } == true
            let readyDone =
                traces["ready-exec"]?.any { condition($0, "Ready")?.status == "True" } == true
                && traces["ready-exec"]?.last.map { condition($0, "Ready")?.status == "False" && app($0)?.state?.running != nil } == true
            let startupDone = traces["startup-exec"]?.any { app($0)?.ready == true } == true
            let failDone = (traces["startup-fail"]?.last.flatMap(app)?.restartCount ?? 0) >= 1
            let neverDone = traces["live-never"]?.last?.status?.phase == "Failed"
            return liveDone && readyDone && startupDone && failDone && neverDone
        }
        let log = { "agent log:\n\(agent.log().suffix(6000))" }

        // Liveness: Unhealthy, Killing with kubelet's texts; the kill took the probe's 3 s grace, not the pod's 60 s;
        // restarts, then CrashLoopBackOff.
        let liveEvents = try agent.podEvents("live-exec")
        #expect(
            liveEvents.contains { $0.reason == "Unhealthy" && $0.message.hasPrefix("Liveness probe failed: cat: can't open '/tmp/healthy'") },
            "\(liveEvents)")
        let killing = liveEvents.first { $0.reason == "Killing" }
        #expect(killing?.message == "Container app failed liveness probe, will be restarted", "\(liveEvents)")
        #expect(killing?.involvedObject.fieldPath == "spec.containers{app}")
        let live = try #require(traces["live-exec"]?.last.flatMap(app), "\(log())")
        #expect(live.restartCount >= 2, "\(live) \(log())")
        #expect(traces["live-exec"]?.any { app($0)?.state?.waiting?.reason == "CrashLoopBackOff" } == true, "\(live)")
        let firstKill = traces["live-exec"]?.first { (app($0)?.restartCount ?? 0) >= 1 }?.pod
        if let terminated = firstKill.flatMap(app)?.lastState?.terminated, let killing {
            #expect(terminated.exitCode == 137, "\(terminated)")
            let took = seconds(killing.firstTimestamp, terminated.finishedAt) ?? 999
            #expect(took < 30, "the liveness kill took \(took) s: the probe's terminationGracePeriodSeconds (3) was not used")
        } else {
            Issue.record("no terminated lastState after the liveness kill: \(String(describing: firstKill?.status))")
        }

        // Readiness: never ready before initialDelaySeconds (5 s after the start), ready, then not ready when the file
        // goes, with the Ready condition's reason; no restart.
        let readyTrace = try #require(traces["ready-exec"])
        let becameReady = readyTrace.first { condition($0, "Ready")?.status == "True" }?.pod
        let started = becameReady.flatMap(app)?.state?.running?.startedAt
        let readyAt = becameReady.flatMap { condition($0, "Ready")?.lastTransitionTime }
        let delay = seconds(started, readyAt)
        #expect(delay.map { $0 >= 4 } == true, "ready \(String(describing: delay)) s after start; initialDelaySeconds is 5")
        #expect(
            !readyTrace.samples.contains { sample in
                guard let startedAt = app(sample.pod)?.state?.running?.startedAt, app(sample.pod)?.ready == true else { return false }
                return sample.at.timeIntervalSince(startedAt) < 4
            }, "observed ready before initialDelaySeconds")
        let unready = readyTrace.last
        #expect(unready.flatMap { condition($0, "Ready") }?.reason == "ContainersNotReady")
        #expect(unready.flatMap { condition($0, "Ready") }?.message == "containers with unready status: [app]")
        #expect(unready.flatMap { condition($0, "ContainersReady") }?.status == "False")
        #expect(unready.flatMap(app)?.restartCount == 0)
        #expect(try agent.podEvents("ready-exec").contains { $0.message.hasPrefix("Readiness probe failed: cat: can't open '/tmp/ready'") })

        // Startup gates readiness; once it succeeds, readiness (period 40 s) is probed at once.
        let startupTrace = try #require(traces["startup-exec"])
        #expect(startupTrace.any { app($0)?.state?.running != nil && app($0)?.started == false && app($0)?.ready == false }, "never seen unstarted")
        let startedSample = startupTrace.first { app($0)?.started == true }
        let readySample = startupTrace.first { app($0)?.ready == true }
        let gap = seconds(startedSample?.at, readySample?.at)
        #expect(gap.map { $0 < 15 } == true, "ready \(String(describing: gap)) s after startup success; the readiness period is 40 s")
        #expect(try agent.podEvents("startup-exec").contains { $0.message.hasPrefix("Startup probe failed: cat: can't open '/tmp/started'") })
        #expect(startupTrace.last.flatMap(app)?.restartCount == 0)

        // Startup failure: killed and restarted.
        let failEvents = try agent.podEvents("startup-fail")
        #expect(failEvents.contains { $0.reason == "Killing" && $0.message == "Container app failed startup probe, will be restarted" }, "\(failEvents)")
        #expect(failEvents.contains { $0.reason == "Unhealthy" && $0.type == "Warning" && $0.message == "Startup probe failed: " }, "\(failEvents)")
        #expect((traces["startup-fail"]?.last.flatMap(app)?.restartCount ?? 0) >= 1)

        // A timed-out exec is a failure with kubelet's text; never ready.
        let timeoutEvents = try agent.podEvents("exec-timeout")
        #expect(timeoutEvents.contains { $0.message == "Readiness probe failed: command \"sleep 5\" timed out" }, "\(timeoutEvents)")
        #expect(traces["exec-timeout"]?.any { app($0)?.ready == true } == false)

        // restartPolicy Never: the Killing text has no "will be restarted"; the pod fails.
        let neverEvents = try agent.podEvents("live-never")
        #expect(neverEvents.contains { $0.reason == "Killing" && $0.message == "Container app failed liveness probe" }, "\(neverEvents)")
        #expect(traces["live-never"]?.last?.status?.phase == "Failed", "\(String(describing: traces["live-never"]?.last?.status)) \(log())")

        // describe shows the probe lines; the API carries per-probe results; /metrics counts them.
        let describe = try agent.agentctl(["describe", "pod", "startup-exec"]).check().stdout
        let lines = describe.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(
            lines.contains { $0.hasPrefix("Startup:") && $0.hasSuffix(" exec [cat /tmp/started] delay=0s timeout=1s period=1s #success=1 #failure=120") },
            "\(describe)")
        #expect(
            lines.contains { $0.hasPrefix("Readiness:") && $0.hasSuffix(" exec [true] delay=0s timeout=1s period=40s #success=1 #failure=3") }, "\(describe)")
        let annotation = try agent.pod("ready-exec")?.metadata.annotations?["minikubelet.io/probes"] ?? ""
        #expect(annotation.contains("\"app\"") && annotation.contains("\"readiness\"") && annotation.contains("durationSeconds"), "\(annotation)")
        let metrics = try agent.agentctl(["metrics"]).check().stdout
        #expect(metrics.contains("prober_probe_total{container=\"app\",namespace=\"default\",pod=\"ready-exec\""), "\(metrics.prefix(3000))")
        #expect(metrics.contains("probe_type=\"Liveness\",result=\"failed\""))
        #expect(metrics.contains("prober_probe_duration_seconds_bucket{container=\"app\",namespace=\"default\",pod=\"live-exec\",probe_type=\"Liveness\""))
    }

    /// While a pod terminates its readiness probe keeps running (the pod turns not ready) and liveness stops.
    @Test func readinessDuringTermination() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        // On SIGTERM the container drops its ready file and lingers 10 s: readiness must notice, liveness (which
        // checks the same file) must not kill it.
        let script = "trap 'rm -f /tmp/ready; sleep 10; exit 0' TERM; touch /tmp/ready; while true; do sleep 1; done"
        try agent.write(
            "term.yaml",
            busyboxPod(
                "term", script: script, grace: 30,
                probes: """
                        readinessProbe:
                          exec: {command: [cat, /tmp/ready]}
                          periodSeconds: 1
                          failureThreshold: 1
                        livenessProbe:
                          exec: {command: [cat, /tmp/ready]}
                          periodSeconds: 1
                          failureThreshold: 1
                    """))
        let ready = try agent.waitForPod("term", timeout: .seconds(90)) { app($0)?.ready == true }
        #expect(ready != nil, "never ready: \(agent.log().suffix(4000))")
        try agent.remove("term.yaml")
        let terminatingUnready = try agent.waitForPod("term", timeout: .seconds(30)) {
            $0.metadata.deletionTimestamp != nil && app($0)?.state?.running != nil && app($0)?.ready == false
        }
        #expect(terminatingUnready != nil, "the terminating pod never turned not ready: \(String(describing: try? agent.pod("term")?.status))")
        #expect(condition(terminatingUnready ?? Pod(), "Ready")?.status == "False")
        // The container lingers 10 s after SIGTERM: liveness (failureThreshold 1, period 1 s) would have killed it by now.
        var events: [APIEvent] = []
        _ = waitUntil(timeout: .seconds(6), interval: .milliseconds(500)) {
            events = (try? agent.podEvents("term")) ?? events
            return false
        }
        #expect(events.contains { $0.message.hasPrefix("Readiness probe failed: cat: can't open '/tmp/ready'") }, "\(events)")
        #expect(!events.contains { $0.message.contains("failed liveness probe") || $0.message.hasPrefix("Liveness probe failed") }, "\(events)")
        #expect(events.contains { $0.reason == "Killing" && $0.message == "Stopping container app" }, "\(events)")
    }

    /// httpGet, tcpSocket and grpc against the testserver image at the pod IP.
    @Test func networkProbes() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.loadTestserverImage()
        // The docs' examples: liveness-http (/healthz fails after 10 s) and goproxy (tcpSocket, ready after 15 s).
        for example in ["http-liveness.yaml", "tcp-liveness.yaml"] {
            try agent.write(example, try String(contentsOfFile: repoRoot() + "/examples/" + example, encoding: .utf8))
        }
        let pods: [String: String] = [
            "ready-tcp-closed": testserverPod(
                "ready-tcp-closed",
                probes: """
                        readinessProbe:
                          tcpSocket: {port: 81}
                          periodSeconds: 1
                    """),
            "ready-tcp-open": testserverPod(
                "ready-tcp-open",
                probes: """
                        readinessProbe:
                          tcpSocket: {port: http}
                          initialDelaySeconds: 3
                          periodSeconds: 1
                    """),
            "ready-grpc": testserverPod(
                "ready-grpc",
                probes: """
                        readinessProbe:
                          grpc: {port: 9090}
                          periodSeconds: 1
                          failureThreshold: 1
                    """),
            "startup-http": testserverPod(
                "startup-http",
                probes: """
                        startupProbe:
                          httpGet: {path: /ready.txt, port: 8080}
                          periodSeconds: 1
                          failureThreshold: 120
                        readinessProbe:
                          httpGet: {path: /index.html, port: 8080}
                          periodSeconds: 2
                    """),
            "redirect-other": testserverPod(
                "redirect-other",
                probes: """
                        readinessProbe:
                          httpGet: {path: "/redirect?loc=http://other.invalid/", port: 8080}
                          periodSeconds: 1
                    """),
        ]
        for (name, manifest) in pods { try agent.write(name + ".yaml", manifest) }

        // gRPC readiness follows the served status.
        let grpcReady = try agent.waitForPod("ready-grpc", timeout: .seconds(90)) { app($0)?.ready == true }
        #expect(grpcReady != nil, "grpc never ready: \(agent.log().suffix(4000))")
        #expect(grpcReady?.status?.podIP.map { !$0.isEmpty } == true)
        try agent.agentctl(["exec", "ready-grpc", "--", "wget", "-q", "-O-", "http://127.0.0.1:8080/grpc-status?status=NOT_SERVING"]).check()
        #expect(try agent.waitForPod("ready-grpc", timeout: .seconds(30)) { app($0)?.ready == false } != nil)
        try agent.agentctl(["exec", "ready-grpc", "--", "wget", "-q", "-O-", "http://127.0.0.1:8080/grpc-status?status=SERVING"]).check()
        #expect(try agent.waitForPod("ready-grpc", timeout: .seconds(30)) { app($0)?.ready == true } != nil)
        #expect(try agent.podEvents("ready-grpc").contains { $0.message == "Readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")" })

        // Startup over HTTP: the file appears, then readiness is probed at once.
        // Startup over HTTP (the file is missing: 404) holds readiness back until the file appears.
        let unstarted = try agent.waitForPod("startup-http", timeout: .seconds(60)) { app($0)?.state?.running != nil }
        #expect(unstarted.flatMap(app).map { $0.started != true && !$0.ready } == true, "\(String(describing: unstarted?.status))")
        try agent.agentctl(["exec", "startup-http", "--", "sh", "-c", "echo ok > /srv/ready.txt"]).check()
        let startupReady = try agent.waitForPod("startup-http", timeout: .seconds(60)) { app($0)?.ready == true }
        #expect(startupReady.flatMap(app)?.started == true, "\(String(describing: try? agent.pod("startup-http")?.status))")
        #expect(try agent.podEvents("startup-http").contains { $0.message == "Startup probe failed: HTTP probe failed with statuscode: 404" })

        let first = { (pod: Pod) in pod.status?.containerStatuses?.first }
        let traces = trace(agent, names: Array(pods.keys) + ["liveness-http", "goproxy"], timeout: .seconds(120)) { traces in
            (traces["liveness-http"]?.last.flatMap(first)?.restartCount ?? 0) >= 1
                && traces["goproxy"]?.any { first($0)?.ready == true } == true
                && traces["ready-tcp-open"]?.any { app($0)?.ready == true } == true
                && traces["redirect-other"]?.any { app($0)?.ready == true } == true
        }
        let liveEvents = try agent.podEvents("liveness-http")
        #expect(liveEvents.contains { $0.message == "Liveness probe failed: HTTP probe failed with statuscode: 500" }, "\(liveEvents)")
        #expect(liveEvents.contains { $0.reason == "Killing" && $0.message == "Container liveness failed liveness probe, will be restarted" })
        #expect((traces["liveness-http"]?.last.flatMap(first)?.restartCount ?? 0) >= 1)
        let proxy = traces["goproxy"]?.first { first($0)?.ready == true }?.pod
        let proxyDelay = seconds(proxy.flatMap(first)?.state?.running?.startedAt, proxy.flatMap { condition($0, "Ready")?.lastTransitionTime })
        #expect(proxyDelay.map { $0 >= 14 } == true, "goproxy ready \(String(describing: proxyDelay)) s after start; initialDelaySeconds is 15")

        #expect(traces["ready-tcp-closed"]?.any { app($0)?.ready == true } == false)
        #expect(traces["ready-tcp-closed"]?.last.flatMap { condition($0, "Ready") }?.status == "False")
        let closedEvents = try agent.podEvents("ready-tcp-closed")
        #expect(closedEvents.contains { $0.message.hasPrefix("Readiness probe failed: dial tcp ") && $0.message.hasSuffix("connect: connection refused") })

        let open = traces["ready-tcp-open"]?.first { app($0)?.ready == true }?.pod
        let delay = seconds(open.flatMap(app)?.state?.running?.startedAt, open.flatMap { condition($0, "Ready")?.lastTransitionTime })
        #expect(delay.map { $0 >= 2 } == true, "ready \(String(describing: delay)) s after start; initialDelaySeconds is 3")

        #expect(try agent.podEvents("redirect-other").contains { $0.reason == "ProbeWarning" && $0.message.hasPrefix("Readiness probe warning: ") })
    }
}
