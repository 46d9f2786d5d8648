import Dispatch
import Foundation
import Glibc
import Synchronization

/// Set once by a plugin's watchdog when the deadline passed.
private final class DeadlineFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}

/// Runs one plugin executable per the CNI protocol: CNI_* variables in the environment, the network
/// configuration on stdin, the result (or error object) on stdout. posix_spawn, not Foundation's Process:
/// Process needs a working loopback, which a fresh network namespace does not have.
public struct PluginRunner: Sendable {
    public var binDirectories: [String]
    public var timeout: Duration

    public init(binDirectories: [String], timeout: Duration = .seconds(60)) {
        self.binDirectories = binDirectories
        self.timeout = timeout
    }

    public func find(_ type: String) throws(CNIError) -> String {
        for directory in binDirectories where !type.contains("/") {
            let path = directory + "/" + type
            if access(path, X_OK) == 0 { return path }
        }
        throw .notFound(type: type, searched: binDirectories)
    }

    /// Runs `type` with `command` and returns its stdout (JSON) on success.
    public func run(type: String, command: String, runtime: RuntimeArguments, stdin: Data) async throws(CNIError) -> Data {
        let path = try find(type)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CNI_") }
        environment["CNI_COMMAND"] = command
        environment["CNI_CONTAINERID"] = runtime.containerID
        environment["CNI_NETNS"] = runtime.netns ?? ""
        environment["CNI_IFNAME"] = runtime.ifName
        environment["CNI_ARGS"] = runtime.cniArgs
        environment["CNI_PATH"] = binDirectories.joined(separator: ":")
        if environment["PATH"] == nil { environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin" }
        // Files rather than pipes for all three streams: no reader threads, no pipe-buffer deadlocks.
        let scratch = FileManager.default.temporaryDirectory.path + "/cni-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))"
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            try stdin.write(to: URL(fileURLWithPath: scratch + "/stdin"))
        } catch {
            throw .io("CNI scratch directory \(scratch): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let pid = try spawn(path: path, type: type, command: command, environment: environment, scratch: scratch)
        // A blocking waitpid on a Dispatch thread (not polling: each poll interval was added to every pod's ADD),
        // and a watchdog that kills a plugin still running at the deadline.
        let expired = DeadlineFlag()
        let watchdog = Task { [timeout] in
            try await Task.sleep(for: timeout)
            expired.set()
            kill(pid, SIGKILL)
        }
        let (reaped, raw, waitError) = await withCheckedContinuation { (continuation: CheckedContinuation<(pid_t, Int32, Int32), Never>) in
            DispatchQueue.global().async {
                var raw: Int32 = 0
                var reaped: pid_t
                repeat { reaped = waitpid(pid, &raw, 0) } while reaped < 0 && errno == EINTR
                continuation.resume(returning: (reaped, raw, reaped < 0 ? errno : 0))
            }
        }
        watchdog.cancel()
        if reaped < 0 { throw .io("waitpid \(type): \(String(cString: strerror(waitError)))") }
        if expired.value { throw .timedOut(type: type, command: command, seconds: Int(timeout.components.seconds)) }
        let signal = raw & 0x7f
        let status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        let stdout = FileManager.default.contents(atPath: scratch + "/stdout") ?? Data()
        guard status == 0 else {
            let stderr = FileManager.default.contents(atPath: scratch + "/stderr") ?? Data()
            throw CNIError.fromOutput(
                type: type, command: command, status: status, stdout: String(decoding: stdout, as: UTF8.self),
                stderr: String(decoding: stderr, as: UTF8.self))
        }
        return stdout
    }

    private func spawn(path: String, type: String, command: String, environment: [String: String], scratch: String) throws(CNIError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, scratch + "/stdin", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, scratch + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The agent ignores SIGPIPE; plugins (and the iptables they run) must not inherit that.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        var envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attributes, &argv, &envp)
        guard rc == 0 else { throw .failed(type: type, command: command, status: -1, output: "cannot start \(path): \(String(cString: strerror(rc)))") }
        return pid
    }
}

/// libcni's list operations: the runtime-side conflist semantics of the spec.
public struct NetworkChain: Sendable {
    public var list: NetworkConfigList
    public var runner: PluginRunner

    public init(list: NetworkConfigList, runner: PluginRunner) {
        self.list = list
        self.runner = runner
    }

