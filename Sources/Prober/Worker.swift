import KubeAPI

/// The pod as a probe worker sees it at a tick.
public struct PodSnapshot: Sendable, Hashable {
    /// The pod has a deletionTimestamp (graceful termination in progress).
    public var terminating: Bool
    /// Phase Succeeded or Failed: workers exit.
    public var terminal: Bool
    public init(terminating: Bool = false, terminal: Bool = false) {
        self.terminating = terminating
        self.terminal = terminal
    }
}

/// The container's runtime status as a probe worker sees it at a tick. Times are on the manager's clock.
public struct ContainerSnapshot: Sendable, Hashable {
    public var containerID: String?
    public var running: Bool
    public var startedAt: Duration?
    /// Not running because it exited.
    public var terminated: Bool
    /// Will the container be restarted after it exits (restartPolicy, restartable init container)?
    public var willRestart: Bool
    public init(containerID: String?, running: Bool, startedAt: Duration? = nil, terminated: Bool = false, willRestart: Bool = true) {
        self.containerID = containerID
        self.running = running
        self.startedAt = startedAt
        self.terminated = terminated
        self.willRestart = willRestart
    }
}

/// One probe worker's state: kubelet's worker.go `doProbe`, without the goroutine.
public struct ProbeWorker: Sendable, Hashable {
    public let kind: ProbeKind
    public let probe: Probe
    public let timing: ProbeTiming
    public private(set) var containerID: String?
    public private(set) var lastResult: ProbeResult?
    public private(set) var resultRun = 0
    public private(set) var onHold = false

    public init(kind: ProbeKind, probe: Probe) {
        self.kind = kind
        self.probe = probe
        timing = ProbeTiming(probe)
    }

    /// The value stored when a new container ID is seen.
    public var initialValue: ProbeResult {
        switch kind {
        case .readiness: return .failure
        case .liveness: return .success
        case .startup: return .unknown
        }
    }

    public enum Step: Sendable, Hashable {
        /// Nothing to do this tick; keep the worker.
        case skip
        /// Run the probe now.
        case probe
        /// The worker exits.
        case stop
    }

    /// What a tick decided before (and instead of) probing.
    public struct Preparation: Sendable, Hashable {
        public var step: Step
        /// Remove the stored result of the previous container, then store `set`.
        public var removeOld = false
        /// A value to store in the results cache.
        public var set: ProbeResult?
    }

    /// The part of doProbe before the probe runs. `started` is the container's `started` as computed by
    /// `ContainerProbes.started` (startup gating).
    public mutating func prepare(now: Duration, pod: PodSnapshot, container: ContainerSnapshot, started: Bool) -> Preparation {
        if pod.terminal { return Preparation(step: .stop) }
        guard let id = container.containerID else { return Preparation(step: .skip) }
        var prep = Preparation(step: .skip)
        if containerID != id {
            prep.removeOld = containerID != nil
            containerID = id
            prep.set = initialValue
            onHold = false
        }
        if onHold { return prep }
        if !container.running {
            prep.set = .failure
            prep.step = container.terminated && !container.willRestart ? .stop : .skip
            return prep
        }
        // Liveness and startup are disabled during graceful termination; readiness keeps probing.
        if pod.terminating, kind != .readiness {
            prep.set = .success
            prep.step = .stop
            return prep
        }
        if let startedAt = container.startedAt {
            let since = (now - startedAt).components.seconds
            if since < Int64(timing.initialDelaySeconds) { return prep }
        }
        if started {
            if kind == .startup { return prep }
        } else if kind != .startup {
            return prep
        }
        prep.step = .probe
        return prep
    }

    /// The part of doProbe after the probe ran: the threshold rule. Returns the value to store, if any.
    public mutating func record(_ result: ProbeResult) -> ProbeResult? {
        if result == lastResult {
            resultRun += 1
        } else {
            lastResult = result
            resultRun = 1
        }
        if (result == .failure && resultRun < Int(timing.failureThreshold)) || (result == .success && resultRun < Int(timing.successThreshold)) {
            return nil
        }
        if (kind == .liveness && result == .failure) || kind == .startup {
            // Liveness failure: the container will be killed. Startup: a verdict is final for this container.
            onHold = true
            resultRun = 0
        }
        return result
    }
}

/// A liveness or startup failure's consequence: the container is killed (and restarted per restartPolicy).
public struct KillDecision: Sendable, Hashable {
    public var container: String
    /// `LivenessProbe` or `StartupProbe`.
    public var reason: String
    /// The `Killing` event text: `Container X failed liveness probe, will be restarted`.
    public var message: String
    /// The grace period for this kill (probe-level terminationGracePeriodSeconds when set), before preStop.
    public var gracePeriodSeconds: Int64
}

