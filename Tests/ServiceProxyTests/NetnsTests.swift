// Real data-path tests: a "node" network namespace with a bridge and two "pod" namespaces behind veths, each pod
// running busybox httpd (answering with its name) and a UDP/TCP echo; proxyctl programs the node namespace through
// `ip netns exec`, and traffic checks run from the node and from a pod. The host's own namespace is never touched.
import Foundation
import ServiceProxy
import TestSupport
import Testing

/// Where `proxyctl` was built: next to the running test bundle.
func proxyctlPath() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    let exe = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.path + "/proxyctl") { dir = dir.deletingLastPathComponent() }
    return dir.path + "/proxyctl"
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// UDP and TCP helpers in Python (in the CI package list): a UDP server answering with the pod name, a TCP echo,
/// a client counting which pod answered N HTTP requests, and a long-lived TCP client that reports each echo.
let helperScript = #"""
    import socket, sys, time, threading, urllib.request, json
    mode = sys.argv[1]
    if mode == "udp-server":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", int(sys.argv[2])))
        while True:
            data, addr = s.recvfrom(2048); s.sendto(sys.argv[3].encode(), addr)
    elif mode == "tcp-echo":
        srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(16)
        def serve(c):
            while True:
                d = c.recv(4096)
                if not d: return
                c.sendall(d)
        while True:
            c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
    elif mode == "http-count":
        url, n = sys.argv[2], int(sys.argv[3]); counts = {}
        for _ in range(n):
            try:
                body = urllib.request.urlopen(url, timeout=3).read().decode().strip()
            except Exception as e:
                body = "error:" + type(e).__name__ + ":" + str(getattr(e, "reason", e))
            counts[body] = counts.get(body, 0) + 1
        print(json.dumps(counts))
    elif mode == "udp-count":
        host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]); counts = {}
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            try:
                s.sendto(b"ping", (host, port)); body = s.recv(2048).decode()
            except Exception as e:
                body = "error:" + type(e).__name__
            s.close(); counts[body] = counts.get(body, 0) + 1
        print(json.dumps(counts))
    elif mode == "long-client":
        c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5); out = open(sys.argv[4], "a"); i = 0
        while True:
            i += 1; msg = ("ping %d\n" % i).encode()
            try:
                c.sendall(msg); got = b""
                while len(got) < len(msg):
                    chunk = c.recv(4096)
                    if not chunk: raise Exception("closed")
                    got += chunk
                out.write("ok %d\n" % i)
            except Exception as e:
                out.write("BROKEN %s\n" % e); out.flush(); sys.exit(1)
            out.flush(); time.sleep(0.1)
    """#

/// The namespaces and processes of one test; `close()` removes everything. The node address sits on the bridge
/// (no dummy module here); the default route exists so node-originated ClusterIP traffic has a route to be DNATed on.
final class ServiceNetwork {
    let id: String
    let node: String
    let pods: [(ns: String, ip: String, name: String)]
    let dir: String
    let nodeIP = "192.168.77.10"
    let config = ProxyConfig(podCIDR: "10.77.0.0/16", serviceCIDR: "10.96.0.0/16")
    var children: [Child] = []

    init(tag: String) throws {
        id = "\(tag)\(getpid() % 10000)\(Int.random(in: 100...999))"
        node = "svcn-\(id)"
        pods = [("svca-\(id)", "10.77.0.2", "pod-a"), ("svcb-\(id)", "10.77.0.3", "pod-b")]
        dir = NSTemporaryDirectory() + "svcproxy-\(id)"
        // A failed setup must not leave namespaces or servers behind: the caller's `defer close()` is not armed yet.
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try helperScript.write(toFile: dir + "/helper.py", atomically: true, encoding: .utf8)
            try sh("ip netns add \(node)")
            try nodeSh(
                """
                ip link set lo up && ip link add br0 type bridge && ip addr add 10.77.0.1/24 dev br0 && ip link set br0 up && \
                ip addr add \(nodeIP)/24 dev br0 && ip route add default dev br0 && \
                sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.route_localnet=1 net.bridge.bridge-nf-call-iptables=1
                """)
            for (index, pod) in pods.enumerated() {
                let veth = "v\(index)-\(id)".prefix(15)
                try sh("ip netns add \(pod.ns)")
                try nodeSh("ip link add \(veth) type veth peer name eth0 netns \(pod.ns) && ip link set \(veth) master br0 && ip link set \(veth) up")
                // Hairpin: a pod reaching its own service is DNATed back out of the port it came in on.
                try nodeSh("ip link set \(veth) type bridge_slave hairpin on")
                try sh(
                    "ip netns exec \(pod.ns) sh -c 'ip link set lo up && ip addr add \(pod.ip)/24 dev eth0 && ip link set eth0 up && ip route add default via 10.77.0.1'"
                )
                let www = "\(dir)/www-\(pod.name)"
                try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
                try "\(pod.name)\n".write(toFile: www + "/index.html", atomically: true, encoding: .utf8)
                for port in [8080] + wideServicePorts {
                    children.append(try spawn(["ip", "netns", "exec", pod.ns, "busybox", "httpd", "-f", "-p", "\(port)", "-h", www], captureOutput: false))
                }
                children.append(
                    try spawn(["ip", "netns", "exec", pod.ns, "python3", dir + "/helper.py", "udp-server", "9090", pod.name], captureOutput: false))
                children.append(try spawn(["ip", "netns", "exec", pod.ns, "python3", dir + "/helper.py", "tcp-echo", "7070"], captureOutput: false))
            }
            try writeConfig()
            // Servers up: each pod answers directly.
            for pod in pods {
                for port in [8080] + wideServicePorts {
                    let up = waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
                        (try? httpCount("http://\(pod.ip):\(port)/", 1))?[pod.name] == 1
                    }
                    if !up { throw TestFailure("\(pod.name) httpd on \(port) did not come up") }
                }
            }

        } catch {
            close()
            throw error
        }
    }

    func close() {
        for child in children { child.kill(SIGKILL, group: true) }
        for child in children { _ = try? child.wait(timeout: .seconds(10)) }
        for ns in [node] + pods.map(\.ns) { _ = try? run(["ip", "netns", "del", ns]) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func sh(_ command: String, timeout: Duration = .seconds(120)) throws -> String {
        let result = try run(["sh", "-c", command], timeout: timeout)
        guard result.succeeded else { throw TestFailure("\(command): \(result)") }
        return result.stdout
    }

    @discardableResult
    func nodeSh(_ command: String) throws -> String {
        try sh("ip netns exec \(node) sh -c '\(command)'")
    }

    func writeConfig() throws {
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: dir + "/config.json"))
    }

    func write(_ state: ProxyState) throws {
        // Atomic replace: the running proxyctl polls the file.
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: dir + "/state.json"), options: .atomic)
    }

    func proxyctl(_ args: [String]) throws -> String {
        let result = try run(["ip", "netns", "exec", node, proxyctlPath()] + args + ["--config", dir + "/config.json"], timeout: .seconds(120))
        guard result.succeeded else { throw TestFailure("proxyctl \(args): \(result)") }
        return result.stdout
    }

    func startProxier(mode: ProxyMode) throws -> Child {
        let child = try spawn(
            [
                "ip", "netns", "exec", node, proxyctlPath(), "run", "--mode", mode.rawValue, "--state", dir + "/state.json", "--report",
                dir + "/report.jsonl", "--config", dir + "/config.json", "--min-sync-ms", "100",
            ], captureOutput: false)
        children.append(child)
        return child
    }

    func reports() -> [String] {
        ((try? String(contentsOfFile: dir + "/report.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Writes the state and waits for the running proxier to report the sync that applied it.
    func apply(_ state: ProxyState) throws {
        let before = reports().count
        try write(state)
        let done = waitUntil(timeout: .seconds(60), interval: .milliseconds(50)) { reports().count > before }
        guard done else { throw TestFailure("proxier did not sync within 60 s; reports: \(reports())") }
        if let last = reports().last, last.contains("\"error\"") { throw TestFailure("sync failed: \(last)") }
    }

    func httpCount(_ url: String, _ n: Int, from ns: String? = nil) throws -> [String: Int] {
        let out = try sh("ip netns exec \(ns ?? node) python3 \(dir)/helper.py http-count \(url) \(n)", timeout: .seconds(300))
        return try JSONDecoder().decode([String: Int].self, from: Data(out.utf8))
    }

    func udpCount(_ host: String, _ port: Int, _ n: Int) throws -> [String: Int] {
        let out = try sh("ip netns exec \(node) python3 \(dir)/helper.py udp-count \(host) \(port) \(n)", timeout: .seconds(300))
        return try JSONDecoder().decode([String: Int].self, from: Data(out.utf8))
    }

    /// True when a TCP connect to `host:port` from the node is refused or times out.
    func refuses(_ host: String, _ port: Int) throws -> Bool {
        let result = try run(["ip", "netns", "exec", node, "curl", "-s", "--max-time", "3", "http://\(host):\(port)/"], timeout: .seconds(30))
        return !result.succeeded
    }
}

/// More httpd ports per pod: a service over both pods' 8080 and these has 10 endpoints (nftables: more than the
/// per-count maps hold, so its endpoints are slot ranges of the interval maps).
let wideServicePorts = [8081, 8082, 8083, 8084]

func serviceState(
    nodePort: Int = 30080, readyB: Bool = true, includeWeb: Bool = true, nodeIP: String = "192.168.77.10"
) -> ProxyState {
    var services: [ProxyServicePort] = []
    if includeWeb {
        services.append(
            ProxyServicePort(
                name: ServicePortName(namespace: "test", name: "web", port: "http"), clusterIP: "10.96.5.10", port: 80, nodePort: nodePort,
                endpoints: [ServiceEndpoint(ip: "10.77.0.2", port: 8080), ServiceEndpoint(ip: "10.77.0.3", port: 8080, ready: readyB)]))
    }
    services.append(
        ProxyServicePort(
            name: ServicePortName(namespace: "test", name: "echo", port: "dns"), protocol: .udp, clusterIP: "10.96.5.11", port: 53,
            endpoints: [ServiceEndpoint(ip: "10.77.0.2", port: 9090), ServiceEndpoint(ip: "10.77.0.3", port: 9090)]))
    services.append(
        ProxyServicePort(
            name: ServicePortName(namespace: "test", name: "stream"), clusterIP: "10.96.5.13", port: 7070, nodePort: 30070,
            endpoints: [ServiceEndpoint(ip: "10.77.0.3", port: 7070)]))
    services.append(
        ProxyServicePort(
            name: ServicePortName(namespace: "test", name: "wide"), clusterIP: "10.96.5.15", port: 80, nodePort: 30015,
            endpoints: ["10.77.0.2", "10.77.0.3"].flatMap { ip in ([8080] + wideServicePorts).map { ServiceEndpoint(ip: ip, port: $0) } }))
    // Session affinity: kube-proxy's chain layout in nftables mode, beside the random-slot maps of the others.
    services.append(
        ProxyServicePort(
            name: ServicePortName(namespace: "test", name: "sticky"), clusterIP: "10.96.5.14", port: 80, nodePort: 30014, affinityTimeoutSeconds: 600,
            endpoints: [ServiceEndpoint(ip: "10.77.0.2", port: 8080), ServiceEndpoint(ip: "10.77.0.3", port: 8080)]))
    return ProxyState(services: services)
}

/// Both pods answer, each at least 20% of `n` requests (an even split over 200 has a standard deviation of 7).
func expectBalanced(_ counts: [String: Int], _ n: Int, _ what: String) {
    #expect(counts["pod-a"] ?? 0 >= n / 5 && counts["pod-b"] ?? 0 >= n / 5 && (counts["pod-a"] ?? 0) + (counts["pod-b"] ?? 0) == n, "\(what): \(counts)")
}

@Suite("Service proxy data path in network namespaces", .serialized)
struct ServiceProxyNetnsTests {
    @Test(arguments: ProxyMode.allCases)
    func dataPath(mode: ProxyMode) throws {
        let net = try ServiceNetwork(tag: mode == .iptables ? "i" : "n")
        defer { net.close() }
        try net.write(serviceState())
        let proxier = try net.startProxier(mode: mode)
        let started = waitUntil(timeout: .seconds(60), interval: .milliseconds(100)) { !net.reports().isEmpty }
        #expect(started, "first sync; reports \(net.reports())")
        #expect(net.reports().first?.contains("\"full\":true") == true, "\(net.reports())")

        // NodePort on the node address and on localhost, and the ClusterIP, balance over both pods.
        expectBalanced(try net.httpCount("http://\(net.nodeIP):30080/", 200), 200, "node address NodePort")
        expectBalanced(try net.httpCount("http://127.0.0.1:30080/", 200), 200, "localhost NodePort")
        expectBalanced(try net.httpCount("http://10.96.5.10/", 200), 200, "ClusterIP")
        // Hairpin: pod A reaches its own service (and so itself, masqueraded) through the ClusterIP.
        let hairpin = try net.httpCount("http://10.96.5.10/", 40, from: net.pods[0].ns)
        #expect(hairpin["pod-a"] ?? 0 > 0 && hairpin["pod-b"] ?? 0 > 0 && hairpin.count == 2, "hairpin from pod-a: \(hairpin)")
        // UDP service: a fresh source port per request, so each is balanced anew.
        let udp = try net.udpCount("10.96.5.11", 53, 60)
        #expect(udp["pod-a"] ?? 0 > 0 && udp["pod-b"] ?? 0 > 0 && udp.count == 2, "UDP ClusterIP: \(udp)")
        // 10 endpoints (nftables: slot ranges of the interval maps).
        expectBalanced(try net.httpCount("http://10.96.5.15/", 100), 100, "ClusterIP of the 10-endpoint service")
        expectBalanced(try net.httpCount("http://\(net.nodeIP):30015/", 100), 100, "NodePort of the 10-endpoint service")
        if mode == .nftables { #expect(try net.rules(mode).contains("10.96.5.15 . tcp . 80 . 58982-65535 : 10.77.0.3 . 8084")) }
        // Session affinity: every request from the node goes to the same pod, through the ClusterIP and the NodePort.
        let sticky = try net.httpCount("http://10.96.5.14/", 20)
        #expect(sticky.count == 1 && sticky.values.first == 20, "sticky ClusterIP: \(sticky)")
        let stickyNodePort = try net.httpCount("http://\(net.nodeIP):30014/", 20)
        // (A NodePort client has another source address than a ClusterIP one here, so its pod may differ.)
        #expect(stickyNodePort.count == 1 && stickyNodePort.values.first == 20, "sticky NodePort: \(stickyNodePort)")

        // A long-running connection to another service, kept busy through every following change.
        let longLog = net.dir + "/long.log"
        let long = try spawn(
            ["ip", "netns", "exec", net.node, "python3", net.dir + "/helper.py", "long-client", "10.96.5.13", "7070", longLog], captureOutput: false)
        net.children.append(long)
        func echoes() -> Int { ((try? String(contentsOfFile: longLog, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.hasPrefix("ok") }.count }
        #expect(waitUntil(timeout: .seconds(30), interval: .milliseconds(100)) { echoes() >= 5 }, "long-running connection started")

        // Pod B unready: it leaves the rules; every request goes to pod A.
        try net.apply(serviceState(readyB: false))
        if mode == .nftables {
            #expect(net.reports().last?.contains("\"netlink\":true") == true, "partial syncs go over netlink: \(net.reports())")
            // An endpoint change without session affinity is map elements only.
            #expect(net.reports().last?.contains("\"chainsWritten\":0,") == true, "\(net.reports())")
        }
        #expect(try net.httpCount("http://10.96.5.10/", 40) == ["pod-a": 40])
        #expect(try net.httpCount("http://\(net.nodeIP):30080/", 20) == ["pod-a": 20])
        let sepB = ChainNames.sep(ServicePortName(namespace: "test", name: "web", port: "http"), .tcp, endpoint: "10.77.0.3:8080")
        // nftables: the web service moved from the 2-endpoint maps to the 1-endpoint maps: pod B's element is gone.
        #expect(!(try net.rules(mode)).contains(mode == .iptables ? sepB : "10.96.5.10 . tcp . 80 . 1 : 10.77.0.3 . 8080"))
        if mode == .nftables { #expect(try net.rules(mode).contains("10.96.5.10 . tcp . 80 . 0 : 10.77.0.2 . 8080")) }
        try net.apply(serviceState())
        expectBalanced(try net.httpCount("http://10.96.5.10/", 100), 100, "ClusterIP after pod B is ready again")

        // NodePort edit: the new port answers, the old one refuses, the long connection carries on.
        let beforeEdit = echoes()
        try net.apply(serviceState(nodePort: 30090))
        expectBalanced(try net.httpCount("http://\(net.nodeIP):30090/", 50), 50, "new NodePort")
        #expect(try net.refuses(net.nodeIP, 30080), "old NodePort still answers")
        #expect(waitUntil(timeout: .seconds(20), interval: .milliseconds(100)) { echoes() > beforeEdit + 5 }, "long connection stalled")

        // Deleting the service removes every chain it had.
        try net.apply(serviceState(nodePort: 30090, includeWeb: false))
        let web = ServicePortName(namespace: "test", name: "web", port: "http")
        let rules = try net.rules(mode)
        let gone: [String] =
            mode == .iptables
            ? [ChainNames.svc(web, .tcp), ChainNames.ext(web, .tcp), sepB, ChainNames.sep(web, .tcp, endpoint: "10.77.0.2:8080"), "test/web:http"]
            : ["test/web/", "10.96.5.10"]
        for name in gone { #expect(!rules.contains(name), "\(name) still present after the service was deleted") }
        #expect(try net.refuses("10.96.5.10", 80))

        // Restart: a fresh process with the same state writes nothing, and the services keep answering.
        proxier.kill(SIGTERM, group: true)
        _ = try proxier.wait(timeout: .seconds(20))
        let restart = try net.proxyctl(["apply", "--mode", mode.rawValue, "--state", net.dir + "/state.json"])
        #expect(restart.contains("\"wrote\":false"), "restart with identical rules: \(restart)")
        let afterRestart = echoes()
        #expect(waitUntil(timeout: .seconds(20), interval: .milliseconds(100)) { echoes() > afterRestart + 3 }, "long connection after restart")
        #expect(!(((try? String(contentsOfFile: longLog, encoding: .utf8)) ?? "").contains("BROKEN")), "long-running connection was interrupted")
        let udpAfter = try net.udpCount("10.96.5.11", 53, 30)
        #expect(udpAfter["pod-a"] ?? 0 > 0 && udpAfter["pod-b"] ?? 0 > 0 && udpAfter.count == 2, "UDP after restart: \(udpAfter)")

        // Cleanup leaves nothing of ours behind.
        _ = try net.proxyctl(["cleanup", "--mode", mode.rawValue])
        #expect(!(try net.rules(mode)).contains(mode == .iptables ? "KUBE-" : "minikubelet"))
    }
}

extension ServiceProxyNetnsTests {
    /// Who gets masqueraded (kube-proxy's service, external and local chains; in nftables mode global rules and sets
    /// for services without session affinity): read from the node's conntrack entries, whose reply tuple goes back to
    /// the client's own address unless the connection was masqueraded.
    @Test(arguments: ProxyMode.allCases)
    func masqueradeFollowsExternalTrafficPolicy(mode: ProxyMode) throws {
        let net = try ServiceNetwork(tag: mode == .iptables ? "mi" : "mn")
        defer { net.close() }
        let podB = [ServiceEndpoint(ip: "10.77.0.3", port: 8080)]
        try net.write(
            ProxyState(services: [
                ProxyServicePort(
                    name: ServicePortName(namespace: "m", name: "local"), clusterIP: "10.96.6.1", port: 80, nodePort: 30101, externalPolicyLocal: true,
                    endpoints: podB),
                ProxyServicePort(name: ServicePortName(namespace: "m", name: "cluster"), clusterIP: "10.96.6.2", port: 80, nodePort: 30102, endpoints: podB),
            ]))
        _ = try net.proxyctl(["apply", "--mode", mode.rawValue, "--state", net.dir + "/state.json"])
        /// The address pod B answered to for the connection to `port` (the reply tuple's destination).
        func repliedTo(_ filter: [String]) throws -> String {
            let out = try net.nodeSh("conntrack -L -p tcp \(filter.joined(separator: " ")) 2>/dev/null")
            let line = try #require(out.split(separator: "\n").first, "no conntrack entry for \(filter)")
            let destinations = line.split(separator: " ").filter { $0.hasPrefix("dst=") }
            return destinations.count == 2 ? String(destinations[1].dropFirst(4)) : "?"
        }
        let podA = net.pods[0]
        // From a pod: externalTrafficPolicy Local keeps the source, Cluster masquerades, the ClusterIP keeps it.
        #expect(try net.httpCount("http://\(net.nodeIP):30101/", 1, from: podA.ns) == ["pod-b": 1])
        #expect(try repliedTo(["--orig-port-dst", "30101"]) == podA.ip)
        #expect(try net.httpCount("http://\(net.nodeIP):30102/", 1, from: podA.ns) == ["pod-b": 1])
        #expect(try repliedTo(["--orig-port-dst", "30102"]) != podA.ip)
        #expect(try net.httpCount("http://10.96.6.1/", 1, from: podA.ns) == ["pod-b": 1])
        #expect(try repliedTo(["--orig-dst", "10.96.6.1"]) == podA.ip)
        // From the node itself (a local source) to a Local NodePort: masqueraded.
        _ = try net.nodeSh("conntrack -D -p tcp --orig-port-dst 30101 >/dev/null 2>&1 || true")
        #expect(try net.httpCount("http://\(net.nodeIP):30101/", 1) == ["pod-b": 1])
        #expect(try repliedTo(["--orig-port-dst", "30101"]) != net.nodeIP)
    }
}

extension ServiceNetwork {
    /// The node's rules as text: `iptables-save` or `nft list ruleset`.
    func rules(_ mode: ProxyMode) throws -> String {
        try nodeSh(mode == .iptables ? "iptables-save" : "nft list ruleset")
    }
}
