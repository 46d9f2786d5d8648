// minirun-selftest: the cgroup v2 and runtime checks that run inside the test VM (vm/, ARCHITECTURE.md "cgroups").
//
//   minirun-selftest [PREFIX...]      run every check (or those whose name starts with a PREFIX)
//   minirun-selftest --list           list the checks
//   minirun-selftest --check NAME     run one check in this process (used by the runner)
//
// Each check runs in its own process (this binary re-executed with --check), so a crash, a trap or a hang in one
// check is reported as that check's failure and the others still run. Output, one line per check, is the protocol
// vm/run.sh parses:
//   SELFTEST BEGIN checks=<n>
//   SELFTEST PASS <name> | SELFTEST FAIL <name>: <reason> | SELFTEST SKIP <name>: <reason>
//   SELFTEST DONE passed=<n> failed=<m> skipped=<k>
// Exit status 0 only if nothing failed.
import Glibc

struct Check: Sendable {
    let name: String
    let body: @Sendable () throws -> Outcome
}

let environmentChecks: [Check] = [
    Check(name: "vm/cgroup2-mounted") {
        // /proc/self/mounts: "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,... 0 0"; the last mount on a path wins.
        let mounts = try readTrimmed("/proc/self/mounts").split(separator: "\n").map { $0.split(separator: " ") }
        let type = mounts.last { $0.count > 2 && $0[1] == cgroupRoot }.map { String($0[2]) } ?? "nothing"
        try expect(type == "cgroup2", "\(cgroupRoot) is \(type), expected cgroup2")
        return .pass
    },
    Check(name: "vm/controllers-enabled") {
        let enabled = try readTrimmed(cgroupRoot + "/cgroup.subtree_control").split(separator: " ").map(String.init)
        for c in ["cpu", "memory", "pids", "io"] {
            try expect(enabled.contains(c), "root cgroup.subtree_control is '\(enabled.joined(separator: " "))', missing \(c)")
        }
        return .pass
    },
]

let allChecks: [Check] = environmentChecks + cgroupChecks + containerChecks + [leakCheck]

/// Child mode: run one check and print its result as the last line.
func runCheckInProcess(_ name: String) -> Int32 {
    guard let check = allChecks.first(where: { $0.name == name }) else {
        emit("RESULT FAIL no such check: \(name)")
        return 2
    }
    do {
        switch try check.body() {
        case .pass: emit("RESULT PASS")
        case .skip(let reason): emit("RESULT SKIP \(reason)")
        }
    } catch {
        emit("RESULT FAIL \(String(describing: error).replacingNewlines())")
    }
    return 0
}

extension String {
    func replacingNewlines() -> String {
        String(self.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}

/// Runner mode: each check in a child process, results in the protocol.
func runAll(filter: [String]) -> Int32 {
    let checks = allChecks.filter { c in filter.isEmpty || filter.contains { c.name.hasPrefix($0) } }
    emit("SELFTEST BEGIN checks=\(checks.count)")
    var passed = 0
    var failed = 0
    var skipped = 0
    for check in checks {
        let start = monotonicSeconds()
        let result: (status: ExitStatus, output: String)
        do {
            result = try run(["/proc/self/exe", "--check", check.name], timeout: 90)
        } catch {
            failed += 1
            emit("SELFTEST FAIL \(check.name): cannot start the check process: \(error)")
            continue
        }
        let lines = result.output.split(separator: "\n").map(String.init)
        let verdict = lines.last { $0.hasPrefix("RESULT ") }.map { String($0.dropFirst("RESULT ".count)) }
        let diagnostics = lines.filter { !$0.hasPrefix("RESULT ") }
        let seconds = monotonicSeconds() - start
        switch (verdict, result.status) {
        case (.some("PASS"), .exited(0)):
            passed += 1
            emit("SELFTEST PASS \(check.name)")
        case (.some(let v), .exited(0)) where v.hasPrefix("SKIP "):
            skipped += 1
            emit("SELFTEST SKIP \(check.name): \(v.dropFirst(5))")
        case (.some(let v), .exited(0)) where v.hasPrefix("FAIL "):
            failed += 1
            emit("SELFTEST FAIL \(check.name): \(v.dropFirst(5))")
        default:
            failed += 1
            let last = diagnostics.suffix(4).joined(separator: " | ").replacingNewlines()
            emit("SELFTEST FAIL \(check.name): check process \(result.status) without a result; output: \(last)")
        }
        if !diagnostics.isEmpty && verdict != "PASS" {
            for line in diagnostics.suffix(10) { emit("selftest:   \(check.name): \(line)") }
        }
        if seconds > 5 { emit(String("selftest: \(check.name) took \(Int(seconds * 10) / 10).\(Int(seconds * 10) % 10) s")) }
    }
    emit("SELFTEST DONE passed=\(passed) failed=\(failed) skipped=\(skipped)")
    return failed == 0 ? 0 : 1
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--check", arguments.count == 2 {
    exit(runCheckInProcess(arguments[1]))
} else if arguments.first == "--list" {
    for c in allChecks { emit(c.name) }
    exit(0)
} else if arguments.contains(where: { $0.hasPrefix("-") }) {
    emit("usage: minirun-selftest [--list | --check NAME | PREFIX...]")
    exit(2)
} else {
    exit(runAll(filter: arguments))
}