/// A change of a stored probe result (kubelet's results manager Update).
public struct ProbeUpdate: Sendable, Hashable {
    public var container: String
    public var containerID: String
    public var kind: ProbeKind
    public var result: ProbeResult
}

/// The probe workers and stored results of one container, and kubelet's ready/started computation.
public struct ContainerProbes: Sendable, Hashable {
    public var container: Container { containerBox.value }
    let containerBox: Shared<Container>
    public private(set) var workers: [ProbeKind: ProbeWorker] = [:]
    /// kubelet's results managers: the stored result per probe kind for the current container ID.
    public private(set) var results: [ProbeKind: ProbeResult] = [:]

    public init(container: Container) {
        containerBox = Shared(container)
        if let probe = container.livenessProbe { workers[.liveness] = ProbeWorker(kind: .liveness, probe: probe) }
        if let probe = container.readinessProbe { workers[.readiness] = ProbeWorker(kind: .readiness, probe: probe) }
        if let probe = container.startupProbe { workers[.startup] = ProbeWorker(kind: .startup, probe: probe) }
    }

    /// prober_manager.go UpdatePodStatus: `started`.
    public func started(running: Bool) -> Bool {
        guard running else { return false }
        if let result = results[.startup] { return result == .success }
        return workers[.startup] == nil
    }

    /// prober_manager.go UpdatePodStatus: `ready`, and whether the readiness worker must be triggered now
    /// (a readiness worker without a Success yet: this is what re-probes readiness right after startup succeeds).
    public func ready(running: Bool) -> (ready: Bool, triggerReadiness: Bool) {
        guard started(running: running) else { return (false, false) }
        if results[.readiness] == .success { return (true, false) }
        if workers[.readiness] == nil { return (true, false) }
        return (false, true)
    }

    /// Stores a result; returns an update when the stored value changed.
    mutating func store(_ kind: ProbeKind, _ result: ProbeResult, containerID: String?) -> ProbeUpdate? {
        guard results[kind] != result else { return nil }
        results[kind] = result
        return ProbeUpdate(container: container.name, containerID: containerID ?? "", kind: kind, result: result)
    }

    /// Tick phase 1 for `kind`: kubelet's doProbe up to the probe call. Returns the step and any stored change.
    public mutating func prepare(_ kind: ProbeKind, now: Duration, pod: PodSnapshot, container snapshot: ContainerSnapshot)
        -> (step: ProbeWorker.Step, updates: [ProbeUpdate])
    {
        guard var worker = workers[kind] else { return (.stop, []) }
        let isStarted = started(running: snapshot.running)
        let prep = worker.prepare(now: now, pod: pod, container: snapshot, started: isStarted)
        workers[kind] = worker
        var updates: [ProbeUpdate] = []
        if prep.removeOld { results[kind] = nil }
        if let value = prep.set, let update = store(kind, value, containerID: worker.containerID) { updates.append(update) }
        return (prep.step, updates)
    }

    /// Tick phase 2 for `kind`: the prober's verdict through the thresholds. An errored run is thrown away.
    public mutating func record(_ kind: ProbeKind, _ run: ProbeRun) -> [ProbeUpdate] {
        guard !run.errored, var worker = workers[kind] else { return [] }
        let value = worker.record(run.result)
        workers[kind] = worker
        guard let value, let update = store(kind, value, containerID: worker.containerID) else { return [] }
        return [update]
    }

    /// kuberuntime_manager.go computePodActions: a running container with a failed liveness (first) or startup
    /// result is killed. `podGracePeriodSeconds` is the pod's terminationGracePeriodSeconds;
    /// `deletionGracePeriodSeconds` (pod being deleted) wins over everything. Floored at 2 s like kubelet.
    public func killDecision(restartPolicy: String?, podGracePeriodSeconds: Int64?, deletionGracePeriodSeconds: Int64? = nil) -> KillDecision? {
        let kind: ProbeKind
        if results[.liveness] == .failure {
            kind = .liveness
        } else if results[.startup] == .failure {
            kind = .startup
        } else {
            return nil
        }
        var message = "Container \(container.name) failed \(kind.rawValue) probe"
        if (restartPolicy ?? "Always") != "Never" { message += ", will be restarted" }
        var grace: Int64 = 2
        if let deletionGracePeriodSeconds {
            grace = deletionGracePeriodSeconds
        } else if let podGracePeriodSeconds {
            grace = workers[kind]?.probe.terminationGracePeriodSeconds ?? podGracePeriodSeconds
        }
        return KillDecision(
            container: container.name, reason: kind == .liveness ? "LivenessProbe" : "StartupProbe", message: message,
            gracePeriodSeconds: max(2, grace))
    }
}
