// podman drives the runtime under test through conmon, exactly as it drives runc: `run --rm` prints the
// container's output and exit code, and `run -d` + `exec` + `stop` + `rm` work.
//
// Everything stays off the host's podman state: a busybox image imported from the test rootfs (no registry),
// private `--root`/`--runroot`/`--tmpdir`, the vfs storage driver, cgroupfs with `--cgroup-parent` inside the
// test process's own cgroup, `--network=none`, file events. Host rlimits: root here lacks CAP_SYS_RESOURCE, so
// nofile and nproc are pinned to 1024 (podman's root defaults are above this host's hard limits).
// `MINIRUN_PODMAN_TRACE=1` puts an argv-logging wrapper in front of the runtime and prints what conmon/podman ran.
import Foundation
import TestSupport
import Testing

/// One isolated podman environment; `close()` removes its containers, storage and cgroups.
private final class PodmanSandbox {
    let dir: String
    let runtime: OCIRuntime
    let cgroupParent: String
    let image = "localhost/busybox:test"
    /// The argv log, when tracing.
    let traceLog: String?
    private var runtimePath: String
    /// Host paths podman creates regardless of --tmpdir (netavark's run dir); removed at close if they were not there.
    private let hostPathsBefore: [String: Bool]
    private static let hostPaths = ["/run/containers/networks", "/run/containers"]
    /// Ancestors of the parent cgroup that did not exist before (hierarchies whose own path is shallower than the
    /// parent's base, e.g. pids at `/` when memory is at `/process_api/x`); removed, deepest first, at close.
    private let createdAncestors: [String]

