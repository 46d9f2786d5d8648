// Helpers for the integration tests: unique cgroup names, spawning/reaping busybox, cleanup that reports.
import Glibc
import Testing

@testable import Cgroups

enum Host {
    static let busybox = "/bin/busybox"

    static var isRoot: Bool { geteuid() == 0 }

    static var layout: CgroupLayout { detectCgroupLayout() }

    /// A name no other test (or engineer) uses; relative, so it lands under this process's own cgroup.
    static func uniqueName(_ label: String) -> String {
        "minikubelet-cgtest-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// posix_spawn with stdin from /dev/null and stdout/stderr to `output` (or /dev/null).
    static func spawn(_ args: [String], output: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, args[0], &actions, nil, argv, environ)
        guard rc == 0 else { throw SpawnError(message: "posix_spawn \(args): errno \(rc)") }
        return pid
    }

    /// A shell that first joins every directory of `manager` (so the workload starts inside), then execs `command`.
    static func spawnInside(_ manager: any CgroupManager, command: String, output: String = "/dev/null") throws -> pid_t {
        let procs = manager.directories.map { "\($0)/cgroup.procs" }.joined(separator: " ")
        let script = "for f in \(procs); do echo $$ > $f || exit 99; done; exec \(command)"
        return try spawn([busybox, "sh", "-c", script], output: output)
    }

    enum Exit: Equatable {
        case code(Int32)
        case signal(Int32)
        case stillRunning
    }

    /// Reaps `pid`, waiting up to `timeoutMilliseconds`.
    static func wait(_ pid: pid_t, timeoutMilliseconds: Int = 10_000) -> Exit {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid {
                let signal = status & 0x7f
                return signal == 0 ? .code((status >> 8) & 0xff) : .signal(signal)
            }
            if rc < 0 { return .code(-1) }
            usleep(10_000)
        }
        return .stillRunning
    }

    /// Polls `condition` every 10 ms for up to `timeoutMilliseconds`.
    static func eventually(timeoutMilliseconds: Int = 5000, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func read(_ path: String) throws -> String {
        try CgroupFS.read(path).trimmingWhitespace()
    }

    /// Kills, reaps and removes everything; failures become test issues rather than being swallowed.
    static func cleanup(_ manager: any CgroupManager, reaping pids: [pid_t] = [], extraDirectories: [String] = []) {
        do {
            try manager.killAll()
        } catch {
            Issue.record("cleanup killAll: \(error)")
        }
        for pid in pids where wait(pid, timeoutMilliseconds: 5000) == .stillRunning {
            Issue.record("child \(pid) did not exit")
        }
        do {
            try manager.destroy()
        } catch {
            Issue.record("cleanup destroy: \(error)")
        }
        for dir in extraDirectories {
            do {
                try CgroupProcs.removeTree(dir)
            } catch {
                Issue.record("cleanup \(dir): \(error)")
            }
        }
        for dir in manager.directories + extraDirectories where exists(dir) {
            Issue.record("left behind: \(dir)")
        }
    }
}

struct SpawnError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
