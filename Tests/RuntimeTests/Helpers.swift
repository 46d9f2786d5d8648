// Test helpers: temp directories, the busybox rootfs, bundles, running the minirun binary.
import Foundation
import OCISpec

@testable import Runtime

struct TemporaryDirectory {
    let path: String

    init(prefix: String = "minirun-test") throws {
        let base = FileManager.default.temporaryDirectory.path + "/\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        path = base
    }

    func symlink(_ target: String, at name: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path + "/" + name, withDestinationPath: target)
    }

    func remove() {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            print("cleanup of \(path) failed: \(error)")
        }
    }
}

/// Host facts for unit tests: no seccomp compiler needed, a fixed rlimit ceiling.
func fakeHost(hardLimit: UInt64 = 4096) -> HostFacts {
    HostFacts(
        hardLimit: { _ in hardLimit }, cgroupLayout: .hybrid, cgroupMountSources: { _ in [] },
        compileSeccomp: { _ throws(RuntimeError) in ([0, 0, 0, 0, 0, 0, 0, 0], 0) })
}

/// The `minirun spec` document, with a non-terminal process.
func defaultSpec() throws -> OCI.Spec {
    var spec = try ConfigLoader.decode(Array(Documents.defaultSpec.utf8))
    spec.process?.terminal = false
    return spec
}

enum Fixtures {
    /// One busybox rootfs per test process, built by scripts/make-busybox-rootfs.sh (no downloads).
    static let rootfs: String? = {
        let dest = FileManager.default.temporaryDirectory.path + "/minirun-busybox-\(getpid())"
        let script = packageRoot + "/scripts/make-busybox-rootfs.sh"
        guard let result = try? Shell.run(["/bin/bash", script, dest]), result.status == 0 else { return nil }
        return dest
    }()

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The minirun binary next to the test bundle (swift build --build-tests builds it).
    static let minirun: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while url.path != "/" {
            let candidate = url.path + "/minirun"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            url.deleteLastPathComponent()
        }
        return packageRoot + "/.build/debug/minirun"
    }()

    static var isRoot: Bool { getuid() == 0 }
    static var canRunContainers: Bool { isRoot && rootfs != nil && FileManager.default.isExecutableFile(atPath: minirun) }
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Shell {
    /// Output goes to temp files, not pipes: a created container inherits them and would keep a pipe open.
    static func run(_ args: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: args[0])
        process.arguments = Array(args.dropFirst())
        let base = FileManager.default.temporaryDirectory.path + "/minirun-out-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: base + ".out")
            try? FileManager.default.removeItem(atPath: base + ".err")
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return CommandResult(
            status: process.terminationStatus, stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
    }
}

/// A bundle (config.json pointing at the shared rootfs) and a private state root.
struct TestBundle {
    let dir: TemporaryDirectory
    let root: String
    var spec: OCI.Spec

    init(args: [String], configure: (inout OCI.Spec) -> Void = { _ in }) throws {
        dir = try TemporaryDirectory(prefix: "minirun-bundle")
        root = dir.path + "/state"
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: Fixtures.rootfs ?? "/nonexistent", readonly: true)
        spec.process?.args = args
        spec.hostname = "minirun-test"
        // Relative: under the test process's own cgroup, never elsewhere.
        spec.linux?.cgroupsPath = "minirun-test-\(UUID().uuidString.prefix(8))"
        configure(&spec)
        self.spec = spec
        try write()
    }

    func write() throws {
        let encoder = JSONEncoder()
        try encoder.encode(spec).write(to: URL(fileURLWithPath: dir.path + "/config.json"))
    }

    func minirun(_ args: [String]) throws -> CommandResult {
        try Shell.run([Fixtures.minirun, "--root", root] + args)
    }

    func state(_ id: String) throws -> [String: Any] {
        let result = try minirun(["state", id])
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return object as? [String: Any] ?? [:]
    }

    func cleanup(ids: [String] = []) {
        for id in ids { _ = try? minirun(["delete", "--force", id]) }
        dir.remove()
    }
}
