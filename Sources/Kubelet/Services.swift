import AgentAPI
import Foundation
import KubeAPI
import ServiceProxy
import Synchronization

/// Service flags: `--proxy-mode`, `--service-cidr`, `--service-node-port-range`.
public struct ServiceSettings: Sendable {
    public var proxyMode: ProxyMode
    public var serviceCIDR: String
    public var nodePortRange: ClosedRange<Int32>

    public init(proxyMode: ProxyMode = .iptables, serviceCIDR: String = "10.96.0.0/16", nodePortRange: ClosedRange<Int32> = 30000...32767) {
        self.proxyMode = proxyMode
        self.serviceCIDR = serviceCIDR
        self.nodePortRange = nodePortRange
    }

    /// `30000-32767` → 30000...32767; nil when malformed or empty.
    public static func parseRange(_ text: String) -> ClosedRange<Int32>? {
        let parts = text.split(separator: "-").map { Int32($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low > 0, low <= high, high <= 65535 else { return nil }
        return low...high
    }
}

/// The allocation state file `<root>/services.json`: what each Service holds, and when the agent first saw it.
struct ServiceStateFile: Codable {
    var allocation: AllocationState
    var created: [String: Date]
}

/// The agent's Services: allocation on every manifest scan, endpoints from the pods, the proxier fed on change.
/// Shared by the agent (writer) and the pod workers (service environment variables).
final class ServiceController: Sendable {
    private struct State {
        var allocator: ServiceAllocator
        var created: [String: Date]
        /// Allocated Services (those whose allocation failed are absent: no partial rules).
        var services: [Service] = []
        var endpointObjects: [Endpoints] = []
        var endpointSlices: [EndpointSlice] = []
        /// When the agent first saw each slice (in memory: a slice has no allocation to persist).
        var sliceCreated: [String: Date] = [:]
        var files: [String: String] = [:]
        var lastProblems: Set<String> = []
        /// Slice problems already reported (names no Service, or one with a selector), to report each once.
        var lastSliceProblems: Set<String> = []
        var lastProxyState: ProxyState?
        /// Endpoint problems already reported (selector matches nothing, unknown named port), to report each once.
        var lastEndpointProblems: Set<EndpointsBuilder.Problem> = []
        var ports: [ProxyServicePort] = []
        var scanned = false
    }
    private let state: Mutex<State>
    let proxier: ServiceProxier
    let settings: ServiceSettings
    let statePath: String

    init(settings: ServiceSettings, network: NetworkSettings, root: String) throws(AgentError) {
        guard let cidr = IPv4CIDR(settings.serviceCIDR) else { throw AgentError(description: "--service-cidr \(settings.serviceCIDR) is not an IPv4 CIDR") }
        self.settings = settings
        statePath = root + "/services.json"
        var saved = ServiceStateFile(allocation: AllocationState(), created: [:])
        if let data = FileManager.default.contents(atPath: statePath) {
            do { saved = try JSONDecoder().decode(ServiceStateFile.self, from: data) } catch {
                Log.warning("\(root)/services.json does not decode (\(error)); allocating afresh")
            }
        }
        state = Mutex(
            State(
                allocator: ServiceAllocator(serviceCIDR: cidr, nodePortRange: settings.nodePortRange, state: saved.allocation),
                created: saved.created))
        let config = ProxyConfig(podCIDR: network.podCIDR, serviceCIDR: cidr.description)
        proxier = ServiceProxier(backend: ServiceProxier.backend(mode: settings.proxyMode, config: config)) { result in
            switch result {
            case .success(let report) where report.wrote:
                Log.info(
                    "service proxy (\(report.mode.rawValue)): \(report.full ? "full" : "partial") sync wrote \(report.chainsWritten) chains, deleted \(report.chainsDeleted) in \(Int(report.milliseconds)) ms"
                )
            case .success(let report):
                if report.full { Log.info("service proxy (\(report.mode.rawValue)): full sync found the rules in place; nothing written") }
            case .failure(let error):
                Log.warning("service proxy sync failed (retrying): \(error)")
            }
        }
    }

    /// Allocated Services, for the API and environment variables.
    var services: [Service] { state.withLock { $0.services } }
    var ports: [ProxyServicePort] { state.withLock { $0.ports } }
    /// The manifest directory's EndpointSlices, for the API.
    var endpointSlices: [EndpointSlice] { state.withLock { $0.endpointSlices } }
    func file(of key: String) -> String? { state.withLock { $0.files[key] } }

    /// Allocates the Services of one manifest scan and records allocation errors as events once per change.
    /// Synchronous (no suspension), like the agent's other scan steps.
    func apply(_ objects: [SourceObject], events: EventRecorder) {
        var requested: [Service] = []
        var endpointObjects: [Endpoints] = []
        var endpointSlices: [EndpointSlice] = []
        var sliceFiles: [String: String] = [:]
        var files: [String: String] = [:]
        for source in objects {
            switch source.object {
            case .service(let service):
                requested.append(service)
                files[service.key] = source.file
            case .endpoints(let endpoints):
                endpointObjects.append(endpoints)
            case .endpointSlice(let slice):
                endpointSlices.append(slice)
                sliceFiles[slice.key] = source.file
            default:
                continue
            }
        }
        let (toSave, problems, sliceProblems): (ServiceStateFile?, [(file: String, key: String, message: String)], [(String, String, String)]) = state.withLock
        {
            state in
            let before = state.allocator.state
            let result = state.allocator.allocate(requested)
            let now = Date()
            var created: [String: Date] = [:]
            var services: [Service] = []
            for var service in result.services where result.errors[service.key] == nil {
                created[service.key] = state.created[service.key] ?? now
                service.metadata.creationTimestamp = created[service.key]
                services.append(service)
            }
            let createdChanged = created != state.created
            state.created = created
            state.services = services.sorted { $0.key < $1.key }
            state.endpointObjects = endpointObjects
            state.sliceCreated = Dictionary(endpointSlices.map { ($0.key, state.sliceCreated[$0.key] ?? now) }, uniquingKeysWith: { first, _ in first })
            state.endpointSlices = endpointSlices.map { slice in
                var slice = slice
                slice.metadata.creationTimestamp = state.sliceCreated[slice.key]
                return slice
            }.sorted { $0.key < $1.key }
            state.files = files
            state.scanned = true
            var problems: [(String, String, String)] = []
            var current: Set<String> = []
            for (key, errors) in result.errors.sorted(by: { $0.key < $1.key }) {
                let file = files[key] ?? "?"
                for error in errors {
                    let message = "\(file): \(error)"
                    current.insert(message)
                    if !state.lastProblems.contains(message) { problems.append((file, key, message)) }
                }
            }
            state.lastProblems = current
            var sliceProblems: [(String, String, String)] = []
            var currentSlice: Set<String> = []
            for problem in EndpointsBuilder.sliceProblems(services: requested, slices: endpointSlices) {
                let file = sliceFiles[problem.service] ?? "?"
                let message = "\(file): EndpointSlice \(problem.service): \(problem.message)"
                currentSlice.insert(message)
                if !state.lastSliceProblems.contains(message) { sliceProblems.append((file, problem.service, message)) }
            }
            state.lastSliceProblems = currentSlice
            let changed = before != state.allocator.state || createdChanged
            return (changed ? ServiceStateFile(allocation: state.allocator.state, created: created) : nil, problems, sliceProblems)
        }
        for problem in problems {
            events.file(problem.file, "Warning", "FailedAllocation", problem.message, objectKey: problem.key)
        }
        for (file, key, message) in sliceProblems {
            events.file(file, "Warning", "EndpointSliceIgnored", message, objectKey: key)
        }
        if let toSave { save(toSave) }
    }

    /// Written atomically (temporary file + rename): a crash leaves the old or the new state, never half.
    private func save(_ file: ServiceStateFile) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(file).write(to: URL(fileURLWithPath: statePath), options: .atomic)
        } catch {
            Log.error("cannot write the service allocations to \(statePath): \(error)")
        }
    }

