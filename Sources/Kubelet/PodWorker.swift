import AgentStore
import Cgroups
import Foundation
import Images
import KubeAPI
import OCISpec
import Prober
import Synchronization

/// What a pod worker needs from the agent.
struct WorkerContext: Sendable {
    let config: AgentConfig
    let store: AgentStore
    let runtime: RuntimeService
    let images: ImageStore
    let rootfs: RootfsManager
    let events: EventRecorder
    let memoryCapacity: Int64
    let network: PodNetwork
    /// ConfigMaps and Secrets from the manifest directory.
    let objects: ConfigObjectStore
    let sealer: SecretSealer
    /// The agent's probe workers (kubelet's prober manager); results come back through `workers`.
    let probes: ProbeManager
    let workers: PodWorkerRegistry
    /// Allocated Services (environment variables) and the proxier.
    let services: ServiceController
}

/// The pod as the probe workers see it: `PodWorker.probeSnapshot`.
struct ProbeView: Sendable {
    var terminating = false
    /// Phase Succeeded or Failed.
    var terminal = false
    /// The newest run that ran (not a failed start), per container name: `PodWorker.runs(...).last`.
    var latest: [String: ContainerRecord] = [:]
}

/// The live pod workers by pod UID, for the probe manager's callbacks (status snapshots and results).
final class PodWorkerRegistry: Sendable {
    private let workers = Mutex<[String: PodWorker]>([:])
    func set(_ uid: String, _ worker: PodWorker?) { workers.withLock { $0[uid] = worker } }
    func worker(_ uid: String) -> PodWorker? { workers.withLock { $0[uid] } }
}

