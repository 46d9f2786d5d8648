import Foundation
import KubeAPI
import Synchronization
import Testing

@testable import Prober

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct TCPProbeTests {
    @Test func open() async throws {
        let (fd, port) = try listenLoopback()
        defer { close(fd) }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container(ports: [("svc", Int32(port))]))
        for p in [IntOrString.int(Int32(port)), .string("svc")] {
            let outcome = try await TCPProber().probe(TCPSocketAction(port: p), target: target, timeout: .seconds(1))
            #expect(outcome == ProbeOutcome(.success, ""))
        }
    }

    @Test func refused() async throws {
        let (fd, port) = try listenLoopback()
        close(fd)
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await TCPProber().probe(TCPSocketAction(port: .int(Int32(port))), target: target, timeout: .seconds(1))
        #expect(outcome == ProbeOutcome(.failure, "dial tcp 127.0.0.1:\(port): connect: connection refused"))
    }

    /// A listener with backlog 0 whose accept queue is full drops further SYNs: the connect hangs until the timeout.
    @Test func timeout() async throws {
        let listener = try await SaturatedListener()
        defer { listener.close() }
        let port = listener.port
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await TCPProber().probe(TCPSocketAction(port: .int(Int32(port))), target: target, timeout: .seconds(1))
        #expect(outcome == ProbeOutcome(.failure, "dial tcp 127.0.0.1:\(port): i/o timeout"))
        // Bounded by the 1 s timeout (the connection would otherwise hang); slack for a loaded machine.
        #expect(clock.now - start < .seconds(5))
    }
}

@Suite struct ExecProbeTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var behaviour: @Sendable (ProbeTarget, [String], Duration, ProbeSleeper) async throws(ExecError) -> ExecOutput
        var expect: ProbeOutcome
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "exit 0", behaviour: { _, _, _, _ throws(ExecError) in ExecOutput(exitCode: 0, stdout: Array("ok\n".utf8)) },
            expect: ProbeOutcome(.success, "ok\n")
        ),
        Case(
            name: "exit 1",
            behaviour: { _, _, _, _ throws(ExecError) in
                ExecOutput(exitCode: 1, stdout: Array("out ".utf8), stderr: Array("cat: can't open '/tmp/healthy'\n".utf8))
            },
            expect: ProbeOutcome(.failure, "out cat: can't open '/tmp/healthy'\n")),
        Case(
            name: "timeout", behaviour: { _, _, _, _ throws(ExecError) in throw .timedOut },
            expect: ProbeOutcome(.failure, "command \"cat /tmp/healthy\" timed out")),
        Case(
            name: "hangs past its timeout",
            behaviour: { _, _, _, _ throws(ExecError) in
                try? await Task.sleep(for: .seconds(30))
                return ExecOutput(exitCode: 0)
            }, expect: ProbeOutcome(.failure, "command \"cat /tmp/healthy\" timed out")),
        Case(
            name: "large output",
            behaviour: { _, _, _, _ throws(ExecError) in ExecOutput(exitCode: 0, stdout: Array(repeating: UInt8(ascii: "a"), count: 1 << 20)) },
            expect: ProbeOutcome(.success, String(repeating: "a", count: 10 * 1024))),
    ]

    @Test(arguments: cases) func handler(_ c: Case) async throws {
        let prober = ExecProber(exec: c.behaviour)
        let target = ProbeTarget(podIP: "", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await prober.probe(ExecAction(command: ["cat", "/tmp/healthy"]), target: target, timeout: .seconds(1))
        #expect(outcome == c.expect)
        // Bounded by the 1 s probe timeout, not by the 30 s hang; the slack absorbs scheduling on a loaded machine.
        #expect(clock.now - start < .seconds(10))
    }

    @Test func staticEnvExpansion() async throws {
        let seen = Mutex<[String]>([])
        let prober = ExecProber { _, command, _, _ throws(ExecError) in
            seen.withLock { $0 = command }
            return ExecOutput(exitCode: 0)
        }
        var c = container()
        c.env = [EnvVar(name: "FILE", value: "/tmp/x")]
        _ = try await prober.probe(
            ExecAction(command: ["cat", "$(FILE)", "$(MISSING)", "$$(FILE)"]), target: ProbeTarget(podIP: "", container: c), timeout: .seconds(1))
        #expect(seen.withLock { $0 } == ["cat", "/tmp/x", "$(MISSING)", "$(FILE)"])
    }

    @Test func execErrorIsRetriedThenErrored() async throws {
        let calls = Mutex(0)
        let prober = Prober { _, _, _, _ throws(ExecError) in
            calls.withLock { $0 += 1 }
            throw .failed("container not found")
        }
        var probe = Probe()
        probe.exec = ExecAction(command: ["true"])
        let run = await prober.run(.liveness, probe, target: ProbeTarget(podIP: "", container: container()))
        #expect(calls.withLock { $0 } == 3)
        #expect(run.errored)
        #expect(run.event?.message == "Liveness probe errored and resulted in unknown state: container not found")
    }

    @Test func eventTexts() async throws {
        let prober = Prober { _, _, _, _ throws(ExecError) in ExecOutput(exitCode: 1, stdout: Array("nope".utf8)) }
        var probe = Probe()
        probe.exec = ExecAction(command: ["false"])
        let run = await prober.run(.readiness, probe, target: ProbeTarget(podIP: "", container: container()))
        #expect(run.result == .failure)
        #expect(run.event == ProbeEvent(type: .warning, reason: "Unhealthy", message: "Readiness probe failed: nope", container: "app"))
    }
}
