import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Errors of the test servers' socket setup.
struct SocketError: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// A listening TCP socket on 127.0.0.1 with an ephemeral port.
func listenLoopback(backlog: Int32 = 64) throws(SocketError) -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SocketError(call: "socket", code: errno) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw SocketError(call: "bind", code: errno) }
    guard listen(fd, backlog) == 0 else { throw SocketError(call: "listen", code: errno) }
    var out = sockaddr_in()
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &out) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return (fd, Int(UInt16(bigEndian: out.sin_port)))
}

/// A loopback listener whose accept queue is full: the kernel drops the SYNs of any further connect, which then hangs
/// until its timeout. `close()` ends the listener and the connects that filled it.
struct SaturatedListener {
    let fd: Int32
    let port: Int
    let fillers: [Int32]

    init() async throws {
        (fd, port) = try listenLoopback(backlog: 0)
        fillers = fillAcceptQueue(port: port)
        // Lets the fillers' handshakes settle into the queue before the connect under test.
        try await Task.sleep(for: .milliseconds(200))
    }

    func close() {
        for socket in fillers + [fd] { Glibc.close(socket) }
    }
}

/// Three non-blocking connects to a loopback listener made with backlog 0: they fill its accept queue. The caller
/// closes the returned sockets.
private func fillAcceptQueue(port: Int) -> [Int32] {
    (0..<3).map { _ in
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return s
    }
}

/// A small blocking HTTP/1.1 server for the probe tests: one thread per connection, routes by path, and a
/// log of the raw requests it received. It misbehaves on request (slow, reset, garbage, endless body).
final class TestHTTPServer: Sendable {
    let fd: Int32
    let port: Int
    let requests = Mutex<[String]>([])
    let stopped = Atomic<Bool>(false)

    init() throws(SocketError) {
        (fd, port) = try listenLoopback()
        let server = self
        Thread.detachNewThread { server.acceptLoop() }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(fd, nil, nil)
            if client < 0 { return }
            let server = self
            Thread.detachNewThread { server.serve(client) }
        }
    }

    private func send(_ fd: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return sendAll(fd, bytes)
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    private func respond(_ fd: Int32, status: Int, headers: [String] = [], body: String = "") {
        var text = "HTTP/1.1 \(status) Test\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n"
        for header in headers { text += header + "\r\n" }
        _ = send(fd, text + "\r\n" + body)
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.contains(sequence: Array("\r\n\r\n".utf8)), request.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            request.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: request, as: UTF8.self)
        requests.withLock { $0.append(text) }
        let target = text.split(separator: " ", maxSplits: 2).dropFirst().first.map(String.init) ?? "/"
        let parts = target.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch parts.first ?? "" {
        case "status":
            let code = Int(parts.dropFirst().first ?? "") ?? 200
            if code < 200 {
                _ = send(client, "HTTP/1.1 \(code) Informational\r\n\r\n")
            } else {
                respond(client, status: code, body: "status \(code)")
            }
        case "chain":
            // /chain/N: N more redirects, then /status/200.
            let n = Int(parts.dropFirst().first ?? "") ?? 0
            respond(client, status: 302, headers: ["Location: " + (n > 1 ? "/chain/\(n - 1)" : "/status/200")], body: "redirect")
        case "to":
            // /to/500: a same-host redirect to /status/500.
            respond(client, status: 302, headers: ["Location: /status/\(parts.dropFirst().first ?? "200")"])
        case "other":
            // Another hostname: never followed, so never contacted.
            respond(client, status: 302, headers: ["Location: http://probe-redirect.invalid:\(port)/"], body: "<a href=\"/\">Found</a>.")
        case "absolute":
            respond(client, status: 302, headers: ["Location: http://127.0.0.1:\(port)/status/200"])
        case "slow":
            Thread.sleep(forTimeInterval: 3)
            respond(client, status: 200)
        case "slowbody":
            _ = send(client, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            Thread.sleep(forTimeInterval: 3)
        case "reset":
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        case "close":
            return
        case "garbage":
            _ = send(client, "this is not http at all\r\n\r\n")
        case "big":
            // 1 GiB announced and streamed until the client goes away.
            guard send(client, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n") else { return }
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 65536)
            for _ in 0..<16384 where !stopped.load(ordering: .relaxed) {
                if !sendAll(client, chunk) { return }
            }
        case "headers":
            respond(client, status: 200, body: text)
        case "chunked":
            // Chunked transfer coding, each piece its own write; the size lines carry an extension and the end a trailer.
            for piece in ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "7;ext=1\r\nstatus \r\n", "3\r\n200\r\n", "0\r\nX-Trailer: t\r\n\r\n"] {
                guard send(client, piece) else { return }
                Thread.sleep(forTimeInterval: 0.05)
            }
        case "untilclose":
            // No framing header: the body ends with the connection.
            _ = send(client, "HTTP/1.0 200 OK\r\n\r\nuntil close")
        case "continue":
            _ = send(client, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter")
        case "truncated":
            _ = send(client, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
        default:
            respond(client, status: 200, body: "ok")
        }
    }
}

extension Array where Element == UInt8 {
    func contains(sequence: [UInt8]) -> Bool {
        guard count >= sequence.count else { return false }
        for i in 0...(count - sequence.count) where self[i..<(i + sequence.count)].elementsEqual(sequence) { return true }
        return false
    }
}
