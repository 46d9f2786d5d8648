// OCI mount `options` → mount(2) flags, propagation and a data string, with runc's vocabulary.

/// mount(2) flag bits (kernel ABI values; spelled out because glibc exposes them as an anonymous enum).
public struct MountFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let readOnly = MountFlags(rawValue: 1)
    public static let noSuid = MountFlags(rawValue: 2)
    public static let noDev = MountFlags(rawValue: 4)
    public static let noExec = MountFlags(rawValue: 8)
    public static let synchronous = MountFlags(rawValue: 16)
    public static let remount = MountFlags(rawValue: 32)
    public static let mandatoryLock = MountFlags(rawValue: 64)
    public static let dirSync = MountFlags(rawValue: 128)
    public static let noAtime = MountFlags(rawValue: 1024)
    public static let noDirAtime = MountFlags(rawValue: 2048)
    public static let bind = MountFlags(rawValue: 4096)
    public static let move = MountFlags(rawValue: 8192)
    public static let recursive = MountFlags(rawValue: 16384)
    public static let unbindable = MountFlags(rawValue: 1 << 17)
    public static let privateMount = MountFlags(rawValue: 1 << 18)
    public static let slave = MountFlags(rawValue: 1 << 19)
    public static let shared = MountFlags(rawValue: 1 << 20)
    public static let relatime = MountFlags(rawValue: 1 << 21)
    public static let strictAtime = MountFlags(rawValue: 1 << 24)
    public static let lazyTime = MountFlags(rawValue: 1 << 25)

    /// The flags a bind must apply with a second MS_BIND|MS_REMOUNT call.
    static let perMount: MountFlags = [
        .readOnly, .noSuid, .noDev, .noExec, .noAtime, .noDirAtime, .relatime, .strictAtime, .synchronous, .dirSync,
        .mandatoryLock,
    ]
}

/// The parsed form of one mount's `options`.
public struct MountOptions: Sendable, Equatable {
    public var flags: MountFlags = []
    public var propagation: MountFlags = []
    /// Options the kernel receives as the data string (size=, mode=, ...), comma-joined in order.
    public var data: [String] = []
    /// `bind` or `rbind` was given.
    public var isBind: Bool { flags.contains(.bind) }

    public init(flags: MountFlags = [], propagation: MountFlags = [], data: [String] = []) {
        self.flags = flags
        self.propagation = propagation
        self.data = data
    }

    /// Options that set or clear a flag (runc's `mountFlags` table).
    private static let flagOptions: [String: (clear: Bool, flag: MountFlags)] = [
        "ro": (false, .readOnly), "rw": (true, .readOnly),
        "nosuid": (false, .noSuid), "suid": (true, .noSuid),
        "nodev": (false, .noDev), "dev": (true, .noDev),
        "noexec": (false, .noExec), "exec": (true, .noExec),
        "sync": (false, .synchronous), "async": (true, .synchronous),
        "dirsync": (false, .dirSync), "remount": (false, .remount),
        "mand": (false, .mandatoryLock), "nomand": (true, .mandatoryLock),
        "noatime": (false, .noAtime), "atime": (true, .noAtime),
        "nodiratime": (false, .noDirAtime), "diratime": (true, .noDirAtime),
        "bind": (false, .bind), "rbind": (false, [.bind, .recursive]),
        "relatime": (false, .relatime), "norelatime": (true, .relatime),
        "strictatime": (false, .strictAtime), "nostrictatime": (true, .strictAtime),
        "lazytime": (false, .lazyTime), "nolazytime": (true, .lazyTime),
        "defaults": (false, []),
    ]

    /// Propagation options (runc's `mountPropagationMapping`).
    static let propagationOptions: [String: MountFlags] = [
        "private": .privateMount, "rprivate": [.privateMount, .recursive],
        "shared": .shared, "rshared": [.shared, .recursive],
        "slave": .slave, "rslave": [.slave, .recursive],
        "unbindable": .unbindable, "runbindable": [.unbindable, .recursive],
    ]

    /// runc extensions that are not kernel options and that minirun accepts without effect.
    private static let ignored: Set<String> = ["tmpcopyup", "idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec"]

    public static func parse(_ options: [String]) -> MountOptions {
        var result = MountOptions()
        for option in options {
            if let entry = flagOptions[option] {
                if entry.clear { result.flags.remove(entry.flag) } else { result.flags.formUnion(entry.flag) }
            } else if let propagation = propagationOptions[option] {
                result.propagation = propagation
            } else if ignored.contains(option) {
                continue
            } else {
                result.data.append(option)
            }
        }
        return result
    }
}
