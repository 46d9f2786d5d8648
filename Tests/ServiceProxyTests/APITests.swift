import Foundation
import KubeAPI
import Testing

@testable import ServiceProxy

func decodeOne(_ yaml: String) -> ManifestDocument? {
    ManifestDecoder().decode(yaml, fileName: "svc.yaml").documents.first
}

func service(_ name: String, type: String = "NodePort", clusterIP: String? = nil, nodePort: Int32? = nil, port: Int32 = 80) -> Service {
    var spec = ServiceSpec(type: type, ports: [ServicePort(port: port, nodePort: nodePort)], selector: ["app": name])
    spec.clusterIP = clusterIP
    var svc = Service(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
    Defaults.apply(to: &svc)
    return svc
}

@Suite("Service and Endpoints manifests")
struct ServiceManifestTests {
    @Test func defaultsFollowTheAPIServer() throws {
        let doc = try #require(
            decodeOne(
                """
                apiVersion: v1
                kind: Service
                metadata: {name: web}
                spec:
                  type: NodePort
                  selector: {app: web}
                  sessionAffinity: ClientIP
                  loadBalancerIP: 1.2.3.4
                  ports: [{port: 80}]
                """))
        #expect(doc.errors.isEmpty, "\(doc.errors)")
        guard case .service(let svc) = try #require(doc.object) else { return }
        #expect(svc.spec.ports?[0].protocol == "TCP")
        #expect(svc.spec.ports?[0].targetPort == .int(80))
        #expect(svc.spec.externalTrafficPolicy == "Cluster")
        #expect(svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds == 10800)
        #expect(svc.metadata.namespace == "default")
        #expect(doc.warnings.contains { $0.message.contains("spec.loadBalancerIP: field is ignored") })
    }

    @Test(arguments: [
        (
            "ports: [{name: a, port: 80}, {name: b, port: 80}]",
            "spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"
        ),
        ("ports: [{port: 80, protocol: SCTPX}]", "spec.ports[0].protocol: Unsupported value: \"SCTPX\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
        ("ports: [{port: 80}, {port: 81}]", "spec.ports[0].name: Required value"),
        ("ports: [{port: 0}]", "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
        (
            "type: Foo\n  ports: [{port: 80}]",
            "spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""
        ),
        ("ports: [{port: 80, nodePort: 30080}]", "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
        (
            "type: NodePort\n  ports: [{name: a, port: 80, nodePort: 30080}, {name: b, port: 81, nodePort: 30080}]",
            "spec.ports[1].nodePort: Duplicate value: 30080"
        ),
        ("clusterIP: banana\n  ports: [{port: 80}]", "spec.clusterIPs[0]: Invalid value: \"banana\": must be empty, 'None', or a valid IP address"),
        ("sessionAffinity: Sticky\n  ports: [{port: 80}]", "spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""),
        ("ports: [{port: 80, targetPort: \"no_such\"}]", "spec.ports[0].targetPort: Invalid value: \"no_such\""),
        (
            "externalTrafficPolicy: Local\n  ports: [{port: 80}]",
            "spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set when `type` is 'NodePort' or 'LoadBalancer'"
        ),
    ])
    func validationMessages(spec: String, expected: String) throws {
        let doc = try #require(decodeOne("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  \(spec)\n"))
        #expect(doc.object == nil)
        #expect(doc.errors.contains { $0.description.hasPrefix(expected) }, "\(doc.errors.map(\.description))")
    }

    @Test func endpointsObject() throws {
        let doc = try #require(
            decodeOne(
                """
                apiVersion: v1
                kind: Endpoints
                metadata: {name: ext}
                subsets:
                - addresses: [{ip: 10.1.2.3}]
                  notReadyAddresses: [{ip: 10.1.2.4}]
                  ports: [{port: 5432}]
                """))
        #expect(doc.errors.isEmpty, "\(doc.errors)")
        guard case .endpoints(let object) = try #require(doc.object) else { return }
        let eps = EndpointsBuilder.endpoints(for: ServicePort(protocol: "TCP", port: 5432), from: object)
        #expect(eps == [ServiceEndpoint(ip: "10.1.2.3", port: 5432), ServiceEndpoint(ip: "10.1.2.4", port: 5432, ready: false)])
        let bad = try #require(
            decodeOne("apiVersion: v1\nkind: Endpoints\nmetadata: {name: x}\nsubsets:\n- addresses: [{ip: nope}]\n  ports: [{port: 70000}]\n"))
        #expect(
            bad.errors.map(\.description) == [
                "subsets[0].addresses[0].ip: Invalid value: \"nope\": must be a valid IP address",
                "subsets[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
            ])
    }

    @Test func serviceAndEndpointsAreNoLongerPlanned() {
        #expect(!ManifestDecoder.plannedKinds.contains("Service") && !ManifestDecoder.plannedKinds.contains("Endpoints"))
    }
}

@Suite("Allocation")
struct AllocationTests {
    static let cidr = IPv4CIDR("10.96.0.0/16")

    @Test func nodePortErrorsUseTheAPIServersWording() throws {
        var allocator = ServiceAllocator(serviceCIDR: try #require(Self.cidr))
        let (ok, errors) = allocator.allocate([
            service("a", nodePort: 30080), service("b", nodePort: 30080), service("c", nodePort: 40000), service("d", type: "ClusterIP", clusterIP: "10.0.0.5"),
        ])
        #expect(ok.map { $0.metadata.name } == ["a"])
        #expect(errors["default/b"]?.map(\.description) == ["spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"])
        #expect(
            errors["default/c"]?.map(\.description) == [
                "spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767"
            ])
        #expect(
            errors["default/d"]?.map(\.description) == [
                "spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/16"
            ])
    }

    @Test func allocationsAreStableAcrossRestartsAndKeepTheirOwners() throws {
        let cidr = try #require(Self.cidr)
        var first = ServiceAllocator(serviceCIDR: cidr)
        let (services, errors) = first.allocate([service("a"), service("b", type: "ClusterIP")])
        #expect(errors.isEmpty)
        let a = try #require(services.first { $0.metadata.name == "a" })
        let port = try #require(a.spec.ports?[0].nodePort)
        #expect((30000...32767).contains(port))
        #expect(try #require(IPv4CIDR.parse(a.spec.clusterIP ?? "")) > cidr.base + 256, "dynamic addresses come from above the static band")

        // Persist, restart, and let a newcomer ask for a's NodePort: a keeps it.
        let saved = try JSONEncoder().encode(first.state)
        var second = ServiceAllocator(serviceCIDR: cidr, state: try JSONDecoder().decode(AllocationState.self, from: saved))
        let (again, errors2) = second.allocate([service("zz-new", nodePort: port), service("a"), service("b", type: "ClusterIP")])
        #expect(again.first { $0.metadata.name == "a" }?.spec.ports?[0].nodePort == port)
        #expect(again.first { $0.metadata.name == "a" }?.spec.clusterIP == a.spec.clusterIP)
        #expect(errors2["default/zz-new"]?.first?.description.hasSuffix("provided port is already allocated") == true)
    }

    @Test func fullRange() throws {
        var allocator = ServiceAllocator(serviceCIDR: try #require(Self.cidr), nodePortRange: 30000...30000)
        let (_, errors) = allocator.allocate([service("a"), service("b")])
        #expect(errors["default/b"]?.map(\.description) == ["Internal error occurred: failed to allocate a nodePort: range is full"])
    }
}

@Suite("Endpoints from pods")
struct EndpointsBuilderTests {
    func pod(_ name: String, ip: String, ready: Bool, terminating: Bool = false, labels: [String: String] = ["app": "web"]) -> Pod {
        var container = Container(name: "c", image: "busybox")
        container.ports = [ContainerPort(containerPort: 8080, name: "http")]
        var pod = Pod(metadata: ObjectMeta(name: name, namespace: "default"), spec: PodSpec(containers: [container]))
        pod.metadata.labels = labels
        if terminating { pod.metadata.deletionTimestamp = Date() }
        var status = PodStatus()
        status.phase = "Running"
        status.podIP = ip
        status.conditions = [PodCondition(type: "Ready", status: ready ? "True" : "False")]
        pod.status = status
        return pod
    }

    @Test func readinessTerminationAndNamedPorts() {
        var svc = service("web", type: "ClusterIP")
        svc.spec.ports?[0].targetPort = .string("http")
        let pods = [
            pod("a", ip: "10.88.0.2", ready: true), pod("b", ip: "10.88.0.3", ready: false), pod("c", ip: "10.88.0.4", ready: true, terminating: true),
            pod("d", ip: "10.88.0.5", ready: true, labels: ["app": "other"]),
        ]
        let eps = EndpointsBuilder.endpoints(for: svc, port: svc.spec.ports?[0] ?? ServicePort(port: 80), pods: pods)
        #expect(eps.map(\.hostPort) == ["10.88.0.2:8080", "10.88.0.3:8080", "10.88.0.4:8080"])
        #expect(eps.map(\.ready) == [true, false, false])
        #expect(eps[2].terminating && eps[2].serving)

        svc.spec.publishNotReadyAddresses = true
        let published = EndpointsBuilder.endpoints(for: svc, port: svc.spec.ports?[0] ?? ServicePort(port: 80), pods: pods)
        #expect(published.allSatisfy { $0.ready })

        svc.spec.ports?[0].targetPort = .string("metrics")
        #expect(EndpointsBuilder.problems(services: [svc], pods: pods).map(\.message) == ["no selected pod has a container port named \"metrics\" (TCP)"])
    }

    @Test func terminatingServingEndpointsAreTheFallback() {
        let port = ProxyServicePort(
            name: web, clusterIP: "10.96.0.1", port: 80,
            endpoints: [
                ServiceEndpoint(ip: "10.0.0.2", port: 80, ready: false, serving: true, terminating: true),
                ServiceEndpoint(ip: "10.0.0.3", port: 80, ready: false),
            ])
        #expect(port.usableEndpoints.map(\.ip) == ["10.0.0.2"])
    }
}

@Suite("kubectl tables")
struct TableTests {
    @Test func getServices() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        var a = service("web", nodePort: 30080)
        a.spec.clusterIP = "10.96.0.10"
        a.metadata.creationTimestamp = now.addingTimeInterval(-300)
        var b = service("db", type: "ClusterIP")
        b.spec.clusterIP = "10.96.0.11"
        b.spec.ports = [ServicePort(name: "pg", protocol: "TCP", port: 5432), ServicePort(name: "dns", protocol: "UDP", port: 53)]
        b.metadata.creationTimestamp = now.addingTimeInterval(-7200)
        var lb = service("lb", type: "LoadBalancer", nodePort: 31000)
        lb.spec.clusterIP = "10.96.0.12"
        #expect(
            ServiceTables.services([a, b, lb], loadBalancerIPs: ["192.168.1.5"], now: now) == """
                NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)           AGE
                web    NodePort       10.96.0.10   <none>        80:30080/TCP      \(HumanDuration.format(seconds: 300))
                db     ClusterIP      10.96.0.11   <none>        5432/TCP,53/UDP   \(HumanDuration.format(seconds: 7200))
                lb     LoadBalancer   10.96.0.12   192.168.1.5   80:31000/TCP      <unknown>

                """)
    }

    @Test func getEndpoints() {
        let eps = (2...6).map { ServiceEndpoint(ip: "10.88.0.\($0)", port: 80) }
        #expect(ServiceTables.endpointsCell(eps) == "10.88.0.2:80,10.88.0.3:80,10.88.0.4:80 + 2 more...")
        #expect(ServiceTables.endpointsCell([ServiceEndpoint(ip: "10.88.0.2", port: 80, ready: false)]) == "<none>")
    }
}