    init(runtime: OCIRuntime) throws {
        self.runtime = runtime
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        // Short: podman refuses a --runroot longer than 50 characters.
        dir = "/tmp/mkpm-\(tag)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard let parent = OwnCgroups.commonAbsoluteParent() else {
            throw FixtureError("the test process's cgroups are not nested (\(OwnCgroups.hierarchies())); no single --cgroup-parent fits")
        }
        cgroupParent = OwnCgroups.join(parent, "minikubelet-podman-test-\(getpid())-\(tag)")
        var ancestors: [String] = []
        for hierarchy in OwnCgroups.hierarchies() {
            var path = hierarchy.mount + (hierarchy.path == "/" ? "" : hierarchy.path)
            for component in parent.dropFirst(hierarchy.path == "/" ? 1 : hierarchy.path.count + 1).split(separator: "/") {
                path += "/" + component
                if !FileManager.default.fileExists(atPath: path) { ancestors.append(path) }
            }
        }
        createdAncestors = ancestors
        hostPathsBefore = Dictionary(uniqueKeysWithValues: Self.hostPaths.map { ($0, FileManager.default.fileExists(atPath: $0)) })
        runtimePath = runtime.path
        if ProcessInfo.processInfo.environment["MINIRUN_PODMAN_TRACE"] == "1" {
            let log = dir + "/runtime-argv.log"
            let wrapper = dir + "/runtime-trace.sh"
            try Data("#!/bin/sh\necho \"$*\" >> '\(log)'\nexec '\(runtime.path)' \"$@\"\n".utf8).write(to: URL(fileURLWithPath: wrapper))
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper)
            runtimePath = wrapper
            traceLog = log
        } else {
            traceLog = nil
        }
        do {
            let tar = dir + "/busybox.tar"
            let pack = try TestSupport.run(["tar", "-C", try Rootfs.busybox(), "-cf", tar, "."], timeout: .seconds(60))
            guard pack.succeeded else { throw FixtureError("tar: \(pack.stderr)") }
            let imported = try podman(["import", tar, image], timeout: .seconds(120))
            guard imported.succeeded else { throw FixtureError("podman import: \(imported.stderr)") }
        } catch {
            let problems = close()
            throw FixtureError("\(error)" + (problems.isEmpty ? "" : "; cleanup: \(problems)"))
        }
    }

    /// `podman <isolation flags> --runtime <runtime> args...`
    func podman(_ args: [String], timeout: Duration = .seconds(60)) throws -> CommandResult {
        let global = [
            "podman", "--root", dir + "/storage", "--runroot", dir + "/run", "--tmpdir", dir + "/tmp", "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs", "--events-backend=file", "--runtime", runtimePath,
        ]
        return try TestSupport.run(global + args, timeout: timeout)
    }

    /// Flags for `run`/`create`.
    var containerFlags: [String] {
        ["--network=none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", cgroupParent]
    }

    /// The runtime argv lines recorded so far (tracing only), with 64-hex ids and the sandbox dir shortened.
    func trace() -> String {
        guard let traceLog, let data = FileManager.default.contents(atPath: traceLog) else { return "" }
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(of: dir, with: "<sandbox>")
        return text.replacingOccurrences(of: "[0-9a-f]{64}", with: "<ctr>", options: .regularExpression)
    }

    /// Removes every container and the storage, then the cgroups podman and the runtime left under the parent.
    /// Returns leaks the caller should report (container cgroups still present after `rm`).
    func close() -> [String] {
        var problems: [String] = []
        do {
            let rm = try podman(["rm", "--all", "--force", "--time", "0"])
            if !rm.succeeded { problems.append("podman rm --all: \(rm.stderr)") }
            // Not `system reset`: for root it would also prune the host's network configs.
            let rmi = try podman(["rmi", "--all", "--force"], timeout: .seconds(120))
            if !rmi.succeeded { problems.append("podman rmi --all: \(rmi.stderr)") }
        } catch {
            problems.append("podman cleanup: \(error)")
        }
        problems += removeCgroups()
        for (path, existed) in hostPathsBefore where !existed && FileManager.default.fileExists(atPath: path) {
            // Only empty directories: anything inside belongs to some other podman.
            if rmdir(path) != 0 { problems.append("could not remove \(path) (created by podman during the test): errno \(errno)") }
        }
        removeReportingFailure(dir)
        return problems
    }

    /// Container cgroups (`libpod-*`) still under the parent are leaks; conmon's own `conmon` cgroup is expected.
    private func removeCgroups() -> [String] {
        var problems: [String] = []
        for hierarchy in OwnCgroups.hierarchies() {
            let top = hierarchy.mount + cgroupParent
            guard let children = FileManager.default.enumerator(atPath: top)?.allObjects as? [String] else { continue }
            let dirs = children.filter { !$0.contains(".") && isDirectory(top + "/" + $0) }
            for leaked in dirs where leaked.hasPrefix("libpod-") && !leaked.contains("/") {
                problems.append("container cgroup left after podman rm: \(top)/\(leaked)")
            }
            for child in dirs.sorted(by: { $0.count > $1.count }) where rmdir(top + "/" + child) != 0 && errno != ENOENT {
                problems.append("rmdir \(top)/\(child): errno \(errno)")
            }
            // ENOENT: nobody created the parent in this hierarchy (a runtime may skip name=systemd).
            if rmdir(top) != 0 && errno != ENOENT { problems.append("rmdir \(top): errno \(errno)") }
        }
        for ancestor in createdAncestors.sorted(by: { $0.count > $1.count }) where rmdir(ancestor) != 0 && errno != ENOENT {
            problems.append("rmdir \(ancestor) (created for --cgroup-parent): errno \(errno)")
        }
        return problems
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

/// `podman run --rm` prints the container's output and returns its exit code; nothing is left behind.
private func runRemove(_ runtime: OCIRuntime) throws {
    let sandbox = try PodmanSandbox(runtime: runtime)
    defer {
        let problems = sandbox.close()
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
    let hello = try sandbox.podman(["run", "--rm"] + sandbox.containerFlags + [sandbox.image, "sh", "-c", "echo hello from busybox as $(id -u)"])
    #expect(hello.succeeded, "podman run --rm exited \(hello.status): \(hello.stderr)\n\(sandbox.trace())")
    #expect(hello.stdout == "hello from busybox as 0\n", "stdout: \(hello.stdout.debugDescription)")
    let exitCode = try sandbox.podman(["run", "--rm"] + sandbox.containerFlags + [sandbox.image, "sh", "-c", "echo bye; exit 7"])
    #expect(exitCode.status == .exited(7), "exit code not propagated: \(exitCode.status), stderr: \(exitCode.stderr)")
    #expect(exitCode.stdout == "bye\n")
    // A terminal: conmon passes `--console-socket` and expects the pty master back over it.
    let tty = try sandbox.podman(["run", "--rm", "-t"] + sandbox.containerFlags + [sandbox.image, "sh", "-c", "tty; echo tty-done"])
    #expect(tty.succeeded, "podman run -t exited \(tty.status): \(tty.stderr)\n\(sandbox.trace())")
    #expect(tty.stdout.contains("/dev/pts/0") && tty.stdout.contains("tty-done"), "run -t stdout: \(tty.stdout.debugDescription)")
    let left = try sandbox.podman(["ps", "--all", "--quiet"])
    #expect(left.succeeded && left.stdout.isEmpty, "containers left after run --rm: \(left.stdout) \(left.stderr)")
    if sandbox.traceLog != nil { print("[\(runtime.name)] runtime argv for run --rm:\n\(sandbox.trace())") }
}

/// `podman run -d`, `exec`, `stop`, `rm`.
private func detachedLifecycle(_ runtime: OCIRuntime) throws {
    let sandbox = try PodmanSandbox(runtime: runtime)
    defer {
        let problems = sandbox.close()
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
    let name = "mk-podman-\(runtime.name)"
    let started = try sandbox.podman(["run", "-d", "--name", name] + sandbox.containerFlags + [sandbox.image, "sleep", "1000"])
    try #require(started.succeeded, "podman run -d exited \(started.status): \(started.stderr)\n\(sandbox.trace())")
    let running = try sandbox.podman(["inspect", "--format", "{{.State.Status}} {{.State.Pid}}", name])
    #expect(running.stdout.hasPrefix("running "), "after run -d: \(running.stdout) \(running.stderr)")

    let exec = try sandbox.podman(["exec", name, "sh", "-c", "echo exec-ok; id -u; cat /proc/1/cmdline | tr '\\0' ' '"])
    #expect(exec.succeeded, "podman exec exited \(exec.status): \(exec.stderr)\n\(sandbox.trace())")
    #expect(exec.stdout == "exec-ok\n0\nsleep 1000 ", "exec saw: \(exec.stdout.debugDescription)")
    let execTTY = try sandbox.podman(["exec", "-t", name, "tty"])
    #expect(execTTY.succeeded && execTTY.stdout.contains("/dev/pts/"), "exec -t: \(execTTY.status) \(execTTY.stdout.debugDescription) \(execTTY.stderr)")
    let execCode = try sandbox.podman(["exec", name, "sh", "-c", "exit 3"])
    #expect(execCode.status == .exited(3), "exec exit code not propagated: \(execCode.status) \(execCode.stderr)")

    // sleep as PID 1 ignores SIGTERM: stop must escalate to SIGKILL after the timeout.
    let stop = try sandbox.podman(["stop", "--time", "1", name])
    #expect(stop.succeeded, "podman stop exited \(stop.status): \(stop.stderr)\n\(sandbox.trace())")
    let stopped = try sandbox.podman(["inspect", "--format", "{{.State.Status}}", name])
    #expect(stopped.stdout == "exited\n", "after stop: \(stopped.stdout) \(stopped.stderr)")

    let rm = try sandbox.podman(["rm", name])
    #expect(rm.succeeded, "podman rm exited \(rm.status): \(rm.stderr)\n\(sandbox.trace())")
    let left = try sandbox.podman(["ps", "--all", "--quiet"])
    #expect(left.succeeded && left.stdout.isEmpty, "containers left after rm: \(left.stdout) \(left.stderr)")
    if sandbox.traceLog != nil { print("[\(runtime.name)] runtime argv for run -d/exec/stop/rm:\n\(sandbox.trace())") }
}

@Suite("podman with runc and with the runtime under test", .serialized)
struct PodmanTests {
    /// Validates the test itself against the reference runtime.
    @Test func runRemoveWithRunc() throws { try runRemove(try OCIRuntime.runc()) }

    @Test func detachedLifecycleWithRunc() throws { try detachedLifecycle(try OCIRuntime.runc()) }

    @Test(.enabled(if: OCIRuntime.underTest.runtime != nil, Comment(rawValue: OCIRuntime.underTest.unavailableReason)))
    func runRemoveWithRuntimeUnderTest() throws {
        try runRemove(try #require(OCIRuntime.underTest.runtime))
    }

    @Test(.enabled(if: OCIRuntime.underTest.runtime != nil, Comment(rawValue: OCIRuntime.underTest.unavailableReason)))
    func detachedLifecycleWithRuntimeUnderTest() throws {
        try detachedLifecycle(try #require(OCIRuntime.underTest.runtime))
    }
}
