// Integration tests of minirun-shim (Sources/minirun-shim/main.c) against a real OCI runtime.
// The runtime is $MINIRUN_TEST_RUNTIME, else the built `minirun` when it works, else runc.
// Needs root (containers, cgroups). Each test uses its own bundle, runtime --root and a relative
// cgroupsPath, so its cgroup lands under the test process's own cgroup.
import Foundation
import Glibc
import TestSupport
import Testing

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct ShimTests {
    /// Acceptance: the container outlives a SIGKILLed launcher, its output lands in the CRI log,
    /// and its exit code is recorded.
    @Test func containerSurvivesSIGKILLOfLauncherAndRecordsExit() throws {
        let fx = try ShimFixture(args: ["sh", "-c", "echo out; echo err >&2; while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3"])
        defer { fx.cleanUp() }
        // The launcher stands for the agent: it starts the shim and keeps running until killed,
        // with the whole process group, by SIGKILL.
        let launcher = try spawn(["/bin/sh", "-c", "\"$@\"; sleep 600", "sh"] + fx.shimArgv())
        let pid = try #require(try fx.waitForPidFile())
        launcher.kill(SIGKILL, group: true)
        let ended = try launcher.wait(timeout: .seconds(10))
        #expect(ended.status == .signaled(SIGKILL))

        #expect(try fx.runtimeStatus() == "running")
        #expect(kill(pid, 0) == 0, "container init \(pid) is gone")
        #expect(
            try waitUntil(timeout: .seconds(10)) {
                let recs = try fx.records()
                return recs.contains(CRIRecord(stream: "stdout", tag: "F", content: "out"))
                    && recs.contains(CRIRecord(stream: "stderr", tag: "F", content: "err"))
            }, "log: \(fx.logText())")

        try fx.allowExit()
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.exitCode == 3)
        #expect(exit.signal == 0)
        #expect(exit.pid == pid)
        #expect(exit.oomKilled == false)
        #expect(isRFC3339Nano(exit.finishedAt), "finishedAt \(exit.finishedAt)")
        let recs = try fx.records()
        #expect(recs == [CRIRecord(stream: "stdout", tag: "F", content: "out"), CRIRecord(stream: "stderr", tag: "F", content: "err")])
    }

    /// The launcher (the shim's own foreground process) is SIGKILLed between `create` and
    /// `start`, before it could print the pid: the shim still starts and supervises the container.
    @Test func containerSurvivesSIGKILLOfLauncherBeforeItReports() throws {
        let fx = try ShimFixture(args: ["sh", "-c", "echo started; while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 5"])
        defer { fx.cleanUp() }
        // A runtime wrapper that holds `start` back for a second opens a window to kill in.
        let wrapper = fx.dir + "/slow-start-runtime"
        try "#!/bin/sh\ncase \" $* \" in *\" start \"*) sleep 1;; esac\nexec \(fx.runtime) \"$@\"\n".write(
            toFile: wrapper, atomically: true, encoding: .utf8)
        #expect(chmod(wrapper, 0o755) == 0)
        var argv = fx.shimArgv()
        if let i = argv.firstIndex(of: "--runtime") { argv[i + 1] = wrapper }
        let launcher = try spawn(argv)
        #expect(waitUntil(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: fx.pidFile) }, "no pid file")
        launcher.kill(SIGKILL)
        let ended = try launcher.wait(timeout: .seconds(10))
        #expect(ended.status == .signaled(SIGKILL), "launcher was not killed before it reported: \(ended)")

        let pid = try #require(try fx.waitForPidFile())
        #expect(try waitUntil(timeout: .seconds(10)) { try fx.records() == [CRIRecord(stream: "stdout", tag: "F", content: "started")] })
        try fx.allowExit()
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.pid == pid)
        #expect(exit.exitCode == 5)
    }

    /// SIGTERM to the shim is ignored (it keeps supervising); SIGKILL of the container is
    /// recorded as 137 / signal 9.
    @Test func shimIgnoresSIGTERMAndRecordsSignalExit() throws {
        let fx = try ShimFixture(args: ["sleep", "600"])
        defer { fx.cleanUp() }
        let pid = try fx.launch()
        let shim = try fx.shimPid(of: pid)
        kill(shim, SIGTERM)
        usleep(300_000)
        #expect(try fx.runtimeStatus() == "running")
        #expect(processState(shim).map { $0 != "Z" } == true, "shim \(shim) died on SIGTERM")

        try run([fx.runtime] + fx.rootArgs + ["kill", fx.id, "KILL"], timeout: .seconds(30)).check()
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.exitCode == 137)
        #expect(exit.signal == 9)
        #expect(exit.oomKilled == false)
    }

    /// Lines are reassembled across writes; an over-long line is split into P records ending in
    /// F; an unterminated last chunk is written as P.
    @Test func partialAndLongLines() throws {
        let script = "printf abc; printf def; echo ghi; awk 'BEGIN { for (i = 0; i < 20000; i++) printf \"x\"; print \"\" }'; printf tail"
        let fx = try ShimFixture(args: ["sh", "-c", script])
        defer { fx.cleanUp() }
        _ = try fx.launch()
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.exitCode == 0)
        let recs = try fx.records()
        #expect(recs.map(\.tag) == ["F", "P", "F", "P"], "records: \(recs.map { "\($0.tag) \($0.content.count)" })")
        #expect(recs.first?.content == "abcdefghi")
        if recs.count == 4 {
            #expect(recs[1].content.count == 16384)
            #expect(recs[2].content.count == 20000 - 16384)
            #expect(recs[3].content == "tail")
        }
        // What a CRI reader reassembles is exactly what the container wrote.
        let text = recs.map { $0.tag == "F" ? $0.content + "\n" : $0.content }.joined()
        #expect(text == "abcdefghi\n" + String(repeating: "x", count: 20000) + "\ntail")
        #expect(recs.allSatisfy { $0.stream == "stdout" })
    }

    /// An unterminated chunk (a prompt) is logged as P after about a second without more data,
    /// while the container still runs.
    @Test func idlePartialLineIsFlushed() throws {
        let fx = try ShimFixture(args: ["sh", "-c", "printf 'prompt> '; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo yes"])
        defer { fx.cleanUp() }
        _ = try fx.launch()
        let prompt = CRIRecord(stream: "stdout", tag: "P", content: "prompt> ")
        #expect(try waitUntil(timeout: .seconds(5)) { try fx.records() == [prompt] }, "log: \(fx.logText())")
        try fx.allowExit()
        _ = try #require(try fx.waitForExitFile())
        #expect(try fx.records() == [prompt, CRIRecord(stream: "stdout", tag: "F", content: "yes")])
    }

    /// SIGHUP makes the shim reopen its log path (an external rotator renamed the file).
    @Test func sighupReopensLog() throws {
        let fx = try ShimFixture(args: ["sh", "-c", "echo before; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo after"])
        defer { fx.cleanUp() }
        let pid = try fx.launch()
        let shim = try fx.shimPid(of: pid)
        #expect(waitUntil(timeout: .seconds(5)) { fx.logText().contains("stdout F before") })
        #expect(rename(fx.logPath, fx.logPath + ".old") == 0)
        #expect(kill(shim, SIGHUP) == 0)
        #expect(waitUntil(timeout: .seconds(5)) { FileManager.default.fileExists(atPath: fx.logPath) }, "log not reopened")
        try fx.allowExit()
        _ = try #require(try fx.waitForExitFile())
        #expect(try fx.records() == [CRIRecord(stream: "stdout", tag: "F", content: "after")])
        let old = try parseCRILog(String(contentsOfFile: fx.logPath + ".old", encoding: .utf8))
        #expect(old == [CRIRecord(stream: "stdout", tag: "F", content: "before")])
    }

    /// A container killed by the OOM killer is reported with oomKilled.
    @Test func oomKillIsRecorded() throws {
        let fx = try ShimFixture(args: ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], memoryLimit: 16 << 20)
        defer { fx.cleanUp() }
        _ = try fx.launch()
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.oomKilled == true, "exit: \(exit); log: \(fx.logText())")
        #expect(exit.exitCode == 137)
        #expect(exit.signal == 9)
    }

    /// kubelet-style rotation: log, log.1, log.2 with --log-max-files 3, each within the size.
    @Test func logRotation() throws {
        let fx = try ShimFixture(args: ["sh", "-c", "i=1; while [ $i -le 40 ]; do echo line-$i-0123456789abcdef; i=$((i+1)); done"])
        defer { fx.cleanUp() }
        _ = try fx.launch(extra: ["--log-max-size", "300", "--log-max-files", "3"])
        let exit = try #require(try fx.waitForExitFile())
        #expect(exit.exitCode == 0)
        let fm = FileManager.default
        let files = [fx.logPath + ".2", fx.logPath + ".1", fx.logPath]
        for f in files {
            #expect(fm.fileExists(atPath: f), "\(f) missing")
            let size = (try? fm.attributesOfItem(atPath: f)[.size] as? Int) ?? nil
            #expect((size ?? 0) > 0 && (size ?? Int.max) <= 300, "\(f): \(String(describing: size)) bytes")
        }
        #expect(!fm.fileExists(atPath: fx.logPath + ".3"))
        // The kept files hold the newest lines, in order, ending with the last one.
        let lines = try files.flatMap { try parseCRILog(String(contentsOfFile: $0, encoding: .utf8)) }.map(\.content)
        let numbers = lines.compactMap { Int($0.split(separator: "-")[1]) }
        #expect(numbers.last == 40)
        #expect(numbers == Array((41 - numbers.count)...40), "lines: \(lines)")
    }

    /// A failing `create` is reported by the launcher (exit 1, the runtime's message) and leaves
    /// no exit file.
    @Test func createFailureIsReported() throws {
        let fx = try ShimFixture(args: ["/no/such/binary"])
        defer { fx.cleanUp() }
        let r = try run(fx.shimArgv(), timeout: .seconds(60))
        #expect(r.status == .exited(1), "\(r)")
        #expect(r.stderr.contains("create failed"), "\(r)")
        #expect(r.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fx.exitFile))
    }

    /// Benchmark: an idle shim stays under 2 MiB RSS (the reason it is written in C).
    @Test func idleShimRSSUnder2MiB() throws {
        let fx = try ShimFixture(args: ["sleep", "600"])
        defer { fx.cleanUp() }
        let pid = try fx.launch()
        let shim = try fx.shimPid(of: pid)
        usleep(200_000)
        let rssKiB = try #require(vmRSSKiB(shim))
        print("minirun-shim idle VmRSS: \(rssKiB) KiB (pid \(shim), runtime \(fx.runtime))")
        #expect(rssKiB < 2048, "VmRSS \(rssKiB) KiB; is minirun-shim linked statically (no libswiftCore)? `ldd \(shimBinary())`")
        try run([fx.runtime] + fx.rootArgs + ["kill", fx.id, "KILL"], timeout: .seconds(30)).check()
        _ = try fx.waitForExitFile()
    }
}

