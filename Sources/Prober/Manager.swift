import KubeAPI
import NIOCore
import Synchronization

/// A wait cut short by a trigger; a trigger that comes while nobody waits ends the next wait at once. The probe
/// workers wait between ticks on it (kubelet's manualTriggerCh), with one of the probe loop's timers; the agent's pod
/// workers wait between passes on it, timed by their relist clock. A lock, not an actor: triggering and timing out
/// resume the waiter directly.
public final class WakeSignal: Sendable {
    private struct State {
        var waiter: CheckedContinuation<Bool, Never>?
        var pending = false
        var generation = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func fire() {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiter else {
                s.pending = true
                return nil
            }
            s.waiter = nil
            return w
        }
        waiter?.resume(returning: true)
    }

    /// Returns true when a trigger ended the wait, false at the timeout. `schedule(timeout, expire)` arranges for
    /// `expire` to run once `timeout` has passed (it may run later, or after a trigger: then it does nothing).
    public nonisolated(nonsending) func wait(
        timeout: Duration, schedule: (_ timeout: Duration, _ expire: @escaping @Sendable () -> Void) -> Void
    ) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let generation = state.withLock { s -> Int? in
                if s.pending {
                    s.pending = false
                    return nil
                }
                s.generation += 1
                s.waiter = continuation
                return s.generation
            }
            guard let generation else {
                continuation.resume(returning: true)
                return
            }
            schedule(timeout) { [weak self] in
                let waiter = self?.state.withLock { s -> CheckedContinuation<Bool, Never>? in
                    guard s.generation == generation, let w = s.waiter else { return nil }
                    s.waiter = nil
                    return w
                }
                waiter?.resume(returning: false)
            }
        }
    }

    /// The probe workers' wait: timed by one of the probe loop's timers (no task or Dispatch timer per wait).
    nonisolated(nonsending) func wait(timeout: Duration, timers: LoopTimers) async -> Bool {
        await wait(timeout: timeout) { timeout, expire in _ = timers.schedule(in: timeout, expire) }
    }
}

