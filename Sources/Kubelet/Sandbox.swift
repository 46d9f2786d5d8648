import Foundation

/// The pod-level namespaces (network, IPC, UTS) without a pause process: a short-lived `unshare(1)`
/// creates them and bind-mounts each onto a file under the pod's state directory (util-linux's
/// persistent namespaces), then exits. Containers join them by path (`linux.namespaces[].path`).
/// The bind mounts keep the namespaces alive across agent restarts; unmounting them releases them.
struct Sandbox: Sendable {
    let directory: String
    static let kinds = ["net", "ipc", "uts"]

    init(podDirectory: String) { directory = podDirectory + "/ns" }

    func path(_ kind: String) -> String { directory + "/" + kind }

    /// True when all three namespace files are mounted (the sandbox survived an agent restart).
    var isReady: Bool { Self.kinds.allSatisfy { MountTable.isMountPoint(path($0)) } }

    func create(hostname: String) async throws(CommandError) {
        if isReady { return }
        // A half-made sandbox (crash during create) is torn down and made again.
        try await destroy()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for kind in Self.kinds { _ = FileManager.default.createFile(atPath: path(kind), contents: nil) }
        } catch {
            throw CommandError(argv: ["mkdir", directory], detail: "\(error)")
        }
        // Inside the new namespaces: set the pod's hostname and bring loopback up, then exit.
        let script = "hostname \"$1\" && ip link set lo up"
        try await Command.check([
            "/usr/bin/unshare", "--net=\(path("net"))", "--ipc=\(path("ipc"))", "--uts=\(path("uts"))", "/bin/sh", "-c", script, "sh", hostname,
        ])
    }

    /// Unmounts the namespace files and removes them. Idempotent.
    func destroy() async throws(CommandError) {
        for kind in Self.kinds where MountTable.isMountPoint(path(kind)) {
            let result = try await Command.run(["/bin/umount", path(kind)])
            if !result.succeeded {
                // Busy or already gone from another view: detach so nothing pins the namespace.
                try await Command.check(["/bin/umount", "-l", path(kind)])
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Reads /proc/self/mountinfo.
enum MountTable {
    static func mountPoints() -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            return unescape(String(fields[4]))
        }
    }

    static func isMountPoint(_ path: String) -> Bool { mountPoints().contains(path) }

    /// Mount points at or below `prefix`.
    static func mounts(under prefix: String) -> [String] {
        mountPoints().filter { $0 == prefix || $0.hasPrefix(prefix + "/") }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var out = ""
        var chars = Array(text)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "\\", chars.count >= 3, let code = UInt8(String(chars.prefix(3)), radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                chars = chars.dropFirst(3)
            } else {
                out.append(c)
            }
        }
        return out
    }
}
