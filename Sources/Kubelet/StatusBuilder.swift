import AgentStore
import Foundation
import KubeAPI

/// Computes a pod's v1 status from its container runs, as kubelet's generateAPIPodStatus / getPhase do
/// (reference kubelet.md §3.4–3.6).
struct StatusBuilder {
    var pod: Pod
    var uid: String
    var records: [ContainerRecord]
    var waiting: [String: (reason: String, message: String)]
    var sandboxReady: Bool
    var rejection: (reason: String, message: String)?
    var previous: PodStatus?
    /// `started` and `ready` per container from the probe manager (no entry: running means both).
    var probed: [String: (started: Bool, ready: Bool)] = [:]
    /// The sandbox's addresses (hostNetwork: the node's) and the node's address.
    var podIPs: [String] = []
    var hostIP = ""

    func containerStatus(_ container: Container, defaultWaiting: String) -> ContainerStatus {
        var status = ContainerStatus(name: container.name, image: container.image ?? "")
        let runs = PodWorker.runs(records, container.name)
        let current = runs.last
        let before = runs.count > 1 ? runs[runs.count - 2] : nil
        status.restartCount = Int32(current?.attempt ?? 0)
        status.imageID = current?.imageID ?? ""
        status.containerID = current.map { "minirun://\($0.id)" }
        let hold = waiting[container.name]
        if let current, current.state == .running || current.state == .creating {
            status.state = ContainerState(running: ContainerStateRunning(startedAt: current.startedAt))
            status.lastState = before.map(Self.terminated)
            // Ready when running and started, with its readiness probe (if any) at Success.
            let running = current.state == .running
            status.ready = running && (probed[container.name]?.ready ?? true)
            status.started = running && (probed[container.name]?.started ?? true)
        } else if let hold {
            status.state = ContainerState(waiting: ContainerStateWaiting(reason: hold.reason, message: hold.message))
            status.lastState = current.map(Self.terminated)
            status.started = false
        } else if let current {
            status.state = Self.terminated(current)
            status.lastState = before.map(Self.terminated)
            status.started = false
        } else {
            status.state = ContainerState(waiting: ContainerStateWaiting(reason: defaultWaiting))
            status.started = false
        }
        return status
    }

    static func terminated(_ run: ContainerRecord) -> ContainerState {
        var terminated = ContainerStateTerminated(exitCode: run.exitCode ?? 0, reason: run.reason, signal: run.signal)
        terminated.message = run.message
        terminated.startedAt = run.startedAt
        terminated.finishedAt = run.finishedAt
        terminated.containerID = "minirun://\(run.id)"
        return ContainerState(terminated: terminated)
    }

    func build() -> PodStatus {
        var status = PodStatus(phase: PodPhase.pending)
        status.qosClass = QOSClass(pod: pod).rawValue
        status.startTime = previous?.startTime ?? Date()
        if !hostIP.isEmpty {
            status.hostIP = hostIP
            status.hostIPs = [HostIP(ip: hostIP)]
        }
        if let first = podIPs.first {
            status.podIP = first
            status.podIPs = podIPs.map { PodIP(ip: $0) }
        }
        if let rejection {
            status.phase = PodPhase.failed
            status.reason = rejection.reason
            status.message = "Pod was rejected: \(rejection.message)"
            status.conditions = [PodCondition(type: "PodScheduled", status: "True")]
            return status
        }
        let inits = pod.spec.initContainers ?? []
        let hasInit = !inits.isEmpty
        status.initContainerStatuses = hasInit ? inits.map { containerStatus($0, defaultWaiting: "PodInitializing") } : nil
        status.containerStatuses = pod.spec.containers.map { containerStatus($0, defaultWaiting: hasInit ? "PodInitializing" : "ContainerCreating") }
            .sorted { $0.name < $1.name }
        status.phase = phase(status)
        status.conditions = conditions(status)
        return status
    }

