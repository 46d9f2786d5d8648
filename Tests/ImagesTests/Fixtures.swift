import Foundation
import Testing

@testable import Images

/// Shell helpers, temp dirs and a docker-registry on loopback for the image tests.
enum Fixtures {
    static let repoRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let scripts = repoRoot + "/scripts/registry"

    /// Root, and the Debian tools the acceptance tests drive.
    static let registryToolsAvailable: Bool = {
        getuid() == 0 && ["docker-registry", "skopeo", "umoci", "htpasswd", "python3", "curl"].allSatisfy { tool in (try? sh("command -v \(tool)")) != nil }
    }()

    struct CommandFailed: Error, CustomStringConvertible {
        var command: String
        var status: Int32
        var output: String
        var description: String { "`\(command)` exited \(status): \(output)" }
    }

    /// Runs `command` with bash; returns stdout; throws with stderr on failure. Uses posix_spawn and
    /// waitpid directly: Foundation's `Process.waitUntilExit` can hang once the command leaves a daemon
    /// (the registry) behind.
    @discardableResult
    static func sh(_ command: String) throws -> String {
        let base = NSTemporaryDirectory() + "/images-sh-\(UUID().uuidString)"
        defer {
            unlink(base + ".out")
            unlink(base + ".err")
        }
        let wrapped = "( \(command) ) >'\(base).out' 2>'\(base).err' </dev/null"
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/bash"), strdup("-c"), strdup(wrapped), nil]
        defer { for arg in argv { free(arg) } }
        // The test process blocks and ignores signals on its threads; children must start clean, or
        // servers started in the background could not be stopped with SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let spawned = posix_spawn(&pid, "/bin/bash", nil, &attributes, argv, environ)
        guard spawned == 0 else { throw CommandFailed(command: command, status: spawned, output: "posix_spawn failed") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        guard exitCode == 0 else { throw CommandFailed(command: command, status: exitCode, output: stderr + stdout) }
        return stdout
    }

    /// A fresh temp dir, removed (with anything mounted under it unmounted) after `body`.
    static func withTempDir<T>(_ body: (String) async throws -> T) async throws -> T {
        let dir = try sh("mktemp -d /tmp/images-test.XXXXXX").trimmingCharacters(in: .whitespacesAndNewlines)
        defer {
            _ = try? sh("grep -o ' \(dir)[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l; rm -rf '\(dir)'")
        }
        return try await body(dir)
    }

    /// Builds the test OCI layout (tags `busybox`, `multi`) into `dir/layout`.
    static func makeImages(_ dir: String) throws -> String {
        let layout = dir + "/layout"
        try sh("'\(scripts)/make-test-images.sh' '\(layout)'")
        return layout
    }

    /// A running registry; `stop()` kills exactly the process we started.
    struct Registry {
        let dir: String
        let port: Int
        var host: String { "127.0.0.1:\(port)" }

        static func start(_ dir: String, auth: String? = nil, tls: Bool = false) throws -> Registry {
            let out = try sh("'\(scripts)/start-registry.sh' '\(dir)' '\(auth ?? "-")' \(tls ? "tls" : "")")
            guard let port = Int(out.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CommandFailed(command: "start-registry", status: 0, output: out)
            }
            return Registry(dir: dir, port: port)
        }

        func push(_ layout: String, tag: String, as name: String, creds: String? = nil) throws {
            let credsFlag = creds.map { "--dest-creds '\($0)'" } ?? ""
            try sh("skopeo copy -q --dest-tls-verify=false \(credsFlag) oci:'\(layout)':\(tag) docker://\(host)/\(name)")
        }

        func stop() { _ = try? sh("'\(scripts)/stop-registry.sh' '\(dir)'") }
    }

    /// Starts a registry, runs `body`, always stops it.
    static func withRegistry<T>(_ dir: String, auth: String? = nil, tls: Bool = false, _ body: (Registry) async throws -> T) async throws -> T {
        let registry = try Registry.start(dir + "/registry", auth: auth, tls: tls)
        do {
            let result = try await body(registry)
            registry.stop()
            return result
        } catch {
            registry.stop()
            throw error
        }
    }

    static func listing(_ root: String) throws -> [String] {
        try sh("python3 '\(scripts)/list-tree.py' '\(root)' | sort").split(separator: "\n").map(String.init)
    }
}
