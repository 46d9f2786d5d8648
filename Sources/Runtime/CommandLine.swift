// The runc-compatible command line, parsed by hand.
//
// Why not swift-argument-parser: `minirun` is exec'd several times per container start (create,
// start, state, delete by podman/conmon) and its start latency is a target (at most half of runc's).
// A hand-written parser loads nothing and costs microseconds; it accepts what runc (urfave/cli)
// accepts: `--flag value`, `--flag=value`, `-flag`, short aliases, global flags before the command.

public struct GlobalOptions: Sendable, Equatable {
    public var root = "/run/minirun"
    public var logFile: String?
    public var logFormat = "text"
    public var systemdCgroup = false
    public var debug = false
    public init() {}
}

public enum Command: Sendable, Equatable {
    case create(CreateOptions)
    case start(id: String)
    case run(CreateOptions, detach: Bool, keep: Bool)
    case state(id: String)
    case kill(id: String, signal: Int32, all: Bool)
    case delete(id: String, force: Bool)
    case exec(ExecOptions)
    case list(json: Bool, quiet: Bool)
    case ps(id: String, json: Bool)
    case events(id: String, stats: Bool, interval: Double)
    case spec(bundle: String?, rootless: Bool)
    case features
    case version
    case help
}

public struct Invocation: Sendable, Equatable {
    public var global: GlobalOptions
    public var command: Command
}

public struct ExecOptions: Sendable, Equatable {
    public var id = ""
    public var processFile: String?
    public var args: [String] = []
    public var detach = false
    public var pidFile: String?
    public var consoleSocket: String?
    public var tty = false
    public var cwd: String?
    public var env: [String] = []
    public var user: String?
    public var additionalGids: [UInt32] = []
    public var capabilities: [String] = []
    public var noNewPrivileges = false
    public var preserveFDs: Int32 = 0
    public init() {}
}

public enum CommandLineParser {
    /// A flag's spellings and whether it takes a value.
    struct Flag {
        var names: [String]
        var takesValue: Bool
    }

    /// Splits a command's arguments into flags (by canonical name, repeated values kept) and positionals.
    static func split(_ args: ArraySlice<String>, flags: [Flag], command: String) throws(RuntimeError) -> (values: [String: [String]], positionals: [String]) {
        var values: [String: [String]] = [:]
        var positionals: [String] = []
        var index = args.startIndex
        while index < args.endIndex {
            let arg = args[index]
            index += 1
            if arg == "--" {
                positionals += args[index...]
                break
            }
            // Like urfave/cli (runc): flags stop at the first positional argument.
            guard arg.hasPrefix("-"), arg != "-", positionals.isEmpty else {
                positionals.append(arg)
                if command == "exec" {
                    positionals += args[index...]
                    break
                }
                continue
            }
            let body = arg.hasPrefix("--") ? arg.dropFirst(2) : arg.dropFirst(1)
            let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard let flag = flags.first(where: { $0.names.contains(name) }) else {
                throw .usage("\(command): unknown flag \(arg)")
            }
            let canonical = flag.names[0]
            if flag.takesValue {
                if parts.count == 2 {
                    values[canonical, default: []].append(String(parts[1]))
                } else {
                    guard index < args.endIndex else { throw .usage("\(command): flag \(arg) needs a value") }
                    values[canonical, default: []].append(args[index])
                    index += 1
                }
            } else {
                let value = parts.count == 2 ? String(parts[1]) : "true"
                guard value == "true" || value == "false" else { throw .usage("\(command): flag \(arg) takes true or false") }
                values[canonical, default: []].append(value)
            }
        }
        return (values, positionals)
    }

    static func bool(_ values: [String: [String]], _ name: String) -> Bool { values[name]?.last == "true" }

    static func exactlyOneID(_ positionals: [String], _ command: String) throws(RuntimeError) -> String {
        guard positionals.count == 1 else {
            throw .usage("\(command): expected exactly one container id, got \(positionals.count) arguments")
        }
        return positionals[0]
    }

    static func int32(_ text: String?, flag: String) throws(RuntimeError) -> Int32 {
        guard let text else { return 0 }
        guard let value = Int32(text), value >= 0 else { throw .usage("--\(flag): not a non-negative number: \(text)") }
        return value
    }

