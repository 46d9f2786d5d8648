// The validated, resolved form of config.json: every value the C init stage needs, computed by Swift
// before clone (ARCHITECTURE.md rule 1). Plain values, so tests can compare plans.
import Cgroups
import OCISpec

/// One mount as the C stage performs it.
public struct MountStep: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case filesystem
        case bind
        /// A directory only (no mount).
        case directory
    }
    public var kind: Kind
    public var source: String
    /// Host path before pivot_root (rootfs + destination, symlinks resolved inside the rootfs).
    public var target: String
    /// The destination inside the container.
    public var destination: String
    public var type: String
    public var flags: MountFlags
    /// Binds: flags for the MS_BIND|MS_REMOUNT pass.
    public var remountFlags: MountFlags
    public var propagation: MountFlags
    public var data: String
    public var targetIsFile = false
    /// Remounted read-only after the rootfs is complete (tmpfs that must be written first).
    public var lateReadOnly = false
    /// sysfs with the runc fallback (bind the host /sys when the kernel refuses sysfs).
    public var sysfsFallback = false
}

public struct DeviceNode: Sendable, Equatable {
    public var path: String
    public var mode: UInt32
    public var major: Int64
    public var minor: Int64
    public var uid: UInt32
    public var gid: UInt32
}

public struct Rlimit: Sendable, Equatable {
    public var resource: Int32
    public var name: String
    public var soft: UInt64
    public var hard: UInt64
}

public struct CapabilityMasks: Sendable, Equatable {
    public var bounding: UInt64 = 0
    public var effective: UInt64 = 0
    public var inheritable: UInt64 = 0
    public var permitted: UInt64 = 0
    public var ambient: UInt64 = 0
}

/// What the container's process runs as and with.
public struct ProcessPlan: Sendable, Equatable {
    public var args: [String]
    public var env: [String]
    public var cwd: String
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var umask: UInt32?
    public var noNewPrivileges: Bool
    public var capabilities: CapabilityMasks
    public var seccompFilter: [UInt8]?
    public var seccompFlags: UInt32
    public var terminal: Bool
    public var rlimits: [Rlimit]
    public var oomScoreAdj: Int?
}

/// Namespaces: created by clone, unshared later (cgroup), or joined by path.
public struct NamespacePlan: Sendable, Equatable {
    public var cloneFlags: Int32 = 0
    public var unshareFlags: Int32 = 0
    /// Paths to setns into, in join order (user first). PID is joined by the parent (see `pidPath`).
    public var joins: [(kind: NamespaceKind, path: String)] = []
    /// A PID namespace to create the child in (setns on the parent's thread before clone).
    public var pidPath: String?
    public var newUser: Bool { cloneFlags & NamespaceKind.user.cloneFlag != 0 }

    public func has(_ kind: NamespaceKind) -> Bool {
        cloneFlags & kind.cloneFlag != 0 || unshareFlags & kind.cloneFlag != 0
            || joins.contains { $0.kind == kind } || (kind == .pid && pidPath != nil)
    }

    public static func == (lhs: NamespacePlan, rhs: NamespacePlan) -> Bool {
        lhs.cloneFlags == rhs.cloneFlags && lhs.unshareFlags == rhs.unshareFlags && lhs.pidPath == rhs.pidPath
            && lhs.joins.map { "\($0.kind.name)=\($0.path)" } == rhs.joins.map { "\($0.kind.name)=\($0.path)" }
    }
}

/// The full container plan.
public struct ContainerPlan: Sendable, Equatable {
    public var bundle: String
    public var rootfs: String
    public var readonlyRoot: Bool
    public var process: ProcessPlan
    public var namespaces: NamespacePlan
    public var uidMappings: [OCI.IDMapping]
    public var gidMappings: [OCI.IDMapping]
    public var mounts: [MountStep]
    public var setupDev: Bool
    public var devices: [DeviceNode]
    public var maskedPaths: [String]
    public var readonlyPaths: [String]
    /// (/proc/sys path, value)
    public var sysctls: [(path: String, value: String)]
    public var hostname: String?
    public var domainname: String?
    public var rootPropagation: MountFlags
    public var postPivotPropagation: MountFlags
    public var cgroupsPath: String
    public var resources: CgroupResources
    public var hooks: OCI.Hooks?
    public var annotations: [String: String]

    public static func == (lhs: ContainerPlan, rhs: ContainerPlan) -> Bool {
        lhs.bundle == rhs.bundle && lhs.rootfs == rhs.rootfs && lhs.process == rhs.process && lhs.namespaces == rhs.namespaces
            && lhs.mounts == rhs.mounts && lhs.devices == rhs.devices && lhs.maskedPaths == rhs.maskedPaths
            && lhs.readonlyPaths == rhs.readonlyPaths && lhs.sysctls.map { $0.path + "=" + $0.value } == rhs.sysctls.map { $0.path + "=" + $0.value }
            && lhs.hostname == rhs.hostname && lhs.cgroupsPath == rhs.cgroupsPath && lhs.resources == rhs.resources
    }
}
