import KubeAPI
import ServiceProxy
import Testing

@Suite struct ServiceEnvironmentTests {
    /// kubelet's envvars.go order and names: host, first port, named ports, then the Docker link variables per port.
    @Test func namedPortsAndProtocols() {
        var service = Service(
            metadata: ObjectMeta(name: "foo-bar", namespace: "default"),
            spec: ServiceSpec(ports: [ServicePort(name: "http", protocol: "TCP", port: 8080), ServicePort(name: "dns-udp", protocol: "UDP", port: 53)]))
        service.spec.clusterIP = "1.2.3.4"
        let variables = ServiceEnvironment.variables(of: service).map { "\($0.name)=\($0.value)" }
        #expect(
            variables == [
                "FOO_BAR_SERVICE_HOST=1.2.3.4", "FOO_BAR_SERVICE_PORT=8080", "FOO_BAR_SERVICE_PORT_HTTP=8080", "FOO_BAR_SERVICE_PORT_DNS_UDP=53",
                "FOO_BAR_PORT=tcp://1.2.3.4:8080", "FOO_BAR_PORT_8080_TCP=tcp://1.2.3.4:8080", "FOO_BAR_PORT_8080_TCP_PROTO=tcp",
                "FOO_BAR_PORT_8080_TCP_PORT=8080", "FOO_BAR_PORT_8080_TCP_ADDR=1.2.3.4", "FOO_BAR_PORT_53_UDP=udp://1.2.3.4:53",
                "FOO_BAR_PORT_53_UDP_PROTO=udp", "FOO_BAR_PORT_53_UDP_PORT=53", "FOO_BAR_PORT_53_UDP_ADDR=1.2.3.4",
            ])
    }

    /// Headless services and services without an address give nothing (`IsServiceIPSet`).
    @Test(arguments: ["None", ""]) func noClusterIP(clusterIP: String) {
        var service = Service(metadata: ObjectMeta(name: "headless"), spec: ServiceSpec(ports: [ServicePort(port: 80)]))
        service.spec.clusterIP = clusterIP
        #expect(ServiceEnvironment.variables(of: service).isEmpty)
    }
}
