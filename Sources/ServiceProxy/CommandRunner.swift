import Foundation

/// The result of one external command.
public struct CommandOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// A failed external command, with what it said.
public struct CommandError: Error, CustomStringConvertible, Sendable {
    public var argv: [String]
    public var output: CommandOutput
    public var context: String

    public var description: String {
        let stderr = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return "\(context): \(argv.joined(separator: " ")) exited with status \(output.status): \(stderr)"
    }
}

/// Runs iptables/nft/conntrack. Tests substitute a recording runner.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String], input: String?) throws -> CommandOutput
}

extension CommandRunner {
    /// Runs and throws `CommandError` on a non-zero exit.
    public func check(_ argv: [String], input: String? = nil, context: String) throws -> CommandOutput {
        let output = try run(argv, input: input)
        guard output.status == 0 else { throw CommandError(argv: argv, output: output, context: context) }
        return output
    }
}

/// Executes commands with `posix_spawn` and `poll`. (Foundation's `Process` needs a run-loop wakeup socket that
/// cannot be created in a network namespace whose loopback is down, and then hangs.)
public struct ProcessRunner: CommandRunner {
    public init() {}

    static let searchPath = ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    static func locate(_ program: String) -> String {
        if program.hasPrefix("/") { return program }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + searchPath
        return path.map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? program
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public var argv: [String]
        public var errno: Int32
        public var description: String { "cannot run \(argv.joined(separator: " ")): \(String(cString: strerror(errno)))" }
    }

    public func run(_ argv: [String], input: String?) throws -> CommandOutput {
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw SpawnError(argv: argv, errno: errno) }
        // Our ends must not leak into other children (a leaked write end would keep their reads from ending).
        for fd in inPipe + outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let path = Self.locate(argv[0])
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, cArgs, environ)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw SpawnError(argv: argv, errno: rc)
        }
        let bytes = Array((input ?? "").utf8)
        var written = 0
        var inFD = inPipe[1]
        if bytes.isEmpty {
            close(inFD)
            inFD = -1
        } else {
            _ = fcntl(inFD, F_SETFL, fcntl(inFD, F_GETFL) | O_NONBLOCK)
        }
        var out: [UInt8] = []
        var err: [UInt8] = []
        var outFD = outPipe[0]
        var errFD = errPipe[0]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while outFD >= 0 || errFD >= 0 || inFD >= 0 {
            var fds = [
                pollfd(fd: outFD, events: Int16(POLLIN), revents: 0), pollfd(fd: errFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: inFD, events: Int16(POLLOUT), revents: 0),
            ]
            if poll(&fds, 3, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            if inFD >= 0 && fds[2].revents != 0 {
                let n = bytes.withUnsafeBufferPointer { write(inFD, $0.baseAddress.map { $0 + written }, bytes.count - written) }
                if n > 0 { written += n }
                if n < 0 && errno != EAGAIN && errno != EINTR || written >= bytes.count {
                    close(inFD)
                    inFD = -1
                }
            }
            for (index, fd) in [(0, outFD), (1, errFD)] where fd >= 0 && fds[index].revents != 0 {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 {
                    if index == 0 { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(fd)
                    if index == 0 { outFD = -1 } else { errFD = -1 }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return CommandOutput(status: exit, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
    }
}