// MARK: - Fixture

struct ShimExit: Decodable, CustomStringConvertible {
    var pid: Int32
    var exitCode: Int32
    var signal: Int32
    var finishedAt: String
    var oomKilled: Bool
    var description: String { "pid \(pid) exitCode \(exitCode) signal \(signal) finishedAt \(finishedAt) oom \(oomKilled)" }
}

struct CRIRecord: Equatable {
    var stream: String
    var tag: String
    var content: String
}

enum ShimTestError: Error, CustomStringConvertible {
    case setup(String)
    var description: String {
        switch self {
        case .setup(let s): return s
        }
    }
}

/// One container under a shim: a temp dir holding the bundle, runtime state, log and exit file.
struct ShimFixture {
    let dir: String
    let id: String
    let runtime: String
    var bundle: String { dir + "/bundle" }
    var logPath: String { dir + "/ctr.log" }
    var exitFile: String { dir + "/exit.json" }
    var pidFile: String { dir + "/ctr.pid" }
    var rootArgs: [String] { ["--root", dir + "/state"] }

    init(args: [String], memoryLimit: Int? = nil) throws {
        runtime = testRuntime()
        id = "shimtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var template = Array("/tmp/minirun-shim-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ShimTestError.setup("mkdtemp: \(errno)") }
        dir = String(cString: made)
        do {
            try Self.makeBundle(at: dir + "/bundle", args: args, cgroupsPath: id, memoryLimit: memoryLimit)
            try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        } catch {
            do { try FileManager.default.removeItem(atPath: dir) } catch let rmError { print("cleanup: rm \(dir): \(rmError)") }
            throw error
        }
    }

    /// A busybox bundle: `runc spec` for the defaults, then the edits this host needs: no
    /// terminal, a writable rootfs, NOFILE at the current hard limit (root here cannot raise it),
    /// a relative cgroupsPath (below the test process's own cgroup).
    static func makeBundle(at bundle: String, args: [String], cgroupsPath: String, memoryLimit: Int?) throws {
        try run([repoRoot() + "/scripts/make-busybox-rootfs.sh", bundle + "/rootfs"], timeout: .seconds(60)).check()
        try run(["runc", "spec", "--bundle", bundle], timeout: .seconds(30)).check()
        var hard = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &hard)
        let argsJSON = String(decoding: try JSONSerialization.data(withJSONObject: args), as: UTF8.self)
        var filter = """
            .process.terminal = false | .root.readonly = false | .process.args = $args
            | .process.rlimits = [{"type": "RLIMIT_NOFILE", "hard": $nofile, "soft": $nofile}]
            | .linux.cgroupsPath = $cg
            """
        if let memoryLimit { filter += " | .linux.resources.memory = {\"limit\": \(memoryLimit)}" }
        let edited = try run(
            ["jq", "--argjson", "args", argsJSON, "--argjson", "nofile", "\(hard.rlim_max)", "--arg", "cg", cgroupsPath, filter, bundle + "/config.json"],
            timeout: .seconds(30)
        ).check()
        try edited.stdout.write(toFile: bundle + "/config.json", atomically: true, encoding: .utf8)
    }

    func shimArgv(extra: [String] = []) -> [String] {
        [
            shimBinary(), "--runtime", runtime, "--runtime-root", dir + "/state", "--bundle", bundle, "--id", id,
            "--log-path", logPath, "--exit-file", exitFile, "--pid-file", pidFile,
        ] + extra
    }

    /// Runs the shim synchronously, as the agent will; returns the container pid it prints.
    func launch(extra: [String] = []) throws -> pid_t {
        let r = try run(shimArgv(extra: extra), timeout: .seconds(60)).check()
        guard let pid = pid_t(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ShimTestError.setup("shim printed no pid: \(r)")
        }
        return pid
    }

    func waitForPidFile() throws -> pid_t? {
        var pid: pid_t?
        _ = waitUntil(timeout: .seconds(60)) {
            pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            // The pid file appears after `create`; the container runs once the state says so.
            return pid != nil && (try? runtimeStatus()) == "running"
        }
        return pid
    }

    func waitForExitFile(timeout: Duration = .seconds(30)) throws -> ShimExit? {
        guard waitUntil(timeout: timeout, { FileManager.default.fileExists(atPath: exitFile) }) else { return nil }
        return try JSONDecoder().decode(ShimExit.self, from: Data(contentsOf: URL(fileURLWithPath: exitFile)))
    }

    func runtimeStatus() throws -> String? {
        let r = try run([runtime] + rootArgs + ["state", id], timeout: .seconds(30))
        guard r.succeeded, let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else { return nil }
        return obj["status"] as? String
    }

    /// The shim is the container init's parent (it is the subreaper the init was reparented to).
    func shimPid(of containerPid: pid_t) throws -> pid_t {
        let status = try String(contentsOfFile: "/proc/\(containerPid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }),
            let ppid = pid_t(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
        else { throw ShimTestError.setup("no PPid for \(containerPid)") }
        return ppid
    }

    /// Lets the acceptance test's container exit (it waits for /tmp/go in its rootfs).
    func allowExit() throws {
        try "".write(toFile: bundle + "/rootfs/tmp/go", atomically: false, encoding: .utf8)
    }

    func logText() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "<no log>" }

    func records() throws -> [CRIRecord] { try parseCRILog(String(contentsOfFile: logPath, encoding: .utf8)) }

    func cleanUp() {
        do {
            let r = try run([runtime] + rootArgs + ["delete", "--force", id], timeout: .seconds(30))
            if r.succeeded && FileManager.default.fileExists(atPath: pidFile) {
                // A container was created: let its shim record the exit before its files go away.
                _ = waitUntil(timeout: .seconds(5)) { FileManager.default.fileExists(atPath: exitFile) }
            } else if !r.stderr.contains("not exist") && !r.stderr.contains("not found") {
                print("cleanup: \(runtime) delete \(id): \(r)")
            }
        } catch {
            print("cleanup: \(runtime) delete \(id): \(error)")
        }
        do { try FileManager.default.removeItem(atPath: dir) } catch { print("cleanup: rm \(dir): \(error)") }
    }
}

