// Operations shared by the v1 and v2 managers: joining, listing, killing, removing.
import Glibc

enum CgroupProcs {
    /// Writes `pid` to `<dir>/cgroup.procs`. EINVAL means the task is still in TASK_NEW right after clone;
    /// it becomes movable within milliseconds, so retry a few times (as runc does).
    static func add(_ pid: Int32, to dir: String) throws(CgroupError) {
        let file = joinPath(dir, "cgroup.procs")
        var attempt = 0
        while true {
            do throws(CgroupError) {
                try CgroupFS.write(file, String(pid))
                return
            } catch {
                attempt += 1
                guard error.errno == EINVAL, attempt < 5 else { throw error }
                sleepMilliseconds(30)
            }
        }
    }

    static func list(in dir: String) throws(CgroupError) -> [Int32] {
        guard let text = try CgroupFS.readIfPresent(joinPath(dir, "cgroup.procs")) else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// SIGKILLs everything listed by `list` until it is empty. Repeats because a process may fork between the
    /// read and the kill; bounded so a cgroup we cannot empty (e.g. D-state task) yields an error, not a hang.
    static func killUntilEmpty(
        path: String, timeoutMilliseconds: Int = 5000, list: () throws(CgroupError) -> [Int32]
    ) throws(CgroupError) {
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while true {
            let pids = try list()
            if pids.isEmpty { return }
            // A caller that joined its own container cgroup by mistake must get an error, not a SIGKILL.
            if pids.contains(getpid()) {
                throw CgroupError(operation: "kill", path: path, detail: "refusing to kill: the calling process \(getpid()) is in this cgroup")
            }
            for pid in pids where pid > 0 {
                // ESRCH just means it exited meanwhile; anything else (EPERM) is worth reporting.
                if kill(pid, SIGKILL) != 0 && errno != ESRCH {
                    throw .posix("kill", path: path, value: String(pid), errno: errno)
                }
            }
            if ContinuousClock.now > deadline {
                throw CgroupError(operation: "kill", path: path, detail: "processes still present after SIGKILL: \(pids)")
            }
            sleepMilliseconds(5)
        }
    }

    /// Removes `dir` and any child cgroups below it, deepest first. EBUSY (processes still exiting) is retried
    /// for up to `timeoutMilliseconds`.
    static func removeTree(_ dir: String, timeoutMilliseconds: Int = 2000) throws(CgroupError) {
        for child in try CgroupFS.subdirectories(dir) {
            try removeTree(joinPath(dir, child), timeoutMilliseconds: timeoutMilliseconds)
        }
        let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
        while true {
            do throws(CgroupError) {
                _ = try CgroupFS.removeDirectory(dir)
                return
            } catch {
                guard error.errno == EBUSY, ContinuousClock.now < deadline else { throw error }
                sleepMilliseconds(10)
            }
        }
    }
}

/// Tracks directories made during one `create()` so a failure part-way leaves nothing behind.
struct CreatedDirectories {
    private(set) var paths: [String] = []

    mutating func make(_ path: String) throws(CgroupError) {
        if try CgroupFS.makeDirectory(path) { paths.append(path) }
    }

    /// Best-effort removal, newest first; a removal failure is appended to the original error's detail
    /// so it is not lost.
    func rollback(after original: CgroupError) -> CgroupError {
        var result = original
        for path in paths.reversed() {
            do throws(CgroupError) {
                _ = try CgroupFS.removeDirectory(path)
            } catch {
                result.detail += "; rollback also failed: \(error)"
            }
        }
        return result
    }
}
