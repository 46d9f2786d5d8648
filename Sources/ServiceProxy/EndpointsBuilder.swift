import Foundation
import KubeAPI

/// Turns Services plus Pods (or hand-written Endpoints) into the proxier's input, the endpoints controller's way.
public enum EndpointsBuilder {
    /// A problem that leaves a port without some endpoints, for an event on the Service.
    public struct Problem: Hashable, Sendable, CustomStringConvertible {
        /// The object the problem is about: a Service's key, or an EndpointSlice's for `sliceProblems`.
        public var service: String
        public var message: String
        public var description: String { "\(service): \(message)" }
    }

    /// Endpoints of one Service port from pods: pods in the Service's namespace whose labels match the selector and
    /// that have an IP. `ready = publishNotReadyAddresses || (PodReady && !terminating)` (endpointslice
    /// `podToEndpoint`); terminating pods are never ready. A named targetPort resolves per pod through its
    /// containers' ports (name and protocol must match); pods without that port are skipped.
    public static func endpoints(for service: Service, port: ServicePort, pods: [Pod]) -> [ServiceEndpoint] {
        guard let selector = service.spec.selector, !selector.isEmpty else { return [] }
        let namespace = service.metadata.namespace ?? Defaults.namespace
        let proto = port.protocol ?? "TCP"
        var out: [ServiceEndpoint] = []
        for pod in pods where (pod.metadata.namespace ?? Defaults.namespace) == namespace {
            let labels = pod.metadata.labels ?? [:]
            guard selector.allSatisfy({ labels[$0.key] == $0.value }) else { continue }
            guard let ip = pod.status?.podIP, !ip.isEmpty else { continue }
            if pod.status?.phase == "Succeeded" || pod.status?.phase == "Failed" { continue }
            guard let targetPort = resolve(port.targetPort ?? .int(port.port), protocol: proto, in: pod) else { continue }
            let podReady = pod.status?.conditions?.contains { $0.type == "Ready" && $0.status == "True" } ?? false
            let terminating = pod.metadata.deletionTimestamp != nil
            let ready = (service.spec.publishNotReadyAddresses ?? false) || (podReady && !terminating)
            out.append(ServiceEndpoint(ip: ip, port: Int(targetPort), ready: ready, serving: podReady, terminating: terminating))
        }
        return out.sorted()
    }

    /// `FindPort`: a number as is; a name through the containers' ports with the same protocol.
    public static func resolve(_ targetPort: IntOrString, protocol proto: String, in pod: Pod) -> Int32? {
        switch targetPort {
        case .int(let value): return value
        case .string(let name):
            for container in pod.spec.containers {
                for port in container.ports ?? [] where port.name == name && (port.protocol ?? "TCP") == proto {
                    return port.containerPort
                }
            }
            return nil
        }
    }

    /// Endpoints of one Service port from a hand-written Endpoints object (selector-less Services): subsets' ports
    /// matched by name (and protocol); `notReadyAddresses` are published not ready.
    public static func endpoints(for port: ServicePort, from object: Endpoints) -> [ServiceEndpoint] {
        var out: [ServiceEndpoint] = []
        for subset in object.subsets ?? [] {
            for endpointPort in subset.ports ?? []
            where (endpointPort.name ?? "") == (port.name ?? "") && (endpointPort.protocol ?? "TCP") == (port.protocol ?? "TCP") {
                for address in subset.addresses ?? [] { out.append(ServiceEndpoint(ip: address.ip, port: Int(endpointPort.port))) }
                for address in subset.notReadyAddresses ?? [] {
                    out.append(ServiceEndpoint(ip: address.ip, port: Int(endpointPort.port), ready: false))
                }
            }
        }
        return out.sorted()
    }

