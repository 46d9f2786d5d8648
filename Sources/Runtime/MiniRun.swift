// The `minirun` command: dispatch, output and error reporting (one line, exit 1; also to --log).
import CShims
import Cgroups
import FoundationEssentials
import OCISpec
import RuntimeSecurity

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

public enum MiniRun {
    /// Runs one invocation and returns the process exit code.
    public static func main(_ arguments: [String]) -> Int32 {
        var global = GlobalOptions()
        do {
            let invocation = try CommandLineParser.parse(arguments)
            global = invocation.global
            return try execute(invocation)
        } catch {
            report(error, global: global)
            return 1
        }
    }

    static func execute(_ invocation: Invocation) throws(RuntimeError) -> Int32 {
        let lifecycle = Lifecycle(root: invocation.global.root)
        switch invocation.command {
        case .create(let options):
            try lifecycle.create(options)
        case .start(let id):
            try lifecycle.start(id: id)
        case .run(let options, let detach, let keep):
            return try run(lifecycle, options, detach: detach, keep: keep)
        case .state(let id):
            let record = try lifecycle.store.load(id)
            let output = StateOutput(state: lifecycle.state(of: record), oomKillCount: lifecycle.oomKillCount(id: id))
            try printJSON(output, pretty: true)
        case .kill(let id, let signal, let all):
            try lifecycle.kill(id: id, signal: signal, all: all)
        case .delete(let id, let force):
            try lifecycle.delete(id: id, force: force)
        case .exec(let options):
            return try lifecycle.exec(options)
        case .list(let json, let quiet):
            let states = lifecycle.list()
            if json {
                try printJSON(states, pretty: false)
            } else if quiet {
                write(states.map { $0.id + "\n" }.joined())
            } else {
                var text = "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n"
                for state in states {
                    text += "\(state.id)\t\(state.pid ?? 0)\t\(state.status.rawValue)\t\(state.bundle)\t\(state.created ?? "")\t\(state.owner ?? "")\n"
                }
                write(text)
            }
        case .ps(let id, let json):
            let record = try lifecycle.store.load(id)
            let session = try CgroupSession.open(record)
            let pids: [Int32]
            do throws(CgroupError) {
                pids = try session.manager.processes()
            } catch {
                throw CgroupSession.describe(error)
            }
            if json {
                try printJSON(pids, pretty: false)
            } else {
                write("PID\n" + pids.map { "\($0)\n" }.joined())
            }
        case .events(let id, _, _):
            try printJSON(try Events.stats(lifecycle, id: id), pretty: false)
        case .spec(let bundle, _):
            let path = (bundle ?? ".") + "/config.json"
            if FileSystem.exists(path) { throw RuntimeError("File \(path) exists. Remove it first") }
            try FileSystem.write(path, Array(Documents.defaultSpec.utf8), mode: 0o666, exclusive: true)
        case .features:
            write(Documents.features(capabilities: Capabilities.names(of: Capabilities.supportedMask)))
        case .version:
            write("minirun version 0.1.0\nspec: \(OCI.specVersion)\n")
        case .help:
            write(usage)
        }
        return 0
    }

    static func run(_ lifecycle: Lifecycle, _ options: CreateOptions, detach: Bool, keep: Bool) throws(RuntimeError) -> Int32 {
        // The record create saved serves start and delete: no state.json decode per step.
        let (record, console) = try lifecycle.create(options, ownConsole: !detach)
        let pid = record.pid
        defer { if let console { close(console) } }
        do {
            try lifecycle.start(record: record)
        } catch {
            do {
                try lifecycle.delete(record: record, force: true)
            } catch let cleanup {
                Log.warn("cleanup: \(cleanup)")
            }
            throw error
        }
        if detach { return 0 }
        mk_forward_signals(pid)
        if let console { mk_pty_proxy(console) }
        let code = Linux.wait(pid)
        if !keep { try lifecycle.delete(record: record, force: true) }
        return code
    }

