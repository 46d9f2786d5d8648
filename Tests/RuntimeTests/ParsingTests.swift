// Unit tests: command line, signals, mount options, path joining, the stored seccomp filter.
import Testing

@testable import Runtime

@Suite("Command line")
struct CommandLineTests {
    struct Case: Sendable {
        var args: [String]
        var expected: Command
    }

    static let cases: [Case] = [
        Case(args: ["create", "--bundle", "/b", "c1"], expected: .create(CreateOptions(id: "c1", bundle: "/b"))),
        Case(args: ["create", "--bundle=/b", "--pid-file=/p", "c1"], expected: .create(CreateOptions(id: "c1", bundle: "/b", pidFile: "/p"))),
        Case(
            args: ["create", "-b", "/b", "--console-socket", "/s", "--no-pivot", "c1"],
            expected: .create(CreateOptions(id: "c1", bundle: "/b", consoleSocket: "/s", noPivot: true))),
        Case(
            args: ["create", "--bundle", "/b", "--no-new-keyring", "--preserve-fds", "2", "c1"],
            expected: .create(CreateOptions(id: "c1", bundle: "/b", preserveFDs: 2))),
        Case(args: ["run", "-d", "c1"], expected: .run(CreateOptions(id: "c1", bundle: "."), detach: true, keep: false)),
        Case(args: ["start", "c1"], expected: .start(id: "c1")),
        Case(args: ["state", "c1"], expected: .state(id: "c1")),
        Case(args: ["kill", "c1"], expected: .kill(id: "c1", signal: 15, all: false)),
        Case(args: ["kill", "--all", "c1", "KILL"], expected: .kill(id: "c1", signal: 9, all: true)),
        Case(args: ["kill", "c1", "2"], expected: .kill(id: "c1", signal: 2, all: false)),
        Case(args: ["delete", "--force", "c1"], expected: .delete(id: "c1", force: true)),
        Case(args: ["delete", "-f", "c1"], expected: .delete(id: "c1", force: true)),
        Case(args: ["list", "--format", "json"], expected: .list(json: true, quiet: false)),
        Case(args: ["ps", "--format=json", "c1"], expected: .ps(id: "c1", json: true)),
        Case(args: ["events", "--stats", "c1"], expected: .events(id: "c1", stats: true, interval: 5)),
        Case(args: ["spec"], expected: .spec(bundle: nil, rootless: false)),
        Case(args: ["features"], expected: .features),
    ]

    @Test("commands and flags", arguments: cases)
    func parses(_ testCase: Case) throws {
        let invocation = try CommandLineParser.parse(testCase.args)
        #expect(invocation.command == testCase.expected)
    }

    @Test func globalFlagsBeforeTheCommand() throws {
        let invocation = try CommandLineParser.parse([
            "--root", "/r", "--log=/l", "--log-format", "json", "--systemd-cgroup", "state", "c1",
        ])
        #expect(invocation.global.root == "/r")
        #expect(invocation.global.logFile == "/l")
        #expect(invocation.global.logFormat == "json")
        #expect(invocation.global.systemdCgroup)
        #expect(invocation.command == .state(id: "c1"))
    }

    @Test func execFlagsAndCommand() throws {
        let invocation = try CommandLineParser.parse([
            "exec", "--detach", "--pid-file", "/p", "-t", "--cwd", "/tmp", "-e", "A=1", "--env=B=2", "-u", "1000:1000", "c1", "sh", "-c", "echo hi",
        ])
        guard case .exec(let options) = invocation.command else {
            Issue.record("not exec")
            return
        }
        #expect(options.id == "c1")
        #expect(options.args == ["sh", "-c", "echo hi"])
        #expect(options.detach && options.tty)
        #expect(options.pidFile == "/p")
        #expect(options.cwd == "/tmp")
        #expect(options.env == ["A=1", "B=2"])
        #expect(options.user == "1000:1000")
    }

    @Test(
        "rejected",
        arguments: [
            ["frobnicate", "c1"], ["create", "--bogus", "c1"], ["start"], ["state", "a", "b"], ["--nope", "list"],
            ["create", "--bundle"], ["kill", "c1", "NOTASIG"], ["exec", "c1"], ["--log-format", "xml", "list"],
        ])
    func rejects(_ args: [String]) {
        #expect(throws: RuntimeError.self) { try CommandLineParser.parse(args) }
    }
}

@Suite("Signals")
struct SignalTests {
    @Test(
        "names and numbers",
        arguments: [
            ("TERM", Int32(15)), ("SIGTERM", 15), ("term", 15), ("KILL", 9), ("9", 9), ("HUP", 1), ("SIGUSR1", 10),
            ("WINCH", 28), ("RTMIN", 34), ("RTMIN+2", 36), ("RTMAX", 64), ("64", 64),
        ])
    func parses(_ text: String, _ number: Int32) throws {
        #expect(try Signals.parse(text) == number)
    }

    @Test("invalid", arguments: ["", "0", "65", "-1", "SIGFOO", "RTMIN+40"])
    func rejects(_ text: String) {
        #expect(throws: RuntimeError.self) { try Signals.parse(text) }
    }
}

@Suite("Mount options")
struct MountOptionTests {
    struct Case: Sendable {
        var options: [String]
        var flags: MountFlags
        var propagation: MountFlags
        var data: [String]
    }

