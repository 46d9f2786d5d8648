import GRPCCore
import GRPCNIOTransportHTTP2
import KubeAPI
import NIOCore
import NIOPosix

// The two grpc.health.v1 messages are encoded by hand rather than generated with protoc-gen-swift: building
// swift-protobuf's plugin costs about ten minutes of every clean build for two messages with one field each, and
// the wire format of `string service = 1` and `enum status = 1` is a few lines (tag, varint, bytes).

/// grpc.health.v1.HealthCheckRequest { string service = 1; }
public struct HealthCheckRequest: Sendable, Hashable {
    public var service: String
    public init(service: String = "") { self.service = service }
}

/// grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; }
public struct HealthCheckResponse: Sendable, Hashable {
    public var status: Int
    public init(status: Int) { self.status = status }
    /// The enum's proto name as Go's `String()` prints it.
    public var statusName: String {
        switch status {
        case 0: return "UNKNOWN"
        case 1: return "SERVING"
        case 2: return "NOT_SERVING"
        case 3: return "SERVICE_UNKNOWN"
        default: return String(status)
        }
    }
}

/// Protobuf wire encoding of the two health messages (client and, for test servers, server side).
public struct GRPCHealthCodec<Message: Sendable>: MessageSerializer, MessageDeserializer, Sendable {
    let encode: @Sendable (Message) -> [UInt8]
    let decode: @Sendable ([UInt8]) throws(RPCError) -> Message

    public func serialize<Bytes: GRPCContiguousBytes>(_ message: Message) throws -> Bytes { Bytes(encode(message)) }
    public func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Message {
        try decode(serializedMessageBytes.withUnsafeBytes { Array($0) })
    }
}

extension GRPCHealthCodec where Message == HealthCheckRequest {
    public static var request: Self {
        Self(
            encode: { message in
                guard !message.service.isEmpty else { return [] }
                let bytes = Array(message.service.utf8)
                return [0x0A] + protoVarint(UInt64(bytes.count)) + bytes
            },
            decode: { bytes throws(RPCError) in
                var service = ""
                try protoFields(bytes) { field, _, payload in
                    if field == 1, case .bytes(let value) = payload { service = String(decoding: value, as: UTF8.self) }
                }
                return HealthCheckRequest(service: service)
            })
    }
}

extension GRPCHealthCodec where Message == HealthCheckResponse {
    public static var response: Self {
        Self(
            encode: { message in message.status == 0 ? [] : [0x08] + protoVarint(UInt64(UInt32(truncatingIfNeeded: message.status))) },
            decode: { bytes throws(RPCError) in
                var status = 0
                try protoFields(bytes) { field, _, payload in
                    if field == 1, case .varint(let value) = payload { status = Int(Int32(truncatingIfNeeded: value)) }
                }
                return HealthCheckResponse(status: status)
            })
    }
}