    // MARK: - output

    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(1, $0.baseAddress?.advanced(by: offset), $0.count - offset) }
            if n <= 0 { return }
            offset += n
        }
    }

    static func printJSON<T: Encodable>(_ value: T, pretty: Bool) throws(RuntimeError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        do {
            write(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
        } catch {
            throw RuntimeError("encode output: \(error)")
        }
    }

    /// One line on stderr; with `--log`, the same message in runc's text or JSON log format.
    static func report(_ error: RuntimeError, global: GlobalOptions) {
        let line = "minirun: \(error.message)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        guard let logFile = global.logFile else { return }
        let time = Timestamp.now()
        let entry: String
        if global.logFormat == "json" {
            entry = "{\"level\":\"error\",\"msg\":\(jsonString(error.message)),\"time\":\"\(time)\"}\n"
        } else {
            entry = "time=\"\(time)\" level=error msg=\(jsonString(error.message))\n"
        }
        let fd = mk_open(logFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = entry.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static let usage = """
        usage: minirun [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS]

          create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID
          start ID
          run [--bundle DIR] [--detach] [--pid-file F] [--no-pivot] ID
          state ID
          kill [--all] ID [SIGNAL]
          delete [--force] ID
          exec [--process F] [--detach] [--pid-file F] [--tty] [--cwd D] [--env K=V] [--user U[:G]] ID [CMD...]
          list [--format table|json]
          ps [--format table|json] ID
          events --stats ID
          spec [--bundle DIR]
          features

        """
}

/// `minirun state` output: the OCI state plus `oomKillCount` (OOM kills in the container's cgroup;
/// absent when the cgroup is gone). An extra field rather than an annotation, so config annotations
/// are reported unchanged.
struct StateOutput: Encodable {
    var state: OCI.State
    var oomKillCount: UInt64?

    enum CodingKeys: String, CodingKey {
        case ociVersion, id, pid, status, bundle, rootfs, created, owner, annotations, oomKillCount
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(state.ociVersion, forKey: .ociVersion)
        try container.encode(state.id, forKey: .id)
        try container.encode(state.pid ?? 0, forKey: .pid)
        try container.encode(state.status, forKey: .status)
        try container.encode(state.bundle, forKey: .bundle)
        try container.encodeIfPresent(state.rootfs, forKey: .rootfs)
        try container.encodeIfPresent(state.created, forKey: .created)
        try container.encode(state.owner ?? "", forKey: .owner)
        try container.encodeIfPresent(state.annotations, forKey: .annotations)
        try container.encodeIfPresent(oomKillCount, forKey: .oomKillCount)
    }
}

/// `events --stats`: runc's `{"type":"stats","id":...,"data":{...}}` from the cgroup's figures.
enum Events {
    struct Envelope: Encodable {
        var type = "stats"
        var id: String
        var data: StatsData
    }
    struct StatsData: Encodable {
        var cpu: CPU
        var memory: Memory
        var pids: Pids
        var oom: OOM
    }
    struct CPU: Encodable {
        var usage: Usage
        var throttling: Throttling
        struct Usage: Encodable {
            var total: UInt64
            var user: UInt64
            var kernel: UInt64
        }
        struct Throttling: Encodable {
            var periods: UInt64
            var throttledTime: UInt64
        }
    }
    struct Memory: Encodable {
        var usage: Entry
        struct Entry: Encodable {
            var usage: UInt64
            var max: UInt64
            var limit: UInt64
        }
    }
    struct Pids: Encodable {
        var current: UInt64
        var limit: UInt64
    }
    struct OOM: Encodable {
        var events: UInt64
        var kills: UInt64
    }

    static func stats(_ lifecycle: Lifecycle, id: String) throws(RuntimeError) -> Envelope {
        let record = try lifecycle.store.load(id)
        let session = try CgroupSession.open(record)
        let stats: CgroupStats
        do throws(CgroupError) {
            stats = try session.manager.stats()
        } catch {
            throw RuntimeError("events \(id): \(error)")
        }
        return Envelope(
            id: id,
            data: StatsData(
                cpu: CPU(
                    usage: .init(total: stats.cpuUsageNanos, user: stats.cpuUserNanos, kernel: stats.cpuSystemNanos),
                    throttling: .init(periods: stats.cpuThrottledPeriods, throttledTime: stats.cpuThrottledNanos)),
                memory: Memory(usage: .init(usage: stats.memoryUsage, max: stats.memoryMaxUsage ?? 0, limit: stats.memoryLimit ?? 0)),
                pids: Pids(current: stats.pidsCurrent, limit: stats.pidsLimit ?? 0),
                oom: OOM(events: stats.oomEvents, kills: stats.oomKills)))
    }
}
