// The public contract of the Cgroups module. The runtime converts OCI `linux.resources` into
// `CgroupResources`; managers write them in the v1 or v2 vocabulary (reference/runtime.md §3).

/// Which cgroup hierarchy layout the host uses.
public enum CgroupLayout: String, Sendable, Equatable, Codable {
    /// `/sys/fs/cgroup` is cgroup2 with controllers.
    case unified
    /// v1 controllers, cgroup2 at `/sys/fs/cgroup/unified` (process tracking only).
    case hybrid
    /// v1 controllers only.
    case legacy
}

/// Resource limits in runtime-spec units (OCI `linux.resources`), independent of the cgroup version.
public struct CgroupResources: Sendable, Equatable {
    /// Bytes; nil = unset, -1 = unlimited.
    public var memoryLimit: Int64?
    /// Bytes; memory+swap in v1 semantics (OCI); nil = unset, -1 = unlimited.
    public var memorySwap: Int64?
    /// Bytes (soft limit / memory.low).
    public var memoryReservation: Int64?
    /// v1 cpu.shares; converted to cpu.weight on v2 with the current runc/crun formula.
    public var cpuShares: UInt64?
    /// Microseconds; nil = unset, -1 = unlimited.
    public var cpuQuota: Int64?
    /// Microseconds.
    public var cpuPeriod: UInt64?
    public var cpusetCpus: String?
    public var cpusetMems: String?
    /// nil or 0 = not written (a new cgroup has no limit); < 0 = "max"; > 0 = the limit.
    /// (runc now writes "1" for 0, runtime.md §3.2; we keep 0 as "unset", as kubelet never means "one task".)
    public var pidsLimit: Int64?
    /// Raw unified (v2) key/value writes, e.g. "memory.high". Ignored on v1.
    public var unified: [String: String]
    /// v1 `memory.swappiness` (0-100); nil (or UInt64.max, Docker's -1) = not written. cgroup v2 has no
    /// per-cgroup swappiness: ignored there, as runc's fs2 manager does.
    public var memorySwappiness: UInt64?
    /// OCI `linux.resources.devices`, in order, applied to a deny-all start (so a list without a leading
    /// `a` rule is still an allow-list). Empty = the device controller is left as it is.
    /// v1: `devices.deny`/`devices.allow` writes; v2: an eBPF device program attached to the cgroup.
    public var devices: [DeviceRule]

    public init(
        memoryLimit: Int64? = nil, memorySwap: Int64? = nil, memoryReservation: Int64? = nil,
        cpuShares: UInt64? = nil, cpuQuota: Int64? = nil, cpuPeriod: UInt64? = nil,
        cpusetCpus: String? = nil, cpusetMems: String? = nil, pidsLimit: Int64? = nil,
        unified: [String: String] = [:], memorySwappiness: UInt64? = nil, devices: [DeviceRule] = []
    ) {
        self.memoryLimit = memoryLimit
        self.memorySwap = memorySwap
        self.memoryReservation = memoryReservation
        self.cpuShares = cpuShares
        self.cpuQuota = cpuQuota
        self.cpuPeriod = cpuPeriod
        self.cpusetCpus = cpusetCpus
        self.cpusetMems = cpusetMems
        self.pidsLimit = pidsLimit
        self.unified = unified
        self.memorySwappiness = memorySwappiness
        self.devices = devices
    }
}

/// Usage figures reported by `minirun events --stats` (runc's `events --stats` JSON shape is produced by the runtime).
public struct CgroupStats: Sendable, Equatable, Codable {
    public var memoryUsage: UInt64
    public var memoryLimit: UInt64?
    public var memoryMaxUsage: UInt64?
    public var cpuUsageNanos: UInt64
    public var cpuUserNanos: UInt64
    public var cpuSystemNanos: UInt64
    public var cpuThrottledPeriods: UInt64
    public var cpuThrottledNanos: UInt64
    public var pidsCurrent: UInt64
    public var pidsLimit: UInt64?
    public var oomEvents: UInt64
    public var oomKills: UInt64