    /// Endpoints of one Service port from the EndpointSlices of its Service, the way kube-proxy's endpoint slice cache
    /// reads them: IPv4 slices only; slice ports matched by name and protocol, ports without a number skipped; the
    /// first address of each endpoint; unset `ready`/`serving` mean true, unset `terminating` false.
    public static func endpoints(for port: ServicePort, from slices: [EndpointSlice]) -> [ServiceEndpoint] {
        var out: [ServiceEndpoint] = []
        for slice in slices.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) where slice.addressType == "IPv4" {
            for slicePort in slice.ports ?? []
            where (slicePort.name ?? "") == (port.name ?? "") && (slicePort.protocol ?? "TCP") == (port.protocol ?? "TCP") {
                guard let number = slicePort.port, number > 0 else { continue }
                for endpoint in slice.endpoints {
                    guard let address = endpoint.addresses.first else { continue }
                    let conditions = endpoint.conditions ?? EndpointConditions()
                    out.append(
                        ServiceEndpoint(
                            ip: address, port: Int(number), ready: conditions.ready ?? true, serving: conditions.serving ?? true,
                            terminating: conditions.terminating ?? false))
                }
            }
        }
        return out
    }

    /// The label by which an Endpoints object opts out of mirroring into an EndpointSlice (so kube-proxy ignores it).
    public static let skipMirrorLabel = "endpointslice.kubernetes.io/skip-mirror"

    /// The proxier's view of allocated Services: one entry per port. Services with a selector take endpoints from
    /// `pods`; selector-less ones from the EndpointSlices labelled with their name plus the Endpoints object of the same
    /// name, as in a cluster, where the mirroring controller copies such an Endpoints object into a slice (unless it is
    /// labelled `endpointslice.kubernetes.io/skip-mirror: "true"`) and kube-proxy merges every slice of the Service;
    /// an `ip:port` listed twice counts once (slices first, in name order). Headless and ExternalName services have
    /// nothing to program. `nodeIPs` are the LoadBalancer ingress addresses (k3s ServiceLB style).
    public static func servicePorts(
        services: [Service], pods: [Pod], endpointObjects: [Endpoints], endpointSlices: [EndpointSlice] = [], nodeIPs: [String]
    ) -> [ProxyServicePort] {
        let endpointsByKey = Dictionary(
            endpointObjects.filter { $0.metadata.labels?[skipMirrorLabel] != "true" }.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        let slicesByService = Dictionary(grouping: endpointSlices.compactMap { slice in slice.serviceKey.map { ($0, slice) } }, by: \.0)
            .mapValues { $0.map(\.1) }
        var out: [ProxyServicePort] = []
        for service in services {
            guard service.spec.type != "ExternalName", !service.spec.isHeadless, let clusterIP = service.spec.clusterIP, !clusterIP.isEmpty else {
                continue
            }
            let namespace = service.metadata.namespace ?? Defaults.namespace
            let name = service.metadata.name ?? ""
            for port in service.spec.ports ?? [] {
                guard let proto = ServiceProtocol(rawValue: port.protocol ?? "TCP"), proto != .sctp else { continue }
                let list: [ServiceEndpoint]
                if let selector = service.spec.selector, !selector.isEmpty {
                    list = endpoints(for: service, port: port, pods: pods)
                } else {
                    var seen: Set<String> = []
                    let merged =
                        endpoints(for: port, from: slicesByService[service.key] ?? [])
                        + (endpointsByKey[service.key].map { endpoints(for: port, from: $0) } ?? [])
                    list = merged.filter { seen.insert($0.hostPort).inserted }.sorted()
                }
                let affinity = service.spec.sessionAffinity == "ClientIP"
                out.append(
                    ProxyServicePort(
                        name: ServicePortName(namespace: namespace, name: name, port: port.name ?? ""), protocol: proto, clusterIP: clusterIP,
                        port: Int(port.port), nodePort: port.nodePort.flatMap { $0 == 0 ? nil : Int($0) },
                        loadBalancerIPs: service.spec.type == "LoadBalancer" ? nodeIPs : [],
                        affinityTimeoutSeconds: affinity
                            ? Int(service.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? Defaults.sessionAffinityTimeoutSeconds) : nil,
                        externalPolicyLocal: service.spec.externalTrafficPolicy == "Local", endpoints: list))
            }
        }
        return out.sorted { ($0.name, $0.protocol) < ($1.name, $1.protocol) }
    }

    /// EndpointSlices that feed no Service: their `kubernetes.io/service-name` names no Service of their namespace, or
    /// a Service with a selector (whose endpoints come from its pods). `services` are all the Services the manifests
    /// define, allocated or not. For events on the slice.
    public static func sliceProblems(services: [Service], slices: [EndpointSlice]) -> [Problem] {
        let byKey = Dictionary(services.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        var out: [Problem] = []
        for slice in slices {
            guard let serviceKey = slice.serviceKey else { continue }
            let label = "\(EndpointSlice.serviceNameLabel)=\(slice.metadata.labels?[EndpointSlice.serviceNameLabel] ?? "")"
            guard let service = byKey[serviceKey] else {
                out.append(Problem(service: slice.key, message: "\(label): no Service \(serviceKey) is defined; the slice is unused"))
                continue
            }
            if let selector = service.spec.selector, !selector.isEmpty {
                out.append(
                    Problem(
                        service: slice.key,
                        message: "\(label): Service \(serviceKey) has a selector, so its endpoints come from its pods; the slice is ignored"))
            }
        }
        return out.sorted { $0.description < $1.description }
    }

    /// Named targetPorts no selected pod defines, and selectors that match nothing: for events on the Service.
    public static func problems(services: [Service], pods: [Pod]) -> [Problem] {
        var out: [Problem] = []
        for service in services {
            guard let selector = service.spec.selector, !selector.isEmpty else { continue }
            let namespace = service.metadata.namespace ?? Defaults.namespace
            let selected = pods.filter { pod in
                (pod.metadata.namespace ?? Defaults.namespace) == namespace && selector.allSatisfy { pod.metadata.labels?[$0.key] == $0.value }
            }
            if selected.isEmpty {
                out.append(Problem(service: service.key, message: "selector matches no pods; the service has no endpoints"))
                continue
            }
            for port in service.spec.ports ?? [] {
                guard case .string(let name) = port.targetPort else { continue }
                if !selected.contains(where: { resolve(.string(name), protocol: port.protocol ?? "TCP", in: $0) != nil }) {
                    out.append(
                        Problem(service: service.key, message: "no selected pod has a container port named \(goQuote(name)) (\(port.protocol ?? "TCP"))"))
                }
            }
        }
        return out
    }
}

/// The EndpointSlice controller's output for Services with a selector: what `kubectl get endpointslices` shows on a
/// cluster, derived from the same endpoints the proxier programs. Slices are grouped by port set (pods that resolve
/// a named targetPort to different numbers land in different slices, as upstream), IPv4, not-ready pods included
/// with `ready: false`. Upstream names slices `<service>-<5 random characters>`; here the suffix is a hash of the port
/// set, so a slice keeps its name for as long as its ports stay the same.
public enum EndpointSliceController {
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let managedBy = "endpointslice-controller.k8s.io"

    public static func slices(services: [Service], ports: [ProxyServicePort], nodeName: String) -> [EndpointSlice] {
        var out: [EndpointSlice] = []
        for service in services {
            guard let selector = service.spec.selector, !selector.isEmpty, let name = service.metadata.name else { continue }
            let namespace = service.metadata.namespace ?? Defaults.namespace
            let mine = ports.filter { $0.name.namespace == namespace && $0.name.name == name }
            // Per pod address: its ports (one entry per service port it serves) and its conditions.
            var portsByIP: [String: Set<EndpointSlicePort>] = [:]
            var conditionsByIP: [String: EndpointConditions] = [:]
            for port in mine {
                for endpoint in port.endpoints {
                    portsByIP[endpoint.ip, default: []].insert(
                        EndpointSlicePort(name: port.name.port, port: Int32(endpoint.port), protocol: port.protocol.rawValue))
                    conditionsByIP[endpoint.ip] = EndpointConditions(ready: endpoint.ready, serving: endpoint.serving, terminating: endpoint.terminating)
                }
            }
            var groups: [[EndpointSlicePort]: [String]] = [:]
            for (ip, set) in portsByIP { groups[set.sorted { ($0.name ?? "", $0.port ?? 0) < ($1.name ?? "", $1.port ?? 0) }, default: []].append(ip) }
            // A Service whose selector matches nothing still has one slice, with no endpoints and its ports unresolved.
            if groups.isEmpty { groups[[]] = [] }
            for (slicePorts, ips) in groups.sorted(by: { $0.value.min() ?? "" < $1.value.min() ?? "" }) {
                let signature = slicePorts.map { "\($0.name ?? "")/\($0.port ?? 0)/\($0.protocol ?? "")" }.joined(separator: ",")
                var metadata = ObjectMeta(name: name + "-" + ChainNames.hash("\(namespace)/\(name)|\(signature)", length: 5).lowercased(), namespace: namespace)
                metadata.labels = [EndpointSlice.serviceNameLabel: name, managedByLabel: managedBy]
                metadata.creationTimestamp = service.metadata.creationTimestamp
                let endpoints = ips.sorted().map { ip in
                    var endpoint = EndpointSliceEndpoint(addresses: [ip], conditions: conditionsByIP[ip])
                    endpoint.nodeName = nodeName
                    return endpoint
                }
                out.append(EndpointSlice(metadata: metadata, addressType: "IPv4", endpoints: endpoints, ports: slicePorts.isEmpty ? nil : slicePorts))
            }
        }
        return out
    }
}
