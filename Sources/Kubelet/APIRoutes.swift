import AgentAPI
import AgentStore
import Foundation
import Images
import KubeAPI

/// The v1 routes of the local API (documented in the README):
///   GET    /metrics                                 Prometheus text: prober_probe_total, prober_probe_duration_seconds
///   GET    /v1/healthz                              {"ok": true}
///   GET    /v1/info                                 node name, directories
///   GET    /v1/pods                                 v1 PodList (status included)
///   GET    /v1/pods/{ns}/{name}                     v1 Pod
///   GET    /v1/pods/{ns}/{name}/log?container=&tail=&previous=   text (CRI log decoded)
///   GET    /v1/pods/{ns}/{name}/security            effective securityContext per container, refusals explained
///   POST   /v1/pods/{ns}/{name}/exec                {"container", "command": [...]} → {"exitCode", "stdout", "stderr"};
///                                                    with "interactive": true → {"runtime", "runtimeRoot", "containerID"}
///   DELETE /v1/pods/{ns}/{name}                     removes the manifest file that defines the pod
///   GET    /v1/configmaps, /v1/secrets              v1 ConfigMapList, SecretList (data base64, as the API server)
///   GET    /v1/services, /v1/endpoints              v1 ServiceList (allocated), EndpointsList (from the pods)
///   GET    /v1/endpointslices                       discovery.k8s.io/v1 EndpointSliceList (the manifests' and generated ones)
///   GET    /v1/persistentvolumeclaims, /v1/persistentvolumes   lists with binding status
///   GET    /v1/events[?namespace=&pod=]             v1 EventList
///   POST   /v1/manifests?name=FILE                  validates the body, writes FILE atomically
///   DELETE /v1/manifests/{FILE}                     removes FILE
///   GET    /v1/images                               stored images
///   POST   /v1/images/load                          {"path": ..., "name": ...}
///   POST   /v1/images/pull                          {"name": ...} (pull policy Always)
///   DELETE /v1/images?name=IMAGE                    removes an image no container uses
extension Agent {
    func handle(_ request: APIRequest) async -> APIResponse {
        let parts = request.components
        if request.method == "GET" && parts == ["metrics"] {
            // Prometheus text exposition (kubelet serves its prober metrics at /metrics too).
            return APIResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(context.probes.metrics.render().utf8))
        }
        guard parts.first == "v1" else { return .error(404, "unknown API version in \(request.path); this agent serves /v1") }
        switch (request.method, Array(parts.dropFirst())) {
        case ("GET", ["healthz"]):
            return json(["ok": true])
        case ("GET", ["info"]):
            return json([
                "nodeName": config.nodeName, "manifests": config.manifests, "root": config.root, "socket": config.socket,
                "nodeIP": context.network.nodeIP,
            ])
        case ("GET", ["pods"]):
            return json(PodList(items: podObjects()))
        case ("GET", let path) where path.count == 3 && path[0] == "pods":
            guard let pod = findPod(path[1], path[2]) else { return .error(404, "pods \"\(path[2])\" not found") }
            return json(pod)
        case ("GET", let path) where path.count == 4 && path[0] == "pods" && path[3] == "security":
            guard let report = securityReport(namespace: path[1], name: path[2]) else { return .error(404, "pods \"\(path[2])\" not found") }
            return json(report)
        case ("GET", let path) where path.count == 4 && path[0] == "pods" && path[3] == "log":
            return logs(namespace: path[1], name: path[2], query: request.query)
        case ("POST", let path) where path.count == 4 && path[0] == "pods" && path[3] == "exec":
            guard let exec = try? JSONDecoder().decode(ExecRequest.self, from: request.body) else {
                return .error(400, "expected {\"container\": \"...\", \"command\": [...]}")
            }
            return await self.exec(namespace: path[1], name: path[2], container: exec.container, command: exec.command, interactive: exec.interactive ?? false)
        case ("DELETE", let path) where path.count == 3 && path[0] == "pods":
            return deletePod(namespace: path[1], name: path[2])
        case ("GET", ["configmaps"]):
            return configObjects(kind: "ConfigMap")
        case ("GET", ["secrets"]):
            return configObjects(kind: "Secret")
        case ("GET", ["services"]):
            return serviceList()
        case ("GET", ["endpoints"]):
            return endpointsList()
        case ("GET", ["endpointslices"]):
            return endpointSliceList()
        case ("GET", ["persistentvolumeclaims"]):
            return storageObjects(kind: "PersistentVolumeClaim")
        case ("GET", ["persistentvolumes"]):
            return storageObjects(kind: "PersistentVolume")
        case ("GET", ["events"]):
            var events = self.events(podUID: nil)
            if let namespace = request.query["namespace"] { events = events.filter { $0.namespace == namespace || $0.objectKind == "File" } }
            if let pod = request.query["pod"] { events = events.filter { $0.objectKind == "Pod" && $0.objectName == pod } }
            return json(EventList(items: events.map(EventObject.init)))
        case ("POST", ["manifests"]):
            return writeManifest(name: request.query["name"] ?? "", body: request.body)
        case ("DELETE", let path) where path.count == 2 && path[0] == "manifests":
            return removeManifest(path[1])
        case ("GET", ["images"]):
            do { return json(try context.images.list().map(ImageSummary.init)) } catch { return .error(500, "\(error)") }
        case ("POST", ["images", "pull"]):
            guard let pull = try? JSONDecoder().decode(ImageLoadRequest.self, from: request.body), let name = pull.name else {
                return .error(400, "expected {\"name\": \"...\"}")
            }
            do {
                let record = try await context.images.pull(name, policy: .always)
                await wakeAll()
                return json([ImageSummary(record)])
            } catch {
                return .error(422, "\(error.reason.rawValue): \(error)")
            }
        case ("DELETE", ["images"]):
            guard let name = request.query["name"], !name.isEmpty else { return .error(400, "expected ?name=IMAGE") }
            do {
                try await context.images.remove(name)
                return json(["result": "Deleted: \(name)"])
            } catch {
                return .error(409, "\(error)")
            }
        case ("POST", ["images", "load"]):
            guard let load = try? JSONDecoder().decode(ImageLoadRequest.self, from: request.body), let path = load.path else {
                return .error(400, "expected {\"path\": \"...\", \"name\": \"...\"}")
            }
            do {
                let records = try await context.images.load(path: path, name: load.name)
                await wakeAll()
                return json(records.map(ImageSummary.init))
            } catch {
                return .error(422, "loading \(path): \(error)")
            }
        default:
            return .error(404, "no route for \(request.method) \(request.path)")
        }
    }

    private func json<T: Encodable>(_ value: T) -> APIResponse {
        do { return APIResponse(status: 200, body: try KubeJSON.encoder(pretty: true).encode(value)) } catch {
            return .error(500, "encoding the response: \(error)")
        }
    }

    private func findPod(_ namespace: String, _ name: String) -> Pod? {
        podObjects().filter { $0.metadata.namespace == namespace && $0.metadata.name == name }
            .max { ($0.metadata.creationTimestamp ?? .distantPast) < ($1.metadata.creationTimestamp ?? .distantPast) }
    }

    private func logs(namespace: String, name: String, query: [String: String]) -> APIResponse {
        guard let pod = findPod(namespace, name), let uid = pod.metadata.uid else { return .error(404, "pods \"\(name)\" not found") }
        let names = (pod.spec.initContainers ?? []).map(\.name) + pod.spec.containers.map(\.name)
        let container: String
        if let requested = query["container"], !requested.isEmpty {
            guard names.contains(requested) else {
                return .error(400, "container \(requested) is not valid for pod \(name)")
            }
            container = requested
        } else if pod.spec.containers.count == 1, let only = pod.spec.containers.first {
            container = only.name
        } else {
            return .error(
                400, "a container name must be specified for pod \(name), choose one of: [\(pod.spec.containers.map(\.name).joined(separator: " "))]")
        }
        let runs = PodWorker.runs(containerRecords(uid: uid), container)
        let previous = query["previous"] == "true"
        guard let run = previous ? (runs.count > 1 ? runs[runs.count - 2] : nil) : runs.last else {
            return .error(
                400,
                previous
                    ? "previous terminated container \"\(container)\" in pod \"\(name)\" not found"
                    : "container \"\(container)\" in pod \"\(name)\" is waiting to start")
        }
        let path = config.root + "/pods/\(uid)/logs/\(container)/\(run.attempt).log"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var lines = CRILog.decode(text, timestamps: query["timestamps"] == "true")
        if let tail = query["tail"].flatMap(Int.init), tail >= 0 { lines = Array(lines.suffix(tail)) }
        return .text(lines.map { $0 + "\n" }.joined())
    }

    private func deletePod(namespace: String, name: String) -> APIResponse {
        guard let record = podRecord(namespace: namespace, name: name) else { return .error(404, "pods \"\(name)\" not found") }
        let path = config.manifests + "/" + record.file
        let file = ManifestDecoder().decodeFile(atPath: path, displayName: record.file)
        let others = file.documents.filter { $0.key != "\(namespace)/\(name)" }
        guard others.isEmpty else {
            return .error(409, "\(record.file) also defines other objects; edit the file or use delete -f \(record.file)")
        }
        return removeManifest(record.file, deleted: "pod \"\(name)\" deleted")
    }

    private func writeManifest(name: String, body: Data) -> APIResponse {
        guard !name.isEmpty, !name.contains("/"), ManifestSource.isCandidate(name) else {
            return .error(400, "invalid manifest file name \"\(name)\" (a plain name ending in .yaml, .yml or .json)")
        }
        let file = ManifestDecoder().decode(body, fileName: name)
        if !file.errorMessages.isEmpty {
            return .error(422, file.errorMessages.joined(separator: "\n"))
        }
        let target = config.manifests + "/" + name
        // Atomic: a dotfile (ignored by the source) renamed over the target.
        let temporary = config.manifests + "/.\(name).\(UUID().uuidString).tmp"
        do {
            try body.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, target) == 0 else {
                let message = String(cString: strerror(errno))
                unlink(temporary)
                return .error(500, "renaming into \(target): \(message)")
            }
        } catch {
            return .error(500, "writing \(target): \(error)")
        }
        let created = file.objects.map { object in "\(object.kind.lowercased())/\(object.key.split(separator: "/").last.map(String.init) ?? "") configured" }
        return json(["file": name, "result": created.joined(separator: "\n"), "warnings": file.warningMessages.joined(separator: "\n")])
    }

    private func removeManifest(_ name: String, deleted: String? = nil) -> APIResponse {
        guard !name.contains("/"), !name.hasPrefix(".") else { return .error(400, "invalid manifest file name \"\(name)\"") }
        let path = config.manifests + "/" + name
        guard unlink(path) == 0 else {
            return .error(errno == ENOENT ? 404 : 500, "removing \(path): \(String(cString: strerror(errno)))")
        }
        return json(["file": name, "result": deleted ?? "\(name) deleted"])
    }
}