// MARK: - Helpers

/// Parses a CRI log, failing on any line not in the format `<RFC3339Nano> <stream> <tag> <content>`.
func parseCRILog(_ text: String) throws -> [CRIRecord] {
    var out: [CRIRecord] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, isRFC3339Nano(String(parts[0])), ["stdout", "stderr"].contains(parts[1]), ["F", "P"].contains(parts[2]) else {
            throw ShimTestError.setup("not a CRI log line: \(line.debugDescription)")
        }
        out.append(CRIRecord(stream: String(parts[1]), tag: String(parts[2]), content: parts.count == 4 ? String(parts[3]) : ""))
    }
    if let last = text.last, last != "\n" { throw ShimTestError.setup("log does not end in a newline") }
    return out
}

/// UTC RFC 3339 with nanoseconds, as the shim writes it: 2026-01-02T03:04:05.123456789Z.
func isRFC3339Nano(_ s: String) -> Bool {
    s.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$"#, options: .regularExpression) != nil
}

func processState(_ pid: pid_t) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
}

func vmRSSKiB(_ pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
}

func repoRoot() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// The build products directory: where the running test bundle lives.
func buildProductsDir() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    let exe = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    return URL(fileURLWithPath: exe).deletingLastPathComponent().path
}

/// $MINIRUN_SHIM, else the built minirun-shim next to the test bundle.
func shimBinary() -> String {
    ProcessInfo.processInfo.environment["MINIRUN_SHIM"] ?? buildProductsDir() + "/minirun-shim"
}

/// $MINIRUN_TEST_RUNTIME, else the built `minirun` if it answers `--version` like a runtime,
/// else runc.
func testRuntime() -> String {
    if let r = ProcessInfo.processInfo.environment["MINIRUN_TEST_RUNTIME"], !r.isEmpty { return r }
    let minirun = buildProductsDir() + "/minirun"
    if FileManager.default.isExecutableFile(atPath: minirun),
        let r = try? run([minirun, "--version"], timeout: .seconds(10)), r.succeeded, r.stdout.contains("version")
    {
        return minirun
    }
    return "runc"
}
