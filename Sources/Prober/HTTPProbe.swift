import KubeAPI
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

// Why SwiftNIO directly and not AsyncHTTPClient: kubelet's rules need exact control that a general client hides or
// does differently — redirects followed only to the same hostname with Go's `len(via) >= 10` stop and the 3xx kept as
// the result for another host; the Host header kept only across relative redirects; Go's 1xx skipping; one deadline
// covering connect, every redirect hop, headers and body (`http.Client.Timeout`); the body cut at 10 KiB by closing
// the connection (never drained, so a 1 GB body costs 10 KiB); no connection pool (`DisableKeepAlives`), no
// Accept-Encoding, no proxy; and Go's error texts, which need to know whether the deadline hit before or after the
// response head. A ~150-line NIO pipeline does exactly this; AsyncHTTPClient would be bent with redirect
// configuration, pooling settings and a streaming delegate and still not tell these cases apart.

/// An absolute http(s) URL as kubelet's `formatURL` builds it (the port always present).
struct ProbeURL: Sendable, Hashable {
    var scheme: String
    var host: String
    var port: Int
    /// Path and query as written (may be empty: the request target is then `/`).
    var pathAndQuery: String

    /// As Go's URL.String() prints it (a relative path gets its leading slash once a host is present).
    var string: String {
        let path = pathAndQuery.isEmpty || pathAndQuery.hasPrefix("/") ? pathAndQuery : "/" + pathAndQuery
        return "\(scheme)://\(joinHostPort(host, port))\(path)"
    }
    var requestTarget: String { pathAndQuery.isEmpty ? "/" : (pathAndQuery.hasPrefix("/") ? pathAndQuery : "/" + pathAndQuery) }
    var hostHeader: String { joinHostPort(host, port) }

    /// Resolves a Location header against this URL (RFC 3986 reference resolution, the cases servers send).
    func resolve(location: String) -> ProbeURL? {
        let lower = location.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            let scheme = lower.hasPrefix("https://") ? "https" : "http"
            return ProbeURL.parseAuthority(String(location.dropFirst(scheme.count + 3)), scheme: scheme)
        }
        if location.hasPrefix("//") { return ProbeURL.parseAuthority(String(location.dropFirst(2)), scheme: scheme) }
        var next = self
        let basePath = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        if location.hasPrefix("/") {
            next.pathAndQuery = location
        } else if location.hasPrefix("?") {
            next.pathAndQuery = basePath + location
        } else if location.isEmpty {
            next.pathAndQuery = pathAndQuery
        } else {
            let dir = basePath.lastIndex(of: "/").map { String(basePath[...$0]) } ?? "/"
            next.pathAndQuery = dir + location
        }
        return next
    }

    static func parseAuthority(_ rest: String, scheme: String) -> ProbeURL? {
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<end]
        var path = String(rest[end...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        let defaultPort = scheme == "https" ? 443 : 80
        var host = String(authority)
        var port = defaultPort
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty else { return nil }
        return ProbeURL(scheme: scheme, host: host, port: port, pathAndQuery: path)
    }
}

/// The final response of one request (no redirects followed at this level).
struct HTTPProbeResponse: Sendable {
    var status: Int
    var location: String?
    var body: [UInt8]
}

/// Why one request did not produce a response; `text` is Go's error text after `Get "<url>": `.
enum HTTPFetchError: Error, Sendable {
    /// Transport failure before the response head: kubelet reports Failure with the text.
    case transport(String)
    /// Failure while reading the body: kubelet's `ReadAtMost` error, a prober error (Unknown, retried).
    case body(String)
}

/// Builds and runs kubelet's HTTP probe (pkg/probe/http).
public struct HTTPProber: Sendable {
    public var group: any EventLoopGroup
    public var userAgent: String
    /// Where plain-HTTP requests wait for their socket (PlainHTTP.swift).
    let timers: LoopTimers

    public init(group: any EventLoopGroup = ProbeLoop.shared, userAgent: String = "kube-probe/\(kubeProbeVersion)") {
        self.group = group
        self.userAgent = userAgent
        timers = LoopTimers(loop: group.next())
    }

