import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A failure talking to the agent: connection problems and non-2xx answers (with the agent's message).
public enum APIClientError: Error, Sendable, CustomStringConvertible {
    case connect(socket: String, detail: String)
    case io(socket: String, detail: String)
    case badResponse(String)
    case server(status: Int, message: String)

    public var description: String {
        switch self {
        case .connect(let socket, let detail):
            return "cannot connect to the agent at \(socket): \(detail) (is minikubelet running? see --socket / MINIKUBELET_SOCKET)"
        case .io(let socket, let detail): return "talking to the agent at \(socket): \(detail)"
        case .badResponse(let detail): return "unexpected response from the agent: \(detail)"
        case .server(let status, let message): return status == 404 ? message : "error from the agent (HTTP \(status)): \(message)"
        }
    }
}

/// A small blocking HTTP/1.1 client for the agent's unix socket (one request per connection).
/// Blocking I/O is right for a CLI that makes one or two calls and exits.
public struct APIClient: Sendable {
    public let socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    public func get(_ path: String) throws(APIClientError) -> Data { try request("GET", path) }

    public func getJSON<T: Decodable>(_ path: String, as type: T.Type, decoder: JSONDecoder) throws(APIClientError) -> T {
        let data = try get(path)
        do { return try decoder.decode(T.self, from: data) } catch { throw .badResponse("\(path): \(error)") }
    }

    public func request(_ method: String, _ path: String, body: Data = Data()) throws(APIClientError) -> Data {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(socket: socketPath, detail: String(cString: strerror(errno))) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .connect(socket: socketPath, detail: "path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw .connect(socket: socketPath, detail: String(cString: strerror(errno))) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: minikubelet\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        if !body.isEmpty { head += "Content-Type: application/octet-stream\r\n" }
        head += "\r\n"
        try writeAll(fd, Data(head.utf8) + body)
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                // The agent drops connections from non-root peers; a reset before any byte is that case.
                if errno == ECONNRESET && response.isEmpty { break }
                throw .io(socket: socketPath, detail: "read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        return try parse(response)
    }

    private func writeAll(_ fd: Int32, _ data: Data) throws(APIClientError) {
        var offset = 0
        let bytes = [UInt8](data)
        while offset < bytes.count {
            // MSG_NOSIGNAL: a connection the agent dropped must give an error, not kill the CLI with SIGPIPE.
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EPIPE || errno == ECONNRESET {
                    throw .io(socket: socketPath, detail: "the agent closed the connection without a reply (only root may use the socket)")
                }
                throw .io(socket: socketPath, detail: "write: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    private func parse(_ response: Data) throws(APIClientError) -> Data {
        let separator = Data("\r\n\r\n".utf8)
        guard let range = response.range(of: separator) else {
            throw response.isEmpty
                ? .io(socket: socketPath, detail: "the agent closed the connection without a reply (only root may use the socket)")
                : .badResponse("no header terminator")
        }
        let headText = String(decoding: response[response.startIndex..<range.lowerBound], as: UTF8.self)
        let statusLine = headText.split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw .badResponse("status line \(statusLine.debugDescription)") }
        let body = Data(response[range.upperBound...])
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(APIErrorBody.self, from: body))?.error ?? String(decoding: body, as: UTF8.self)
            throw .server(status: status, message: message)
        }
        return body
    }
}
