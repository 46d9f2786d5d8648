import KubeAPI
import Testing

@testable import Prober

func probe(delay: Int32 = 0, period: Int32 = 10, success: Int32 = 1, failure: Int32 = 3, grace: Int64? = nil) -> Probe {
    var p = Probe()
    p.exec = ExecAction(command: ["true"])
    p.initialDelaySeconds = delay
    p.periodSeconds = period
    p.successThreshold = success
    p.failureThreshold = failure
    p.terminationGracePeriodSeconds = grace
    return p
}

func run(_ result: ProbeResult) -> ProbeRun { ProbeRun(result: result, errored: false, output: "", event: nil) }

/// Drives ContainerProbes on a virtual clock: each tick is (time, kind, the probe's verdict if it runs).
struct Simulation {
    var probes: ContainerProbes
    var snapshot = ContainerSnapshot(containerID: "c1", running: true, startedAt: .zero)
    var pod = PodSnapshot()
    var updates: [ProbeUpdate] = []
    var ran: [Int] = []

    init(_ c: Container) { probes = ContainerProbes(container: c) }

    /// Returns the step taken at `t` seconds.
    @discardableResult mutating func tick(_ kind: ProbeKind, at t: Int, _ verdict: ProbeResult = .success) -> ProbeWorker.Step {
        let (step, u) = probes.prepare(kind, now: .seconds(t), pod: pod, container: snapshot)
        updates += u
        if step == .probe {
            ran.append(t)
            updates += probes.record(kind, run(verdict))
        }
        return step
    }
}

@Suite struct WorkerTests {
    struct ThresholdCase: Sendable, CustomStringConvertible {
        var kind: ProbeKind
        var success: Int32
        var failure: Int32
        var verdicts: [ProbeResult]
        /// The stored result after each tick.
        var stored: [ProbeResult]
        var description: String { "\(kind) s=\(success) f=\(failure) \(verdicts.map(\.rawValue))" }
    }

    static let thresholds: [ThresholdCase] = [
        ThresholdCase(
            kind: .liveness, success: 1, failure: 3, verdicts: [.success, .failure, .failure, .failure], stored: [.success, .success, .success, .failure]),
        ThresholdCase(
            kind: .liveness, success: 1, failure: 3, verdicts: [.failure, .failure, .success, .failure, .failure], stored: Array(repeating: .success, count: 5)),
        ThresholdCase(kind: .liveness, success: 1, failure: 1, verdicts: [.failure], stored: [.failure]),
        ThresholdCase(kind: .readiness, success: 1, failure: 3, verdicts: [.success], stored: [.success]),
        ThresholdCase(
            kind: .readiness, success: 3, failure: 1, verdicts: [.success, .success, .success, .failure], stored: [.failure, .failure, .success, .failure]),
        ThresholdCase(
            kind: .readiness, success: 2, failure: 2, verdicts: [.success, .failure, .success, .success, .failure, .failure],
            stored: [.failure, .failure, .failure, .success, .success, .failure]),
    ]

    @Test(arguments: thresholds) func nIdenticalResultsChangeTheResult(_ c: ThresholdCase) {
        var spec = container()
        let p = probe(success: c.success, failure: c.failure)
        if c.kind == .liveness { spec.livenessProbe = p } else { spec.readinessProbe = p }
        var sim = Simulation(spec)
        var stored: [ProbeResult] = []
        for (i, verdict) in c.verdicts.enumerated() {
            sim.tick(c.kind, at: i * 10, verdict)
            stored.append(sim.probes.results[c.kind] ?? .unknown)
        }
        #expect(stored == c.stored)
    }

    @Test func initialValuesAndRestart() {
        var spec = container()
        spec.livenessProbe = probe(failure: 1)
        spec.readinessProbe = probe()
        spec.startupProbe = probe(failure: 1)
        var sim = Simulation(spec)
        sim.snapshot.running = true
        for kind in ProbeKind.allCases { sim.tick(kind, at: 0, .failure) }
        // startup ran and failed (ft 1); liveness and readiness were gated: their initial values stand.
        #expect(sim.probes.results == [.liveness: .success, .readiness: .failure, .startup: .failure])
        #expect(sim.probes.killDecision(restartPolicy: "Always", podGracePeriodSeconds: 30)?.reason == "StartupProbe")
        // On hold until a new container: no more runs.
        #expect(sim.tick(.startup, at: 10) == .skip)
        sim.snapshot = ContainerSnapshot(containerID: "c2", running: true, startedAt: .seconds(20))
        sim.tick(.startup, at: 20, .success)
        #expect(sim.probes.results[.startup] == .success)
        #expect(sim.probes.started(running: true))
        #expect(sim.probes.ready(running: true) == (false, true))
    }

