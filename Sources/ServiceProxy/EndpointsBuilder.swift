import Foundation
import KubeAPI

/// Turns Services plus Pods (or hand-written Endpoints) into the proxier's input, the endpoints controller's way.
public enum EndpointsBuilder {
    /// A problem that leaves a port without some endpoints, for an event on the Service.
    public struct Problem: Hashable, Sendable, CustomStringConvertible {
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

    /// The proxier's view of allocated Services: one entry per port. Services with a selector take endpoints from
    /// `pods`; selector-less ones from the Endpoints object of the same name. Headless and ExternalName services
    /// have nothing to program. `nodeIPs` are the LoadBalancer ingress addresses (k3s ServiceLB style).
    public static func servicePorts(services: [Service], pods: [Pod], endpointObjects: [Endpoints], nodeIPs: [String]) -> [ProxyServicePort] {
        let endpointsByKey = Dictionary(endpointObjects.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
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
                } else if let object = endpointsByKey[service.key] {
                    list = endpoints(for: port, from: object)
                } else {
                    list = []
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
