import Foundation

/// `shareProcessNamespace: true`: one PID namespace for all the pod's containers. Unlike the net/ipc/uts
/// namespaces, a PID namespace cannot be kept by a bind mount alone: once its PID 1 exits no process can
/// enter it again. So such pods (and only they) get a holder, the role of kubelet's pause container:
/// catatonit in pause mode as PID 1, which also reaps the orphans of every container. It runs under
/// `unshare --pid --fork --kill-child` in its own session, outlives the agent like the shims do, and dies
/// with its parent when the pod is cleaned up (the parent's pid is kept in the pod's state directory).
struct SharedPIDNamespace: Sendable {
    let directory: String
    static let catatonit = "/usr/bin/catatonit"

    init(podDirectory: String) { directory = podDirectory + "/ns" }

    var pidFile: String { directory + "/pid-holder" }

    /// `/proc/<holder>/ns/pid` of the running holder, or nil.
    var path: String? { holder().map { "/proc/\($0.pid1)/ns/pid" } }

    /// The `unshare` parent and the catatonit child (the namespace's PID 1), if both still run.
    func holder() -> (parent: Int32, pid1: Int32)? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let parent = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            ProcFile.read("/proc/\(parent)/comm")?.hasPrefix("unshare") == true,
            let children = ProcFile.read("/proc/\(parent)/task/\(parent)/children"),
            let child = children.split(separator: " ").first.flatMap({ Int32($0) }),
            ProcFile.read("/proc/\(child)/comm")?.hasPrefix("catatonit") == true
        else { return nil }
        return (parent, child)
    }

    /// Starts the holder unless it runs; returns the namespace path containers join.
    func ensure() async throws(CommandError) -> String {
        if let path { return path }
        guard FileManager.default.isExecutableFile(atPath: Self.catatonit) else {
            throw CommandError(argv: [], detail: "shareProcessNamespace needs \(Self.catatonit) (Debian package catatonit) as the pod's PID 1")
        }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CommandError(argv: ["mkdir", directory], detail: "\(error)")
        }
        try? FileManager.default.removeItem(atPath: pidFile)
        // setsid -f: the holder leaves the agent's session and is not its child (nothing to reap here).
        let script = "echo $$ > \"$1\"; exec /usr/bin/unshare --pid --fork --kill-child \(Self.catatonit) -P </dev/null >/dev/null 2>&1"
        try await Command.check(["/usr/bin/setsid", "-f", "/bin/sh", "-c", script, "sh", pidFile])
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if let path { return path }
            try? await Task.sleep(for: .milliseconds(2))
        }
        throw CommandError(argv: [], detail: "the PID namespace holder (catatonit) did not start within 5 s")
    }

    /// Stops the holder (its child follows through PR_SET_PDEATHSIG). Idempotent.
    func destroy() {
        if let holder = holder() {
            kill(holder.parent, SIGKILL)
            kill(holder.pid1, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: pidFile)
    }
}