    public init(
        memoryUsage: UInt64 = 0, memoryLimit: UInt64? = nil, memoryMaxUsage: UInt64? = nil, cpuUsageNanos: UInt64 = 0,
        cpuUserNanos: UInt64 = 0, cpuSystemNanos: UInt64 = 0, cpuThrottledPeriods: UInt64 = 0, cpuThrottledNanos: UInt64 = 0,
        pidsCurrent: UInt64 = 0, pidsLimit: UInt64? = nil, oomEvents: UInt64 = 0, oomKills: UInt64 = 0
    ) {
        self.memoryUsage = memoryUsage
        self.memoryLimit = memoryLimit
        self.memoryMaxUsage = memoryMaxUsage
        self.cpuUsageNanos = cpuUsageNanos
        self.cpuUserNanos = cpuUserNanos
        self.cpuSystemNanos = cpuSystemNanos
        self.cpuThrottledPeriods = cpuThrottledPeriods
        self.cpuThrottledNanos = cpuThrottledNanos
        self.pidsCurrent = pidsCurrent
        self.pidsLimit = pidsLimit
        self.oomEvents = oomEvents
        self.oomKills = oomKills
    }
}

/// One container's (or pod's) cgroup, in whichever layout the host has.
///
/// `path` is the OCI `cgroupsPath`: absolute paths are taken from the hierarchy root, relative ones are
/// placed under the calling process's own cgroup (per controller on v1). Implementations never touch
/// anything outside the cgroup(s) they create.
public protocol CgroupManager: Sendable {
    var layout: CgroupLayout { get }
    /// Creates the directories (and enables controllers in parents on v2). Idempotent.
    /// If it fails part-way, the directories this call made are removed again. For a container create use
    /// `createAndApply(_:)`, which also destroys the cgroup when writing the limits fails.
    func create() throws(CgroupError)
    /// Writes the limits. Errors name the file and the value the kernel refused.
    func apply(_ resources: CgroupResources) throws(CgroupError)
    /// Moves a process (all its threads) into the cgroup(s).
    func addProcess(_ pid: Int32) throws(CgroupError)
    /// The cgroup2 directory: the leaf on v2, the process-tracking leaf on hybrid, nil on legacy. What
    /// `clone3(CLONE_INTO_CGROUP)` takes.
    var unifiedDirectory: String? { get }
    /// The cgroup v1 directories (none on v2). A new single-threaded process can join them itself by writing
    /// "0" to their `tasks` files, which, unlike `addProcess`, skips the kernel's global migration lock.
    var v1Directories: [String] { get }
    /// PIDs currently in the cgroup (cgroup.procs).
    func processes() throws(CgroupError) -> [Int32]
    func stats() throws(CgroupError) -> CgroupStats
    /// Number of OOM kills so far (v2 memory.events oom_kill; v1 memory.oom_control oom_kill).
    func oomKillCount() throws(CgroupError) -> UInt64
    /// SIGKILLs every process in the cgroup (cgroup.kill on v2 when available, else iterate; v1 freezes first)
    /// and returns once cgroup.procs is empty (error after 5 s). The caller still reaps its own children.
    func killAll() throws(CgroupError)
    /// Removes the directories (rmdir, leaf first), after processes are gone. Missing dirs are fine.
    /// Child cgroups below the leaf are removed too; parents (e.g. the pod level) are not. EBUSY is retried for 2 s.
    func destroy() throws(CgroupError)
    /// Absolute directory paths this manager owns (one on v2, one per controller on v1 + unified on hybrid).
    var directories: [String] { get }
}

public struct CgroupError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32?
    public var detail: String
    /// The value being written, when the failing operation was a write (shown as `path=value`).
    public var value: String?

    public init(operation: String, path: String, errno: Int32? = nil, detail: String = "", value: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
        self.value = value
    }

    /// e.g. `cgroup write /sys/fs/cgroup/memory/x/memory.limit_in_bytes=1000: Device or resource busy (errno 16)`.
    public var description: String {
        var s = "cgroup \(operation) \(path)"
        if let value { s += "=\(value)" }
        if !detail.isEmpty { s += ": \(detail)" }
        if let errno { s += " (errno \(errno))" }
        return s
    }
}