    /// The request headers kubelet sends (request.go `newProbeRequest` + Go transport with keep-alives disabled).
    /// Returns the header list and the virtual host (from a user `Host` header), if any.
    func requestHeaders(_ action: HTTPGetAction) -> (headers: [(String, String)], host: String?) {
        var headers: [(String, String)] = []
        var host: String?
        var hasUserAgent = false
        var accept: String?
        for header in action.httpHeaders ?? [] {
            let name = canonicalHeaderKey(header.name)
            switch name {
            case "Host":
                // Go: req.Host = headers.Get("Host"): the first value.
                if host == nil { host = header.value }
                continue
            case "User-Agent": hasUserAgent = true
            case "Accept":
                if accept == nil { accept = header.value }
            default: break
            }
            headers.append((name, header.value))
        }
        if !hasUserAgent { headers.append(("User-Agent", userAgent)) }
        if accept == nil {
            headers.append(("Accept", "*/*"))
        } else if accept == "" {
            headers.removeAll { $0.0 == "Accept" }
        }
        headers.append(("Connection", "close"))
        return (headers, host?.isEmpty == false ? host : nil)
    }

    /// kubelet's DoHTTPProbe. Transport failures and bad statuses are Failure outcomes; a failure while reading
    /// the body is thrown (kubelet returns err: the prober retries it and the worker discards it).
    public nonisolated(nonsending) func probe(_ action: HTTPGetAction, target: ProbeTarget, timeout: Duration) async throws(ProberError) -> ProbeOutcome {
        let scheme = (action.scheme ?? "HTTP").isEmpty ? "http" : (action.scheme ?? "HTTP").lowercased()
        guard scheme == "http" || scheme == "https" else { throw .unsupportedScheme(action.scheme ?? "") }
        let host = (action.host ?? "").isEmpty ? target.podIP : action.host ?? ""
        let port = try resolvePort(action.port, in: target.container)
        let first = ProbeURL(scheme: scheme, host: host, port: port, pathAndQuery: action.path ?? "")
        let (headers, virtualHost) = requestHeaders(action)
        let deadline = NIODeadline.now() + TimeAmount.nanoseconds(timeout.nanosecondsClamped)
        var url = first
        var hostHeader = virtualHost
        var followed = 0
        while true {
            let response: HTTPProbeResponse
            do {
                response = try await fetch(url, headers: headers, hostHeader: hostHeader, deadline: deadline)
            } catch {
                switch error {
                case .transport(let text): return ProbeOutcome(.failure, "Get \"\(url.string)\": \(text)")
                case .body(let text): throw .probeFailed(text)
                }
            }
            if [301, 302, 303, 307, 308].contains(response.status), let location = response.location, !location.isEmpty,
                let next = url.resolve(location: location)
            {
                // RedirectChecker(followNonLocalRedirects: false): another hostname ends the chain with this 3xx.
                if next.host != first.host { return Self.classify(response) }
                followed += 1
                if followed >= 10 { return ProbeOutcome(.failure, "Get \"\(next.string)\": stopped after 10 redirects") }
                // Go keeps req.Host only when the Location is relative.
                let absolute = location.lowercased().hasPrefix("http://") || location.lowercased().hasPrefix("https://") || location.hasPrefix("//")
                if absolute { hostHeader = nil }
                url = next
                continue
            }
            return Self.classify(response)
        }
    }

    static func classify(_ response: HTTPProbeResponse) -> ProbeOutcome {
        let body = cappedString(response.body)
        switch response.status {
        case 200..<300: return ProbeOutcome(.success, body)
        case 300..<400: return ProbeOutcome(.warning, "Probe terminated redirects, Response body: \(body)")
        default: return ProbeOutcome(.failure, "HTTP probe failed with statuscode: \(response.status)")
        }
    }

    nonisolated(nonsending) func fetch(_ url: ProbeURL, headers: [(String, String)], hostHeader: String?, deadline: NIODeadline) async throws(HTTPFetchError)
        -> HTTPProbeResponse
    {
        let remaining = deadline - NIODeadline.now()
        guard remaining > .zero else { throw .transport(timeoutText) }
        if url.scheme == "http", let address = try? SocketAddress(ipAddress: url.host, port: url.port) {
            let request = Self.requestBytes(url, headers: headers, hostHeader: hostHeader)
            return try await fetchPlain(url, address: address, request: request, deadline: deadline)
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.requestTarget)
        head.headers.add(name: "Host", value: hostHeader ?? url.hostHeader)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let tls: NIOSSLContext?
        if url.scheme == "https" {
            switch TLS.context {
            case .success(let context): tls = context
            case .failure(let error): throw .transport(String(describing: error))
            }
        } else {
            tls = nil
        }
        let sniHost: String? = (url.host.contains(":") || url.host.allSatisfy { $0.isNumber || $0 == "." }) ? nil : url.host
        let promise = group.next().makePromise(of: HTTPProbeResponse.self)
        let requestHead = head
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(remaining)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: sniHost)) }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(HTTPProbeHandler(head: requestHead, deadline: deadline, promise: promise))
                }
            }
        do {
            _ = try await bootstrap.connectDirect(host: url.host, port: url.port)
        } catch {
            let (timedOut, text) = describeDialError(error, address: joinHostPort(url.host, url.port))
            // The handler's deadline timer may close the connecting channel just before the connect timeout fires.
            let message = timedOut || NIODeadline.now() >= deadline ? timeoutText : text
            promise.fail(HTTPProbeFailure(error: .transport(message)))
            throw .transport(message)
        }
        do {
            return try await promise.futureResult.value()
        } catch let failure as HTTPProbeFailure {
            throw failure.error
        } catch {
            throw .transport(String(describing: error))
        }
    }
}

