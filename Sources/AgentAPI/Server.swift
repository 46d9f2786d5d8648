import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One API request, fully read.
public struct APIRequest: Sendable {
    public var method: String
    /// The path without the query, e.g. `/v1/pods/default/web`.
    public var path: String
    public var query: [String: String]
    public var body: Data

    public init(method: String, path: String, query: [String: String] = [:], body: Data = Data()) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }

    /// The path split into components: `/v1/pods/a` → `["v1", "pods", "a"]`.
    public var components: [String] { path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) } }
}

/// One API response.
public struct APIResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data

    public init(status: Int, contentType: String = "application/json", body: Data) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// An error body: `{"error": message}` (the CLI prints the message as is).
    public static func error(_ status: Int, _ message: String) -> APIResponse {
        let body = (try? JSONEncoder().encode(APIErrorBody(error: message))) ?? Data(message.utf8)
        return APIResponse(status: status, body: body)
    }

    public static func text(_ text: String) -> APIResponse {
        APIResponse(status: 200, contentType: "text/plain; charset=utf-8", body: Data(text.utf8))
    }
}

/// The JSON body of every non-2xx response.
public struct APIErrorBody: Codable, Sendable {
    public var error: String
    public init(error: String) { self.error = error }
}

public typealias APIHandler = @Sendable (APIRequest) async -> APIResponse

/// Errors starting the API server.
public struct APIServerError: Error, Sendable, CustomStringConvertible {
    public var socketPath: String
    public var detail: String
    public var description: String { "API socket \(socketPath): \(detail)" }
}

/// The local API: HTTP/1.1 + JSON on a unix socket. The socket file is mode 0600 and every connection's
/// peer credentials (SO_PEERCRED) are checked: only uid 0 is served, others are closed without a reply.
/// One request per connection (`Connection: close`), which keeps the server and the CLI simple.
public final class APIServer: Sendable {
    public let socketPath: String
    private let handler: APIHandler
    private let group: MultiThreadedEventLoopGroup
    private let channel: Mutex<Channel?>

    public init(socketPath: String, handler: @escaping APIHandler) {
        self.socketPath = socketPath
        self.handler = handler
        // One thread is plenty for a local, root-only control socket.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.channel = Mutex(nil)
    }

    public func start() async throws(APIServerError) {
        let directory = (socketPath as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw APIServerError(socketPath: socketPath, detail: "cannot create directory \(directory): \(error)")
        }
        var st = stat()
        if lstat(socketPath, &st) == 0 && (st.st_mode & S_IFMT) != S_IFSOCK {
            throw APIServerError(socketPath: socketPath, detail: "exists and is not a socket; refusing to replace it")
        }
        let handler = self.handler
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(handler: handler))
                }
            }
        do {
            let bound = try await bootstrap.bind(unixDomainSocketPath: socketPath, cleanupExistingSocketFile: true).get()
            channel.withLock { $0 = bound }
        } catch {
            throw APIServerError(socketPath: socketPath, detail: "bind: \(error)")
        }
        // The peer check below is the real guard; the mode keeps non-root users from even connecting.
        guard chmod(socketPath, 0o600) == 0 else {
            throw APIServerError(socketPath: socketPath, detail: "chmod 0600: \(String(cString: strerror(errno)))")
        }
    }

    public func stop() async {
        let bound = channel.withLock { value -> Channel? in
            defer { value = nil }
            return value
        }
        if let bound {
            do { try await bound.close() } catch { FileHandle.standardError.write(Data("API server close: \(error)\n".utf8)) }
        }
        unlink(socketPath)
        do { try await group.shutdownGracefully() } catch { FileHandle.standardError.write(Data("API server shutdown: \(error)\n".utf8)) }
    }
}

/// `struct ucred` (glibc hides it behind _GNU_SOURCE, so Swift does not import it): pid, uid, gid.
private struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}

/// SO_PEERCRED from <asm-generic/socket.h>.
private let peerCredentialsOption: Int32 = 17

/// The peer's uid from SO_PEERCRED, read in a non-public function as NIO asks for unsafeGetSocketOption.
private func peerUID(_ channel: Channel) -> EventLoopFuture<UInt32>? {
    guard let provider = channel as? SocketOptionProvider else { return nil }
    let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
        level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(peerCredentialsOption))
    return future.map { $0.uid }
}

private final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: APIHandler
    var head: HTTPRequestHead?
    var body = Data()
    var authorized = false
    var pendingEnd = false
    /// Bodies above this are refused (manifests are capped at 10 MiB by the decoder anyway).
    static let maxBody = 16 << 20

    init(handler: @escaping APIHandler) { self.handler = handler }

    func channelActive(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        guard let check = peerUID(context.channel) else {
            context.close(promise: nil)
            return
        }
        let handlerBox = NIOLoopBound(self, eventLoop: context.eventLoop)
        check.whenComplete { result in
            switch result {
            case .success(0):
                handlerBox.value.authorized = true
                if handlerBox.value.pendingEnd { handlerBox.value.respond(context: bound.value) }
            default:
                // Not root (or no credentials): close without a reply.
                bound.value.close(promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = Data()
        case .body(var buffer):
            if body.count + buffer.readableBytes > Self.maxBody {
                context.close(promise: nil)
                return
            }
            if let bytes = buffer.readBytes(length: buffer.readableBytes) { body.append(contentsOf: bytes) }
        case .end:
            pendingEnd = true
            if authorized { respond(context: context) }
        }
    }

    func respond(context: ChannelHandlerContext) {
        guard let head else { return }
        pendingEnd = false
        self.head = nil
        var components = URLComponents(string: head.uri) ?? URLComponents()
        if components.path.isEmpty { components.path = head.uri }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let request = APIRequest(method: head.method.rawValue, path: components.path, query: query, body: body)
        let handler = self.handler
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let version = head.version
        Task {
            let response = await handler(request)
            eventLoop.execute {
                let context = bound.value
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: response.contentType)
                headers.add(name: "Content-Length", value: String(response.body.count))
                headers.add(name: "Connection", value: "close")
                let responseHead = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
                context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
                var buffer = context.channel.allocator.buffer(capacity: response.body.count)
                buffer.writeBytes(response.body)
                context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        }
    }
}
