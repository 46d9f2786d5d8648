import KubeAPI
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// kubelet's TCP probe (pkg/probe/tcp): connect within the timeout, send nothing, close.
public struct TCPProber: Sendable {
    public var group: any EventLoopGroup
    public init(group: any EventLoopGroup = ProbeLoop.shared) { self.group = group }

    public nonisolated(nonsending) func probe(_ action: TCPSocketAction, target: ProbeTarget, timeout: Duration) async throws(ProberError) -> ProbeOutcome {
        let host = (action.host ?? "").isEmpty ? target.podIP : action.host ?? ""
        let port = try resolvePort(action.port, in: target.container)
        let address = joinHostPort(host, port)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(timeout.nanosecondsClamped))
            // SO_LINGER 0 would reset; kubelet's ProbeDialer uses linger 1 s so the close leaves no TIME_WAIT pile.
            .channelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
        do {
            let channel = try await bootstrap.connectDirect(host: host, port: port)
            // Nothing was sent; a close error (peer already gone) does not change the verdict: not waited for.
            channel.close(promise: nil)
            return ProbeOutcome(.success, "")
        } catch {
            let (timedOut, text) = describeDialError(error, address: address)
            return ProbeOutcome(.failure, timedOut ? "dial tcp \(address): i/o timeout" : text)
        }
    }
}

extension ClientBootstrap {
    /// A literal IP (the pod IP, nearly always) is connected to directly: `connect(host:port:)` would send even
    /// "10.88.0.5" through getaddrinfo on a resolver thread, for every probe.
    nonisolated(nonsending) func connectDirect(host: String, port: Int) async throws -> any Channel {
        if let address = try? SocketAddress(ipAddress: host, port: port) { return try await connect(to: address).value() }
        return try await connect(host: host, port: port).value()
    }
}

/// Go's dial error text: `dial tcp 10.0.0.7:81: connect: connection refused`; timed out → (true, _).
func describeDialError(_ error: any Error, address: String) -> (timedOut: Bool, text: String) {
    if case ChannelError.connectTimeout = error { return (true, "") }
    if let io = error as? IOError { return (false, "dial tcp \(address): connect: \(errnoText(io.errnoCode))") }
    if let connection = error as? NIOConnectionError {
        if let first = connection.connectionErrors.first {
            return describeDialError(first.error, address: address)
        }
        if connection.dnsAError != nil || connection.dnsAAAAError != nil {
            return (false, "dial tcp: lookup \(connection.host): no such host")
        }
    }
    return (false, "dial tcp \(address): \(error)")
}

/// Go's syscall.Errno texts for the errors probes meet.
func errnoText(_ code: Int32) -> String {
    switch code {
    case ECONNREFUSED: return "connection refused"
    case ECONNRESET: return "connection reset by peer"
    case ENETUNREACH: return "network is unreachable"
    case EHOSTUNREACH: return "no route to host"
    case ETIMEDOUT: return "connection timed out"
    case EPIPE: return "broken pipe"
    default: return String(cString: strerror(code)).lowercased()
    }
}

/// A socket address as Go prints it (`127.0.0.1:8080`, `[::1]:8080`).
func goAddress(_ address: SocketAddress) -> String {
    joinHostPort(address.ipAddress ?? "", address.port ?? 0)
}