    private static let globalFlags = [
        Flag(names: ["root"], takesValue: true), Flag(names: ["log"], takesValue: true),
        Flag(names: ["log-format"], takesValue: true), Flag(names: ["systemd-cgroup"], takesValue: false),
        Flag(names: ["debug"], takesValue: false), Flag(names: ["log-level"], takesValue: true),
        Flag(names: ["rootless"], takesValue: true), Flag(names: ["criu"], takesValue: true),
        Flag(names: ["help", "h"], takesValue: false), Flag(names: ["version", "v"], takesValue: false),
    ]

    private static let createFlags = [
        Flag(names: ["bundle", "b"], takesValue: true), Flag(names: ["pid-file"], takesValue: true),
        Flag(names: ["console-socket"], takesValue: true), Flag(names: ["no-pivot"], takesValue: false),
        Flag(names: ["no-new-keyring"], takesValue: false), Flag(names: ["preserve-fds"], takesValue: true),
        Flag(names: ["pidfd-socket"], takesValue: true),
    ]

    public static func parse(_ arguments: [String]) throws(RuntimeError) -> Invocation {
        var global = GlobalOptions()
        var index = 0
        // Global flags come before the command.
        while index < arguments.count, arguments[index].hasPrefix("-") {
            let arg = arguments[index]
            let body = arg.hasPrefix("--") ? arg.dropFirst(2) : arg.dropFirst(1)
            let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard let flag = globalFlags.first(where: { $0.names.contains(name) }) else {
                throw .usage("unknown global flag \(arg)")
            }
            index += 1
            var value = parts.count == 2 ? String(parts[1]) : "true"
            if flag.takesValue && parts.count == 1 {
                guard index < arguments.count else { throw .usage("flag \(arg) needs a value") }
                value = arguments[index]
                index += 1
            }
            switch flag.names[0] {
            case "root": global.root = value
            case "log": global.logFile = value
            case "log-format":
                guard value == "text" || value == "json" else { throw .usage("--log-format: expected text or json, got \(value)") }
                global.logFormat = value
            case "systemd-cgroup": global.systemdCgroup = value == "true"
            case "debug": global.debug = value == "true"
            case "help": return Invocation(global: global, command: .help)
            case "version": return Invocation(global: global, command: .version)
            default: break
            }
        }
        guard index < arguments.count else { return Invocation(global: global, command: .help) }
        let name = arguments[index]
        let rest = arguments[(index + 1)...]
        return Invocation(global: global, command: try parseCommand(name, rest))
    }