    /// The configuration one plugin receives: its own object plus the injected `cniVersion`, `name`,
    /// `runtimeConfig` (declared capabilities ∩ what the runtime offers) and `prevResult`; `capabilities` removed.
    public static func pluginConfig(
        _ plugin: [String: JSONValue], list: NetworkConfigList, runtime: RuntimeArguments, prevResult: JSONValue?
    ) throws(CNIError) -> Data {
        var config = plugin
        config["cniVersion"] = .string(list.cniVersion)
        config["name"] = .string(list.name)
        var runtimeConfig: [String: JSONValue] = [:]
        if plugin["capabilities"]?["portMappings"]?.boolValue == true {
            let encoded: JSONValue
            do { encoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(runtime.portMappings)) } catch {
                throw .configuration("encoding portMappings: \(error)")
            }
            runtimeConfig["portMappings"] = encoded
        }
        config["capabilities"] = nil
        if !runtimeConfig.isEmpty { config["runtimeConfig"] = .object(runtimeConfig) }
        if let prevResult { config["prevResult"] = prevResult }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return try encoder.encode(config)
        } catch {
            throw .configuration("encoding the configuration of plugin \(plugin["type"]?.stringValue ?? "?"): \(error)")
        }
    }

    /// ADD: every plugin in order, each given the previous one's result; returns the last result (raw and typed).
    public func add(_ runtime: RuntimeArguments) async throws(CNIError) -> (raw: JSONValue, result: CNIResult) {
        var previous: JSONValue?
        for plugin in list.plugins {
            let type = plugin["type"]?.stringValue ?? ""
            let stdin = try Self.pluginConfig(plugin, list: list, runtime: runtime, prevResult: previous)
            let output = try await runner.run(type: type, command: "ADD", runtime: runtime, stdin: stdin)
            do { previous = try JSONDecoder().decode(JSONValue.self, from: output) } catch {
                throw .badResult(type: type, command: "ADD", detail: "\(error): \(String(decoding: output, as: UTF8.self))")
            }
        }
        guard let previous else { throw .configuration("network \(list.name) has no plugins") }
        do {
            return (previous, try JSONDecoder().decode(CNIResult.self, from: JSONEncoder().encode(previous)))
        } catch {
            throw .badResult(type: list.pluginTypes.last ?? "", command: "ADD", detail: "\(error)")
        }
    }

    /// DEL: every plugin in reverse order with the cached ADD result as `prevResult`. Every plugin is
    /// asked even when an earlier one fails (each releases its own resources); the first error is thrown.
    /// `ignoringMissingPlugins`: a plugin whose executable is not found is skipped (it cannot release anything,
    /// and retrying would never succeed); the skipped types are returned.
    @discardableResult
    public func delete(_ runtime: RuntimeArguments, prevResult: JSONValue?, ignoringMissingPlugins: Bool = false) async throws(CNIError) -> [String] {
        var firstError: CNIError?
        var skipped: [String] = []
        for plugin in list.plugins.reversed() {
            let type = plugin["type"]?.stringValue ?? ""
            do {
                let stdin = try Self.pluginConfig(plugin, list: list, runtime: runtime, prevResult: prevResult)
                _ = try await runner.run(type: type, command: "DEL", runtime: runtime, stdin: stdin)
            } catch {
                if ignoringMissingPlugins, case .notFound = error {
                    skipped.append(type)
                } else {
                    firstError = firstError ?? error
                }
            }
        }
        if let firstError { throw firstError }
        return skipped
    }
}

/// A CNI configuration directory: `.conflist` (lists), `.conf`/`.json` (single plugins), lexically sorted.
public enum ConfigDirectory {
    public struct Entry: Sendable, Hashable {
        public var file: String
        public var list: NetworkConfigList
    }

    /// Parsable configurations in file-name order; unreadable files are returned separately.
    public static func load(_ directory: String) -> (entries: [Entry], problems: [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        var entries: [Entry] = []
        var problems: [String] = []
        for name in names where name.hasSuffix(".conflist") || name.hasSuffix(".conf") || name.hasSuffix(".json") {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("\(path): unreadable")
                continue
            }
            do {
                if name.hasSuffix(".conflist") {
                    entries.append(Entry(file: path, list: try JSONDecoder().decode(NetworkConfigList.self, from: data)))
                } else if let list = NetworkConfigList.fromSingle(try JSONDecoder().decode([String: JSONValue].self, from: data)) {
                    entries.append(Entry(file: path, list: list))
                } else {
                    problems.append("\(path): no name or type")
                }
            } catch {
                problems.append("\(path): \(error)")
            }
        }
        return (entries, problems)
    }

    /// The network called `name`, first by file name; nil when none is.
    public static func select(_ entries: [Entry], network name: String) -> Entry? {
        entries.first { $0.list.name == name }
    }
}
