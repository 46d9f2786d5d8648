import CLibcap
import Glibc
import OCISpec

/// A Linux capability from the closed kernel vocabulary (capabilities(7)), numbered as in
/// `<linux/capability.h>`.
///
/// Names are parsed from our own table rather than libcap's `cap_from_name`: the table is the kernel ABI (numbers
/// never change), so parsing gives the same answer on every host whatever libcap version is installed, and it
/// rejects the numeric forms (`"12"`) and `cap_`-lowercase spellings libcap would accept as-is. libcap is still
/// used for the host's highest capability when `/proc` is unavailable (`Capabilities.lastCap`).
public struct CapabilityName: Sendable, Hashable, CustomStringConvertible, Comparable {
    /// The capability number (bit index in the kernel masks).
    public let value: Int

    /// Accepts `CAP_NET_RAW` or `NET_RAW`, case-insensitively. Nil for anything else.
    public init?(rawValue: String) {
        var name = rawValue.uppercased()
        if name.hasPrefix("CAP_") { name.removeFirst(4) }
        guard let index = CapabilityName.table.firstIndex(of: name) else { return nil }
        self.value = index
    }

    /// A capability by number; nil beyond the names this build knows.
    public init?(value: Int) {
        guard CapabilityName.table.indices.contains(value) else { return nil }
        self.value = value
    }

    /// `CAP_NET_RAW`: the runtime-spec spelling.
    public var rawValue: String { "CAP_" + CapabilityName.table[value] }
    /// `NET_RAW`: the Kubernetes API spelling.
    public var kubernetesName: String { CapabilityName.table[value] }
    public var description: String { rawValue }
    public var bit: UInt64 { UInt64(1) << UInt64(value) }

    public static func < (lhs: CapabilityName, rhs: CapabilityName) -> Bool { lhs.value < rhs.value }

    /// Every capability this build knows, in number order (0 ... 40, Linux 5.9+).
    public static var all: [CapabilityName] { table.indices.compactMap { CapabilityName(value: $0) } }

    /// Kernel capability numbers 0...40 (`CAP_LAST_CAP` = `CAP_CHECKPOINT_RESTORE` since Linux 5.9).
    static let table: [String] = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",  // 0-7
        "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",  // 8-13
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",  // 14-20
        "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",  // 21-27
        "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",  // 28-34
        "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",  // 35-40
    ]
}

/// Capability masks for `capset(2)` / `PR_CAPBSET_DROP` / `PR_CAP_AMBIENT_RAISE`, computed before the fork.
public enum Capabilities {
    /// The 64-bit mask of `names`. An unknown name throws with `field[i]` and the name.
    /// Names the build knows but the host kernel does not (above `lastCap`) are kept; the runtime masks them with
    /// `supportedMask` (runc warns and ignores those, so does minirun).
    public static func mask(of names: [String], field: String) throws(SecurityError) -> UInt64 {
        var mask: UInt64 = 0
        for (i, name) in names.enumerated() {
            guard let cap = CapabilityName(rawValue: name) else {
                throw SecurityError(field: "\(field)[\(i)]", "unknown capability \"\(name)\"")
            }
            mask |= cap.bit
        }
        return mask
    }

    /// The names (`CAP_` form, number order) of the bits set in `mask`. Bits without a known name are reported as
    /// `CAP_<number>`.
    public static func names(of mask: UInt64) -> [String] {
        (0..<64).compactMap { bit -> String? in
            guard mask & (UInt64(1) << UInt64(bit)) != 0 else { return nil }
            return CapabilityName(value: bit)?.rawValue ?? "CAP_\(bit)"
        }
    }

    /// The highest capability number the running kernel supports: `/proc/sys/kernel/cap_last_cap`, falling back
    /// to libcap's probe (`cap_max_bits() - 1`) when `/proc` cannot be read. Read once per process.
    public static var lastCap: Int { cachedLastCap }

    /// Bits 0...lastCap.
    public static var supportedMask: UInt64 {
        lastCap >= 63 ? UInt64.max : (UInt64(1) << UInt64(lastCap + 1)) - 1
    }

    private static let cachedLastCap: Int = {
        if let value = readProcLastCap() { return value }
        return Int(cap_max_bits()) - 1
    }()

    private static func readProcLastCap() -> Int? {
        let fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        return text.split(whereSeparator: { $0.isWhitespace }).first.flatMap { Int($0) }
    }

    /// Kubernetes `securityContext.capabilities` resolution, as containerd's CRI plugin does it
    /// (runtime.md §2.4): `add: ["ALL"]` first (every known capability), then `drop: ["ALL"]` (empty), then the
    /// individual adds, then the individual drops. Inputs are Kubernetes names (`NET_ADMIN`; a `CAP_` prefix and
    /// any case are tolerated); `defaults` are the runtime defaults in either spelling. The result is in runtime-spec
    /// spelling (`CAP_NET_ADMIN`), in capability-number order, without duplicates. Unknown names are kept
    /// (upper-cased, `CAP_`-prefixed) so that `mask(of:field:)` reports them with the config.json field.
    public static func resolveKubernetes(add: [String], drop: [String], defaults: [String]) -> [String] {
        func normalize(_ name: String) -> String {
            let upper = name.uppercased()
            return upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
        }
        func isAll(_ name: String) -> Bool { name.uppercased() == "ALL" || name.uppercased() == "CAP_ALL" }

        var set: [String] = defaults.map(normalize)
        if add.contains(where: isAll) { set = CapabilityName.all.map(\.rawValue) }
        if drop.contains(where: isAll) { set = [] }
        for name in add where !isAll(name) { set.append(normalize(name)) }
        let dropped = Set(drop.filter { !isAll($0) }.map(normalize))
        set.removeAll { dropped.contains($0) }

        var seen = Set<String>()
        let unique = set.filter { seen.insert($0).inserted }
        return unique.sorted { a, b in
            switch (CapabilityName(rawValue: a), CapabilityName(rawValue: b)) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a < b
            }
        }
    }
}

/// The five capability sets of `process.capabilities` as kernel masks, computed before the fork.
public struct CapabilitySets: Sendable, Equatable {
    public var bounding: UInt64
    public var effective: UInt64
    public var inheritable: UInt64
    public var permitted: UInt64
    public var ambient: UInt64

    public init(bounding: UInt64 = 0, effective: UInt64 = 0, inheritable: UInt64 = 0, permitted: UInt64 = 0, ambient: UInt64 = 0) {
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
    }

    /// Parses the five sets; an absent set (or absent `process.capabilities`) is empty, as in runc.
    /// Errors name the set and index: `process.capabilities.bounding[3]: unknown capability "CAP_FOO"`.
    public init(_ caps: OCI.Capabilities?, field: String = "process.capabilities") throws(SecurityError) {
        self.init()
        guard let caps else { return }
        bounding = try Capabilities.mask(of: caps.bounding ?? [], field: field + ".bounding")
        effective = try Capabilities.mask(of: caps.effective ?? [], field: field + ".effective")
        inheritable = try Capabilities.mask(of: caps.inheritable ?? [], field: field + ".inheritable")
        permitted = try Capabilities.mask(of: caps.permitted ?? [], field: field + ".permitted")
        ambient = try Capabilities.mask(of: caps.ambient ?? [], field: field + ".ambient")
    }

    /// Each set intersected with `mask` (typically `Capabilities.supportedMask`).
    public func masked(by mask: UInt64) -> CapabilitySets {
        CapabilitySets(
            bounding: bounding & mask, effective: effective & mask, inheritable: inheritable & mask,
            permitted: permitted & mask, ambient: ambient & mask)
    }
}
