import Testing

@testable import Prober

/// The plain-HTTP response reader fed in every split a socket could deliver: the result must not depend on where the
/// reads end.
@Suite struct HTTPResponseReaderTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var wire: String
        /// (status, location, body) once complete; nil: malformed.
        var expect: (Int, String?, String)?
        /// Complete only when the connection ends (body framed by the close).
        var needsEndOfFile = false
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "length", wire: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", expect: (200, nil, "hello")),
        Case(name: "bare LF", wire: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", expect: (200, nil, "ok")),
        Case(name: "no reason", wire: "HTTP/1.1 204\r\n\r\n", expect: (204, nil, "")),
        Case(
            name: "redirect", wire: "HTTP/1.1 302 Found\r\nlocation: /a\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n",
            expect: (302, "/a", "")),
        Case(
            name: "chunked", wire: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;x=y\r\nabcd\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
            expect: (200, nil, "abcd0123456789")),
        Case(name: "1xx skipped", wire: "HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 500 No\r\nContent-Length: 1\r\n\r\nx", expect: (500, nil, "x")),
        Case(name: "until close", wire: "HTTP/1.0 200 OK\r\n\r\nrest", expect: (200, nil, "rest"), needsEndOfFile: true),
        Case(name: "not http", wire: "SSH-2.0-OpenSSH\r\n", expect: nil),
        Case(name: "bad status", wire: "HTTP/1.1 2000 OK\r\n\r\n", expect: nil),
        Case(name: "header without colon", wire: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", expect: nil),
        Case(name: "conflicting lengths", wire: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", expect: nil),
        Case(name: "bad chunk size", wire: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", expect: nil),
    ]

    @Test(arguments: cases, [1, 2, 3, 7, 1000]) func splits(_ c: Case, pieceSize: Int) {
        var reader = HTTPResponseReader()
        let bytes = Array(c.wire.utf8)
        var last = ReadStep.more
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + pieceSize)
            last = bytes[start..<end].withUnsafeBufferPointer { reader.feed($0) }
            start = end
            if case .complete = last { break }
            if case .malformed = last { break }
        }
        guard let (status, location, body) = c.expect else {
            #expect(last.isMalformed, "\(last)")
            return
        }
        if c.needsEndOfFile {
            #expect(!last.isComplete)
            let ended = reader.endOfInput()
            #expect(ended)
        } else {
            #expect(last.isComplete, "\(last)")
        }
        #expect(reader.response.status == status)
        #expect(reader.response.location == location)
        #expect(String(decoding: reader.response.body, as: UTF8.self) == body)
    }

    @Test func bodyIsCappedAndCompletesAtTheCap() {
        var reader = HTTPResponseReader()
        let head = Array("HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n".utf8)
        let afterHead = head.withUnsafeBufferPointer { reader.feed($0) }
        #expect(!afterHead.isComplete)
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
        var pieces = 0
        while pieces < 10, !chunk.withUnsafeBufferPointer({ reader.feed($0) }).isComplete { pieces += 1 }
        #expect(pieces == 2)
        #expect(reader.response.body.count == maxProbeOutputBytes)
    }

    @Test func truncatedBodyIsNotComplete() {
        var reader = HTTPResponseReader()
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".utf8)
        let step = bytes.withUnsafeBufferPointer { reader.feed($0) }
        #expect(!step.isComplete)
        let ended = reader.endOfInput()
        #expect(!ended)
    }
}

extension ReadStep {
    var isComplete: Bool {
        if case .complete = self { return true }
        return false
    }
    var isMalformed: Bool {
        if case .malformed = self { return true }
        return false
    }
}