func protoVarint(_ value: UInt64) -> [UInt8] {
    var v = value
    var out: [UInt8] = []
    while v >= 0x80 {
        out.append(UInt8(v & 0x7F) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
    return out
}

enum ProtoPayload {
    case varint(UInt64)
    case bytes([UInt8])
    case fixed
}

/// Walks the fields of a message; unknown fields are skipped as protobuf requires.
func protoFields(_ bytes: [UInt8], _ visit: (Int, Int, ProtoPayload) -> Void) throws(RPCError) {
    var i = 0
    func varint() throws(RPCError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count, shift < 64 {
            let b = bytes[i]
            i += 1
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
        throw RPCError(code: .internalError, message: "malformed protobuf varint")
    }
    while i < bytes.count {
        let key = try varint()
        let field = Int(key >> 3)
        let wire = Int(key & 7)
        switch wire {
        case 0: visit(field, wire, .varint(try varint()))
        case 1, 5:
            let size = wire == 1 ? 8 : 4
            guard i + size <= bytes.count else { throw RPCError(code: .internalError, message: "truncated protobuf field") }
            i += size
            visit(field, wire, .fixed)
        case 2:
            let length = Int(try varint())
            guard length >= 0, i + length <= bytes.count else { throw RPCError(code: .internalError, message: "truncated protobuf field") }
            visit(field, wire, .bytes(Array(bytes[i..<(i + length)])))
            i += length
        default: throw RPCError(code: .internalError, message: "unsupported protobuf wire type \(wire)")
        }
    }
}

/// The `grpc.health.v1.Health/Check` method.
public let healthCheckMethod = MethodDescriptor(fullyQualifiedService: "grpc.health.v1.Health", method: "Check")

/// kubelet's gRPC probe (pkg/probe/grpc): Health/Check to podIP:port, only SERVING succeeds.
public struct GRPCProber: Sendable {
    public var group: any EventLoopGroup
    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) { self.group = group }

    public func probe(_ action: GRPCAction, target: ProbeTarget, timeout: Duration) async throws(ProberError) -> ProbeOutcome {
        let port = Int(action.port)
        let address = joinHostPort(target.podIP, port)
        let clock = ContinuousClock()
        let start = clock.now
        let within = goDuration(seconds: timeout.components.seconds)
        // kubelet dials with WithBlock: connection failures are retried until the timeout.
        let tcp = TCPProber(group: group)
        while true {
            let remaining = timeout - (clock.now - start)
            guard remaining > .zero else {
                return ProbeOutcome(.failure, "timeout: failed to connect service \(goQuote(address)) within \(within): context deadline exceeded")
            }
            let dial = try await tcp.probe(TCPSocketAction(port: .int(action.port)), target: target, timeout: remaining)
            if dial.result == .success { break }
            try? await Task.sleep(for: min(.milliseconds(100), max(.zero, timeout - (clock.now - start))))
        }
        let transport: HTTP2ClientTransport.Posix
        do {
            let resolvable: any ResolvableTarget =
                target.podIP.contains(":") ? .ipv6(address: target.podIP, port: port) : .ipv4(address: target.podIP, port: port)
            transport = try HTTP2ClientTransport.Posix(target: resolvable, transportSecurity: .plaintext)
        } catch {
            return ProbeOutcome(.failure, "error: failed to connect service at \(goQuote(address)): \(error)")
        }
        var options = CallOptions.defaults
        options.timeout = max(.milliseconds(1), timeout - (clock.now - start))
        options.waitForReady = true
        let request = ClientRequest(message: HealthCheckRequest(service: action.service ?? ""))
        do {
            let response = try await withGRPCClient(transport: transport) { client in
                try await client.unary(
                    request: request, descriptor: healthCheckMethod, serializer: GRPCHealthCodec.request, deserializer: GRPCHealthCodec.response,
                    options: options
                ) { response in try response.message }
            }
            if response.status == 1 { return ProbeOutcome(.success, "service healthy") }
            return ProbeOutcome(.failure, "service unhealthy (responded with \(goQuote(response.statusName)))")
        } catch let error as RPCError {
            switch error.code {
            case .unimplemented:
                return ProbeOutcome(
                    .failure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): \(error.message)")
            case .deadlineExceeded:
                return ProbeOutcome(.failure, "timeout: health rpc did not complete within \(within)")
            default:
                return ProbeOutcome(.failure, "error: health rpc probe failed: rpc error: code = \(goCodeName(error.code)) desc = \(error.message)")
            }
        } catch {
            return ProbeOutcome(.failure, "error: health rpc probe failed: \(error)")
        }
    }
}

/// grpc-go's codes.Code.String().
func goCodeName(_ code: RPCError.Code) -> String {
    let names: [(RPCError.Code, String)] = [
        (.cancelled, "Canceled"), (.unknown, "Unknown"), (.invalidArgument, "InvalidArgument"), (.deadlineExceeded, "DeadlineExceeded"),
        (.notFound, "NotFound"), (.alreadyExists, "AlreadyExists"), (.permissionDenied, "PermissionDenied"),
        (.resourceExhausted, "ResourceExhausted"), (.failedPrecondition, "FailedPrecondition"), (.aborted, "Aborted"),
        (.outOfRange, "OutOfRange"), (.unimplemented, "Unimplemented"), (.internalError, "Internal"), (.unavailable, "Unavailable"),
        (.dataLoss, "DataLoss"), (.unauthenticated, "Unauthenticated"),
    ]
    return names.first { $0.0 == code }?.1 ?? "Code(\(code.rawValue))"
}