    static func parseCommand(_ name: String, _ rest: ArraySlice<String>) throws(RuntimeError) -> Command {
        switch name {
        case "create", "run":
            let extra = name == "run" ? [Flag(names: ["detach", "d"], takesValue: false), Flag(names: ["keep"], takesValue: false)] : []
            let (values, positionals) = try split(rest, flags: createFlags + extra, command: name)
            let options = CreateOptions(
                id: try exactlyOneID(positionals, name), bundle: values["bundle"]?.last ?? ".", pidFile: values["pid-file"]?.last,
                consoleSocket: values["console-socket"]?.last, noPivot: bool(values, "no-pivot"),
                preserveFDs: try int32(values["preserve-fds"]?.last, flag: "preserve-fds"))
            if name == "create" { return .create(options) }
            return .run(options, detach: bool(values, "detach"), keep: bool(values, "keep"))
        case "start", "state":
            let (_, positionals) = try split(rest, flags: [], command: name)
            let id = try exactlyOneID(positionals, name)
            return name == "start" ? .start(id: id) : .state(id: id)
        case "kill":
            let (values, positionals) = try split(rest, flags: [Flag(names: ["all", "a"], takesValue: false)], command: name)
            guard positionals.count == 1 || positionals.count == 2 else { throw .usage("kill: expected ID [SIGNAL]") }
            let signal = positionals.count == 2 ? try Signals.parse(positionals[1].hasPrefix("-") ? String(positionals[1].dropFirst()) : positionals[1]) : 15
            return .kill(id: positionals[0], signal: signal, all: bool(values, "all"))
        case "delete":
            let (values, positionals) = try split(rest, flags: [Flag(names: ["force", "f"], takesValue: false)], command: name)
            return .delete(id: try exactlyOneID(positionals, name), force: bool(values, "force"))
        case "exec":
            return .exec(try parseExec(rest))
        case "list":
            let flags = [Flag(names: ["format", "f"], takesValue: true), Flag(names: ["quiet", "q"], takesValue: false)]
            let (values, positionals) = try split(rest, flags: flags, command: name)
            guard positionals.isEmpty else { throw .usage("list: takes no arguments") }
            return .list(json: values["format"]?.last == "json", quiet: bool(values, "quiet"))
        case "ps":
            let (values, positionals) = try split(rest, flags: [Flag(names: ["format", "f"], takesValue: true)], command: name)
            return .ps(id: try exactlyOneID(positionals, name), json: values["format"]?.last == "json")
        case "events":
            let flags = [Flag(names: ["stats"], takesValue: false), Flag(names: ["interval"], takesValue: true)]
            let (values, positionals) = try split(rest, flags: flags, command: name)
            let intervalText = values["interval"]?.last ?? "5s"
            let interval = Double(intervalText.hasSuffix("s") ? String(intervalText.dropLast()) : intervalText) ?? 5
            return .events(id: try exactlyOneID(positionals, name), stats: bool(values, "stats"), interval: interval)
        case "spec":
            let flags = [Flag(names: ["bundle", "b"], takesValue: true), Flag(names: ["rootless"], takesValue: false)]
            let (values, positionals) = try split(rest, flags: flags, command: name)
            guard positionals.isEmpty else { throw .usage("spec: takes no arguments") }
            return .spec(bundle: values["bundle"]?.last, rootless: bool(values, "rootless"))
        case "features":
            _ = try split(rest, flags: [], command: name)
            return .features
        case "version", "--version":
            return .version
        case "help":
            return .help
        default:
            throw .usage("unknown command \"\(name)\"")
        }
    }

    static func parseExec(_ rest: ArraySlice<String>) throws(RuntimeError) -> ExecOptions {
        let flags = [
            Flag(names: ["process", "p"], takesValue: true), Flag(names: ["detach", "d"], takesValue: false),
            Flag(names: ["pid-file"], takesValue: true), Flag(names: ["console-socket"], takesValue: true),
            Flag(names: ["tty", "t"], takesValue: false), Flag(names: ["cwd"], takesValue: true),
            Flag(names: ["env", "e"], takesValue: true), Flag(names: ["user", "u"], takesValue: true),
            Flag(names: ["additional-gids", "g"], takesValue: true), Flag(names: ["cap", "c"], takesValue: true),
            Flag(names: ["no-new-privs"], takesValue: false), Flag(names: ["preserve-fds"], takesValue: true),
            Flag(names: ["process-label"], takesValue: true), Flag(names: ["apparmor"], takesValue: true),
            Flag(names: ["pidfd-socket"], takesValue: true), Flag(names: ["ignore-paused"], takesValue: false),
        ]
        let (values, positionals) = try split(rest, flags: flags, command: "exec")
        guard let id = positionals.first else { throw .usage("exec: expected a container id") }
        var options = ExecOptions()
        options.id = id
        options.args = Array(positionals.dropFirst())
        options.processFile = values["process"]?.last
        guard options.processFile != nil || !options.args.isEmpty else { throw .usage("exec: expected a command or --process") }
        options.detach = bool(values, "detach")
        options.pidFile = values["pid-file"]?.last
        options.consoleSocket = values["console-socket"]?.last
        options.tty = bool(values, "tty")
        options.cwd = values["cwd"]?.last
        options.env = values["env"] ?? []
        options.user = values["user"]?.last
        for text in values["additional-gids"] ?? [] {
            guard let gid = UInt32(text) else { throw .usage("exec: --additional-gids: not a number: \(text)") }
            options.additionalGids.append(gid)
        }
        options.capabilities = values["cap"] ?? []
        options.noNewPrivileges = bool(values, "no-new-privs")
        options.preserveFDs = try int32(values["preserve-fds"]?.last, flag: "preserve-fds")
        return options
    }
}
