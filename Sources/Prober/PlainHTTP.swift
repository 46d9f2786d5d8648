import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

// Why plain-HTTP probes to a literal IP are hand-written and not on the NIO pipeline of HTTPProbe.swift: with 100
// httpGet probes a second (bench/probes.sh) a NIO client channel per request — bootstrap, pipeline, promises, epoll
// registration, and llhttp's parser set up anew for every response — was more than half of the agent's user-space CPU
// for those probes (perf: the bootstrap/connect chain ~30 % of the agent's samples, of which the kernel's TCP handshake
// ~17 %; llhttp ~9 %). Here a request is a non-blocking socket (`dialSocket`), one `send`, and `read`s into a small
// response reader, waiting for readiness on the probe loop's timers, like tcpSocket probes. Behaviour is the NIO
// path's: same request bytes, deadline, 10 KiB body cap (closing early), 1xx skipping and error texts. HTTPS and host
// names (resolution) stay on NIO.

extension HTTPProber {
    /// One plain-HTTP request to `address` (the URL's literal IP): the final response, no redirects followed.
    nonisolated(nonsending) func fetchPlain(_ url: ProbeURL, address: SocketAddress, request: [UInt8], deadline: NIODeadline) async throws(HTTPFetchError)
        -> HTTPProbeResponse
    {
        let fd: Int32
        switch await dialSocket(address, deadline: deadline, timers: timers) {
        case .connected(let socket): fd = socket
        case .failed(let code): throw .transport("dial tcp \(joinHostPort(url.host, url.port)): connect: \(errnoText(code))")
        case .timedOut: throw .transport(timeoutText)
        }
        // Closed with unread data (a capped body), the kernel resets the connection: the server stops sending.
        defer { close(fd) }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            let code = errno
            if code == EINTR { continue }
            guard code == EAGAIN || code == EWOULDBLOCK else {
                throw .transport("write tcp \(localAddress(fd))->\(goAddress(address)): write: \(errnoText(code))")
            }
            guard await awaitReady(fd, events: Int16(POLLOUT), deadline: deadline, timers: timers) else { throw .transport(timeoutText) }
        }
        var reader = HTTPResponseReader()
        while true {
            let step = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16 * 1024) { buffer -> ReadStep in
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n > 0 { return reader.feed(UnsafeBufferPointer(rebasing: buffer[0..<n])) }
                if n == 0 { return .endOfFile }
                let code = errno
                return code == EAGAIN || code == EWOULDBLOCK || code == EINTR ? .more : .error(code)
            }
            let afterHead = reader.status != nil
            switch step {
            case .complete:
                return reader.response
            case .malformed:
                let text = "net/http: HTTP/1.x transport connection broken: malformed HTTP response"
                throw afterHead ? .body(text) : .transport(text)
            case .error(let code):
                let text = "read tcp \(localAddress(fd))->\(goAddress(address)): read: \(errnoText(code))"
                throw afterHead ? .body(text) : .transport(text)
            case .endOfFile:
                guard afterHead else { throw .transport("EOF") }
                guard reader.endOfInput() else { throw .body("unexpected EOF") }
                return reader.response
            case .more:
                // A server trickling bytes is cut at the deadline like one that sends nothing.
                if NIODeadline.now() >= deadline {
                    throw afterHead ? .body(bodyTimeoutText) : .transport(timeoutText)
                }
                if await !awaitReady(fd, events: Int16(POLLIN), deadline: deadline, timers: timers) {
                    throw afterHead ? .body(bodyTimeoutText) : .transport(timeoutText)
                }
            }
        }
    }

    /// The request as NIO's encoder writes it for the same head: request line, Host first, then the headers in order.
    static func requestBytes(_ url: ProbeURL, headers: [(String, String)], hostHeader: String?) -> [UInt8] {
        var text = "GET \(url.requestTarget) HTTP/1.1\r\nHost: \(hostHeader ?? url.hostHeader)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }
}

let bodyTimeoutText = "context deadline exceeded (Client.Timeout or context cancellation while reading body)"

/// What one read did to the response.
enum ReadStep {
    /// The response is complete (or its body reached the cap).
    case complete
    /// Nothing more can be read now.
    case more
    case endOfFile
    case malformed
    case error(Int32)
}

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT; an error or hang-up counts as ready: the next call reports
/// it), checking it on `timers` after 1, 2, 4, 8, then every 16 ms; false once `deadline` passed. No epoll
/// registration: the probe loop's only event source stays NIO's, and a probe costs a few timer callbacks.
nonisolated(nonsending) func awaitReady(_ fd: Int32, events: Int16, deadline: NIODeadline, timers: LoopTimers) async -> Bool {
    var delay = TimeAmount.milliseconds(1)
    while true {
        var ready = pollfd(fd: fd, events: events, revents: 0)
        if poll(&ready, 1, 0) > 0 { return true }
        let left = deadline - NIODeadline.now()
        guard left > .zero else { return false }
        let wait = min(delay, left)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            timers.schedule(at: NIODeadline.now() + wait) { continuation.resume() }
        }
        delay = min(delay * 2, .milliseconds(16))
    }
}

/// The socket's local address as Go prints it ("" when unknown).
func localAddress(_ fd: Int32) -> String {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let got = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    guard got == 0 else { return "" }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    switch Int32(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var ip = address.pointee.sin_addr
                inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
                return joinHostPort(cText(text), Int(UInt16(bigEndian: address.pointee.sin_port)))
            }
        }
    case AF_INET6:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var ip = address.pointee.sin6_addr
                inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
                return joinHostPort(cText(text), Int(UInt16(bigEndian: address.pointee.sin6_port)))
            }
        }
    default: return ""
    }
}