struct PodList: Codable {
    var apiVersion = "v1"
    var kind = "PodList"
    var items: [Pod]
}

struct ExecRequest: Codable {
    var container: String?
    var command: [String]
    /// `agentctl exec -i/-t`: answer with where the container is instead of running the command.
    var interactive: Bool?
}

/// For an interactive exec: the runtime command line that attaches the caller's terminal to a new process
/// in the container (`minirun --root R exec [-t] ID CMD...`). The API is root-only and on this node, so the
/// client runs it itself and the terminal never crosses the socket.
struct ExecTarget: Codable {
    var runtime: String
    var runtimeRoot: String
    var containerID: String
}

struct ExecResult: Codable {
    var exitCode: Int32
    var stdout: String
    var stderr: String
}

struct ImageLoadRequest: Codable {
    var path: String?
    var name: String?
}

struct ImageSummary: Codable {
    var id: String
    var repoTags: [String]
    var repoDigests: [String]
    var size: Int64
    var created: Date

    init(_ record: ImageRecord) {
        id = record.id.description
        repoTags = record.repoTags
        repoDigests = record.repoDigests
        size = record.size
        created = record.created
    }
}

/// A Kubernetes v1 Event (the fields `kubectl get events` and `describe` use).
struct EventObject: Codable {
    struct Meta: Codable {
        var name: String
        var namespace: String
    }
    struct InvolvedObject: Codable {
        var kind: String
        var name: String
        var namespace: String
        var uid: String?
        var fieldPath: String?
    }
    struct Source: Codable { var component: String }
    var apiVersion = "v1"
    var kind = "Event"
    var metadata: Meta
    var involvedObject: InvolvedObject
    var type: String
    var reason: String
    var message: String
    var count: Int
    var firstTimestamp: Date
    var lastTimestamp: Date
    var source: Source