    @Test func initialDelay() {
        var spec = container()
        spec.livenessProbe = probe(delay: 15, period: 10)
        var sim = Simulation(spec)
        for t in stride(from: 0, through: 40, by: 10) { sim.tick(.liveness, at: t) }
        #expect(sim.ran == [20, 30, 40])
    }

    @Test func startupGatesLivenessAndReadiness() {
        var spec = container()
        spec.livenessProbe = probe(period: 1)
        spec.readinessProbe = probe(period: 1)
        spec.startupProbe = probe(period: 1, failure: 5)
        var sim = Simulation(spec)
        #expect(sim.probes.started(running: true) == false)
        #expect(sim.tick(.liveness, at: 0) == .skip)
        #expect(sim.tick(.readiness, at: 0) == .skip)
        sim.tick(.startup, at: 0, .failure)
        #expect(sim.probes.results[.startup] == .unknown)
        sim.tick(.startup, at: 1, .success)
        #expect(sim.probes.results[.startup] == .success)
        // Started: the status computation asks for an immediate readiness probe.
        let (ready, trigger) = sim.probes.ready(running: true)
        #expect(!ready && trigger)
        #expect(sim.tick(.readiness, at: 1) == .probe)
        #expect(sim.probes.ready(running: true) == (true, false))
        #expect(sim.tick(.startup, at: 2) == .skip)
        #expect(sim.tick(.liveness, at: 2) == .probe)
    }

    @Test func withoutProbesReadyWhenRunning() {
        let probes = ContainerProbes(container: container())
        #expect(probes.started(running: true))
        #expect(probes.ready(running: true) == (true, false))
        #expect(probes.ready(running: false) == (false, false))
    }

    @Test func terminatingStopsLivenessAndStartupNotReadiness() {
        var spec = container()
        spec.livenessProbe = probe()
        spec.readinessProbe = probe()
        var sim = Simulation(spec)
        sim.pod.terminating = true
        #expect(sim.tick(.liveness, at: 0, .failure) == .stop)
        #expect(sim.probes.results[.liveness] == .success)
        #expect(sim.tick(.readiness, at: 0, .failure) == .probe)
        #expect(sim.probes.ready(running: true).ready == false)
    }

    @Test func notRunningAndTerminalPods() {
        var spec = container()
        spec.readinessProbe = probe()
        var sim = Simulation(spec)
        sim.tick(.readiness, at: 0, .success)
        #expect(sim.probes.results[.readiness] == .success)
        sim.snapshot.running = false
        sim.snapshot.terminated = true
        #expect(sim.tick(.readiness, at: 10) == .skip)
        #expect(sim.probes.results[.readiness] == .failure)
        sim.snapshot.willRestart = false
        #expect(sim.tick(.readiness, at: 20) == .stop)
        sim.pod.terminal = true
        #expect(sim.tick(.readiness, at: 30) == .stop)
        var waiting = Simulation(spec)
        waiting.snapshot.containerID = nil
        #expect(waiting.tick(.readiness, at: 0) == .skip)
    }

    @Test func erroredRunsAreThrownAway() {
        var spec = container()
        spec.livenessProbe = probe(failure: 1)
        var probes = ContainerProbes(container: spec)
        _ = probes.prepare(.liveness, now: .zero, pod: PodSnapshot(), container: ContainerSnapshot(containerID: "c", running: true, startedAt: .zero))
        let updates = probes.record(.liveness, ProbeRun(result: .failure, errored: true, output: "x", event: nil))
        #expect(updates.isEmpty)
        #expect(probes.results[.liveness] == .success)
    }

