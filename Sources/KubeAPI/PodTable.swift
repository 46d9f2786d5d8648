import Foundation

/// One row of `kubectl get pods`: NAME READY STATUS RESTARTS AGE, computed like kubectl's printPod.
public struct PodTableRow: Hashable, Sendable {
    public var name: String
    public var ready: String
    public var status: String
    public var restarts: String
    public var age: String

    public init(name: String, ready: String, status: String, restarts: String, age: String) {
        self.name = name
        self.ready = ready
        self.status = status
        self.restarts = restarts
        self.age = age
    }

    /// Computes the row. `now` is passed in so output is testable and consistent across rows.
    public init(pod: Pod, now: Date) {
        let status = pod.status ?? PodStatus()
        let phase = status.phase ?? ""
        var reason = phase
        if let podReason = status.reason, !podReason.isEmpty { reason = podReason }
        for condition in status.conditions ?? [] where condition.type == "PodScheduled" && condition.reason == "SchedulingGated" {
            reason = "SchedulingGated"
        }
        let initSpecs = pod.spec.initContainers ?? []
        var sidecars: Set<String> = []
        for container in initSpecs where container.isRestartableInitContainer { sidecars.insert(container.name) }
        let total = pod.spec.containers.count + sidecars.count
        var readyCount = 0
        var restarts = 0
        var sidecarRestarts = 0
        var lastRestart: Date?
        var lastSidecarRestart: Date?
        func later(_ a: Date?, _ b: Date?) -> Date? {
            guard let b else { return a }
            guard let a else { return b }
            return max(a, b)
        }

        var initializing = false
        for (index, container) in (status.initContainerStatuses ?? []).enumerated() {
            restarts += Int(container.restartCount)
            let finished = container.lastState?.terminated?.finishedAt
            lastRestart = later(lastRestart, finished)
            let isSidecar = sidecars.contains(container.name)
            if isSidecar {
                sidecarRestarts += Int(container.restartCount)
                lastSidecarRestart = later(lastSidecarRestart, finished)
            }
            if let terminated = container.state?.terminated, terminated.exitCode == 0 { continue }
            if isSidecar && container.started == true {
                if container.ready { readyCount += 1 }
                continue
            }
            if let terminated = container.state?.terminated {
                if let why = terminated.reason, !why.isEmpty {
                    reason = "Init:" + why
                } else if let signal = terminated.signal, signal != 0 {
                    reason = "Init:Signal:\(signal)"
                } else {
                    reason = "Init:ExitCode:\(terminated.exitCode)"
                }
            } else if let why = container.state?.waiting?.reason, !why.isEmpty, why != "PodInitializing" {
                reason = "Init:" + why
            } else {
                reason = "Init:\(index)/\(initSpecs.count)"
            }
            initializing = true
            break
        }

        let initialized = (status.conditions ?? []).contains { $0.type == "Initialized" && $0.status == "True" }
        if !initializing || initialized {
            restarts = sidecarRestarts
            lastRestart = lastSidecarRestart
            var hasRunning = false
            for container in (status.containerStatuses ?? []).reversed() {
                restarts += Int(container.restartCount)
                lastRestart = later(lastRestart, container.lastState?.terminated?.finishedAt)
                if let why = container.state?.waiting?.reason, !why.isEmpty {
                    reason = why
                } else if let terminated = container.state?.terminated {
                    if let why = terminated.reason, !why.isEmpty {
                        reason = why
                    } else if let signal = terminated.signal, signal != 0 {
                        reason = "Signal:\(signal)"
                    } else {
                        reason = "ExitCode:\(terminated.exitCode)"
                    }
                } else if container.ready && container.state?.running != nil {
                    hasRunning = true
                    readyCount += 1
                }
            }
            // A completed container next to running ones: the pod is still running.
            if reason == "Completed" && hasRunning {
                let podReady = (status.conditions ?? []).contains { $0.type == "Ready" && $0.status == "True" }
                reason = podReady ? "Running" : "NotReady"
            }
        }

        if pod.metadata.deletionTimestamp != nil && status.reason == "NodeLost" {
            reason = "Unknown"
        } else if pod.metadata.deletionTimestamp != nil && phase != PodPhase.failed && phase != PodPhase.succeeded {
            reason = "Terminating"
        }

        var restartText = String(restarts)
        if restarts != 0, let lastRestart {
            restartText = "\(restarts) (\(HumanDuration.format(seconds: now.timeIntervalSince(lastRestart))) ago)"
        }
        let age = pod.metadata.creationTimestamp.map { HumanDuration.format(seconds: now.timeIntervalSince($0)) } ?? "<unknown>"
        self.init(name: pod.metadata.name ?? "", ready: "\(readyCount)/\(total)", status: reason, restarts: restartText, age: age)
    }
}
