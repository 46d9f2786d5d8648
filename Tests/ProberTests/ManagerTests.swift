import Foundation
import KubeAPI
import Synchronization
import Testing

@testable import Prober

#if canImport(Glibc)
    import Glibc
#endif

/// Collects the manager's outputs.
final class Outputs: Sendable {
    let items = Mutex<[ProbeManager.Output]>([])
    func append(_ output: ProbeManager.Output) { items.withLock { $0.append(output) } }
    var all: [ProbeManager.Output] { items.withLock { $0 } }
}

@Suite struct ManagerTests {
    /// Real time, period 1 s: a failing liveness probe produces the Unhealthy event, the result change and the
    /// kill decision; the readiness worker is triggered by the status computation.
    @Test func livenessKillAndReadinessTrigger() async throws {
        var spec = container()
        spec.livenessProbe = probe(period: 1, failure: 2, grace: 4)
        var readiness = probe(period: 60)
        readiness.exec = ExecAction(command: ["ready"])
        spec.readinessProbe = readiness
        let outputs = Outputs()
        let prober = Prober { _, command, _, _ throws(ExecError) in
            command == ["ready"] ? ExecOutput(exitCode: 0) : ExecOutput(exitCode: 1, stdout: Array("nope".utf8))
        }
        let manager = ProbeManager(
            prober: prober, status: { _, _ in (PodSnapshot(), ContainerSnapshot(containerID: "c1", running: true, startedAt: .zero)) },
            output: { outputs.append($0) }, jitter: false)
        await manager.addPod(.init(uid: "u1", name: "web", namespace: "default", podIP: "127.0.0.1", terminationGracePeriodSeconds: 30), containers: [spec])
        // Wait for the kill (two failures, 1 s apart) by polling, then one more period to see the worker hold.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while !outputs.all.contains(where: { if case .kill = $0 { true } else { false } }), clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(1500))
        let all = outputs.all
        #expect(all.contains(.event(podUID: "u1", ProbeEvent(type: .warning, reason: "Unhealthy", message: "Liveness probe failed: nope", container: "app"))))
        #expect(all.contains(.update(podUID: "u1", ProbeUpdate(container: "app", containerID: "c1", kind: .liveness, result: .failure))))
        let kill = KillDecision(
            container: "app", reason: "LivenessProbe", message: "Container app failed liveness probe, will be restarted", gracePeriodSeconds: 4)
        #expect(all.filter { $0 == .kill(podUID: "u1", kill) }.count == 1)
        #expect(await manager.killDecision(podUID: "u1", container: "app") == kill)
        // Readiness (period 60 s) ran once at start; it succeeded, so ready.
        #expect(await manager.containerStatus(podUID: "u1", container: "app", running: true) == (true, true))
        #expect(manager.metrics.total(probeType: "Liveness", result: "failed", container: "app", pod: "web", namespace: "default", podUID: "u1") == 2)
        await manager.removePod(uid: "u1")
    }

    @Test func readinessTriggeredWhenStartupSucceeds() async throws {
        var spec = container()
        var startup = probe(period: 1, failure: 10)
        startup.exec = ExecAction(command: ["startup"])
        spec.startupProbe = startup
        var readiness = probe(period: 60)
        readiness.exec = ExecAction(command: ["ready"])
        spec.readinessProbe = readiness
        let outputs = Outputs()
        let manager = ProbeManager(
            prober: Prober { _, _, _, _ throws(ExecError) in ExecOutput(exitCode: 0) },
            status: { _, _ in (PodSnapshot(), ContainerSnapshot(containerID: "c1", running: true, startedAt: .zero)) },
            output: { outputs.append($0) }, jitter: false)
        await manager.addPod(.init(uid: "u2", name: "web", namespace: "default", podIP: "127.0.0.1"), containers: [spec])
        // Startup succeeds at its first tick; readiness was gated at its own first tick and would wait its 60 s
        // period. The first status that reports started must still say not ready, and it triggers readiness.
        // Polled rather than slept, so a loaded machine changes only how long the test takes.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        var status = await manager.containerStatus(podUID: "u2", container: "app", running: true)
        while !status.started, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            status = await manager.containerStatus(podUID: "u2", container: "app", running: true)
        }
        #expect(status == (true, false))
        let triggeredAt = clock.now
        while !status.ready, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            status = await manager.containerStatus(podUID: "u2", container: "app", running: true)
        }
        #expect(status == (true, true))
        // Far sooner than the 60 s readiness period: the trigger, not the timer, made it ready.
        #expect(clock.now - triggeredAt < .seconds(10))
        await manager.removePod(uid: "u2")
    }
}

@Suite struct HTTPSProbeTests {
    /// HTTPS without certificate verification, against `openssl s_server -www` with a fresh self-signed cert.
    @Test func selfSignedCertificateIsAccepted() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prober-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (fd, port) = try listenLoopback()
        close(fd)
        // One shell: make a self-signed certificate, then become the server (Process.waitUntilExit spins on Linux).
        let key = dir.path + "/key.pem"
        let cert = dir.path + "/cert.pem"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/bin/sh")
        server.arguments = [
            "-c",
            "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=probe-test -days 1 -keyout \(key) -out \(cert) 2>/dev/null && "
                + "exec openssl s_server -accept 127.0.0.1:\(port) -cert \(cert) -key \(key) -www -quiet",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        var action = HTTPGetAction(path: "/", port: .int(Int32(port)))
        action.scheme = "HTTPS"
        var outcome = ProbeOutcome(.unknown)
        for _ in 0..<50 {
            outcome = try await HTTPProber().probe(action, target: target, timeout: .seconds(1))
            if outcome.result == .success { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(outcome.result == .success, "\(outcome.output)")
    }
}