    struct KillCase: Sendable, CustomStringConvertible {
        var kind: ProbeKind
        var restartPolicy: String?
        var probeGrace: Int64?
        var podGrace: Int64?
        var expect: KillDecision
        var description: String { "\(kind) \(restartPolicy ?? "-") \(probeGrace ?? -1) \(podGrace ?? -1)" }
    }

    static let kills: [KillCase] = [
        KillCase(
            kind: .liveness, restartPolicy: nil, probeGrace: nil, podGrace: 30,
            expect: KillDecision(
                container: "app", reason: "LivenessProbe", message: "Container app failed liveness probe, will be restarted", gracePeriodSeconds: 30)),
        KillCase(
            kind: .liveness, restartPolicy: "OnFailure", probeGrace: 5, podGrace: 30,
            expect: KillDecision(
                container: "app", reason: "LivenessProbe", message: "Container app failed liveness probe, will be restarted", gracePeriodSeconds: 5)),
        KillCase(
            kind: .liveness, restartPolicy: "Never", probeGrace: 0, podGrace: 30,
            expect: KillDecision(container: "app", reason: "LivenessProbe", message: "Container app failed liveness probe", gracePeriodSeconds: 2)),
        KillCase(
            kind: .startup, restartPolicy: "Always", probeGrace: 7, podGrace: 30,
            expect: KillDecision(
                container: "app", reason: "StartupProbe", message: "Container app failed startup probe, will be restarted", gracePeriodSeconds: 7)),
    ]

    @Test(arguments: kills) func killDecisions(_ c: KillCase) {
        var spec = container()
        let p = probe(failure: 1, grace: c.probeGrace)
        if c.kind == .liveness { spec.livenessProbe = p } else { spec.startupProbe = p }
        var sim = Simulation(spec)
        #expect(sim.probes.killDecision(restartPolicy: c.restartPolicy, podGracePeriodSeconds: c.podGrace) == nil)
        sim.tick(c.kind, at: 0, .failure)
        #expect(sim.probes.killDecision(restartPolicy: c.restartPolicy, podGracePeriodSeconds: c.podGrace) == c.expect)
    }
}

@Suite struct DescribeTests {
    @Test func lines() {
        var http = probe(delay: 15, period: 10)
        http.exec = nil
        http.timeoutSeconds = 1
        http.httpGet = HTTPGetAction(path: "/healthz", port: .int(8080))
        #expect(describeProbe(http) == "http-get http://:8080/healthz delay=15s timeout=1s period=10s #success=1 #failure=3")
        var exec = probe(delay: 5, period: 5)
        exec.exec = ExecAction(command: ["cat", "/tmp/healthy"])
        #expect(describeProbe(exec) == "exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3")
        var tcp = probe()
        tcp.exec = nil
        tcp.tcpSocket = TCPSocketAction(port: .string("http"))
        #expect(describeProbe(tcp) == "tcp-socket :http delay=0s timeout=1s period=10s #success=1 #failure=3")
        var grpc = probe()
        grpc.exec = nil
        grpc.grpc = GRPCAction(port: 2379)
        #expect(describeProbe(grpc) == "grpc <pod>:2379  delay=0s timeout=1s period=10s #success=1 #failure=3")
    }

    @Test func metrics() {
        let metrics = ProbeMetrics()
        metrics.record(kind: .liveness, run: run(.success), duration: .milliseconds(3), container: "app", pod: "web", namespace: "default")
        metrics.record(kind: .liveness, run: run(.failure), duration: .milliseconds(3), container: "app", pod: "web", namespace: "default")
        metrics.record(kind: .liveness, run: run(.success), duration: .milliseconds(3), container: "app", pod: "web", namespace: "default")
        #expect(metrics.total(probeType: "Liveness", result: "successful", container: "app", pod: "web", namespace: "default") == 2)
        let text = metrics.render()
        #expect(
            text.contains("prober_probe_total{container=\"app\",namespace=\"default\",pod=\"web\",pod_uid=\"\",probe_type=\"Liveness\",result=\"failed\"} 1"))
        #expect(text.contains("prober_probe_duration_seconds_count{container=\"app\",namespace=\"default\",pod=\"web\",probe_type=\"Liveness\"} 3"))
    }
}