let timeoutText = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"

struct HTTPProbeFailure: Error {
    var error: HTTPFetchError
}

enum TLS {
    /// Certificates are never verified (kubelet: InsecureSkipVerify). Built once: a context is costly.
    static let context: Result<NIOSSLContext, NIOSSLError> = {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        do {
            return .success(try NIOSSLContext(configuration: configuration))
        } catch let error as NIOSSLError {
            return .failure(error)
        } catch {
            return .failure(.failedToLoadCertificate)
        }
    }()
}

/// Sends the request, keeps the first 10 KiB of the body, closes: one connection per request.
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let deadline: NIODeadline
    private let promise: EventLoopPromise<HTTPProbeResponse>
    private var response: HTTPResponseHead?
    private var informational = false
    private var body: [UInt8] = []
    private var done = false
    private var timer: Scheduled<Void>?

    init(head: HTTPRequestHead, deadline: NIODeadline, promise: EventLoopPromise<HTTPProbeResponse>) {
        self.head = head
        self.deadline = deadline
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            let text = handler.response == nil ? timeoutText : bodyTimeoutText
            handler.finish(context: context, .failure(handler.response == nil ? .transport(text) : .body(text)))
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            // Go's transport skips 1xx responses (except 101) and reads the next one.
            if h.status.code >= 100, h.status.code < 200, h.status.code != 101 {
                informational = true
                return
            }
            response = h
        case .body(var buffer):
            guard !informational else { return }
            let take = min(buffer.readableBytes, maxProbeOutputBytes - body.count)
            if let bytes = buffer.readBytes(length: take) { body.append(contentsOf: bytes) }
            // The cap reached: kubelet keeps the truncated body and closes early; not an error.
            if body.count >= maxProbeOutputBytes { succeed(context: context) }
        case .end:
            if informational {
                informational = false
                return
            }
            succeed(context: context)
        }
    }

    private func succeed(context: ChannelHandlerContext) {
        guard let response else {
            finish(context: context, .failure(.transport("EOF")))
            return
        }
        let location = response.headers.first(name: "Location")
        finish(context: context, .success(HTTPProbeResponse(status: Int(response.status.code), location: location, body: body)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let text: String
        if error is HTTPParserError {
            text = "net/http: HTTP/1.x transport connection broken: malformed HTTP response"
        } else if let io = error as? IOError {
            let local = context.channel.localAddress.map(goAddress) ?? ""
            let remote = context.channel.remoteAddress.map(goAddress) ?? ""
            text = "read tcp \(local)->\(remote): read: \(errnoText(io.errnoCode))"
        } else {
            text = String(describing: error)
        }
        finish(context: context, .failure(response == nil ? .transport(text) : .body(text)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, .failure(response == nil ? .transport("EOF") : .body("unexpected EOF")))
        context.fireChannelInactive()
    }

    private func finish(context: ChannelHandlerContext, _ result: Result<HTTPProbeResponse, HTTPFetchError>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        switch result {
        case .success(let value): promise.succeed(value)
        case .failure(let error): promise.fail(HTTPProbeFailure(error: error))
        }
        context.close(promise: nil)
    }
}

/// Go's `textproto.CanonicalMIMEHeaderKey`.
func canonicalHeaderKey(_ name: String) -> String {
    var out = ""
    var upper = true
    for ch in name {
        out.append(upper ? Character(ch.uppercased()) : Character(ch.lowercased()))
        upper = ch == "-"
    }
    return out
}

extension Duration {
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        if seconds > Int64.max / 1_000_000_000 - 1 { return Int64.max }
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