    init(_ record: EventRecord) {
        metadata = Meta(name: "\(record.objectName).\(record.id ?? 0)", namespace: record.namespace)
        involvedObject = InvolvedObject(
            kind: record.objectKind, name: record.objectName, namespace: record.namespace, uid: record.podUID.isEmpty ? nil : record.podUID,
            fieldPath: record.fieldPath)
        type = record.type
        reason = record.reason
        message = record.message
        count = record.count
        firstTimestamp = record.firstTimestamp
        lastTimestamp = record.lastTimestamp
        source = Source(component: "kubelet")
    }
}

struct EventList: Codable {
    var apiVersion = "v1"
    var kind = "EventList"
    var items: [EventObject]
}

/// CRI log lines: `<RFC3339Nano> <stream> <P|F> <content>`; P (partial) records join the next.
enum CRILog {
    static func decode(_ text: String, timestamps: Bool) -> [String] {
        var lines: [String] = []
        var partial = ""
        var partialTime: Substring?
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count >= 3 else { continue }
            let content = fields.count == 4 ? String(fields[3]) : ""
            if partialTime == nil { partialTime = fields[0] }
            if fields[2] == "P" {
                partial += content
                continue
            }
            let full = partial + content
            lines.append(timestamps ? "\(partialTime ?? fields[0]) \(full)" : full)
            partial = ""
            partialTime = nil
        }
        if !partial.isEmpty { lines.append(partial) }
        return lines
    }
}