    /// getPhase.
    func phase(_ status: PodStatus) -> String {
        let policy = pod.spec.restartPolicy ?? "Always"
        var pendingInit = 0
        var failedInit = 0
        for initStatus in status.initContainerStatuses ?? [] {
            let hasRun = !PodWorker.runs(records, initStatus.name).isEmpty
            if let terminated = initStatus.state?.terminated {
                if terminated.exitCode != 0 { failedInit += 1 }
            } else if let terminated = initStatus.lastState?.terminated, initStatus.state?.waiting != nil {
                if terminated.exitCode != 0 { failedInit += 1 } else { pendingInit += 1 }
            } else if initStatus.state?.running != nil || initStatus.state?.waiting != nil || !hasRun {
                pendingInit += 1
            }
        }
        var running = 0
        var stopped = 0
        var succeeded = 0
        var waitingCount = 0
        var started = false
        for container in status.containerStatuses ?? [] {
            if !PodWorker.runs(records, container.name).isEmpty { started = true }
            if container.state?.running != nil {
                running += 1
            } else if let terminated = container.state?.terminated {
                stopped += 1
                if terminated.exitCode == 0 { succeeded += 1 }
            } else if container.state?.waiting != nil {
                if let last = container.lastState?.terminated {
                    stopped += 1
                    if last.exitCode == 0 { succeeded += 1 }
                } else {
                    waitingCount += 1
                }
            }
        }
        if failedInit > 0 && policy == "Never" { return PodPhase.failed }
        if pendingInit > 0 && !started { return PodPhase.pending }
        if waitingCount > 0 { return PodPhase.pending }
        if running > 0 { return PodPhase.running }
        if stopped > 0 {
            if policy == "Always" { return PodPhase.running }
            if stopped == succeeded { return PodPhase.succeeded }
            if policy == "Never" { return PodPhase.failed }
            return PodPhase.running
        }
        return PodPhase.pending
    }

    func conditions(_ status: PodStatus) -> [PodCondition] {
        let phase = status.phase ?? PodPhase.pending
        var result: [PodCondition] = []
        result.append(PodCondition(type: "PodReadyToStartContainers", status: sandboxReady ? "True" : "False"))
        // Initialized.
        let incompleteInits = (status.initContainerStatuses ?? []).filter { $0.state?.terminated?.exitCode != 0 }.map(\.name)
        let anyStarted = pod.spec.containers.contains { !PodWorker.runs(records, $0.name).isEmpty }
        if phase == PodPhase.succeeded {
            result.append(PodCondition(type: "Initialized", status: "True", reason: "PodCompleted"))
        } else if incompleteInits.isEmpty || anyStarted {
            result.append(PodCondition(type: "Initialized", status: "True"))
        } else {
            result.append(
                PodCondition(
                    type: "Initialized", status: "False", reason: "ContainersNotInitialized",
                    message: "containers with incomplete status: [\(incompleteInits.joined(separator: " "))]"))
        }
        // Ready / ContainersReady.
        let unready = (status.containerStatuses ?? []).filter { !$0.ready }.map(\.name)
        let ready: PodCondition
        if phase == PodPhase.succeeded {
            ready = PodCondition(type: "Ready", status: "False", reason: "PodCompleted")
        } else if phase == PodPhase.failed {
            ready = PodCondition(type: "Ready", status: "False", reason: "PodFailed")
        } else if unready.isEmpty {
            ready = PodCondition(type: "Ready", status: "True")
        } else {
            ready = PodCondition(
                type: "Ready", status: "False", reason: "ContainersNotReady", message: "containers with unready status: [\(unready.joined(separator: " "))]")
        }
        result.append(ready)
        var containersReady = ready
        containersReady.type = "ContainersReady"
        result.append(containersReady)
        result.append(PodCondition(type: "PodScheduled", status: "True"))
        // lastTransitionTime changes only when the condition's status changes.
        let now = Date()
        return result.map { condition in
            var condition = condition
            let old = previous?.conditions?.first { $0.type == condition.type }
            condition.lastTransitionTime = (old?.status == condition.status ? old?.lastTransitionTime : nil) ?? now
            return condition
        }
    }
}