/// A NUL-terminated C string in a buffer.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// An HTTP/1.1 response read incrementally, as far as a probe needs it: the status, the first Location header and up
/// to `maxProbeOutputBytes` of the body. 1xx responses other than 101 are skipped (Go's transport reads the next
/// one); the body is framed by Content-Length, chunked transfer coding, or the end of the connection.
struct HTTPResponseReader {
    private enum Phase {
        case head
        case body(Framing)
        case done
    }
    private enum Framing {
        case length(Int)
        case untilClose
        case chunkSize
        case chunkData(Int)
        case chunkEnd
        case trailer
    }

    /// The final response's status, once its head was read.
    private(set) var status: Int?
    private(set) var location: String?
    private(set) var body: [UInt8] = []
    private var phase = Phase.head
    /// The head being read, or the current chunk-size / trailer line.
    private var line: [UInt8] = []

    /// Larger heads are refused, as by NIO's decoder (its default limit).
    static let maxHeadBytes = 80 * 1024
    private static let prefix = Array("HTTP/".utf8)
    private static let newline = UInt8(ascii: "\n")

    var response: HTTPProbeResponse { HTTPProbeResponse(status: status ?? 0, location: location, body: body) }

    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) -> ReadStep {
        var index = 0
        while index < bytes.count {
            switch phase {
            case .done:
                return .complete
            case .head:
                let byte = bytes[index]
                index += 1
                line.append(byte)
                // Not an HTTP response at all: said at once, not at the deadline.
                if line.count <= Self.prefix.count, byte != Self.prefix[line.count - 1] { return .malformed }
                if line.count > Self.maxHeadBytes { return .malformed }
                // The head ends at an empty line ("\n\n" or "\n\r\n").
                let count = line.count
                if byte == Self.newline, count >= 2, line[count - 2] == Self.newline || (count >= 3 && line[count - 2] == 13 && line[count - 3] == Self.newline)
                {
                    guard parseHead() else { return .malformed }
                }
            case .body(.length(let left)):
                let take = min(left, bytes.count - index)
                keep(bytes, index, take)
                index += take
                phase = left == take ? .done : .body(.length(left - take))
            case .body(.untilClose):
                keep(bytes, index, bytes.count - index)
                index = bytes.count
            case .body(.chunkData(let left)):
                let take = min(left, bytes.count - index)
                keep(bytes, index, take)
                index += take
                phase = .body(left == take ? .chunkEnd : .chunkData(left - take))
            case .body(let framing):
                // chunkSize, chunkEnd, trailer: line by line.
                let byte = bytes[index]
                index += 1
                guard byte == Self.newline else {
                    line.append(byte)
                    if line.count > 4096 { return .malformed }
                    continue
                }
                if line.last == 13 { line.removeLast() }
                defer { line.removeAll(keepingCapacity: true) }
                switch framing {
                case .chunkSize:
                    let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                    guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16) else { return .malformed }
                    phase = .body(size == 0 ? .trailer : .chunkData(size))
                case .chunkEnd:
                    guard line.isEmpty else { return .malformed }
                    phase = .body(.chunkSize)
                default:
                    if line.isEmpty { phase = .done }
                }
            }
            if case .body = phase, body.count >= maxProbeOutputBytes { phase = .done }
        }
        if case .done = phase { return .complete }
        return .more
    }

    /// The connection ended: whether the response is complete (a body framed by the end of the connection).
    mutating func endOfInput() -> Bool {
        switch phase {
        case .done, .body(.untilClose):
            phase = .done
            return true
        default:
            return false
        }
    }

    private mutating func keep(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) {
        let room = max(0, min(count, maxProbeOutputBytes - body.count))
        if room > 0 { body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<(start + room)])) }
    }

    /// Parses the head in `line`; false when malformed. Sets the phase: the body's framing, or back to `.head` after
    /// an informational response.
    private mutating func parseHead() -> Bool {
        // Split as bytes: in a Swift String "\r\n" is one Character, so splitting the text at "\n" would not split it.
        var lines = line.split(separator: Self.newline, omittingEmptySubsequences: false).map { bytes in
            Substring(decoding: bytes.last == 13 ? bytes.dropLast() : bytes, as: UTF8.self)
        }
        line.removeAll(keepingCapacity: true)
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let statusLine = lines.first else { return false }
        // "HTTP/1.1 200 OK": a version, a space, three digits, then a space and a reason or nothing.
        let fields = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count >= 2, fields[0].hasPrefix("HTTP/"), fields[1].count == 3, let code = Int(fields[1]), code >= 100 else { return false }
        var contentLength: Int?
        var chunked = false
        var transferEncoded = false
        var location: String?
        for header in lines.dropFirst() {
            // An obsolete folded continuation line carries nothing a probe reads.
            if header.first == " " || header.first == "\t" { continue }
            guard let colon = header.firstIndex(of: ":") else { return false }
            let name = header[..<colon].lowercased()
            let value = header[header.index(after: colon)...].trimmingSpaces
            switch name {
            case "content-length":
                guard let length = Int(value), length >= 0, contentLength == nil || contentLength == length else { return false }
                contentLength = length
            case "transfer-encoding":
                transferEncoded = true
                chunked = value.lowercased().split(separator: ",").last?.trimmingSpaces == "chunked"
            case "location":
                if location == nil { location = String(value) }
            default: break
            }
        }
        if code < 200, code != 101 {
            phase = .head
            return true
        }
        status = code
        self.location = location
        if code < 200 || code == 204 || code == 304 {
            phase = .done
        } else if transferEncoded {
            phase = .body(chunked ? .chunkSize : .untilClose)
        } else if let contentLength {
            phase = contentLength == 0 ? .done : .body(.length(contentLength))
        } else {
            phase = .body(.untilClose)
        }
        return true
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
