import Foundation

/// A long-lived `nft -i`. The nft CLI dumps every chain and set of the table into its cache before each
/// transaction (0.2–0.7 s at 5,000–10,000 services); an interactive nft keeps that cache between lines and only
/// refreshes it when the ruleset generation moved, so a partial sync costs milliseconds. One input line is one
/// atomic transaction; after it the session lists the `fingerprint` chain, whose comment says whether it applied.
final class NFTSession: @unchecked Sendable {
    private let pid: pid_t
    private let input: Int32
    private let output: Int32
    private let errors: Int32
    private var buffer: [UInt8] = []

    struct SessionError: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SessionError(description: "pipe: \(errno)") }
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv = [ProcessRunner.locate("nft"), "-i"]
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, nil, cArgs, environ)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw SessionError(description: "cannot start nft -i: \(String(cString: strerror(rc)))")
        }
        pid = child
        input = inPipe[1]
        output = outPipe[0]
        errors = errPipe[0]
        _ = fcntl(errors, F_SETFL, fcntl(errors, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(input)
        close(output)
        close(errors)
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Applies `script` as one transaction and checks that the fingerprint chain now says `fingerprint`.
    func apply(_ script: String, table: String, fingerprint: String, timeout: Duration = .seconds(60)) throws {
        let line = script.split(separator: "\n").joined(separator: " ; ") + "\nlist chain \(table) fingerprint\n"
        let bytes = Array(line.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBufferPointer { write(input, $0.baseAddress.map { $0 + written }, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SessionError(description: "writing to nft -i: \(String(cString: strerror(errno)))")
            }
            written += n
        }
        // The listing ends with a closing brace in column 0 (the table's).
        let deadline = ContinuousClock.now + timeout
        var listing = ""
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let text = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                listing += text + "\n"
                if text == "}" { break }
                continue
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw SessionError(description: "nft -i did not answer within \(timeout)") }
            var fds = [pollfd(fd: output, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 1, Int32(min(remaining.milliseconds, 60000)))
            if ready < 0 && errno != EINTR { throw SessionError(description: "poll: \(String(cString: strerror(errno)))") }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = read(output, &chunk, chunk.count)
            guard n > 0 else { throw SessionError(description: "nft -i exited: \(drainErrors())") }
            buffer += chunk[0..<n]
        }
        let complaints = drainErrors()
        guard listing.contains("comment \"\(fingerprint)\"") else {
            throw SessionError(description: "nft -i did not apply the transaction: \(complaints.isEmpty ? listing : complaints)")
        }
    }

    private func drainErrors() -> String {
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(errors, &chunk, chunk.count)
            if n <= 0 { break }
            text += chunk[0..<n]
        }
        return String(decoding: text, as: UTF8.self)
    }
}