    /// Endpoint problems not reported before, with the file of their Service.
    func newEndpointProblems(pods: [Pod]) -> [(file: String, problem: EndpointsBuilder.Problem)] {
        state.withLock { state in
            let current = Set(EndpointsBuilder.problems(services: state.services, pods: pods))
            let new = current.subtracting(state.lastEndpointProblems).sorted { $0.description < $1.description }
            state.lastEndpointProblems = current
            return new.map { (state.files[$0.service] ?? "?", $0) }
        }
    }

    /// The proxier's input for these pods; nil when it equals the last one handed over (or before the first scan).
    func changedState(pods: [Pod], nodeIPs: [String]) -> ProxyState? {
        state.withLock { state in
            guard state.scanned else { return nil }
            let ports = EndpointsBuilder.servicePorts(
                services: state.services, pods: pods, endpointObjects: state.endpointObjects, endpointSlices: state.endpointSlices, nodeIPs: nodeIPs)
            state.ports = ports
            let proxyState = ProxyState(services: ports)
            guard proxyState != state.lastProxyState else { return nil }
            state.lastProxyState = proxyState
            return proxyState
        }
    }

    /// kubelet's service environment (envvars.go `FromServices`) for a pod in `namespace`: Services of that namespace
    /// with a ClusterIP, by name.
    func environment(namespace: String) -> [(name: String, value: String)] {
        services.filter { ($0.metadata.namespace ?? "default") == namespace }.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
            .flatMap(ServiceEnvironment.variables(of:))
    }
}

