import Foundation
import KubeAPI
import Testing

@testable import ServiceProxy

/// A slice document for the Service `ext` with the given body below `metadata`.
private func sliceYAML(_ body: String, labels: String = "{kubernetes.io/service-name: ext}", name: String = "ext-1") -> String {
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: \(name), labels: \(labels)}\n\(body)\n"
}

private func decodeSlice(_ yaml: String) throws -> EndpointSlice {
    let doc = try #require(decodeOne(yaml))
    #expect(doc.errors.isEmpty, "\(doc.errors)")
    guard case .endpointSlice(let slice) = try #require(doc.object) else { throw SliceTestError.notASlice }
    return slice
}

private enum SliceTestError: Error { case notASlice }

/// A selector-less ClusterIP Service `ext` with one port.
private func selectorless(_ port: ServicePort) -> Service {
    var svc = Service(metadata: ObjectMeta(name: "ext", namespace: "default"), spec: ServiceSpec(type: "ClusterIP", ports: [port]))
    svc.spec.clusterIP = "10.96.0.20"
    Defaults.apply(to: &svc)
    return svc
}

@Suite("EndpointSlice manifests")
struct EndpointSliceTests {
    @Test func decodesDefaultsAndConditions() throws {
        let slice = try decodeSlice(
            sliceYAML(
                """
                addressType: IPv4
                endpoints:
                - addresses: [10.1.0.2, 10.1.0.9]
                - addresses: [10.1.0.3]
                  conditions: {ready: false}
                - addresses: [10.1.0.4]
                  conditions: {ready: false, serving: true, terminating: true}
                  targetRef: {kind: Pod, name: old}
                ports:
                - {name: http, port: 8080}
                - {name: dns, port: 53, protocol: UDP}
                """))
        #expect(slice.metadata.namespace == "default")
        #expect(slice.serviceKey == "default/ext")
        #expect(slice.ports == [EndpointSlicePort(name: "http", port: 8080, protocol: "TCP"), EndpointSlicePort(name: "dns", port: 53, protocol: "UDP")])
        let http = EndpointsBuilder.endpoints(for: ServicePort(name: "http", protocol: "TCP", port: 80), from: [slice])
        // Unset conditions are ready; only the first address counts.
        #expect(
            http == [
                ServiceEndpoint(ip: "10.1.0.2", port: 8080),
                ServiceEndpoint(ip: "10.1.0.3", port: 8080, ready: false, serving: true),
                ServiceEndpoint(ip: "10.1.0.4", port: 8080, ready: false, serving: true, terminating: true),
            ])
        let dns = EndpointsBuilder.endpoints(for: ServicePort(name: "dns", protocol: "UDP", port: 53), from: [slice])
        #expect(dns.map(\.hostPort) == ["10.1.0.2:53", "10.1.0.3:53", "10.1.0.4:53"])
        // Name and protocol must both match.
        #expect(EndpointsBuilder.endpoints(for: ServicePort(name: "dns", protocol: "TCP", port: 53), from: [slice]).isEmpty)
        #expect(EndpointsBuilder.endpoints(for: ServicePort(protocol: "TCP", port: 80), from: [slice]).isEmpty)
        // A port without a number is skipped (kube-proxy: port nil or 0).
        var unnumbered = slice
        unnumbered.ports = [EndpointSlicePort(name: "http", port: nil, protocol: "TCP")]
        #expect(EndpointsBuilder.endpoints(for: ServicePort(name: "http", protocol: "TCP", port: 80), from: [unnumbered]).isEmpty)
    }

    @Test(
        arguments: [
            (
                "addressType: IPv4\nendpoints: []", "{app: ext}",
                "svc.yaml: metadata.labels[kubernetes.io/service-name]: Required value: the name of the Service this EndpointSlice belongs to"
            ),
            ("endpoints: []", nil, "svc.yaml: addressType: Required value"),
            ("addressType: IPv5\nendpoints: []", nil, "svc.yaml: addressType: Unsupported value: \"IPv5\": supported values: \"FQDN\", \"IPv4\", \"IPv6\""),
            ("addressType: IPv4\nendpoints: [{addresses: []}]", nil, "svc.yaml: endpoints[0].addresses: Required value: must contain at least 1 address"),
            (
                "addressType: IPv4\nendpoints: [{addresses: [10.0.0.300]}]", nil,
                "svc.yaml: endpoints[0].addresses[0]: Invalid value: \"10.0.0.300\": must be a valid IPv4 address"
            ),
            (
                "addressType: IPv4\nendpoints: [{addresses: [\"fd00::1\"]}]", nil,
                "svc.yaml: endpoints[0].addresses[0]: Invalid value: \"fd00::1\": must be a valid IPv4 address"
            ),
            (
                "addressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]", nil,
                "svc.yaml: endpoints[0].addresses[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)"
            ),
            (
                "addressType: IPv4\nendpoints: [{addresses: [169.254.1.1]}]", nil,
                "svc.yaml: endpoints[0].addresses[0]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)"
            ),
            (
                "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], hostname: Web_1}]", nil,
                "svc.yaml: endpoints[0].hostname: Invalid value: \"Web_1\": a lowercase RFC 1123 label"
            ),
            ("addressType: IPv4\nendpoints: []\nports: [{port: 80}, {port: 81}]", nil, "svc.yaml: ports[1].name: Duplicate value: \"\""),
            (
                "addressType: IPv4\nendpoints: []\nports: [{port: 80, protocol: ICMP}]", nil,
                "svc.yaml: ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            ),
            (
                "addressType: IPv4\nendpoints: []\nports: [{port: 70000}]", nil,
                "svc.yaml: ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"
            ),
            (
                "addressType: IPv4\nendpoints: [{addresses: [10.0.0.1], conditions: {ready: maybe}}]", nil,
                "svc.yaml: endpoints[0].conditions.ready: Invalid value: \"maybe\": expected true or false"
            ),
        ] as [(String, String?, String)])
    func validationMessagesNameFileAndField(body: String, labels: String?, expected: String) throws {
        let yaml = labels.map { sliceYAML(body, labels: $0) } ?? sliceYAML(body)
        let file = ManifestDecoder().decode(yaml, fileName: "svc.yaml")
        #expect(file.objects.isEmpty)
        #expect(file.errorMessages.contains { $0.hasPrefix(expected) }, "\(file.errorMessages)")
    }

    @Test func onlyDiscoveryV1() throws {
        let file = ManifestDecoder().decode(
            "apiVersion: v1\nkind: EndpointSlice\nmetadata: {name: x}\naddressType: IPv4\nendpoints: []\n", fileName: "svc.yaml")
        #expect(file.errorMessages == ["svc.yaml: apiVersion: Unsupported value: \"v1\": supported values: \"discovery.k8s.io/v1\""])
    }

    /// IPv6 and FQDN slices are valid API objects but this node's proxier is IPv4 only: a warning, and no endpoints.
    @Test(arguments: [("IPv6", "fd00::5"), ("FQDN", "db.example.com")])
    func otherAddressTypesWarnAndAreIgnored(type: String, address: String) throws {
        let yaml = sliceYAML("addressType: \(type)\nendpoints: [{addresses: [\"\(address)\"]}]\nports: [{port: 5432}]")
        let file = ManifestDecoder().decode(yaml, fileName: "db.yaml")
        #expect(file.errorMessages.isEmpty, "\(file.errorMessages)")
        #expect(
            file.warningMessages == [
                "db.yaml: addressType: \"\(type)\": the service proxy on this node is IPv4 only; the slice's endpoints are ignored"
            ])
        let slice = try decodeSlice(yaml)
        #expect(EndpointsBuilder.endpoints(for: ServicePort(protocol: "TCP", port: 5432), from: [slice]).isEmpty)
    }

    /// Several slices and a mirrored Endpoints object merge; an `ip:port` counts once; `skip-mirror` Endpoints and
    /// slices of a Service with a selector do not count.
    @Test func slicesMergeForSelectorlessServices() throws {
        let svc = selectorless(ServicePort(protocol: "TCP", port: 80, targetPort: .int(8080)))
        let one = try decodeSlice(sliceYAML("addressType: IPv4\nendpoints: [{addresses: [10.1.0.2]}]\nports: [{port: 8080}]"))
        let two = try decodeSlice(
            sliceYAML("addressType: IPv4\nendpoints: [{addresses: [10.1.0.3]}, {addresses: [10.1.0.2]}]\nports: [{port: 8080}]", name: "ext-2"))
        var endpoints = Endpoints(metadata: ObjectMeta(name: "ext", namespace: "default"))
        endpoints.subsets = [EndpointSubset(addresses: [EndpointAddress(ip: "10.1.0.4"), EndpointAddress(ip: "10.1.0.3")], ports: [EndpointPort(port: 8080)])]
        func addresses(_ slices: [EndpointSlice], _ objects: [Endpoints]) -> [String] {
            EndpointsBuilder.servicePorts(services: [svc], pods: [], endpointObjects: objects, endpointSlices: slices, nodeIPs: []).flatMap {
                $0.endpoints.map(\.hostPort)
            }
        }
        #expect(addresses([one, two], []) == ["10.1.0.2:8080", "10.1.0.3:8080"])
        #expect(addresses([two, one], [endpoints]) == ["10.1.0.2:8080", "10.1.0.3:8080", "10.1.0.4:8080"])
        endpoints.metadata.labels = [EndpointsBuilder.skipMirrorLabel: "true"]
        #expect(addresses([one], [endpoints]) == ["10.1.0.2:8080"])
        // Editing a slice to drop its address leaves the Service without endpoints (REJECT).
        var empty = one
        empty.endpoints = []
        #expect(addresses([empty], []).isEmpty)

        var selected = svc
        selected.spec.selector = ["app": "ext"]
        #expect(
            EndpointsBuilder.servicePorts(services: [selected], pods: [], endpointObjects: [], endpointSlices: [one], nodeIPs: []).flatMap(\.endpoints)
                .isEmpty)
        let orphan = try decodeSlice(sliceYAML("addressType: IPv4\nendpoints: []", labels: "{kubernetes.io/service-name: gone}", name: "gone-1"))
        #expect(
            EndpointsBuilder.sliceProblems(services: [selected], slices: [one, orphan]).map(\.description) == [
                "default/ext-1: kubernetes.io/service-name=ext: Service default/ext has a selector, so its endpoints come from its pods; the slice is ignored",
                "default/gone-1: kubernetes.io/service-name=gone: no Service default/gone is defined; the slice is unused",
            ])
        #expect(EndpointsBuilder.sliceProblems(services: [svc], slices: [one]).isEmpty)
    }

    @Test func getEndpointSlicesRow() throws {
        var slice = try decodeSlice(
            sliceYAML("addressType: IPv4\nendpoints: [{addresses: [10.1.0.2]}, {addresses: [10.1.0.3]}, {addresses: [10.1.0.4]}, {addresses: [10.1.0.5]}]"))
        let now = Date(timeIntervalSince1970: 1_000_000)
        slice.metadata.creationTimestamp = now.addingTimeInterval(-60)
        #expect(
            ServiceTables.endpointSliceRow(slice, now: now) == [
                "ext-1", "IPv4", "<unset>", "10.1.0.2,10.1.0.3,10.1.0.4 + 1 more...", HumanDuration.format(seconds: 60),
            ])
        slice.ports = [EndpointSlicePort(name: "http", port: 8080), EndpointSlicePort(name: "any", port: nil)]
        #expect(ServiceTables.endpointSliceRow(slice, now: now)[2] == "8080,any")
    }

    /// examples/endpointslice-service.yaml decodes cleanly and feeds its Service.
    @Test func exampleFile() throws {
        let path =
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            + "/examples/endpointslice-service.yaml"
        let file = ManifestDecoder().decodeFile(atPath: path)
        #expect(file.errorMessages.isEmpty && file.warningMessages.isEmpty, "\(file.errorMessages) \(file.warningMessages)")
        var services: [Service] = []
        var slices: [EndpointSlice] = []
        for object in file.objects {
            switch object {
            case .service(var svc):
                svc.spec.clusterIP = "10.96.0.30"
                services.append(svc)
            case .endpointSlice(let slice): slices.append(slice)
            default: Issue.record("unexpected \(object.kind)")
            }
        }
        let ports = EndpointsBuilder.servicePorts(services: services, pods: [], endpointObjects: [], endpointSlices: slices, nodeIPs: [])
        #expect(ports.map(\.name.description) == ["default/db:pg"])
        #expect(ports.flatMap(\.usableEndpoints).map(\.hostPort) == ["10.88.0.10:5432"])
    }
}

