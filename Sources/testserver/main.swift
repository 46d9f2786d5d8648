// The project's test server (the role of Kubernetes' agnhost): probe targets for the agent's tests.
//   --http-port P (8080): /healthz → 200 for the first --healthy-seconds (10) after start, then 500;
//     /redirect?loc=URL → 302 to URL; /status/N → N; /grpc-status?service=S&status=NOT_SERVING sets the gRPC
//     health status of S; anything else → a file below --dir (/srv).
//   --grpc-port P (9090): grpc.health.v1.Health/Check; the empty service starts SERVING, unknown ones NOT_FOUND.
//   --udp-port P (0 = off): UDP echo; each datagram is answered with "<hostname> <payload>", so a client behind a
//     Service can tell which pod answered.
// SIGTERM and SIGINT end it with status 0.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHTTP1
import NIOPosix
import Prober
import Synchronization

struct Options {
    var httpPort = 8080
    var grpcPort = 9090
    var udpPort = 0
    var healthySeconds = 10.0
    var directory = "/srv"

    init(_ arguments: [String]) throws(UsageError) {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw UsageError(message: "\(flag) needs a value") }
            switch flag {
            case "--http-port": httpPort = try Self.number(flag, value)
            case "--grpc-port": grpcPort = try Self.number(flag, value)
            case "--udp-port": udpPort = try Self.number(flag, value)
            case "--healthy-seconds":
                guard let seconds = Double(value) else { throw UsageError(message: "\(flag): not a number: \(value)") }
                healthySeconds = seconds
            case "--dir": directory = value
            default: throw UsageError(message: "unknown flag \(flag)")
            }
        }
    }

    static func number(_ flag: String, _ value: String) throws(UsageError) -> Int {
        guard let n = Int(value), n >= 0, n < 65536 else { throw UsageError(message: "\(flag): not a port: \(value)") }
        return n
    }
}

struct UsageError: Error, CustomStringConvertible {
    var message: String
    var description: String { "testserver: \(message)" }
}

/// The gRPC health statuses, flipped over HTTP.
final class HealthStatuses: Sendable {
    private let statuses = Mutex<[String: Int]>(["": 1])
    func get(_ service: String) -> Int? { statuses.withLock { $0[service] } }
    func set(_ service: String, _ status: Int) { statuses.withLock { $0[service] = status } }
}

struct HealthService: RegistrableRPCService {
    let statuses: HealthStatuses

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let statuses = self.statuses
        router.registerHandler(forMethod: healthCheckMethod, deserializer: GRPCHealthCodec.request, serializer: GRPCHealthCodec.response) {
            request, _ in
            var service = ""
            for try await message in request.messages { service = message.service }
            guard let status = statuses.get(service) else { throw RPCError(code: .notFound, message: "unknown service") }
            return StreamingServerResponse(single: ServerResponse(message: HealthCheckResponse(status: status)))
        }
    }
}

final class HTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let started: ContinuousClock.Instant
    let healthySeconds: Double
    let directory: String
    let statuses: HealthStatuses

    init(started: ContinuousClock.Instant, healthySeconds: Double, directory: String, statuses: HealthStatuses) {
        self.started = started
        self.healthySeconds = healthySeconds
        self.directory = directory
        self.statuses = statuses
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let (status, headers, body) = respond(to: head.uri)
        var responseHeaders = HTTPHeaders(headers)
        responseHeaders.add(name: "Content-Length", value: String(body.count))
        // Keep-alive as the client asks (HTTP/1.1 default; probes send `Connection: close`): the Service throughput
        // benchmark measures the data path over reused connections.
        let keepAlive = head.isKeepAlive
        responseHeaders.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func respond(to uri: String) -> (Int, [(String, String)], [UInt8]) {
        let components = URLComponents(string: uri)
        let path = components?.path ?? uri
        var query: [String: String] = [:]
        for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
        func text(_ status: Int, _ body: String) -> (Int, [(String, String)], [UInt8]) {
            (status, [("Content-Type", "text/plain")], Array(body.utf8))
        }
        switch path {
        case "/healthz":
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return seconds < healthySeconds ? text(200, "ok") : text(500, "error: unhealthy after \(healthySeconds)s")
        case "/redirect":
            guard let location = query["loc"] else { return text(400, "missing loc") }
            return (302, [("Location", location)], [])
        case "/grpc-status":
            let names = ["UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3]
            guard let name = query["status"], let value = names[name] else { return text(400, "status must be one of \(names.keys.sorted())") }
            statuses.set(query["service"] ?? "", value)
            return text(200, "ok")
        default:
            if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)), (100..<1000).contains(code) {
                return text(code, "status \(code)")
            }
            let file = directory + "/" + path.split(separator: "/").filter { $0 != ".." }.joined(separator: "/")
            guard let data = FileManager.default.contents(atPath: file) else { return text(404, "not found") }
            return (200, [("Content-Type", "application/octet-stream")], Array(data))
        }
    }
}

/// Answers every datagram with the host name, a space and the datagram itself.
final class UDPEchoHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let prefix: [UInt8]

    init(hostname: String) { prefix = Array((hostname + " ").utf8) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        var reply = context.channel.allocator.buffer(capacity: prefix.count + envelope.data.readableBytes)
        reply.writeBytes(prefix)
        reply.writeImmutableBuffer(envelope.data)
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: reply)), promise: nil)
    }
}

/// gethostname(2): the pod's name inside its UTS namespace.
func hostname() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func serve(_ options: Options) async throws {
    let statuses = HealthStatuses()
    let started = ContinuousClock.now
    let http = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(
                    HTTPHandler(started: started, healthySeconds: options.healthySeconds, directory: options.directory, statuses: statuses))
            }
        }
        .bind(host: "0.0.0.0", port: options.httpPort).get()
    let grpc = GRPCServer(
        transport: .http2NIOPosix(address: .ipv4(host: "0.0.0.0", port: options.grpcPort), transportSecurity: .plaintext),
        services: [HealthService(statuses: statuses)])
    var udp: Channel?
    if options.udpPort != 0 {
        let name = hostname()
        udp = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UDPEchoHandler(hostname: name)) }
            }
            .bind(host: "0.0.0.0", port: options.udpPort).get()
    }
    let udpText = options.udpPort == 0 ? "" : ", udp echo on \(options.udpPort)"
    print("testserver: http on \(options.httpPort), grpc on \(options.grpcPort)\(udpText), healthy for \(options.healthySeconds)s")
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await grpc.serve() }
        group.addTask { try await http.closeFuture.get() }
        if let udp { group.addTask { try await udp.closeFuture.get() } }
    }
}

// PID 1 in a container: SIGTERM has no default action there, so it is handled explicitly.
for signalNumber in [SIGTERM, SIGINT] { signal(signalNumber, SIG_IGN) }
let signalSources = [SIGTERM, SIGINT].map { signalNumber in
    let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
    source.setEventHandler {
        print("testserver: signal \(signalNumber), exiting")
        exit(0)
    }
    source.resume()
    return source
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    try await serve(options)
} catch {
    FileHandle.standardError.write(Data("testserver: \(error)\n".utf8))
    exit(1)
}
withExtendedLifetime(signalSources) {}