extension Agent {
    /// Allocates the scan's Services and hands the proxier the new state.
    func applyServices(_ objects: [SourceObject]) {
        context.services.apply(objects, events: context.events)
        Task { await self.syncServices() }
    }

    /// Recomputes the endpoints from the pods' current status and updates the proxier when anything changed.
    func syncServices() async {
        let nodeIP = context.network.nodeIP
        // Without Services the pods matter to nobody here; skip reading and decoding them every second.
        let pods = context.services.services.isEmpty ? [] : podObjects(withProbeResults: false)
        for (file, problem) in context.services.newEndpointProblems(pods: pods) {
            context.events.file(
                file, "Warning", "FailedToUpdateEndpoint", "\(file): Service \(problem.service): \(problem.message)", objectKey: problem.service)
        }
        guard let state = context.services.changedState(pods: pods, nodeIPs: nodeIP.isEmpty ? [] : [nodeIP]) else { return }
        await context.services.proxier.update(state)
    }

    /// Pod workers publish status to the store; a 1 s comparison picks up IP, readiness and deletion changes
    /// (the proxier coalesces further), without a hook in every status path.
    func runServiceLoop() async {
        let proxier = context.services.proxier
        Task { await proxier.runTimer() }
        while !Task.isCancelled {
            await syncServices()
            try? await Task.sleep(for: .seconds(1))
        }
    }

    // MARK: - API

    func serviceList() -> APIResponse {
        json(ObjectList(kind: "ServiceList", items: context.services.services))
    }

    func endpointsList() -> APIResponse {
        let ports = context.services.ports
        let items = context.services.services.map { service -> Endpoints in
            let namespace = service.metadata.namespace ?? "default"
            let mine = ports.filter { $0.name.namespace == namespace && $0.name.name == service.metadata.name }
            var ready: [String: [ServicePortEndpoint]] = [:]
            var notReady: [String: [ServicePortEndpoint]] = [:]
            for port in mine {
                for endpoint in port.endpoints {
                    let entry = ServicePortEndpoint(name: port.name.port, port: endpoint.port, protocol: port.protocol.rawValue)
                    if endpoint.ready { ready[endpoint.ip, default: []].append(entry) } else { notReady[endpoint.ip, default: []].append(entry) }
                }
            }
            var subset = EndpointSubset()
            subset.addresses = ready.keys.sorted().map { EndpointAddress(ip: $0) }
            subset.notReadyAddresses = notReady.keys.sorted().map { EndpointAddress(ip: $0) }
            subset.ports = Array(Set((ready.values.flatMap { $0 } + notReady.values.flatMap { $0 }))).sorted { ($0.name, $0.port) < ($1.name, $1.port) }
                .map { EndpointPort(name: $0.name.isEmpty ? nil : $0.name, port: Int32($0.port), protocol: $0.protocol) }
            var object = Endpoints(metadata: ObjectMeta(name: service.metadata.name, namespace: namespace))
            object.metadata.creationTimestamp = service.metadata.creationTimestamp
            object.subsets = subset.ports?.isEmpty == false ? [subset] : nil
            return object
        }
        return json(ObjectList(kind: "EndpointsList", items: items))
    }

    /// The manifests' slices (selector-less Services) and the ones the EndpointSlice controller would keep for
    /// Services with a selector.
    func endpointSliceList() -> APIResponse {
        let generated = EndpointSliceController.slices(
            services: context.services.services, ports: context.services.ports, nodeName: context.config.nodeName)
        return json(ObjectList(apiVersion: "discovery.k8s.io/v1", kind: "EndpointSliceList", items: context.services.endpointSlices + generated))
    }

    private func json<T: Encodable>(_ value: T) -> APIResponse {
        do { return APIResponse(status: 200, body: try KubeJSON.encoder(pretty: true).encode(value)) } catch { return .error(500, "\(error)") }
    }
}

private struct ServicePortEndpoint: Hashable {
    var name: String
    var port: Int
    var `protocol`: String
}