/// Hosts the probe workers of the agent's pods: one task per (pod, container, probe kind), like kubelet's
/// prober_manager. The agent gives pods (IP, containers), a status provider and an output; it asks
/// `containerStatus` for `started`/`ready` whenever it generates a pod status. The actor runs on the probe loop
/// (`ProbeLoop`), like the probes it starts; `containerStatus` does not (it reads a published copy).
public actor ProbeManager {
    /// The pod fields the probes need.
    public struct PodInfo: Sendable, Hashable {
        public var uid: String
        public var name: String
        public var namespace: String
        public var podIP: String
        public var restartPolicy: String?
        public var terminationGracePeriodSeconds: Int64?
        public init(
            uid: String, name: String, namespace: String, podIP: String, restartPolicy: String? = nil, terminationGracePeriodSeconds: Int64? = nil
        ) {
            self.uid = uid
            self.name = name
            self.namespace = namespace
            self.podIP = podIP
            self.restartPolicy = restartPolicy
            self.terminationGracePeriodSeconds = terminationGracePeriodSeconds
        }
    }

    /// What the manager tells the agent.
    public enum Output: Sendable, Hashable {
        /// A stored result changed: readiness → container ready / pod conditions; startup → started.
        case update(podUID: String, ProbeUpdate)
        /// Unhealthy / ProbeWarning events.
        case event(podUID: String, ProbeEvent)
        /// Liveness or startup failed: kill the container (Killing event text in the decision).
        case kill(podUID: String, KillDecision)
    }

    /// The runtime's view of a container at a tick; nil when the pod or container is unknown to the agent. Runs on the
    /// probe loop: it should answer without hopping elsewhere (each hop is a thread wake-up, at every tick).
    public typealias StatusProvider =
        nonisolated(nonsending) @Sendable (_ podUID: String, _ container: String) async -> (PodSnapshot, ContainerSnapshot)?

    /// Classes, not values: a tick reads and updates its container's state in place instead of copying the pod's
    /// entry (all its strings, dictionaries and tasks) out of the table and back, several times per probe.
    private final class PodEntry {
        var info: PodInfo
        var containers: [String: ContainerSlot] = [:]
        var signals: [String: WakeSignal] = [:]
        var tasks: [Task<Void, Never>] = []
        init(info: PodInfo) { self.info = info }
    }

    private final class ContainerSlot {
        var probes: ContainerProbes
        init(_ probes: ContainerProbes) { self.probes = probes }
    }

    private let loop: any EventLoop
    private let executor: any SerialExecutor
    private let taskExecutor: LoopTaskExecutor
    private let timers: LoopTimers
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let prober: Prober
    private let status: StatusProvider
    private let output: @Sendable (Output) async -> Void
    private let clock = ContinuousClock()
    private let epoch: ContinuousClock.Instant
    public nonisolated let metrics = ProbeMetrics()
    private var pods: [String: PodEntry] = [:]
    private let jitter: Bool

    /// What `containerStatus` reads: each probed container's probes as of its last stored-result change, and its
    /// readiness worker's trigger. Pod workers ask twice per container at every pass (once a second per pod); as an
    /// actor call that was a hop onto the probe loop and back each time, ~800 thread wake-ups a second for 100 pods,
    /// most of the agent's CPU with no probes at all.
    private struct StatusView: Sendable {
        var probes: ContainerProbes
        var readinessSignal: WakeSignal?
    }
    private let statusViews = Mutex<[String: [String: StatusView]]>([:])

    /// Copies a container's probes into `statusViews`; called on the actor right after its stored results change,
    /// before the change is reported, so a pod worker woken by the report reads the new value.
    private func publishStatusView(uid: String, container: String) {
        guard let entry = pods[uid], let slot = entry.containers[container] else { return }
        let view = StatusView(probes: slot.probes, readinessSignal: entry.signals["\(container)/readiness"])
        statusViews.withLock { $0[uid, default: [:]][container] = view }
    }

    /// `jitter: false` turns off the start-up jitter (tests). `loop` should be the prober's (`ProbeLoop.shared`).
    public init(
        prober: Prober, status: @escaping StatusProvider, output: @escaping @Sendable (Output) async -> Void, jitter: Bool = true,
        loop: any EventLoop = ProbeLoop.shared
    ) {
        self.loop = loop
        executor = loop.executor
        taskExecutor = LoopTaskExecutor(loop)
        timers = LoopTimers(loop: loop)
        self.jitter = jitter
        self.prober = prober
        self.status = status
        self.output = output
        epoch = clock.now
    }

    /// The manager's clock: ContainerSnapshot.startedAt must be given on it (see `timestamp(ago:)`).
    public nonisolated func now() -> Duration { clock.now - epoch }

    /// Starts the workers of a pod (regular containers and restartable init containers with probes).
    /// Jitter: like kubelet, a worker sleeps a random fraction of its period before its first probe only when the
    /// manager started less than one period ago (agent restart: spreads the probes of adopted pods); pods
    /// added later probe at once.
    public func addPod(_ info: PodInfo, containers: [Container]) {
        guard pods[info.uid] == nil else { return }
        let entry = PodEntry(info: info)
        for container in containers {
            let probes = ContainerProbes(container: container)
            guard !probes.workers.isEmpty else { continue }
            entry.containers[container.name] = ContainerSlot(probes)
            for (kind, worker) in probes.workers {
                let signal = WakeSignal()
                entry.signals["\(container.name)/\(kind.rawValue)"] = signal
                let period = worker.timing.period
                let delay = self.jitter && now() < period ? Duration.seconds(Double.random(in: 0..<1) * Double(worker.timing.periodSeconds)) : .zero
                let uid = info.uid
                let name = container.name
                entry.tasks.append(
                    Task(executorPreference: taskExecutor) {
                        await self.runWorker(uid: uid, container: name, kind: kind, period: period, delay: delay, signal: signal)
                    })
            }
        }
        pods[info.uid] = entry
        for name in entry.containers.keys { publishStatusView(uid: info.uid, container: name) }
    }

    /// One worker: kubelet's worker.run loop.
    private func runWorker(uid: String, container name: String, kind: ProbeKind, period: Duration, delay: Duration, signal: WakeSignal) async {
        if delay > .zero {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                timers.schedule(in: delay) { continuation.resume() }
            }
        }
        var scheduled = clock.now
        while !Task.isCancelled {
            guard await tick(uid: uid, container: name, kind: kind) else { return }
            // kubelet's ticker: ticks every period from its (re)start; a probe that took longer than a period drops
            // the ticks it overran instead of pushing the schedule back; a manual trigger restarts it. Counted from
            // the scheduled time, not from when the timer ran, so a late-running loop does not lengthen the periods.
            let now = clock.now
            var next = scheduled + period
            if next <= now { next += period * (Int((now - next) / period) + 1) }
            let triggered = await signal.wait(timeout: next - now, timers: timers)
            scheduled = triggered ? clock.now : next
        }
    }

    /// A new pod IP (the sandbox was recreated).
    public func updatePodIP(uid: String, podIP: String) { pods[uid]?.info.podIP = podIP }

    /// Stops the workers and forgets the results of a pod.
    public func removePod(uid: String) {
        guard let entry = pods.removeValue(forKey: uid) else { return }
        _ = statusViews.withLock { $0.removeValue(forKey: uid) }
        for task in entry.tasks { task.cancel() }
        for signal in entry.signals.values { signal.fire() }
        metrics.forget(podUID: uid)
    }

    /// Whether the pod's workers were started.
    public func hasPod(uid: String) -> Bool { pods[uid] != nil }

    /// `started` and `ready` for the container status (kubelet's UpdatePodStatus); triggers the readiness worker
    /// when it has no Success yet (so readiness is probed right after startup succeeds). Runs on the caller's
    /// executor: no hop to the probe loop.
    public nonisolated(nonsending) func containerStatus(podUID: String, container: String, running: Bool) async -> (started: Bool, ready: Bool) {
        guard let view = statusViews.withLock({ $0[podUID]?[container] }) else { return (running, running) }
        let (ready, trigger) = view.probes.ready(running: running)
        if trigger { view.readinessSignal?.fire() }
        return (view.probes.started(running: running), ready)
    }

    /// The stored results of a container (for the API's per-probe status).
    public func results(podUID: String, container: String) -> [ProbeKind: ProbeResult] {
        pods[podUID]?.containers[container]?.probes.results ?? [:]
    }

    /// Level-triggered form of the `.kill` output for the agent's pod sync (kubelet's computePodActions reads the
    /// stored liveness/startup results on every sync). `deletionGracePeriodSeconds` wins when the pod is deleted.
    public func killDecision(podUID: String, container: String, deletionGracePeriodSeconds: Int64? = nil) -> KillDecision? {
        guard let entry = pods[podUID], let probes = entry.containers[container]?.probes else { return nil }
        let info = entry.info
        return probes.killDecision(
            restartPolicy: info.restartPolicy, podGracePeriodSeconds: info.terminationGracePeriodSeconds,
            deletionGracePeriodSeconds: deletionGracePeriodSeconds)
    }

    /// One worker tick; false ends the worker.
    private func tick(uid: String, container name: String, kind: ProbeKind) async -> Bool {
        guard let entry = pods[uid], let slot = entry.containers[name] else { return false }
        guard let (podSnapshot, containerSnapshot) = await status(uid, name) else { return true }
        // The pod may have been removed (and even added again) while the status was read.
        guard pods[uid] === entry else { return false }
        let (step, updates) = slot.probes.prepare(kind, now: now(), pod: podSnapshot, container: containerSnapshot)
        if !updates.isEmpty {
            publishStatusView(uid: uid, container: name)
            await publish(uid: uid, updates)
        }
        guard step == .probe, let probe = slot.probes.workers[kind]?.probe else { return step != .stop }
        let info = entry.info
        let target = ProbeTarget(
            podIP: info.podIP, podName: info.name, namespace: info.namespace, containerBox: slot.probes.containerBox, podUID: uid,
            containerID: containerSnapshot.containerID ?? "")
        let started = clock.now
        let run = await prober.run(kind, probe, target: target)
        metrics.record(kind: kind, run: run, duration: clock.now - started, container: name, pod: info.name, namespace: info.namespace, podUID: uid)
        guard pods[uid] === entry else { return false }
        let recorded = slot.probes.record(kind, run)
        if !recorded.isEmpty { publishStatusView(uid: uid, container: name) }
        if let event = run.event { await output(.event(podUID: uid, event)) }
        if !recorded.isEmpty { await publish(uid: uid, recorded) }
        return true
    }

    private func publish(uid: String, _ updates: [ProbeUpdate]) async {
        for update in updates {
            await output(.update(podUID: uid, update))
            guard update.result == .failure, update.kind != .readiness, let info = pods[uid]?.info,
                let probes = pods[uid]?.containers[update.container]?.probes,
                let decision = probes.killDecision(restartPolicy: info.restartPolicy, podGracePeriodSeconds: info.terminationGracePeriodSeconds)
            else { continue }
            await output(.kill(podUID: uid, decision))
        }
    }
}
