import Foundation
import Glibc
import Prober
import Synchronization

/// Set once by a deadline (a timer).
final class Expired: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}

/// What the runtime reports about a container (`minirun state`).
struct RuntimeState: Sendable, Decodable {
    var id: String
    var pid: Int32?
    var status: String
}

/// The shim's exit record: `{"pid","exitCode","signal","finishedAt","oomKilled"}`.
struct ShimExit: Sendable, Decodable {
    var pid: Int32
    var exitCode: Int32
    var signal: Int32
    var finishedAt: String
    var oomKilled: Bool
}

/// The OCI runtime, used only through its command line (`minirun`, runc-compatible) and the shim.
/// Containers are started by the shim, which stays behind as their parent: they outlive the agent.
struct RuntimeService: Sendable {
    let runtimePath: String
    let shimPath: String
    /// The runtime's state directory (`--root` of minirun): the truth about which containers exist.
    let runtimeRoot: String

    private var base: [String] { [runtimePath, "--root", runtimeRoot] }

    /// Creates and starts the container under a new shim; returns the container's pid.
    func start(id: String, bundle: String, logPath: String, exitFile: String, pidFile: String) async throws(CommandError) -> Int32 {
        let argv = [
            shimPath, "--runtime", runtimePath, "--runtime-root", runtimeRoot, "--bundle", bundle, "--id", id, "--log-path", logPath,
            "--exit-file", exitFile, "--pid-file", pidFile, "--log-max-size", String(10 << 20), "--log-max-files", "5",
        ]
        let result = try await Command.run(argv, stdoutFile: bundle + "/shim.out", timeout: .seconds(120))
        guard result.succeeded else {
            // The runtime's own message is the useful part ("exec: /x: No such file or directory"), said the
            // way containerd reports it, without the shim's command line.
            let lines = result.stderr.split(separator: "\n").map(String.init)
            var message = lines.last ?? "the shim exited with status \(result.status)"
            if let range = message.range(of: "create failed (exit status ") ?? message.range(of: "start failed (exit status "),
                let close = message[range.upperBound...].range(of: "): ")
            {
                message = String(message[close.upperBound...])
            }
            throw CommandError(argv: [], detail: "OCI runtime create failed: \(message)")
        }
        guard let pid = Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CommandError(argv: argv, detail: "the shim printed no pid: \(result.stdout.debugDescription) \(result.stderr)")
        }
        return pid
    }

    /// nil when the runtime does not know the container.
    func state(id: String) async throws(CommandError) -> RuntimeState? {
        let result = try await Command.run(base + ["state", id], timeout: .seconds(30))
        guard result.succeeded else {
            if result.stderr.contains("does not exist") || result.stderr.contains("not exist") { return nil }
            throw CommandError(argv: base + ["state", id], detail: "exit status \(result.status): \(result.stderr)")
        }
        do { return try JSONDecoder().decode(RuntimeState.self, from: Data(result.stdout.utf8)) } catch {
            throw CommandError(argv: base + ["state", id], detail: "cannot decode the state: \(error)")
        }
    }

    /// Runs a command in the container's namespaces (its process config: user, env, cwd).
    func exec(id: String, command: [String], timeout: Duration) async throws(CommandError) -> CommandResult {
        try await Command.run(base + ["exec", id] + command, timeout: timeout)
    }

    /// exec with a hard deadline for probes: at the timeout the process started in the container is killed too (the
    /// runtime's pid file names it), so a hung command neither lingers nor holds the output pipes open. Returns nil
    /// when the deadline passed.
    /// `sleeper` paces the checks of the runtime process on the probe loop (`Command.runPolled`).
    nonisolated(nonsending) func execProbe(id: String, command: [String], timeout: Duration, outputLimit: Int = .max, sleeper: ProbeSleeper)
        async throws(CommandError) -> CommandResult?
    {
        let pidFile = Self.probePIDDirectory + "/minikubelet-probe-\(getpid())-\(Self.probeSerial.add(1, ordering: .relaxed).newValue).pid"
        defer { unlink(pidFile) }
        let expired = Expired()
        let killProbe = ChildWatcher.Deadline(at: .now + timeout) { _ in
            expired.set()
            if let pid = Self.readPID(pidFile), pid > 0 { Glibc.kill(pid, SIGKILL) }
        }
        // Command.run's own deadline (a little later) ends the runtime process should it hang.
        let result = try await Command.runPolled(
            base + ["exec", "--pid-file", pidFile, id] + command, timeout: timeout + .seconds(2), deadlines: [killProbe], outputLimit: outputLimit,
            sleeper: sleeper)
        return expired.value ? nil : result
    }

    /// tmpfs when there is one: creating and unlinking a file per exec probe on a journaling file system (100 a second
    /// in bench/probes.sh) was a visible part of the agent's system time.
    private static let probePIDDirectory = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
    private static let probeSerial = Atomic<Int>(0)

    /// The pid in a pid file (a decimal number, maybe with a newline); nil if absent or unreadable.
    private static func readPID(_ path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = read(fd, &bytes, bytes.count)
        guard n > 0 else { return nil }
        return pid_t(String(decoding: bytes[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func kill(id: String, signal: String) async throws(CommandError) {
        let result = try await Command.run(base + ["kill", id, signal], timeout: .seconds(30))
        // A container that already stopped cannot be signalled; that is the outcome we wanted.
        if !result.succeeded && !result.stderr.contains("not running") && !result.stderr.contains("does not exist")
            && !result.stderr.contains("stopped")
        {
            throw CommandError(argv: base + ["kill", id, signal], detail: "exit status \(result.status): \(result.stderr)")
        }
    }

    func delete(id: String) async throws(CommandError) {
        let result = try await Command.run(base + ["delete", "--force", id], timeout: .seconds(60))
        if !result.succeeded && !result.stderr.contains("does not exist") {
            throw CommandError(argv: base + ["delete", "--force", id], detail: "exit status \(result.status): \(result.stderr)")
        }
    }

    /// Whether the runtime's state directory has an entry for the container (created, running or stopped).
    func knows(id: String) -> Bool { FileManager.default.fileExists(atPath: runtimeRoot + "/" + id) }

    /// IDs of the containers in the runtime's state directory.
    func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: runtimeRoot)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func readExit(_ path: String) -> ShimExit? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ShimExit.self, from: data)
    }
}

/// RFC 3339 with up to nanosecond fractions, as the shim writes them.
enum RFC3339 {
    static func parse(_ text: String) -> Date? {
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            var end = text.index(after: dot)
            while end < text.endIndex, text[end].isNumber { end = text.index(after: end) }
            fraction = Double("0" + text[dot..<end]) ?? 0
            base = String(text[..<dot]) + String(text[end...])
        }
        return (try? Date(base, strategy: .iso8601)).map { $0.addingTimeInterval(fraction) }
    }
}
