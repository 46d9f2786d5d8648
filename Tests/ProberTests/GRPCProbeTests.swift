import GRPCCore
import GRPCNIOTransportHTTP2
import KubeAPI
import Testing

@testable import Prober

#if canImport(Glibc)
    import Glibc
#endif

/// A grpc.health.v1 server using the module's hand-written codec.
struct HealthService: RegistrableRPCService {
    /// service name → ServingStatus; a missing name answers NOT_FOUND like the standard health server.
    var statuses: [String: Int]

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let statuses = self.statuses
        router.registerHandler(forMethod: healthCheckMethod, deserializer: GRPCHealthCodec.request, serializer: GRPCHealthCodec.response) {
            request, _ in
            var service = ""
            for try await message in request.messages { service = message.service }
            guard let status = statuses[service] else { throw RPCError(code: .notFound, message: "unknown service") }
            return StreamingServerResponse(single: ServerResponse(message: HealthCheckResponse(status: status)))
        }
    }
}

@Suite struct GRPCProbeTests {
    struct Case: Sendable, CustomStringConvertible {
        var service: String?
        var expect: ProbeOutcome
        var description: String { service ?? "<none>" }
    }

    static let cases: [Case] = [
        Case(service: nil, expect: ProbeOutcome(.success, "service healthy")),
        Case(service: "ready", expect: ProbeOutcome(.success, "service healthy")),
        Case(service: "down", expect: ProbeOutcome(.failure, "service unhealthy (responded with \"NOT_SERVING\")")),
        Case(service: "odd", expect: ProbeOutcome(.failure, "service unhealthy (responded with \"SERVICE_UNKNOWN\")")),
        Case(service: "missing", expect: ProbeOutcome(.failure, "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service")),
    ]

    @Test func healthChecks() async throws {
        let server = GRPCServer(
            transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
            services: [HealthService(statuses: ["": 1, "ready": 1, "down": 2, "odd": 3])])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let port = try #require(try await server.transport.listeningAddress.ipv4?.port)
            let target = ProbeTarget(podIP: "127.0.0.1", container: container())
            for c in Self.cases {
                var action = GRPCAction(port: Int32(port))
                action.service = c.service
                let outcome = try await GRPCProber().probe(action, target: target, timeout: .seconds(5))
                #expect(outcome == c.expect, "\(c)")
            }
            server.beginGracefulShutdown()
        }
    }

    @Test func refused() async throws {
        let (fd, port) = try listenLoopback()
        close(fd)
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let outcome = try await GRPCProber().probe(GRPCAction(port: Int32(port)), target: target, timeout: .seconds(1))
        #expect(outcome == ProbeOutcome(.failure, "timeout: failed to connect service \"127.0.0.1:\(port)\" within 1s: context deadline exceeded"))
    }

    @Test func serverWithoutHealthService() async throws {
        let server = GRPCServer(transport: .http2NIOPosix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext), services: [])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            let port = try #require(try await server.transport.listeningAddress.ipv4?.port)
            let target = ProbeTarget(podIP: "127.0.0.1", container: container())
            let outcome = try await GRPCProber().probe(GRPCAction(port: Int32(port)), target: target, timeout: .seconds(5))
            #expect(outcome.result == .failure)
            #expect(
                outcome.output.hasPrefix("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "),
                "\(outcome.output)")
            server.beginGracefulShutdown()
        }
    }

    /// A listener that never answers (connections sit in the accept queue): bounded by the timeout.
    @Test func silentServerTimesOut() async throws {
        let (fd, port) = try listenLoopback()
        defer { close(fd) }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await GRPCProber().probe(GRPCAction(port: Int32(port)), target: target, timeout: .seconds(1))
        #expect(outcome == ProbeOutcome(.failure, "timeout: health rpc did not complete within 1s"))
        #expect(clock.now - start < .seconds(5))  // bounded by the 1 s timeout; slack for a loaded machine
    }

    /// An HTTP/1 server on the port: a failure, bounded by the timeout.
    @Test func http1ServerFails() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let target = ProbeTarget(podIP: "127.0.0.1", container: container())
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await GRPCProber().probe(GRPCAction(port: Int32(server.port)), target: target, timeout: .seconds(1))
        #expect(outcome.result == .failure)
        #expect(clock.now - start < .seconds(5))  // bounded by the 1 s timeout; slack for a loaded machine
    }

    @Test func codecRoundTrip() throws {
        let request = HealthCheckRequest(service: "grpc.health.v1.Health")
        let bytes: [UInt8] = try GRPCHealthCodec.request.serialize(request)
        #expect(bytes.prefix(2) == [0x0A, 21])
        #expect(try GRPCHealthCodec.request.deserialize(bytes) == request)
        let response: [UInt8] = try GRPCHealthCodec.response.serialize(HealthCheckResponse(status: 2))
        #expect(response == [0x08, 0x02])
        // Unknown fields are skipped.
        #expect(try GRPCHealthCodec.response.deserialize([0x12, 0x01, 0x41, 0x08, 0x01] as [UInt8]) == HealthCheckResponse(status: 1))
    }
}
