import AgentAPI
import AgentStore
import CShims
import Foundation
import Images
import KubeAPI
import Prober

/// Errors that stop the agent from starting, with what it was doing.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The node agent: reads the manifest directory, keeps one worker per pod, serves the local API.
public actor Agent {
    let config: AgentConfig
    let context: WorkerContext
    let source: ManifestSource
    private var workers: [String: PodWorker] = [:]
    private var tasks: [String: Task<Void, Never>] = [:]
    private var lastProblems: Set<ManifestProblem> = []
    private var server: APIServer?
    private var rescanRequested = false
    private var rescanRunning = false
    /// Requests of admitted (not rejected) pods, for resource admission.
    private var admittedRequests: [String: (milliCPU: Int64, memory: Int64)] = [:]
    private let node: NodeResources
    /// Pods being killed and cleaned up (shown as Terminating).
    private var terminatingPods: [String: Date] = [:]
    /// Caps glibc's malloc arenas; call before the agent starts its threads.
    public static func limitMallocArenas(_ count: Int32) { _ = mk_limit_malloc_arenas(count) }

    /// Decoded manifests and statuses by pod uid, reused while the stored bytes are unchanged: the API and the 1 s
    /// endpoint pass read every pod, and JSON decoding them all each time was most of the agent's idle CPU.
    private var decodedPods: [String: DecodedPodRecord] = [:]

    public init(config: AgentConfig) throws(AgentError) {
        self.config = config
        do {
            for directory in [config.root, config.root + "/pods", config.root + "/runtime", config.manifests] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            chmod(config.root, 0o700)
        } catch {
            throw AgentError(description: "cannot create the state directories under \(config.root): \(error)")
        }
        let store: AgentStore
        let images: ImageStore
        let rootfs: RootfsManager
        do { store = try AgentStore(path: config.root + "/agent.db") } catch { throw AgentError(description: error.description) }
        let sealer = SecretSealer(keyBytes: try NodeKey.loadOrCreate(root: config.root))
        let services = try ServiceController(settings: config.services, network: config.network, root: config.root)
        do {
            images = try ImageStore(root: config.root)
            rootfs = try RootfsManager(store: images)
        } catch {
            throw AgentError(description: "image store under \(config.root): \(error)")
        }
        let runtime = RuntimeService(runtimePath: config.runtimePath, shimPath: config.shimPath, runtimeRoot: config.root + "/runtime")
        let registry = PodWorkerRegistry()
        let probes = ProbeManager(
            prober: Prober(exec: Self.probeExec(runtime)),
            status: { uid, container in
                registry.worker(uid)?.probeSnapshot(container: container)
            },
            output: { output in
                let uid: String
                switch output {
                case .update(let podUID, _), .event(let podUID, _), .kill(let podUID, _): uid = podUID
                }
                await registry.worker(uid)?.probeOutput(output)
            })
        context = WorkerContext(
            config: config, store: store, runtime: runtime, images: images, rootfs: rootfs, events: EventRecorder(store: store),
            memoryCapacity: NodeResources.detect(nodeName: config.nodeName).memoryBytes,
            network: PodNetwork(settings: config.network, root: config.root), objects: ConfigObjectStore(), sealer: sealer, probes: probes,
            workers: registry, services: services)
        source = ManifestSource(directory: config.manifests, nodeName: config.nodeName)
        node = NodeResources.detect(nodeName: config.nodeName)
    }

    /// Starts everything and runs until the process ends.
    public func run() async throws(AgentError) {
        // Adopt what the store knows (containers keep running under their shims), then reconcile
        // with the manifests before any worker acts, so a pod removed while the agent was down is
        // cleaned up rather than restarted.
        let known: [PodRecord]
        do { known = try context.store.pods() } catch { throw AgentError(description: error.description) }
        await context.network.prepareNode()
        await context.network.collectGarbage(knownPods: Set(known.map(\.uid)))
        let scan = source.scan()
        report(scan.problems)
        applyObjects(scan.objects)
        applyStorage(scan.objects)
        applyServices(scan.objects)
        let desired = Set(scan.pods.map(\.uid))
        for record in known {
            guard let pod = try? KubeJSON.decoder().decode(Pod.self, from: record.manifest) else {
                Log.error("pod \(record.namespace)/\(record.name) (\(record.uid)): stored manifest does not decode; removing the pod")
                startWorker(uid: record.uid, pod: Pod(metadata: ObjectMeta(name: record.name, namespace: record.namespace)), previous: nil)
                await workers[record.uid]?.terminate()
                continue
            }
            let previous = record.status.flatMap { try? KubeJSON.decoder().decode(PodStatus.self, from: $0) }
            // A pod rejected before the restart stays rejected (admission happens once, as in kubelet).
            var rejection: (reason: String, message: String)?
            if let previous, let reason = previous.reason, previous.phase == PodPhase.failed, reason != "Evicted" {
                rejection = (reason, (previous.message ?? "").replacingOccurrences(of: "Pod was rejected: ", with: ""))
            } else {
                admittedRequests[record.uid] = Admission.requests(pod)
            }
            startWorker(uid: record.uid, pod: pod, previous: previous, rejection: rejection)
            Log.info("adopted pod \(record.namespace)/\(record.name) (\(record.uid))")
            if !desired.contains(record.uid) {
                terminatingPods[record.uid] = Date()
                await workers[record.uid]?.terminate()
            }
        }
        apply(scan.pods)

        let server = APIServer(socketPath: config.socket) { [weak self] request in
            guard let self else { return .error(503, "the agent is shutting down") }
            return await self.handle(request)
        }
        do { try await server.start() } catch { throw AgentError(description: error.description) }
        self.server = server
        Log.info("minikubelet on node \(config.nodeName): manifests \(config.manifests), state \(config.root), API \(config.socket)")

        if let watcher = DirectoryWatcher(directory: config.manifests) {
            watcher.start { [weak self] in
                Task { await self?.requestRescan() }
            }
        } else {
            Log.warning("inotify on \(config.manifests) failed; relying on the periodic re-read")
        }
        Task { await self.runServiceLoop() }
        while true {
            try? await Task.sleep(for: config.fileCheckInterval)
            rescan()
            // glibc keeps freed memory inside its arenas (fragmented by the probes' short-lived allocations) and
            // returns only the top of the main heap on its own; a trim every pass (20 s) costs about a millisecond.
            _ = mk_malloc_trim()
        }
    }

    /// Re-reads at once on the first event (pod start latency), and coalesces the events that arrive meanwhile
    /// into one more re-read after it: a burst of N events costs at most two scans, not N.
    func requestRescan() async {
        if rescanRunning {
            rescanRequested = true
            return
        }
        rescanRunning = true
        repeat {
            rescanRequested = false
            let began = ContinuousClock.now
            rescan()
            Log.debug("manifest re-read and pod admission: \(ContinuousClock.now - began)")
            // Lets queued event callbacks run: they only set rescanRequested.
            await Task.yield()
        } while rescanRequested
        rescanRunning = false
    }

    func rescan() {
        let scan = source.scan()
        report(scan.problems)
        // Objects before pods: a new pod and the ConfigMap it reads often arrive together.
        applyObjects(scan.objects)
        applyStorage(scan.objects)
        applyServices(scan.objects)
        apply(scan.pods)
    }

    /// Reports problems once per change (the periodic re-read would otherwise repeat them every 20 s).
    private func report(_ problems: [ManifestProblem]) {
        let current = Set(problems)
        for problem in problems where !lastProblems.contains(problem) {
            context.events.file(problem.file, problem.type, problem.reason, problem.message, objectKey: problem.objectKey)
        }
        lastProblems = current
    }

    /// Makes the set of pod workers match the desired pods. Synchronous on purpose: no suspension point,
    /// so two re-reads can never interleave and start a pod twice.
    func apply(_ pods: [DesiredPod]) {
        let desired = Set(pods.map(\.uid))
        for (uid, worker) in workers where !desired.contains(uid) && terminatingPods[uid] == nil {
            terminatingPods[uid] = Date()
            Task { await worker.terminate() }
        }
        for desiredPod in pods where workers[desiredPod.uid] == nil {
            let used = admittedRequests.values.reduce((milliCPU: Int64(0), memory: Int64(0))) { ($0.milliCPU + $1.milliCPU, $0.memory + $1.memory) }
            // Pod Security Standards and sysctls first: kubelet's sysctl handler runs before its resource predicates.
            let rejection =
                ContainerSecurity.admit(desiredPod.pod, config: config.security)
                ?? Admission.check(
                    desiredPod.pod, node: node, nodeName: config.nodeName, used: used, admittedPods: admittedRequests.count, maxPods: config.maxPods)
            if let rejection {
                context.events.pod(
                    uid: desiredPod.uid, namespace: desiredPod.pod.metadata.namespace ?? "default", name: desiredPod.pod.metadata.name ?? "",
                    "Warning", rejection.reason, rejection.message)
            }
            let record = PodRecord(
                uid: desiredPod.uid, namespace: desiredPod.pod.metadata.namespace ?? "default", name: desiredPod.pod.metadata.name ?? "",
                file: desiredPod.file, manifest: desiredPod.manifest, createdAt: Date())
            do { try context.store.insertPod(record) } catch {
                Log.error("pod \(record.namespace)/\(record.name): \(error)")
                continue
            }
            if rejection == nil { admittedRequests[desiredPod.uid] = Admission.requests(desiredPod.pod) }
            for field in Unsupported.fields(of: desiredPod.pod) {
                context.events.pod(
                    uid: record.uid, namespace: record.namespace, name: record.name, "Warning", "UnsupportedField",
                    "\(desiredPod.file): \(field) is not supported by this agent yet; ignored")
            }
            startWorker(uid: desiredPod.uid, pod: desiredPod.pod, previous: nil, rejection: rejection)
        }
    }

    /// Exec probes through the runtime's exec: the container's namespaces and cgroup, a timeout is a failure.
    static func probeExec(_ runtime: RuntimeService) -> ExecFunction {
        { target, command, timeout, sleeper throws(ExecError) in
            let outcome: CommandResult?
            do {
                outcome = try await runtime.execProbe(
                    id: target.containerID, command: command, timeout: timeout, outputLimit: maxProbeOutputBytes, sleeper: sleeper)
            } catch {
                throw .failed("\(error)")
            }
            guard let result = outcome else { throw .timedOut }
            return ExecOutput(exitCode: result.status, stdout: Array(result.stdout.utf8), stderr: Array(result.stderr.utf8))
        }
    }

    private func startWorker(uid: String, pod: Pod, previous: PodStatus?, rejection: (reason: String, message: String)? = nil) {
        let worker = PodWorker(uid: uid, pod: pod, context: context, rejection: rejection, previousStatus: previous)
        workers[uid] = worker
        context.workers.set(uid, worker)
        tasks[uid] = Task {
            await worker.run()
            self.workerFinished(uid)
        }
    }

    private func workerFinished(_ uid: String) {
        workers[uid] = nil
        context.workers.set(uid, nil)
        tasks[uid] = nil
        terminatingPods[uid] = nil
        admittedRequests[uid] = nil
    }

    // MARK: - Queries for the API

    /// Pods with their status, as Kubernetes v1 objects.
    /// The pods as v1 objects. `withProbeResults` adds the per-probe annotation (the API shows it; the endpoint
    /// pass does not need it).
    func podObjects(withProbeResults: Bool = true) -> [Pod] {
        let records = (try? context.store.pods()) ?? []
        var decoded: [String: DecodedPodRecord] = [:]
        let pods = records.compactMap { record -> Pod? in
            guard let entry = decodedPods[record.uid].flatMap({ $0.matches(record) ? $0 : nil }) ?? DecodedPodRecord(record) else { return nil }
            decoded[record.uid] = entry
            var pod = entry.pod
            if withProbeResults {
                // Per-probe latest results and durations (no field of the v1 Pod carries them; kubelet only exports metrics).
                let probeRuns = context.probes.metrics.latestRuns(podUID: record.uid)
                if !probeRuns.isEmpty, let data = try? KubeJSON.encoder(pretty: false).encode(probeRuns) {
                    pod.metadata.annotations?["minikubelet.io/probes"] = String(decoding: data, as: UTF8.self)
                }
            }
            if let since = terminatingPods[record.uid] {
                pod.metadata.deletionTimestamp = since
                pod.metadata.deletionGracePeriodSeconds = pod.spec.terminationGracePeriodSeconds
            }
            return pod
        }
        decodedPods = decoded
        return pods
    }

    func events(podUID: String?) -> [EventRecord] { (try? context.store.events(podUID: podUID)) ?? [] }

    /// The newest pod of that name (an edited manifest briefly has the old pod terminating beside the new).
    func podRecord(namespace: String, name: String) -> PodRecord? {
        ((try? context.store.pods()) ?? []).filter { $0.namespace == namespace && $0.name == name }.max { $0.createdAt < $1.createdAt }
    }

    func containerRecords(uid: String) -> [ContainerRecord] { (try? context.store.containers(podUID: uid)) ?? [] }

    func exec(namespace: String, name: String, container: String?, command: [String], interactive: Bool = false) async -> APIResponse {
        guard let record = podRecord(namespace: namespace, name: name), let worker = workers[record.uid] else {
            return .error(404, "pods \"\(name)\" not found")
        }
        let pod = worker.pod
        guard let containerName = container ?? (pod.spec.containers.count == 1 ? pod.spec.containers.first?.name : nil) else {
            return .error(400, "a container name must be specified for pod \(name), choose one of: [\(pod.spec.containers.map(\.name).joined(separator: " "))]")
        }
        guard !command.isEmpty else { return .error(400, "you must specify at least one command for the container") }
        if interactive {
            guard let id = await worker.runningContainerID(containerName) else {
                return .error(400, "container \(containerName) is not valid for pod \(name) or is not running")
            }
            let target = ExecTarget(runtime: context.runtime.runtimePath, runtimeRoot: context.runtime.runtimeRoot, containerID: id)
            do { return APIResponse(status: 200, body: try JSONEncoder().encode(target)) } catch { return .error(500, "\(error)") }
        }
        guard let result = await worker.exec(container: containerName, command: command) else {
            return .error(400, "container \(containerName) is not valid for pod \(name) or is not running")
        }
        let body = ExecResult(exitCode: result.status, stdout: result.stdout, stderr: result.stderr)
        do { return APIResponse(status: 200, body: try JSONEncoder().encode(body)) } catch { return .error(500, "\(error)") }
    }

    func wakeAll() async {
        for worker in workers.values { worker.wake() }
    }

    /// ConfigMaps or Secrets changed: pods waiting for one retry now, mounted copies refresh.
    func objectsChanged() async {
        for worker in workers.values { await worker.objectsChanged() }
    }
}

/// One stored pod record decoded into a v1 Pod (metadata and status filled in), with the bytes it came from.
private struct DecodedPodRecord {
    var manifest: Data
    var status: Data?
    var file: String
    var pod: Pod

    init?(_ record: PodRecord) {
        guard var pod = try? KubeJSON.decoder().decode(Pod.self, from: record.manifest) else { return nil }
        pod.metadata.uid = record.uid
        pod.metadata.creationTimestamp = record.createdAt
        var annotations = pod.metadata.annotations ?? [:]
        annotations["kubernetes.io/config.source"] = "file"
        annotations["kubernetes.io/config.hash"] = record.uid
        annotations["minikubelet.io/manifest-file"] = record.file
        pod.metadata.annotations = annotations
        pod.status = record.status.flatMap { try? KubeJSON.decoder().decode(PodStatus.self, from: $0) } ?? PodStatus(phase: PodPhase.pending)
        self.manifest = record.manifest
        self.status = record.status
        self.file = record.file
        self.pod = pod
    }

    func matches(_ record: PodRecord) -> Bool {
        record.manifest == manifest && record.status == status && record.file == file && record.createdAt == pod.metadata.creationTimestamp
    }
}