    static let cases: [Case] = [
        Case(options: ["nosuid", "noexec", "nodev", "ro"], flags: [.noSuid, .noExec, .noDev, .readOnly], propagation: [], data: []),
        Case(
            options: ["nosuid", "strictatime", "mode=755", "size=65536k"], flags: [.noSuid, .strictAtime], propagation: [], data: ["mode=755", "size=65536k"]),
        Case(options: ["rbind", "ro", "rprivate"], flags: [.bind, .recursive, .readOnly], propagation: [.privateMount, .recursive], data: []),
        Case(options: ["bind", "rslave"], flags: [.bind], propagation: [.slave, .recursive], data: []),
        Case(options: ["ro", "rw"], flags: [], propagation: [], data: []),
        Case(options: ["nosuid", "suid", "relatime"], flags: [.relatime], propagation: [], data: []),
        Case(options: ["newinstance", "ptmxmode=0666", "gid=5"], flags: [], propagation: [], data: ["newinstance", "ptmxmode=0666", "gid=5"]),
        Case(options: ["shared"], flags: [], propagation: [.shared], data: []),
        Case(options: ["tmpcopyup", "defaults"], flags: [], propagation: [], data: []),
    ]

    @Test("options → flags, propagation, data", arguments: cases)
    func parses(_ testCase: Case) {
        let parsed = MountOptions.parse(testCase.options)
        #expect(parsed.flags == testCase.flags)
        #expect(parsed.propagation == testCase.propagation)
        #expect(parsed.data == testCase.data)
    }
}

@Suite("Paths")
struct PathTests {
    @Test("lexical cleaning", arguments: [("/a//b/./c/..", "/a/b"), ("/../x", "/x"), ("/", "/"), ("a/b", "/a/b")])
    func cleans(_ input: String, _ expected: String) {
        #expect(FileSystem.clean(input) == expected)
    }

    @Test func secureJoinKeepsSymlinksInsideTheRoot() throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        try root.symlink("/etc", at: "abs")
        try root.symlink("../../../../etc", at: "rel")
        #expect(FileSystem.secureJoin(root: root.path, "/abs/passwd") == root.path + "/etc/passwd")
        #expect(FileSystem.secureJoin(root: root.path, "/rel/passwd") == root.path + "/etc/passwd")
        #expect(FileSystem.secureJoin(root: root.path, "/../../x") == root.path + "/x")
        #expect(FileSystem.secureJoin(root: root.path, "/dev/pts") == root.path + "/dev/pts")
    }
}

@Suite("Error log")
struct ErrorLogTests {
    @Test(
        "JSON string escaping",
        arguments: [
            ("plain", "\"plain\""), ("a \"quoted\" path", "\"a \\\"quoted\\\" path\""), ("back\\slash", "\"back\\\\slash\""),
            ("line\nbreak", "\"line\\nbreak\""), ("\u{1}", "\"\\u0001\""),
        ])
    func escapes(_ input: String, _ expected: String) {
        #expect(MiniRun.jsonString(input) == expected)
    }

    @Test func timestampIsRFC3339UTC() {
        let stamp = Timestamp.now()
        #expect(stamp.count == 30)
        #expect(stamp.hasSuffix("Z"))
        #expect(stamp.split(separator: "T").count == 2)
    }
}

@Suite("Stored seccomp filter")
struct StoredSeccompTests {
    static func file(format: UInt32 = 1, flags: UInt32 = 0, length: Int, filter: [UInt8]) -> [UInt8] {
        var bytes = Array("MKCTRBPF".utf8)
        for value in [format, flags, UInt32(length)] { withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) } }
        return bytes + filter
    }

    @Test func roundTrip() throws {
        let dir = try TemporaryDirectory(prefix: "minirun-seccomp-store")
        defer { dir.remove() }
        let store = StateStore(root: dir.path)
        try store.reserve("c")
        let filter = (0..<16).map { UInt8($0) }
        try store.saveSeccomp("c", filter: filter, flags: 5)
        let loaded = store.loadSeccomp("c")
        #expect(loaded?.filter == filter && loaded?.flags == 5)
        #expect(store.loadSeccomp("other") == nil)
    }

    @Test(
        "damaged files are refused",
        arguments: [
            file(length: 12, filter: Array(repeating: 0, count: 12)),  // not whole instructions
            file(length: 16, filter: Array(repeating: 0, count: 8)),  // truncated
            file(length: 0, filter: []),  // empty program
            file(format: 2, length: 8, filter: Array(repeating: 0, count: 8)),  // unknown format
            file(length: 4097 * 8, filter: Array(repeating: 0, count: 4097 * 8)),  // above BPF_MAXINSNS
            Array("MKSECBPF".utf8) + Array(repeating: 0, count: 20),  // wrong magic
        ])
    func refused(_ bytes: [UInt8]) {
        #expect(StateStore.decodeSeccomp(bytes) == nil)
    }

    @Test func longestProgramAccepted() {
        let filter = Array(repeating: UInt8(1), count: 4096 * 8)
        #expect(StateStore.decodeSeccomp(Self.file(flags: 1, length: filter.count, filter: filter))?.filter == filter)
    }
}
