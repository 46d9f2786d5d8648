// OCI runtime-spec `linux` section (config-linux.md).

extension OCI {
    public struct Linux: Codable, Sendable, Equatable {
        public var uidMappings: [IDMapping]?
        public var gidMappings: [IDMapping]?
        public var sysctl: [String: String]?
        public var resources: Resources?
        public var cgroupsPath: String?
        public var namespaces: [Namespace]?
        public var devices: [Device]?
        public var seccomp: Seccomp?
        /// `shared`, `slave`, `private` or `unbindable`.
        public var rootfsPropagation: String?
        public var maskedPaths: [String]?
        public var readonlyPaths: [String]?
        public var mountLabel: String?
        public var personality: Personality?

        public init(
            uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil, sysctl: [String: String]? = nil,
            resources: Resources? = nil, cgroupsPath: String? = nil, namespaces: [Namespace]? = nil, devices: [Device]? = nil,
            seccomp: Seccomp? = nil, rootfsPropagation: String? = nil, maskedPaths: [String]? = nil, readonlyPaths: [String]? = nil,
            mountLabel: String? = nil, personality: Personality? = nil
        ) {
            self.uidMappings = uidMappings
            self.gidMappings = gidMappings
            self.sysctl = sysctl
            self.resources = resources
            self.cgroupsPath = cgroupsPath
            self.namespaces = namespaces
            self.devices = devices
            self.seccomp = seccomp
            self.rootfsPropagation = rootfsPropagation
            self.maskedPaths = maskedPaths
            self.readonlyPaths = readonlyPaths
            self.mountLabel = mountLabel
            self.personality = personality
        }
    }

    public struct IDMapping: Codable, Sendable, Equatable {
        public var containerID: UInt32
        public var hostID: UInt32
        public var size: UInt32

        public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
            self.containerID = containerID
            self.hostID = hostID
            self.size = size
        }
    }

    /// `type` is one of `pid`, `network`, `mount`, `ipc`, `uts`, `user`, `cgroup`, `time`; validated by the runtime
    /// so that an unknown type gets an error naming the field rather than a decoding failure.
    public struct Namespace: Codable, Sendable, Equatable {
        public var type: String
        public var path: String?

        public init(type: String, path: String? = nil) {
            self.type = type
            self.path = path
        }
    }

    public struct Device: Codable, Sendable, Equatable {
        public var path: String
        /// `c`, `b`, `u` or `p`.
        public var type: String
        public var major: Int64
        public var minor: Int64
        public var fileMode: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?

        public init(path: String, type: String, major: Int64, minor: Int64, fileMode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
            self.path = path
            self.type = type
            self.major = major
            self.minor = minor
            self.fileMode = fileMode
            self.uid = uid
            self.gid = gid
        }
    }

    public struct Personality: Codable, Sendable, Equatable {
        public var domain: String
        public var flags: [String]?
    }

    public struct Resources: Codable, Sendable, Equatable {
        public var devices: [DeviceCgroup]?
        public var memory: Memory?
        public var cpu: CPU?
        public var pids: Pids?
        public var unified: [String: String]?

        public init(devices: [DeviceCgroup]? = nil, memory: Memory? = nil, cpu: CPU? = nil, pids: Pids? = nil, unified: [String: String]? = nil) {
            self.devices = devices
            self.memory = memory
            self.cpu = cpu
            self.pids = pids
            self.unified = unified
        }
    }

    public struct DeviceCgroup: Codable, Sendable, Equatable {
        public var allow: Bool
        public var type: String?
        public var major: Int64?
        public var minor: Int64?
        public var access: String?

        public init(allow: Bool, type: String? = nil, major: Int64? = nil, minor: Int64? = nil, access: String? = nil) {
            self.allow = allow
            self.type = type
            self.major = major
            self.minor = minor
            self.access = access
        }
    }

    public struct Memory: Codable, Sendable, Equatable {
        public var limit: Int64?
        public var reservation: Int64?
        public var swap: Int64?
        public var kernel: Int64?
        public var kernelTCP: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?

        public init(
            limit: Int64? = nil, reservation: Int64? = nil, swap: Int64? = nil, kernel: Int64? = nil, kernelTCP: Int64? = nil,
            swappiness: UInt64? = nil, disableOOMKiller: Bool? = nil
        ) {
            self.limit = limit
            self.reservation = reservation
            self.swap = swap
            self.kernel = kernel
            self.kernelTCP = kernelTCP
            self.swappiness = swappiness
            self.disableOOMKiller = disableOOMKiller
        }
    }

    public struct CPU: Codable, Sendable, Equatable {
        public var shares: UInt64?
        public var quota: Int64?
        public var burst: UInt64?
        public var period: UInt64?
        public var realtimeRuntime: Int64?
        public var realtimePeriod: UInt64?
        public var cpus: String?
        public var mems: String?
        public var idle: Int64?

        public init(
            shares: UInt64? = nil, quota: Int64? = nil, burst: UInt64? = nil, period: UInt64? = nil, realtimeRuntime: Int64? = nil,
            realtimePeriod: UInt64? = nil, cpus: String? = nil, mems: String? = nil, idle: Int64? = nil
        ) {
            self.shares = shares
            self.quota = quota
            self.burst = burst
            self.period = period
            self.realtimeRuntime = realtimeRuntime
            self.realtimePeriod = realtimePeriod
            self.cpus = cpus
            self.mems = mems
            self.idle = idle
        }
    }

    public struct Pids: Codable, Sendable, Equatable {
        public var limit: Int64?
        public init(limit: Int64?) { self.limit = limit }
    }

    /// The OCI seccomp object. Actions are `SCMP_ACT_*` strings; arches `SCMP_ARCH_*`; ops `SCMP_CMP_*`.
    public struct Seccomp: Codable, Sendable, Equatable {
        public var defaultAction: String
        public var defaultErrnoRet: UInt32?
        public var architectures: [String]?
        public var flags: [String]?
        public var listenerPath: String?
        public var listenerMetadata: String?
        public var syscalls: [Syscall]?

        public init(
            defaultAction: String, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil, flags: [String]? = nil,
            listenerPath: String? = nil, listenerMetadata: String? = nil, syscalls: [Syscall]? = nil
        ) {
            self.defaultAction = defaultAction
            self.defaultErrnoRet = defaultErrnoRet
            self.architectures = architectures
            self.flags = flags
            self.listenerPath = listenerPath
            self.listenerMetadata = listenerMetadata
            self.syscalls = syscalls
        }
    }

    public struct Syscall: Codable, Sendable, Equatable {
        public var names: [String]
        public var action: String
        public var errnoRet: UInt32?
        public var args: [SeccompArg]?

        public init(names: [String], action: String, errnoRet: UInt32? = nil, args: [SeccompArg]? = nil) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
        }
    }

    public struct SeccompArg: Codable, Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: String

        public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: String) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }
    }
}
