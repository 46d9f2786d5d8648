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
    /// Where a connect that did not complete at once is re-checked.
    let timers: LoopTimers
    public init(group: any EventLoopGroup = ProbeLoop.shared) {
        self.group = group
        timers = LoopTimers(loop: group.next())
    }

    public nonisolated(nonsending) func probe(_ action: TCPSocketAction, target: ProbeTarget, timeout: Duration) async throws(ProberError) -> ProbeOutcome {
        let host = (action.host ?? "").isEmpty ? target.podIP : action.host ?? ""
        let port = try resolvePort(action.port, in: target.container)
        let address = joinHostPort(host, port)
        if let socketAddress = try? SocketAddress(ipAddress: host, port: port) {
            return await dialDirect(socketAddress, address: address, timeout: timeout)
        }
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

extension TCPProber {
    /// The probe for a literal IP (the pod IP, nearly always) with a bare socket instead of a NIO channel: a channel is
    /// a bootstrap, a pipeline, promises and an epoll registration, and was most of a tcpSocket probe's user-space
    /// cost, for a connection that sends nothing.
    nonisolated(nonsending) func dialDirect(_ target: SocketAddress, address: String, timeout: Duration) async -> ProbeOutcome {
        switch await dialSocket(target, deadline: NIODeadline.now() + .nanoseconds(timeout.nanosecondsClamped), timers: timers) {
        case .connected(let fd):
            // Nothing is sent; the close is the probe's end (as the NIO path, no SO_LINGER).
            close(fd)
            return ProbeOutcome(.success, "")
        case .failed(let code): return ProbeOutcome(.failure, "dial tcp \(address): connect: \(errnoText(code))")
        case .timedOut: return ProbeOutcome(.failure, "dial tcp \(address): i/o timeout")
        }
    }
}

/// How `dialSocket` ended.
enum DirectDial: Sendable {
    /// A connected non-blocking socket, the caller's to close.
    case connected(Int32)
    /// `socket` or `connect` failed with this errno (the socket is closed).
    case failed(Int32)
    case timedOut
}

/// Connects a non-blocking TCP socket to `target` by `deadline`. To a pod on this node the handshake completes inside
/// `connect` (the SYN and SYN-ACK cross the veth pair in the caller's softirq), so the first readiness check nearly
/// always answers; otherwise the socket is re-checked on `timers` (after 1, 2, 4, 8, then every 16 ms) until the
/// deadline: a slow handshake is seen at most 16 ms late, and costs no epoll registration in the common case.
nonisolated(nonsending) func dialSocket(_ target: SocketAddress, deadline: NIODeadline, timers: LoopTimers) async -> DirectDial {
    let fd = socket(target.protocol.rawValue, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return .failed(errno) }
    let failed = { (code: Int32) -> DirectDial in
        close(fd)
        return .failed(code)
    }
    if target.withSockAddr({ connect(fd, $0, socklen_t($1)) }) == 0 { return .connected(fd) }
    let code = errno
    guard code == EINPROGRESS || code == EINTR else { return failed(code) }
    guard await awaitReady(fd, events: Int16(POLLOUT), deadline: deadline, timers: timers) else {
        close(fd)
        return .timedOut
    }
    var error: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return failed(errno) }
    return error == 0 ? .connected(fd) : failed(error)
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
