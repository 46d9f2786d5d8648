// The per-container state directory `<root>/<id>/`: state.json (what `create` learned),
// exec.fifo (present between create and start) and seccomp.bpf (the compiled filter, for exec).
import Cgroups
import FoundationEssentials
import OCISpec

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// What `create` records about a container; the truth for every later command.
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    /// Field 22 of /proc/<pid>/stat at create time: a different value means the PID was reused.
    public var pidStartTime: UInt64
    public var bundle: String
    public var rootfs: String
    /// RFC 3339, UTC.
    public var created: String
    public var cgroupsPath: String
    public var cgroupDirectories: [String]
    /// Directories in named v1 hierarchies (name=systemd), removed by delete.
    public var namedCgroupDirectories: [String]?
    /// The layout and the mounts of `cgroupDirectories`, so that later commands restore the cgroup manager
    /// without parsing /proc/self/mountinfo. Absent in state written by an older minirun.
    public var cgroupLayout: CgroupLayout?
    public var cgroupMounts: [CgroupMountRecord]?
    public var annotations: [String: String]
    public var owner: String
    public var poststart: [OCI.Hook]?
    public var poststop: [OCI.Hook]?
}

public struct StateStore: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public func directory(_ id: String) -> String { root + "/" + id }
    public func fifoPath(_ id: String) -> String { directory(id) + "/exec.fifo" }
    func statePath(_ id: String) -> String { directory(id) + "/state.json" }
    func seccompPath(_ id: String) -> String { directory(id) + "/seccomp.bpf" }

    /// Container ids become path components: keep them to runc's alphabet.
    public static func validate(id: String) throws(RuntimeError) {
        let allowed = id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D || byte == 0x2E || byte == 0x2B
        }
        guard !id.isEmpty, allowed, !id.hasPrefix(".") else { throw RuntimeError("invalid container id \"\(id)\"") }
    }

    /// Makes the state directory; fails if the id is taken.
    public func reserve(_ id: String) throws(RuntimeError) {
        try FileSystem.makeDirectories(root, mode: 0o711)
        guard mkdir(directory(id), 0o711) == 0 else {
            let code = currentErrno()
            if code == EEXIST { throw RuntimeError("container \"\(id)\" already exists") }
            throw .system("mkdir", directory(id), errno: code)
        }
    }

    public func save(_ record: ContainerRecord) throws(RuntimeError) {
        let bytes: [UInt8]
        do {
            bytes = Array(try JSONEncoder().encode(record))
        } catch {
            throw RuntimeError("encode state: \(error)")
        }
        try FileSystem.writeAtomically(statePath(record.id), bytes)
    }

    public func load(_ id: String) throws(RuntimeError) -> ContainerRecord {
        guard FileSystem.exists(directory(id)) else { throw RuntimeError("container \"\(id)\" does not exist") }
        let bytes: [UInt8]
        do {
            bytes = try FileSystem.read(statePath(id))
        } catch {
            throw RuntimeError("container \"\(id)\" is still being created or its state is missing")
        }
        do {
            return try JSONDecoder().decode(ContainerRecord.self, from: Data(bytes))
        } catch {
            throw RuntimeError("container \"\(id)\": corrupt state.json")
        }
    }

    /// The container's compiled seccomp filter, stored by create: linux.seccomp is the same for every process of
    /// the container, so exec loads it instead of compiling the profile again (libseccomp was a quarter of the CPU
    /// of an exec). Root-only, like the profile's choice of what the container may do.
    /// Layout: magic, u32 format version, u32 flags, u32 filter length, filter (host byte order).
    public func saveSeccomp(_ id: String, filter: [UInt8], flags: UInt32) throws(RuntimeError) {
        var bytes = Self.seccompMagic
        for value in [Self.seccompFormat, flags, UInt32(filter.count)] {
            withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
        }
        bytes += filter
        try FileSystem.writeAtomically(seccompPath(id), bytes, mode: 0o600)
    }

    /// The stored filter, or nil when there is none or it is not a valid program (a container created by an older
    /// minirun, a damaged file): the caller compiles the profile then.
    public func loadSeccomp(_ id: String) -> (filter: [UInt8], flags: UInt32)? {
        guard let bytes = try? FileSystem.read(seccompPath(id)) else { return nil }
        return Self.decodeSeccomp(bytes)
    }

    static let seccompMagic: [UInt8] = Array("MKCTRBPF".utf8)
    static let seccompFormat: UInt32 = 1
    /// BPF_MAXINSNS: the kernel refuses longer classic BPF programs.
    static let maxInstructions = 4096
    /// sizeof(struct sock_filter).
    static let instructionSize = 8

    static func decodeSeccomp(_ bytes: [UInt8]) -> (filter: [UInt8], flags: UInt32)? {
        let header = seccompMagic.count + 12
        guard bytes.count > header, bytes.starts(with: seccompMagic) else { return nil }
        func u32(_ offset: Int) -> UInt32 {
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<(offset + 4)]) }
            return value
        }
        let base = seccompMagic.count
        let length = Int(u32(base + 8))
        guard u32(base) == seccompFormat, length == bytes.count - header, length % instructionSize == 0,
            length / instructionSize <= maxInstructions
        else { return nil }
        return (Array(bytes[header...]), u32(base + 4))
    }

    public func ids() -> [String] {
        FileSystem.list(root).filter { !$0.hasPrefix(".") && FileSystem.isDirectory(directory($0)) }.sorted()
    }

    public func remove(_ id: String) throws(RuntimeError) {
        try FileSystem.removeFlatDirectory(directory(id))
    }
}

/// Facts from /proc/<pid>/stat.
enum ProcStat {
    /// (state letter, start time) or nil if the process is gone.
    static func read(_ pid: Int32) -> (state: Character, startTime: UInt64)? {
        guard pid > 0, let text = try? FileSystem.readString("/proc/\(pid)/stat") else { return nil }
        // The command name may contain spaces and parentheses: fields start after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); start time is field 22.
        guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        return (state, start)
    }
}

/// RFC 3339 UTC time with nanoseconds, like Go's time.RFC3339Nano, without Foundation's formatters.
enum Timestamp {
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let nanos = String(spec.tv_nsec)
        let fraction = String(repeating: "0", count: max(0, 9 - nanos.count)) + nanos
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(fraction)Z"
    }
}
