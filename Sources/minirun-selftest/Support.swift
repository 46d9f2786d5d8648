// Small Glibc helpers for the selftest: files, processes, polling. No Foundation, so the static binary stays small.
import Glibc

/// A failed expectation; the message is what the serial console shows after `SELFTEST FAIL <name>:`.
struct CheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The result of a check that did not fail.
enum Outcome {
    case pass
    case skip(String)
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws(CheckFailure) {
    if !condition { throw CheckFailure(message()) }
}

func errnoString(_ code: Int32 = errno) -> String {
    guard let s = strerror(code) else { return "errno \(code)" }
    return "\(String(cString: s)) (errno \(code))"
}

/// Writes straight to fd 1 (no stdio buffering, which could lose lines if the process is killed).
func emit(_ line: String) {
    var text = line
    if !text.hasSuffix("\n") { text += "\n" }
    let bytes = Array(text.utf8)
    let total = bytes.count
    var offset = 0
    while offset < total {
        let n = bytes.withUnsafeBytes { buf in
            write(1, buf.baseAddress.map { $0 + offset }, total - offset)
        }
        if n < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += n
    }
}

// MARK: - Files

func fileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

/// Reads a whole (small) file, nil if it cannot be opened.
func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { break }
        data.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: data, as: UTF8.self)
}

/// The file's content without the trailing newline; throws naming the file if it cannot be read.
func readTrimmed(_ path: String) throws(CheckFailure) -> String {
    guard let s = readFile(path) else { throw CheckFailure("cannot read \(path): \(errnoString())") }
    return trimmed(s)
}

func trimmed(_ s: String) -> String {
    var t = Substring(s)
    while let last = t.last, last == "\n" || last == " " || last == "\r" || last == "\t" { t.removeLast() }
    while let first = t.first, first == "\n" || first == " " || first == "\r" || first == "\t" { t.removeFirst() }
    return String(t)
}

func writeFile(_ path: String, _ content: String, mode: mode_t = 0o644) throws(CheckFailure) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw CheckFailure("cannot open \(path): \(errnoString())") }
    defer { close(fd) }
    let bytes = Array(content.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, bytes.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            throw CheckFailure("cannot write \(path): \(errnoString())")
        }
        offset += n
    }
}

/// `key value` lines (memory.events, cpu.stat, pids.events) as a dictionary.
func keyedValues(_ text: String) -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = UInt64(parts[1]) { result[String(parts[0])] = v }
    }
    return result
}

/// Names of the subdirectories of `path` (empty if it does not exist).
func subdirectories(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." && isDirectory(path + "/" + name) { names.append(name) }
    }
    return names
}

/// Removes a cgroup subtree bottom-up (rmdir only; cgroupfs refuses anything else). Returns what could not go.
@discardableResult
func removeCgroupTree(_ path: String) -> [String] {
    guard isDirectory(path) else { return [] }
    var left: [String] = []
    for sub in subdirectories(path) { left += removeCgroupTree(path + "/" + sub) }
    if rmdir(path) != 0 { left.append("\(path): \(errnoString())") }
    return left
}

// MARK: - Time

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func sleepSeconds(_ s: Double) {
    var request = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds pass.
func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + timeout
    while true {
        if condition() { return true }
        if monotonicSeconds() > deadline { return false }
        sleepSeconds(0.02)
    }
}

// MARK: - Processes

enum ExitStatus: Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    case timedOut

    init(waitStatus s: Int32) {
        if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
    }

    var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let sig): return "killed by signal \(sig)\(sig == SIGKILL ? " (SIGKILL)" : "")"
        case .timedOut: return "timed out"
        }
    }
}

let childEnvironment = ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=dumb"]

/// A started child. With a gate, the child blocks before exec until `release()`, so the caller can move it into a
/// cgroup first (the runtime does the same with its init stage).
struct Child {
    let pid: pid_t
    private var gateFD: Int32
    let outputPath: String?

    init(pid: pid_t, gateFD: Int32, outputPath: String?) {
        self.pid = pid
        self.gateFD = gateFD
        self.outputPath = outputPath
    }

    mutating func release() {
        guard gateFD >= 0 else { return }
        _ = write(gateFD, "\n", 1)
        close(gateFD)
        gateFD = -1
    }

    /// Waits for the child (polling, so a hung child cannot hang the selftest); SIGKILLs it on timeout.
    func wait(timeout: Double) -> ExitStatus {
        let deadline = monotonicSeconds() + timeout
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return ExitStatus(waitStatus: status) }
            if r < 0 && errno != EINTR { return .timedOut }
            if monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .timedOut
            }
            sleepSeconds(0.01)
        }
    }

    var output: String {
        guard let outputPath else { return "" }
        return readFile(outputPath) ?? ""
    }

    func removeOutput() {
        if let outputPath { unlink(outputPath) }
    }
}

private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return body(pointers)
}

nonisolated(unsafe) private var outputCounter = 0

/// Starts `argv` (argv[0] is an absolute path). stdout+stderr go to a temp file when `captureOutput`, else to
/// /dev/null; stdin is /dev/null, or the gate pipe when `gated`.
func spawn(_ argv: [String], gated: Bool = false, captureOutput: Bool = true) throws(CheckFailure) -> Child {
    var command = argv
    if gated {
        // `read` returns at the newline written by release(); then the real program replaces the shell.
        command = ["/bin/busybox", "sh", "-c", "read -r _gate; exec \"$@\"", "gate"] + argv
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }

    var gateWrite: Int32 = -1
    var gateRead: Int32 = -1
    if gated {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw CheckFailure("pipe: \(errnoString())") }
        // Single-threaded process: no fork can slip in between pipe() and FD_CLOEXEC.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        gateRead = fds[0]
        gateWrite = fds[1]
        posix_spawn_file_actions_adddup2(&actions, gateRead, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    var outputPath: String?
    if captureOutput {
        outputCounter += 1
        let path = "/tmp/selftest-out.\(getpid()).\(outputCounter)"
        outputPath = path
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, 1, 2)

    var pid: pid_t = 0
    let rc = withCStrings(command) { args in
        withCStrings(childEnvironment) { env in
            posix_spawn(&pid, command[0], &actions, nil, args, env)
        }
    }
    if gateRead >= 0 { close(gateRead) }
    guard rc == 0 else {
        if gateWrite >= 0 { close(gateWrite) }
        throw CheckFailure("cannot start \(command[0]): \(errnoString(rc))")
    }
    return Child(pid: pid, gateFD: gateWrite, outputPath: outputPath)
}

/// Runs `argv` to completion; returns its status and combined stdout+stderr.
func run(_ argv: [String], timeout: Double = 30) throws(CheckFailure) -> (status: ExitStatus, output: String) {
    let child = try spawn(argv)
    let status = child.wait(timeout: timeout)
    let output = child.output
    child.removeOutput()
    return (status, output)
}

/// The last `n` lines of `text`, joined with " | " so they fit on one protocol line.
func tail(_ text: String, lines n: Int = 6) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: true).suffix(n).joined(separator: " | ")
}
