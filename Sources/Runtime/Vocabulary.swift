// Closed vocabularies of config.json: namespace types, rlimit names, device types.

/// A Linux namespace type as named in `linux.namespaces[].type`.
public struct NamespaceKind: Sendable, Hashable, CustomStringConvertible {
    /// The OCI name (`network`), the /proc/<pid>/ns entry (`net`) and the CLONE_NEW* flag.
    public let name: String
    public let procName: String
    public let cloneFlag: Int32

    public static let pid = NamespaceKind(name: "pid", procName: "pid", cloneFlag: 0x2000_0000)
    public static let network = NamespaceKind(name: "network", procName: "net", cloneFlag: 0x4000_0000)
    public static let mount = NamespaceKind(name: "mount", procName: "mnt", cloneFlag: 0x0002_0000)
    public static let ipc = NamespaceKind(name: "ipc", procName: "ipc", cloneFlag: 0x0800_0000)
    public static let uts = NamespaceKind(name: "uts", procName: "uts", cloneFlag: 0x0400_0000)
    public static let user = NamespaceKind(name: "user", procName: "user", cloneFlag: 0x1000_0000)
    public static let cgroup = NamespaceKind(name: "cgroup", procName: "cgroup", cloneFlag: 0x0200_0000)

    /// Join order for setns: user first (it grants the rights to join the others), mount last.
    public static let all: [NamespaceKind] = [.user, .pid, .ipc, .uts, .network, .cgroup, .mount]

    public init?(name: String) {
        guard let kind = NamespaceKind.all.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    private init(name: String, procName: String, cloneFlag: Int32) {
        self.name = name
        self.procName = procName
        self.cloneFlag = cloneFlag
    }

    public var description: String { name }
}

/// `RLIMIT_*` names and their resource numbers (Linux generic ABI).
public enum RlimitKind {
    public static let byName: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
        "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
        "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]
}

/// A device node type (`c`, `b`, `u`, `p`) and its S_IF* bits.
enum DeviceKind {
    static func modeBits(_ type: String) -> UInt32? {
        switch type {
        case "c", "u": return 0o020000
        case "b": return 0o060000
        case "p": return 0o010000
        default: return nil
        }
    }
}
