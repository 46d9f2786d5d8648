import CShims
import Foundation

/// The pod-level namespaces (network, IPC, UTS) without a pause process: a short-lived child of the agent
/// (CShims' `mk_sandbox_create`, raw clone, no program run) creates them, and the agent bind-mounts each onto
/// a file under the pod's state directory (util-linux's persistent namespaces), then reaps it. Containers join
/// them by path (`linux.namespaces[].path`). The bind mounts keep the namespaces alive across agent restarts;
/// unmounting them releases them.
struct Sandbox: Sendable {
    let directory: String
    static let kinds = ["net", "ipc", "uts"]
    /// hostNetwork pods join the agent's network namespace: only IPC and UTS are the pod's own.
    let hostNetwork: Bool

    init(podDirectory: String, hostNetwork: Bool = false) {
        directory = podDirectory + "/ns"
        self.hostNetwork = hostNetwork
    }

    var kinds: [String] { hostNetwork ? ["ipc", "uts"] : Self.kinds }

    func path(_ kind: String) -> String { directory + "/" + kind }

    /// True when all three namespace files are mounted (the sandbox survived an agent restart). One read of
    /// the mount table, none for a pod without a namespace directory (every new pod): with a hundred pods
    /// mountinfo has about a thousand lines, and reading it was most of a sandbox's creation time.
    var isReady: Bool {
        guard FileManager.default.fileExists(atPath: directory) else { return false }
        let mounted = Set(MountTable.mountPoints())
        return kinds.allSatisfy { mounted.contains(path($0)) }
    }

    func create(hostname: String) async throws(CommandError) {
        if isReady { return }
        // A half-made sandbox (crash during create) is torn down and made again (nothing to do for a new pod).
        try await destroy()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for kind in kinds { _ = FileManager.default.createFile(atPath: path(kind), contents: nil) }
        } catch {
            throw CommandError(argv: ["mkdir", directory], detail: "\(error)")
        }
        // Inside the new namespaces: the pod's hostname, and loopback up (the loopback plugin's job, done
        // here: the CNI network then only has to attach eth0). In-process: no unshare, sh, hostname and ip.
        var message = [CChar](repeating: 0, count: 512)
        let created = mk_sandbox_create(hostname, hostNetwork ? "" : path("net"), path("ipc"), path("uts"), &message, message.count)
        guard created == 0 else {
            let detail = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CommandError(argv: [], detail: "creating the pod's \(kinds.joined(separator: ", ")) namespaces: \(detail)")
        }
    }

    /// Unmounts the namespace files (every layer, should one have been stacked) and removes them. Idempotent.
    func destroy() async throws(CommandError) {
        // One read of the mount table: it lists each stacked layer of a namespace file once.
        let mounted = FileManager.default.fileExists(atPath: directory) ? MountTable.mountPoints() : []
        for kind in Self.kinds {
            let layers = min(mounted.filter { $0 == path(kind) }.count, 64)
            for _ in 0..<layers {
                // umount2 directly (no umount program); busy: detach so nothing pins the namespace.
                if umount2(path(kind), 0) != 0 && umount2(path(kind), Int32(MNT_DETACH)) != 0 {
                    throw CommandError(argv: ["umount", "-l", path(kind)], detail: String(cString: strerror(errno)))
                }
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Reads /proc/self/mountinfo.
enum MountTable {
    static func mountPoints() -> [String] {
        guard let text = ProcFile.read("/proc/self/mountinfo") else { return [] }
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

/// Reads a /proc file completely. Foundation's String(contentsOfFile:) trusts st_size, which is 0 for
/// /proc files, and returns only the first page: a long /proc/self/mountinfo would come back truncated.
enum ProcFile {
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The agent's own cgroup in each named v1 hierarchy (`name=systemd`), from /proc/self/cgroup and mountinfo.
enum NamedHierarchies {
    /// `<hierarchy mount><agent's path>/<relative>` for every named hierarchy.
    static func directories(relative: String) -> [String] {
        guard let cgroups = ProcFile.read("/proc/self/cgroup"), let mountinfo = ProcFile.read("/proc/self/mountinfo") else { return [] }
        var mounts: [String: String] = [:]
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count > 4, right.count >= 3, right[0] == "cgroup" else { continue }
            for option in right[2].split(separator: ",") where option.hasPrefix("name=") {
                mounts[String(option)] = MountTable.unescape(String(left[4]))
            }
        }
        var directories: [String] = []
        for line in cgroups.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[1].hasPrefix("name="), let mount = mounts[String(fields[1])] else { continue }
            let own = fields[2] == "/" ? "" : String(fields[2])
            directories.append(mount + own + "/" + relative)
        }
        return directories
    }
}
