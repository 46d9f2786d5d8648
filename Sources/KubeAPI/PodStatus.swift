import Foundation

/// The observed state of a pod, as the agent reports it (v1 `PodStatus`).
public struct PodStatus: Codable, Hashable, Sendable {
    public var phase: String?
    public var conditions: [PodCondition]?
    public var message: String?
    public var reason: String?
    public var hostIP: String?
    public var hostIPs: [HostIP]?
    public var podIP: String?
    public var podIPs: [PodIP]?
    public var startTime: Date?
    public var initContainerStatuses: [ContainerStatus]?
    public var containerStatuses: [ContainerStatus]?
    public var qosClass: String?
    public init(phase: String? = nil) { self.phase = phase }
}

public enum PodPhase {
    public static let pending = "Pending"
    public static let running = "Running"
    public static let succeeded = "Succeeded"
    public static let failed = "Failed"
    public static let unknown = "Unknown"
}

public struct PodCondition: Codable, Hashable, Sendable {
    public var type: String
    /// `True`, `False` or `Unknown`.
    public var status: String
    public var lastProbeTime: Date?
    public var lastTransitionTime: Date?
    public var reason: String?
    public var message: String?
    public init(type: String, status: String, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }
}

public struct HostIP: Codable, Hashable, Sendable {
    public var ip: String
    public init(ip: String) { self.ip = ip }
}

public struct PodIP: Codable, Hashable, Sendable {
    public var ip: String
    public init(ip: String) { self.ip = ip }
}

public struct ContainerStatus: Codable, Hashable, Sendable {
    public var name: String
    public var state: ContainerState?
    public var lastState: ContainerState?
    public var ready: Bool = false
    public var restartCount: Int32 = 0
    public var image: String = ""
    public var imageID: String = ""
    public var containerID: String?
    public var started: Bool?
    public init(name: String, image: String = "") {
        self.name = name
        self.image = image
    }
}

/// At most one of the three is set.
public struct ContainerState: Codable, Hashable, Sendable {
    public var waiting: ContainerStateWaiting?
    public var running: ContainerStateRunning?
    public var terminated: ContainerStateTerminated?
    public init(waiting: ContainerStateWaiting? = nil, running: ContainerStateRunning? = nil, terminated: ContainerStateTerminated? = nil) {
        self.waiting = waiting
        self.running = running
        self.terminated = terminated
    }
}

public struct ContainerStateWaiting: Codable, Hashable, Sendable {
    public var reason: String?
    public var message: String?
    public init(reason: String? = nil, message: String? = nil) {
        self.reason = reason
        self.message = message
    }
}

public struct ContainerStateRunning: Codable, Hashable, Sendable {
    public var startedAt: Date?
    public init(startedAt: Date? = nil) { self.startedAt = startedAt }
}

public struct ContainerStateTerminated: Codable, Hashable, Sendable {
    public var exitCode: Int32
    public var signal: Int32?
    public var reason: String?
    public var message: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var containerID: String?
    public init(exitCode: Int32, reason: String? = nil, signal: Int32? = nil) {
        self.exitCode = exitCode
        self.reason = reason
        self.signal = signal
    }
}