@Suite("EndpointSlices generated for Services with a selector")
struct GeneratedEndpointSliceTests {
    private func service(_ name: String, selector: [String: String]?) -> Service {
        var svc = Service(metadata: ObjectMeta(name: name, namespace: "default"), spec: ServiceSpec(type: "ClusterIP", ports: [], selector: selector))
        svc.spec.clusterIP = "10.96.0.30"
        return svc
    }

    @Test func groupsPodsByPortSetWithConditions() throws {
        let web = ServicePortName(namespace: "default", name: "web", port: "http")
        let metrics = ServicePortName(namespace: "default", name: "web", port: "metrics")
        let ports = [
            // 10.1.0.3 resolves the named targetPort "http" to 8081, the others to 8080: a slice of its own.
            ProxyServicePort(
                name: web, clusterIP: "10.96.0.30", port: 80,
                endpoints: [
                    ServiceEndpoint(ip: "10.1.0.2", port: 8080), ServiceEndpoint(ip: "10.1.0.3", port: 8081),
                    ServiceEndpoint(ip: "10.1.0.4", port: 8080, ready: false, serving: true, terminating: true),
                ]),
            ProxyServicePort(
                name: metrics, clusterIP: "10.96.0.30", port: 9100,
                endpoints: [
                    ServiceEndpoint(ip: "10.1.0.2", port: 9100), ServiceEndpoint(ip: "10.1.0.3", port: 9100),
                    ServiceEndpoint(ip: "10.1.0.4", port: 9100, ready: false, serving: true, terminating: true),
                ]),
            // Another Service's port is not mixed in.
            ProxyServicePort(
                name: ServicePortName(namespace: "default", name: "other", port: "http"), clusterIP: "10.96.0.31", port: 80,
                endpoints: [ServiceEndpoint(ip: "10.1.0.9", port: 80)]),
        ]
        let slices = EndpointSliceController.slices(services: [service("web", selector: ["app": "web"])], ports: ports, nodeName: "node-a")
        #expect(slices.count == 2)
        let first = try #require(slices.first)
        #expect(first.metadata.name?.hasPrefix("web-") == true && first.metadata.name?.count == 9)
        #expect(first.metadata.labels?[EndpointSlice.serviceNameLabel] == "web")
        #expect(first.metadata.labels?[EndpointSliceController.managedByLabel] == EndpointSliceController.managedBy)
        #expect(first.serviceKey == "default/web")
        #expect(first.endpoints.map(\.addresses) == [["10.1.0.2"], ["10.1.0.4"]])
        #expect(
            first.endpoints.map(\.conditions) == [
                EndpointConditions(ready: true, serving: true, terminating: false), EndpointConditions(ready: false, serving: true, terminating: true),
            ])
        #expect(first.endpoints.allSatisfy { $0.nodeName == "node-a" })
        #expect(first.ports == [EndpointSlicePort(name: "http", port: 8080, protocol: "TCP"), EndpointSlicePort(name: "metrics", port: 9100, protocol: "TCP")])
        #expect(slices[1].endpoints.map(\.addresses) == [["10.1.0.3"]])
        #expect(slices[1].ports?.first == EndpointSlicePort(name: "http", port: 8081, protocol: "TCP"))
        // Stable names: the same input gives the same slices.
        #expect(EndpointSliceController.slices(services: [service("web", selector: ["app": "web"])], ports: ports, nodeName: "node-a") == slices)
        // The slices read back as the proxier's endpoints (the selector-less path) give the same endpoints.
        let readBack = EndpointsBuilder.endpoints(for: ServicePort(name: "http", protocol: "TCP", port: 80), from: slices)
        #expect(readBack.sorted() == ports[0].endpoints)
    }

    @Test func emptySelectionKeepsOneEmptySliceAndSelectorlessGetsNone() {
        let empty = EndpointSliceController.slices(services: [service("idle", selector: ["app": "none"])], ports: [], nodeName: "n")
        #expect(empty.count == 1 && empty.first?.endpoints == [] && empty.first?.ports == nil)
        #expect(EndpointSliceController.slices(services: [service("ext", selector: nil)], ports: [], nodeName: "n").isEmpty)
    }
}