/// One worker per pod (kubelet's podWorkers + syncPod): a loop that compares the pod's spec with what the
/// runtime reports and acts, idempotently. Wake-ups only shorten the wait; every pass re-reads the state.
actor PodWorker {
    let uid: String
    let context: WorkerContext
    let pod: Pod
    private var terminating = false
    /// A pod rejected at admission never starts containers.
    private let rejection: (reason: String, message: String)?
    private let waker = Waker()
    /// Start failures and back-off holds per container (kubelet's reasonCache), shown as Waiting.
    var waiting: [String: (reason: String, message: String)] = [:]
    var retryAt: [String: Date] = [:]
    var volumeState = VolumeState()
    private var pullBackoff = PullBackoff()
    /// When a running container's pid was first seen gone without an exit record.
    private var missingSince: [String: Date] = [:]
    private var lastStatus: PodStatus?
    /// Whether the namespace pins are known to be mounted (checked once, then kept: reading mountinfo on
    /// every pass of every pod would dominate the agent's idle CPU).
    private var sandboxReady: Bool?
    /// The IP the probe manager was given (httpGet, tcpSocket and grpc probes target it): `podIPs.first`, passed on
    /// by `setPodIP` once the sandbox has its network.
    private(set) var podIP = ""
    /// Container runs being killed after a liveness or startup failure (one kill per run).
    private var probeKills: Set<String> = []
    /// `/proc/<pid>/ns/pid` of the pod's PID namespace holder (shareProcessNamespace only).
    private var pidNamespace: String?
    /// The pod's addresses once its network is attached (hostNetwork: the node's).
    private var podIPs: [String] = []
    private var done = false
    /// Step timings until the first container runs (debug log only).
    private var startTrace: StartTrace? = Log.debugEnabled ? StartTrace() : nil
    /// What the probe workers read at every tick (`probeSnapshot`), kept current by this worker: a lock rather than
    /// an actor call, because a hop onto this actor and back per probe tick was two thread wake-ups, 600 a second
    /// with 100 pods of 3 probes.
    private let probeView = Mutex(ProbeView())

    init(uid: String, pod: Pod, context: WorkerContext, rejection: (reason: String, message: String)? = nil, previousStatus: PodStatus? = nil) {
        self.uid = uid
        self.lastStatus = previousStatus
        // An eviction survives an agent restart (the pod stays Failed/Evicted, as in kubelet).
        if previousStatus?.phase == PodPhase.failed && previousStatus?.reason == "Evicted" { volumeState.eviction = previousStatus?.message }
        self.pod = pod
        self.context = context
        self.rejection = rejection
    }

    nonisolated var podDirectory: String { context.config.root + "/pods/" + uid }
    var sandbox: Sandbox { Sandbox(podDirectory: podDirectory, hostNetwork: pod.spec.hostNetwork == true) }
    nonisolated var name: String { pod.metadata.name ?? "" }
    nonisolated var namespace: String { pod.metadata.namespace ?? "default" }
    /// format.Pod: `name_namespace(uid)`.
    nonisolated var podDescription: String { "\(name)_\(namespace)(\(uid))" }
    var podCgroup: String { context.config.cgroupParent.isEmpty ? "pods/\(uid)" : "\(context.config.cgroupParent)/pods/\(uid)" }

    nonisolated func wake() { waker.wake() }

    /// Marks the pod for removal: the next pass kills its containers and removes everything it owns.
    func terminate() async {
        terminating = true
        publishProbeView()
        waker.wake()
    }

    /// The loop; returns once the pod is terminated and cleaned up.
    func run() async {
        publishProbeView()
        if rejection == nil {
            let info = ProbeManager.PodInfo(
                uid: uid, name: name, namespace: namespace, podIP: podIP, restartPolicy: pod.spec.restartPolicy,
                terminationGracePeriodSeconds: pod.spec.terminationGracePeriodSeconds ?? Defaults.terminationGracePeriodSeconds)
            await context.probes.addPod(info, containers: pod.spec.containers)
        }
        while true {
            if terminating {
                await terminateAndCleanUp()
                return
            }
            // Each pass runs in a task of its own: a task keeps the allocator slabs of its deepest call until it ends,
            // and a container start's async frames left ~50 KiB per pod worker for as long as the pod ran (5 MiB of
            // the agent's heap at 100 pods, heaptrack). A task per pass costs a few microseconds.
            let next = await Task { await self.sync() }.value
            await waker.wait(timeout: next)
        }
    }

    // MARK: - Observe

    /// The pod's container runs. Only this worker writes them, so after the first read they are served
    /// from memory (the store stays the durable copy): an idle pod costs no database reads per pass.
    private var cachedRecords: [ContainerRecord]?

    private func records() -> [ContainerRecord] {
        if let cachedRecords { return cachedRecords }
        do {
            let loaded = try context.store.containers(podUID: uid)
            cachedRecords = loaded
            return loaded
        } catch {
            Log.error("pod \(podDescription): \(error)")
            return []
        }
    }

    private func save(_ record: ContainerRecord) {
        do { try context.store.saveContainer(record) } catch {
            Log.error("pod \(podDescription): \(error)")
        }
        // Re-read after any write so the cache never disagrees with the store (a failed write included).
        cachedRecords = nil
        publishProbeView()
    }

    /// Refreshes `probeView` from the records, `terminating` and the last status.
    private func publishProbeView() {
        let all = records()
        var latest: [String: ContainerRecord] = [:]
        for name in Set(all.map(\.name)) { latest[name] = Self.runs(all, name).last }
        let phase = lastStatus?.phase
        let view = ProbeView(terminating: terminating, terminal: phase == PodPhase.succeeded || phase == PodPhase.failed, latest: latest)
        probeView.withLock { $0 = view }
    }

    func containerDirectory(_ id: String) -> String { podDirectory + "/containers/" + id }
    func exitFile(_ id: String) -> String { containerDirectory(id) + "/exit.json" }

    /// Brings the recorded container runs up to date with the shim's exit files and the runtime.
    private func observe() async {
        for var record in records() where record.state == .creating || record.state == .running {
            if let exit = RuntimeService.readExit(exitFile(record.id)) {
                record.state = .exited
                record.exitCode = exit.exitCode
                record.signal = exit.signal == 0 ? nil : exit.signal
                record.finishedAt = RFC3339.parse(exit.finishedAt) ?? Date()
                record.reason = exit.oomKilled ? "OOMKilled" : exit.exitCode == 0 ? "Completed" : "Error"
                record.message = terminationMessage(record)
                save(record)
                await removeRuntimeContainer(&record)
                continue
            }
            if record.state == .creating {
                // The agent died between recording the run and confirming the start: ask the runtime.
                let state = try? await context.runtime.state(id: record.id)
                if let state, state.status == "running" {
                    record.state = .running
                    record.pid = state.pid
                    record.startedAt = record.startedAt ?? Date()
                    save(record)
                } else if state == nil || state?.status == "stopped" || state?.status == "created" {
                    if state != nil { try? await context.runtime.delete(id: record.id) }
                    record.state = .failed
                    record.message = "the agent stopped while the container was being created"
                    save(record)
                    await removeRuntimeContainer(&record)
                }
                continue
            }
            if let pid = record.pid, kill(pid, 0) != 0 && errno == ESRCH {
                // The shim writes the exit file right after reaping; give it a moment before declaring the run lost.
                let since = missingSince[record.id] ?? Date()
                missingSince[record.id] = since
                if Date().timeIntervalSince(since) > 5 {
                    record.state = .exited
                    record.exitCode = 137
                    record.reason = "ContainerStatusUnknown"
                    record.message = "The container could not be located when the pod was terminated"
                    record.finishedAt = Date()
                    save(record)
                    await removeRuntimeContainer(&record)
                }
            }
        }
    }

    /// The container's termination message: the file it wrote at terminationMessagePath (at most 4096 bytes),
    /// or with FallbackToLogsOnError after a failure and an empty file, the log's last 80 lines / 2048 bytes.
    private func terminationMessage(_ record: ContainerRecord) -> String? {
        let containers = record.isInit ? pod.spec.initContainers ?? [] : pod.spec.containers
        let container = containers.first { $0.name == record.name }
        var message = ""
        if let handle = FileHandle(forReadingAtPath: containerDirectory(record.id) + "/termination-log") {
            let data = (try? handle.read(upToCount: 4096)) ?? nil
            try? handle.close()
            message = String(decoding: data ?? Data(), as: UTF8.self)
        }
        if message.isEmpty && container?.terminationMessagePolicy == "FallbackToLogsOnError" && (record.exitCode ?? 0) != 0 {
            let log = (try? String(contentsOfFile: podDirectory + "/logs/\(record.name)/\(record.attempt).log", encoding: .utf8)) ?? ""
            let lines = CRILog.decode(log, timestamps: false).suffix(80).joined(separator: "\n")
            message = String(decoding: Array(lines.utf8.suffix(2048)), as: UTF8.self)
        }
        return message.isEmpty ? nil : message
    }

    /// Deletes the runtime container and its rootfs; the record stays for status (lastState).
    private func removeRuntimeContainer(_ record: inout ContainerRecord) async {
        do {
            try await context.runtime.delete(id: record.id)
            try context.rootfs.release(containerID: record.id)
            record.removed = true
            save(record)
        } catch {
            Log.error("pod \(podDescription): removing container \(record.name) (\(record.id)): \(error)")
        }
    }

    // MARK: - Sync

    /// One pass of syncPod. Returns how long to wait before the next pass at most.
    private func sync() async -> Duration {
        let next = await syncContainers()
        await publishStatus()
        return next
    }

    private func syncContainers() async -> Duration {
        await observe()
        if sandboxReady == nil { sandboxReady = adoptSandbox() }
        startTrace?.mark("observe")
        var next: Duration = .seconds(1)
        if rejection != nil { return .seconds(30) }
        let status = await computeStatus()
        if status.phase == PodPhase.succeeded || status.phase == PodPhase.failed { return .seconds(5) }
        startTrace?.mark("status")
        if let hold = await syncVolumes() { return hold }
        startTrace?.mark("volumes")
        if sandboxReady != true {
            do {
                try FileManager.default.createDirectory(atPath: podDirectory + "/containers", withIntermediateDirectories: true)
                try await sandbox.create(hostname: BundleBuilder.hostname(pod))
                startTrace?.mark("sandbox")
                try await attachNetwork()
                sandboxReady = true
            } catch {
                context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "FailedCreatePodSandBox", "Failed to create pod sandbox: \(error)")
                return .seconds(10)
            }
        }
        if pod.spec.shareProcessNamespace == true && pidNamespace == nil {
            do { pidNamespace = try await SharedPIDNamespace(podDirectory: podDirectory).ensure() } catch {
                context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "FailedCreatePodSandBox", "Failed to create pod sandbox: \(error)")
                return .seconds(10)
            }
        }
        // The probes target the sandbox's address (the only place the probe manager learns it).
        await setPodIP(podIPs.first ?? "")
        let all = records()
        let policy = pod.spec.restartPolicy ?? "Always"
        // Init containers, strictly in order.
        for container in pod.spec.initContainers ?? [] {
            let latest = Self.latestRun(all, container.name)
            switch latest?.state {
            case nil, .failed:
                next = min(next, await startIfDue(container, isInit: true, previous: latest, runs: all))
                return next
            case .creating, .running:
                return next
            case .exited:
                if latest?.exitCode == 0 { continue }
                if policy == "Never" { return next }
                next = min(next, await startIfDue(container, isInit: true, previous: latest, runs: all))
                return next
            }
        }
        for container in pod.spec.containers {
            let latest = Self.latestRun(all, container.name)
            switch latest?.state {
            case nil, .failed:
                next = min(next, await startIfDue(container, isInit: false, previous: latest, runs: all))
            case .creating, .running:
                waiting[container.name] = nil
            case .exited:
                let restart = policy == "Always" || (policy == "OnFailure" && latest?.exitCode != 0)
                if restart { next = min(next, await startIfDue(container, isInit: false, previous: latest, runs: all)) }
            }
        }
        return next
    }

    /// A sandbox that survived an agent restart counts only with its network attached (cached result).
    private func adoptSandbox() -> Bool {
        guard sandbox.isReady, FileManager.default.fileExists(atPath: PodFiles.resolvPath(podDirectory)) else { return false }
        if pod.spec.hostNetwork == true {
            podIPs = context.network.nodeIP.isEmpty ? [] : [context.network.nodeIP]
            return true
        }
        guard let ips = context.network.cachedIPs(uid) else { return false }
        podIPs = ips
        return true
    }

    /// CNI ADD (none for hostNetwork: the pod IP is the node's), then the pod's /etc files.
    private func attachNetwork() async throws {
        if pod.spec.hostNetwork == true {
            podIPs = context.network.nodeIP.isEmpty ? [] : [context.network.nodeIP]
        } else {
            podIPs = try await context.network.attach(pod: pod, uid: uid, netns: sandbox.path("net"))
        }
        startTrace?.mark("cniAdd")
        try PodFiles.write(pod, podDirectory: podDirectory, podIPs: podIPs)
        if let warning = PodFiles.missingClusterDNS(pod, description: podDescription) {
            context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "MissingClusterDNS", warning)
        }
    }

    // MARK: - Probes

    /// Sets the pod IP the probes target (the sandbox's network gave it one, or it changed).
    func setPodIP(_ ip: String) async {
        guard ip != podIP else { return }
        podIP = ip
        await context.probes.updatePodIP(uid: uid, podIP: ip)
    }

    /// A container as the probe workers see it at a tick (kubelet's status manager view). Times are converted to
    /// the manager's clock.
    nonisolated func probeSnapshot(container name: String) -> (PodSnapshot, ContainerSnapshot) {
        let managerNow = context.probes.now()
        let (terminating, terminal, latest) = probeView.withLock { ($0.terminating, $0.terminal, $0.latest[name]) }
        let podSnapshot = PodSnapshot(terminating: terminating, terminal: terminal)
        guard let latest, latest.state != .creating else {
            return (podSnapshot, ContainerSnapshot(containerID: nil, running: false))
        }
        let policy = pod.spec.restartPolicy ?? "Always"
        let startedAt = latest.startedAt.map { managerNow - .milliseconds(Int64(Date().timeIntervalSince($0) * 1000)) }
        return (
            podSnapshot,
            ContainerSnapshot(
                containerID: latest.id, running: latest.state == .running, startedAt: startedAt, terminated: latest.state == .exited,
                willRestart: !terminating && (policy == "Always" || (policy == "OnFailure" && latest.exitCode != 0)))
        )
    }

    /// What the probe manager reports: result changes refresh the status, events are recorded, failed liveness and
    /// startup probes kill the container (the restart policy and back-off then apply as for any exit).
    func probeOutput(_ output: ProbeManager.Output) async {
        switch output {
        case .update:
            // A terminating pod's loop has ended; its readiness still shows in the status.
            if terminating { await publishStatus() } else { waker.wake() }
        case .event(_, let event):
            context.events.pod(
                uid: uid, namespace: namespace, name: name, event.type.rawValue, event.reason, event.message, fieldPath: "spec.containers{\(event.container)}")
        case .kill(_, let decision):
            guard !terminating, let run = Self.runs(records(), decision.container).last, run.state == .running, !probeKills.contains(run.id) else {
                return
            }
            probeKills.insert(run.id)
            Task { await self.killForProbe(decision, runID: run.id) }
        }
    }

    /// kubelet: Killing "Container X failed liveness probe, will be restarted", then stop with the probe's
    /// (or the pod's) grace period.
    private func killForProbe(_ decision: KillDecision, runID: String) async {
        defer { probeKills.remove(runID) }
        context.events.pod(
            uid: uid, namespace: namespace, name: name, "Normal", "Killing", decision.message, fieldPath: "spec.containers{\(decision.container)}")
        try? await context.runtime.kill(id: runID, signal: "TERM")
        let deadline = Date().addingTimeInterval(Double(decision.gracePeriodSeconds))
        while Date() < deadline && !FileManager.default.fileExists(atPath: exitFile(runID)) {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if !FileManager.default.fileExists(atPath: exitFile(runID)) { try? await context.runtime.kill(id: runID, signal: "KILL") }
        waker.wake()
    }

    /// The latest run of a container: a failed start (never ran) counts only when it is the newest row.
    static func latestRun(_ records: [ContainerRecord], _ name: String) -> ContainerRecord? {
        records.filter { $0.name == name }.max { ($0.attempt, $0.state == .failed ? 0 : 1) < ($1.attempt, $1.state == .failed ? 0 : 1) }
    }

    /// Runs that actually ran (for restart counts and lastState), newest last.
    static func runs(_ records: [ContainerRecord], _ name: String) -> [ContainerRecord] {
        records.filter { $0.name == name && $0.state != .failed }.sorted { $0.attempt < $1.attempt }
    }

    /// Starts the container unless CrashLoopBackOff or a start-failure retry holds it back.
    private func startIfDue(_ container: Container, isInit: Bool, previous: ContainerRecord?, runs all: [ContainerRecord]) async -> Duration {
        let now = Date()
        if let retry = retryAt[container.name], retry > now {
            return .milliseconds(Int(retry.timeIntervalSince(now) * 1000) + 10)
        }
        let ran = Self.runs(all, container.name)
        if let last = ran.last, last.state == .exited, let finished = last.finishedAt {
            // doBackOff: the most recent exited instance decides.
            let entry = try? context.store.backoff(podUID: uid, name: container.name)
            let expired = entry.map { finished.timeIntervalSince($0.lastUpdate) > 600 } ?? true
            if let entry, !expired, now.timeIntervalSince(finished) < Double(entry.seconds) {
                let message = "back-off \(goDuration(seconds: Int64(entry.seconds))) restarting failed container=\(container.name) pod=\(podDescription)"
                if waiting[container.name]?.reason != "CrashLoopBackOff" {
                    context.events.pod(
                        uid: uid, namespace: namespace, name: name, "Warning", "BackOff",
                        "Back-off restarting failed container \(container.name) in pod \(podDescription)", fieldPath: fieldPath(container, isInit))
                }
                waiting[container.name] = ("CrashLoopBackOff", message)
                let until = finished.addingTimeInterval(Double(entry.seconds))
                return .milliseconds(Int(until.timeIntervalSince(now) * 1000) + 10)
            }
            let seconds = (entry == nil || expired) ? 10 : min(entry.map { $0.seconds * 2 } ?? 10, 300)
            do { try context.store.saveBackoff(BackoffRecord(podUID: uid, name: container.name, seconds: seconds, lastUpdate: now)) } catch {
                Log.error("pod \(podDescription): \(error)")
            }
        }
        let attempt = (ran.last.map { $0.attempt + 1 }) ?? 0
        await start(container, isInit: isInit, attempt: attempt)
        return .seconds(1)
    }

    func fieldPath(_ container: Container, _ isInit: Bool) -> String {
        isInit ? "spec.initContainers{\(container.name)}" : "spec.containers{\(container.name)}"
    }

    /// Pull (per policy), rootfs, OCI bundle, then the shim. Failures become Waiting reasons and events.
    private func start(_ container: Container, isInit: Bool, attempt: Int) async {
        let field = fieldPath(container, isInit)
        let image = container.image ?? ""
        func fail(_ reason: String, _ message: String, event: Bool = true, retry: Double = 10) {
            waiting[container.name] = (reason, message)
            retryAt[container.name] = Date().addingTimeInterval(retry)
            if event {
                context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "Failed", "Error: \(message)", fieldPath: field)
            }
        }
        // Image.
        let record: ImageRecord
        do {
            startTrace?.mark("podFiles+probes")
            record = try await ensureImage(image, policy: container.imagePullPolicy, field: field)
            startTrace?.mark("image")
        } catch {
            waiting[container.name] = (error.reason.rawValue, error.description)
            retryAt[container.name] = Date().addingTimeInterval(Double(pullBackoff.delay(for: image).map { Int($0.components.seconds) } ?? 10))
            return
        }
        let id = "\(uid.prefix(12))-\(container.name)-\(attempt)"
        var run = ContainerRecord(
            id: id, podUID: uid, name: container.name, isInit: isInit, attempt: attempt, image: image,
            imageID: record.repoDigests.first ?? record.id.description)
        let directory = containerDirectory(id)
        // A leftover of an earlier failed try with the same ID goes first (asking the runtime only when its state
        // directory knows the ID: a `minirun delete` per start is a process spawn on the pod start path).
        if context.runtime.knows(id: id) { try? await context.runtime.delete(id: id) }
        try? context.rootfs.release(containerID: id)
        try? FileManager.default.removeItem(atPath: directory)
        startTrace?.mark("leftoverDelete")
        var spec: OCI.Spec
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let rootfs = try await context.rootfs.prepare(containerID: id, image: record)
            startTrace?.mark("rootfs")
            var builder = BundleBuilder(
                pod: pod, container: container, podUID: uid, podDirectory: podDirectory, sandbox: sandbox,
                cgroupsPath: (context.config.cgroupParent.isEmpty ? "" : context.config.cgroupParent + "/") + "pods/\(uid)/\(container.name)",
                nodeName: context.config.nodeName, memoryCapacity: context.memoryCapacity, podIPs: podIPs, hostIP: context.network.nodeIP,
                objects: context.objects,
                serviceEnvironment: pod.spec.enableServiceLinks == false ? [] : context.services.environment(namespace: pod.metadata.namespace ?? "default"))
            if pod.spec.shareProcessNamespace == true {
                // The holder may have died since the last start (it is re-created by the next pass).
                guard let path = SharedPIDNamespace(podDirectory: podDirectory).path else {
                    pidNamespace = nil
                    throw ContainerConfigError(message: "the pod's shared PID namespace is gone; recreating it")
                }
                builder.pidNamespace = path
            }
            let env: [(name: String, value: String)]
            do { env = try builder.environment() } catch {
                try? context.rootfs.release(containerID: id)
                fail("CreateContainerConfigError", error.message)
                return
            }
            let processSpec = ContainerProcessSpec(
                command: BundleBuilder.expand(container.command ?? [], env), args: BundleBuilder.expand(container.args ?? [], env),
                env: env, workingDir: container.workingDir,
                runAsUser: container.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser,
                runAsGroup: container.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup)
            let defaults: ProcessDefaults
            do { defaults = try record.imageConfig.processDefaults(for: processSpec, rootfs: rootfs) } catch {
                try? context.rootfs.release(containerID: id)
                fail("CreateContainerConfigError", error.description)
                return
            }
            // The termination message file, bind-mounted at terminationMessagePath (kubelet does the same).
            let messageFile = directory + "/termination-log"
            guard FileManager.default.createFile(atPath: messageFile, contents: nil) else {
                throw ContainerConfigError(message: "cannot create the termination message file \(messageFile)")
            }
            chmod(messageFile, 0o666)
            do {
                spec = try builder.spec(rootfs: rootfs, process: defaults, volumeDirectory: volumeDirectory)
                if let path = container.terminationMessagePath, !path.isEmpty {
                    spec.mounts = (spec.mounts ?? []) + [OCI.Mount(destination: path, type: "bind", source: messageFile, options: ["rbind", "rw"])]
                }
                spec.mounts = (spec.mounts ?? []) + PodFiles.mounts(podDirectory: podDirectory, container: container)
            } catch {
                try? context.rootfs.release(containerID: id)
                fail("CreateContainerConfigError", error.message)
                return
            }
            guard applySecurity(container, rootfs: rootfs, image: record, attempt: attempt, directory: directory, to: &spec, fail: { fail($0, $1) }) else {
                try? context.rootfs.release(containerID: id)
                return
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(spec).write(to: URL(fileURLWithPath: directory + "/config.json"))
        } catch {
            try? context.rootfs.release(containerID: id)
            fail("CreateContainerError", "\(error)")
            return
        }
        startTrace?.mark("bundle")
        // Recorded before the runtime is asked, so a crash in between is found and resolved on restart.
        save(run)
        startTrace?.mark("saveRecord")
        let logDirectory = podDirectory + "/logs/" + container.name
        do {
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            let pid = try await context.runtime.start(
                id: id, bundle: directory, logPath: logDirectory + "/\(attempt).log", exitFile: exitFile(id), pidFile: directory + "/pid")
            startTrace?.mark("shim")
            run.state = .running
            run.pid = pid
            run.startedAt = Date()
            save(run)
            if let trace = startTrace {
                Log.debug("pod \(podDescription) start: \(trace.summary)")
                startTrace = nil
            }
            waiting[container.name] = nil
            retryAt[container.name] = nil
            context.events.pod(uid: uid, namespace: namespace, name: name, "Normal", "Created", "Created container: \(container.name)", fieldPath: field)
            context.events.pod(uid: uid, namespace: namespace, name: name, "Normal", "Started", "Started container \(container.name)", fieldPath: field)
            if let hook = container.lifecycle?.postStart, let failure = await runHook(hook, containerID: id, container: container, budget: nil) {
                // kubelet: the container is killed and the start counts as failed (PostStartHookError).
                Log.warning("pod \(podDescription): postStart hook of \(container.name) failed: \(failure)")
                context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "FailedPostStartHook", "PostStartHook failed", fieldPath: field)
                try? await context.runtime.kill(id: id, signal: "KILL")
            }
        } catch {
            // As with containerd: the run counts (restartCount, back-off) and ends as StartError, exit code 128;
            // while a restart is pending the container waits with RunContainerError.
            let message = "\(error)"
            run.state = .exited
            run.exitCode = 128
            run.reason = "StartError"
            run.message = message
            run.startedAt = Date()
            run.finishedAt = Date()
            save(run)
            await removeRuntimeContainer(&run)
            let policy = pod.spec.restartPolicy ?? "Always"
            if policy != "Never" {
                waiting[container.name] = ("RunContainerError", message)
            }
            context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "Failed", "Error: \(message)", fieldPath: field)
        }
        cachedRecords = nil
        publishProbeView()
        do { try context.store.pruneContainers(podUID: uid, name: container.name, keepFromAttempt: attempt - 1) } catch {
            Log.error("pod \(podDescription): \(error)")
        }
    }

    private func ensureImage(_ image: String, policy: String?, field: String) async throws(ImageError) -> ImageRecord {
        let pullPolicy = policy.flatMap { PullPolicy(rawValue: $0) } ?? PullPolicy.defaultPolicy(for: image)
        if pullPolicy != .always, let present = try? context.images.find(image) {
            context.events.pod(
                uid: uid, namespace: namespace, name: name, "Normal", "Pulled", "Container image \"\(image)\" already present on machine", fieldPath: field)
            return present
        }
        if pullPolicy == .never {
            let error = ImageError.neverPull(image: image)
            context.events.pod(
                uid: uid, namespace: namespace, name: name, "Warning", "ErrImageNeverPull",
                "Container image \"\(image)\" is not present with pull policy of Never", fieldPath: field)
            throw error
        }
        do { try pullBackoff.check(image) } catch {
            context.events.pod(uid: uid, namespace: namespace, name: name, "Normal", "BackOff", "Back-off pulling image \"\(image)\"", fieldPath: field)
            throw error
        }
        context.events.pod(uid: uid, namespace: namespace, name: name, "Normal", "Pulling", "Pulling image \"\(image)\"", fieldPath: field)
        let started = ContinuousClock.now
        do {
            let record = try await context.images.pull(image, policy: pullPolicy)
            pullBackoff.recordSuccess(image)
            let took = ContinuousClock.now - started
            context.events.pod(
                uid: uid, namespace: namespace, name: name, "Normal", "Pulled",
                "Successfully pulled image \"\(image)\" in \(String(format: "%.3fs", Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)). Image size: \(record.size) bytes.",
                fieldPath: field)
            return record
        } catch {
            pullBackoff.recordFailure(image, error: error)
            context.events.pod(
                uid: uid, namespace: namespace, name: name, "Warning", "Failed", "Failed to pull image \"\(image)\": \(error)", fieldPath: field)
            context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "Failed", "Error: \(error.reason.rawValue)", fieldPath: field)
            throw error
        }
    }

    /// The host path a volume's mounts bind (set up by `syncVolumes` before any container starts).
    nonisolated func volumeDirectory(_ volumeName: String) -> String? { volumes.path(of: volumeName) }

    // MARK: - Status

    func computeStatus() async -> PodStatus {
        // started / ready from the probe results (kubelet's prober manager UpdatePodStatus).
        var probed: [String: (started: Bool, ready: Bool)] = [:]
        for container in pod.spec.containers {
            let running = Self.runs(records(), container.name).last?.state == .running
            probed[container.name] = await context.probes.containerStatus(podUID: uid, container: container.name, running: running)
        }
        var status = StatusBuilder(
            pod: pod, uid: uid, records: records(), waiting: waiting, sandboxReady: sandboxReady ?? false, rejection: rejection, previous: lastStatus,
            probed: probed, podIPs: podIPs, hostIP: context.network.nodeIP
        ).build()
        if let eviction = volumeState.eviction {
            status.phase = PodPhase.failed
            status.reason = "Evicted"
            status.message = eviction
        }
        return status
    }

    private func publishStatus() async {
        let status = await computeStatus()
        guard status != lastStatus else { return }
        lastStatus = status
        publishProbeView()
        do { try context.store.updatePodStatus(uid: uid, status: try KubeJSON.encoder(pretty: false).encode(status)) } catch {
            Log.error("pod \(podDescription): saving status: \(error)")
        }
    }

    // MARK: - Hooks

    /// Runs a lifecycle handler; nil on success, else the failure message (kubelet's wording).
    /// exec runs in the container (`minirun exec`); sleep waits; httpGet/tcpSocket need the pod network.
    func runHook(_ handler: LifecycleHandler, containerID: String, container: Container, budget: Duration?) async -> String? {
        if let exec = handler.exec {
            let command = exec.command ?? []
            do {
                let result = try await context.runtime.exec(id: containerID, command: command, timeout: budget ?? .seconds(600))
                if result.succeeded { return nil }
                return "Exec lifecycle hook (\(command)) for Container \"\(container.name)\" in Pod \"\(podDescription)\" failed - error: "
                    + "command '\(command.joined(separator: " "))' exited with \(result.status): \(result.stderr), message: \"\(result.stdout)\""
            } catch {
                return "Exec lifecycle hook (\(command)) for Container \"\(container.name)\" in Pod \"\(podDescription)\" failed - error: \(error)"
            }
        }
        if let sleep = handler.sleep {
            try? await Task.sleep(for: .seconds(sleep.seconds))
            return nil
        }
        return "lifecycle handler of container \(container.name): only exec and sleep are supported by this agent yet (no pod network)"
    }

    /// The runtime ID of the container's current run, while it runs.
    func runningContainerID(_ container: String) -> String? {
        guard let run = Self.runs(records(), container).last, run.state == .running else { return nil }
        return run.id
    }

    /// `agentctl exec`: a command in a running container, its output and exit status.
    func exec(container: String, command: [String]) async -> (status: Int32, stdout: String, stderr: String)? {
        guard let run = Self.runs(records(), container).last, run.state == .running else { return nil }
        do {
            let result = try await context.runtime.exec(id: run.id, command: command, timeout: .seconds(300))
            return (result.status, result.stdout, result.stderr)
        } catch {
            return (126, "", "\(error)\n")
        }
    }

    // MARK: - Termination

    private func terminateAndCleanUp() async {
        await observe()
        await publishStatus()
        let grace = max(2, Int(pod.spec.terminationGracePeriodSeconds ?? 30))
        let running = records().filter { $0.state == .running || $0.state == .creating }
        await withTaskGroup(of: Void.self) { group in
            for record in running {
                let field = record.isInit ? "spec.initContainers{\(record.name)}" : "spec.containers{\(record.name)}"
                context.events.pod(uid: uid, namespace: namespace, name: name, "Normal", "Killing", "Stopping container \(record.name)", fieldPath: field)
                let runtime = context.runtime
                let exitPath = exitFile(record.id)
                let preStop =
                    (pod.spec.initContainers ?? []).first { $0.name == record.name && record.isInit }?.lifecycle?.preStop
                    ?? pod.spec.containers.first { $0.name == record.name && !record.isInit }?.lifecycle?.preStop
                let container = (record.isInit ? pod.spec.initContainers ?? [] : pod.spec.containers).first { $0.name == record.name }
                group.addTask {
                    // preStop first, within the grace period; then SIGTERM, the rest of it, then SIGKILL.
                    var remaining = Double(grace)
                    if let preStop, let container {
                        let started = Date()
                        if let failure = await self.runHook(preStop, containerID: record.id, container: container, budget: .seconds(grace)) {
                            Log.warning("pod \(self.podDescription): preStop hook of \(record.name) failed: \(failure)")
                            self.context.events.pod(
                                uid: self.uid, namespace: self.namespace, name: self.name, "Warning", "FailedPreStopHook", "PreStopHook failed",
                                fieldPath: field)
                        }
                        // Whole seconds are subtracted, as kubelet does; at least 2 s remain for SIGTERM.
                        remaining = max(2, remaining - Date().timeIntervalSince(started).rounded(.down))
                    }
                    try? await runtime.kill(id: record.id, signal: "TERM")
                    let deadline = Date().addingTimeInterval(remaining)
                    while Date() < deadline && !FileManager.default.fileExists(atPath: exitPath) {
                        try? await Task.sleep(for: .milliseconds(100))
                    }
                    if !FileManager.default.fileExists(atPath: exitPath) {
                        try? await runtime.kill(id: record.id, signal: "KILL")
                        let killDeadline = Date().addingTimeInterval(10)
                        while Date() < killDeadline && !FileManager.default.fileExists(atPath: exitPath) {
                            try? await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
            }
        }
        await observe()
        await publishStatus()
        // Cleanup is retried until everything is gone: the pod stays listed (Terminating) meanwhile.
        var delay = 1
        while await !cleanUp() {
            try? await Task.sleep(for: .seconds(delay))
            delay = min(delay * 2, 30)
        }
    }

    /// Removes everything the pod owns: runtime containers, rootfs mounts, the cgroup, the namespaces,
    /// the state directory and the store rows. Also used for pods found orphaned at start.
    func cleanUp() async -> Bool {
        var clean = true
        for var record in records() where !record.removed {
            await removeRuntimeContainer(&record)
            if !record.removed { clean = false }
        }
        // Runtime containers of this pod the store does not know (a crash between create and record).
        for id in context.runtime.list() where id.hasPrefix("\(uid.prefix(12))-") {
            try? await context.runtime.delete(id: id)
            try? context.rootfs.release(containerID: id)
        }
        do {
            let cgroup = try makeCgroupManager(path: podCgroup)
            try cgroup.destroy()
        } catch {
            clean = false
            Log.error("pod \(podDescription): removing cgroup \(podCgroup): \(error)")
        }
        // Named v1 hierarchies (name=systemd) carry no limits, so the Cgroups managers skip them, but the runtime
        // creates the container's directories there (as runc does) and keeps the parents: remove the pod level.
        for directory in NamedHierarchies.directories(relative: podCgroup) where FileManager.default.fileExists(atPath: directory) {
            if rmdir(directory) != 0 && errno != ENOENT {
                clean = false
                Log.error("pod \(podDescription): removing cgroup \(directory): \(String(cString: strerror(errno)))")
            }
        }
        // CNI DEL before the namespace goes, with the configuration ADD used (cached).
        do { try await context.network.detach(uid: uid, netns: sandbox.path("net")) } catch {
            clean = false
            Log.error("pod \(podDescription): CNI DEL: \(error)")
        }
        SharedPIDNamespace(podDirectory: podDirectory).destroy()
        do { try await sandbox.destroy() } catch {
            clean = false
            Log.error("pod \(podDescription): removing namespaces: \(error)")
        }
        // Anything else mounted below the pod directory (deepest first, every stacked layer).
        var rounds = 0
        while case let mounts = MountTable.mounts(under: podDirectory), !mounts.isEmpty, rounds < 64 {
            rounds += 1
            for mount in mounts.sorted(by: >) { _ = try? await Command.run(["/bin/umount", "-l", mount]) }
        }
        guard clean, MountTable.mounts(under: podDirectory).isEmpty else {
            Log.error("pod \(podDescription): cleanup incomplete; retrying")
            return false
        }
        do {
            if FileManager.default.fileExists(atPath: podDirectory) { try FileManager.default.removeItem(atPath: podDirectory) }
            try context.store.deletePod(uid: uid)
        } catch {
            Log.error("pod \(podDescription): removing state: \(error)")
            return false
        }
        done = true
        await context.probes.removePod(uid: uid)
        Log.info("pod \(namespace)/\(name) (\(uid)) removed")
        return true
    }
}
