// Services end to end: a real agent in its own network namespace allocates Services from the manifest directory
// and programs kube-proxy's rules there; requests go from that namespace to the node address, 127.0.0.1 and the
// ClusterIP, and reach busybox httpd pods on the CNI bridge.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

private let nodeAddress = "10.251.0.1"

/// A pod of the example's Service that is ready only while /tmp/ready exists, and opts out of service links.
private let gatedPod = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: web-c
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 2
      enableServiceLinks: false
      containers:
      - name: httpd
        image: \(testImage)
        command: ["sh", "-c", "mkdir -p /www && echo web-c > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports:
        - name: http
          containerPort: 8080
        readinessProbe:
          exec:
            command: ["cat", "/tmp/ready"]
          periodSeconds: 1
          failureThreshold: 1
    """

/// A TCP echo server (`nc -ll -e cat`) behind its own ClusterIP Service: the long-lived connection of acceptance 3.
private let echoService = """
    apiVersion: v1
    kind: Service
    metadata:
      name: echo
    spec:
      selector: {app: echo}
      ports:
      - port: 9000
    ---
    apiVersion: v1
    kind: Pod
    metadata:
      name: echo
      labels: {app: echo}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: \(testImage)
        command: ["nc", "-ll", "-p", "9000", "-e", "cat"]
    """

/// Holds one TCP connection to `host:port` and sends a line every 100 ms until `stopFile` exists; prints the number
/// of echoed lines and exits 1 at the first line not echoed back.
private func longConnectionScript(host: String, port: Int, stopFile: String) -> String {
    """
    import os, socket, sys, time
    s = socket.create_connection(("\(host)", \(port)), timeout=5)
    f = s.makefile("rw")
    n = 0
    while not os.path.exists("\(stopFile)"):
        f.write("line %d\\n" % n); f.flush()
        if f.readline() != "line %d\\n" % n:
            print(n); sys.exit(1)
        n += 1
        time.sleep(0.1)
    print(n)
    """
}

/// Who answered `count` requests to `url` from the agent's namespace (one shell, one wget per request).
private func hits(_ agent: AgentHarness, _ url: String, count: Int) throws -> [String: Int] {
    let script = "for i in $(seq \(count)); do wget -qO- -t 1 -T 3 \(url) || echo FAILED; done"
    let result = try agent.inNetns(["sh", "-c", script], timeout: .seconds(120))
    var counts: [String: Int] = [:]
    for line in result.stdout.split(separator: "\n") { counts[String(line), default: 0] += 1 }
    return counts
}

/// Both pods answered, each at least 20% of the time (an even split's 50% ± a wide margin), and nothing failed.
private func balanced(_ counts: [String: Int], total: Int) -> Bool {
    counts["FAILED"] == nil && counts.count == 2 && counts.values.allSatisfy { $0 >= total / 5 }
}

/// Two testserver pods with the UDP echo (named port `echo`, 5300/UDP) behind a UDP NodePort Service (53 → echo,
/// nodePort 30053). One file per pod, so the test can delete one.
private func udpEchoPod(_ name: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
      labels: {app: udp-echo}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: echo
        image: \(testserverImage)
        args: ["--udp-port", "5300"]
        ports:
        - {name: echo, containerPort: 5300, protocol: UDP}
    """
}

private let udpEchoService = """
    apiVersion: v1
    kind: Service
    metadata:
      name: udp-echo
    spec:
      type: NodePort
      selector: {app: udp-echo}
      ports:
      - name: dns
        protocol: UDP
        port: 53
        targetPort: echo
        nodePort: 30053
    """

/// Who answered `count` datagrams to `host:port`: one new socket (source port, conntrack flow) per datagram, so each
/// is balanced afresh. The testserver answers "<hostname> <payload>"; a reply to another payload counts as WRONG.
private func udpHits(_ agent: AgentHarness, host: String, port: Int, count: Int) throws -> [String: Int] {
    let script = """
        import socket
        for i in range(\(count)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(2)
            payload = "ping %d" % i
            try:
                s.sendto(payload.encode(), ("\(host)", \(port)))
                name, _, echoed = s.recv(512).decode().partition(" ")
                print(name if echoed == payload else "WRONG")
            except OSError:
                print("FAILED")
            s.close()
        """
    let result = try agent.inNetns(["/usr/bin/python3", "-c", script], timeout: .seconds(Int64(count) * 3 + 30))
    var counts: [String: Int] = [:]
    for line in result.stdout.split(separator: "\n") { counts[String(line), default: 0] += 1 }
    return counts
}

/// One long-lived UDP socket per target, each first pinned to pod `pin` (new sockets until `pin` answers), then a
/// datagram to every target each 200 ms until `stopFile` exists, appending "<target index> <answering pod|TIMEOUT>"
/// lines to `outFile` ("pinned" once every socket is pinned). The same socket keeps the same conntrack flow, which
/// only a `conntrack -D` moves to another endpoint while datagrams keep it alive.
private func stickyUDPClientScript(targets: [(String, Int)], pin: String, outFile: String, stopFile: String) -> String {
    """
    import os, socket, sys, time
    targets = [\(targets.map { "(\"\($0.0)\", \($0.1))" }.joined(separator: ", "))]
    out = open("\(outFile)", "a", buffering=1)
    sequence = 0
    def ask(s, target):
        global sequence
        sequence += 1
        payload = "seq %d" % sequence
        s.sendto(payload.encode(), target)
        deadline = time.time() + 1
        while True:  # late replies to earlier datagrams are skipped
            s.settimeout(max(0.01, deadline - time.time()))
            name, _, echoed = s.recv(512).decode().partition(" ")
            if echoed == payload:
                return name
    sockets = []
    for target in targets:
        for attempt in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                if ask(s, target) == "\(pin)":
                    break
            except OSError:
                pass
            s.close()
        else:
            print("no socket to %s:%d was answered by \(pin)" % target)
            sys.exit(1)
        sockets.append(s)
    out.write("pinned\\n")
    while not os.path.exists("\(stopFile)"):
        for index, (s, target) in enumerate(zip(sockets, targets)):
            try:
                name = ask(s, target)
            except OSError:
                name = "TIMEOUT"
            out.write("%d %s\\n" % (index, name))
        time.sleep(0.2)
    """
}

/// A busybox httpd pod answering its own name on 8080, selected by no Service.
private func backendPod(_ name: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: httpd
        image: \(testImage)
        command: ["sh", "-c", "mkdir -p /www && echo \(name) > /www/index.html && exec httpd -f -p 8080 -h /www"]
    """
}

/// An EndpointSlice of the selector-less Service `ext` with the given addresses on port `http` 8080.
private func extSlice(_ name: String, addresses: [String]) -> String {
    """
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: \(name)
      labels:
        kubernetes.io/service-name: ext
    addressType: IPv4
    endpoints: [\(addresses.map { "{addresses: [\"\($0)\"]}" }.joined(separator: ", "))]
    ports:
    - name: http
      port: 8080
      protocol: TCP
    """
}

/// Both iptables backends' rules in the agent's namespace (the agent uses whichever the host's wrapper would).
private func ruleset(_ agent: AgentHarness) -> String {
    ["iptables-legacy-save", "iptables-nft-save"].compactMap { try? agent.inNetns([$0]).stdout }.joined(separator: "\n")
        + ((try? agent.inNetns(["nft", "list", "ruleset"]).stdout) ?? "")
}

/// A node has a default route; without one the node's own connections to a ClusterIP fail before the nat OUTPUT hook
/// (no route to 10.96.0.0/16). The route stays inside the test's namespace.
private func addDefaultRoute(_ agent: AgentHarness) throws {
    try run(["ip", "-n", agent.netns, "route", "add", "default", "dev", "node0"]).check()
}

private func clusterIP(_ agent: AgentHarness) throws -> String {
    let json = try agent.agentctl(["get", "svc", "web", "-o", "json"]).check().stdout
    let service = try KubeJSON.decoder().decode(Service.self, from: Data(json.utf8))
    return try #require(service.spec.clusterIP)
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct ServiceE2ETests {
    /// Acceptance 1-5 in iptables mode on one agent: balance over three addresses, env vars, `get svc`, readiness
    /// gating, a nodePort edit, SIGKILL + restart without a failed request, deletion leaving no rules.
    @Test func nodePortServiceInIPTablesMode() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try addDefaultRoute(agent)
        let example = try String(contentsOfFile: repoRoot() + "/examples/nodeport-service.yaml", encoding: .utf8)
        try agent.write("web.yaml", example)
        try agent.write("gated.yaml", gatedPod)
        try agent.write("echo.yaml", echoService)
        for name in ["web-a", "web-b", "echo"] {
            _ = try #require(try agent.waitForPod(name, timeout: .seconds(90)) { isRunningAndReady($0) }, "\(agent.log())")
        }
        let gated = try #require(try agent.waitForPod("web-c", timeout: .seconds(90)) { $0.status?.phase == "Running" && $0.status?.podIP != nil })
        let gatedIP = try #require(gated.status?.podIP)
        let ip = try clusterIP(agent)
        #expect(ip.hasPrefix("10.96."))

        let table = try agent.agentctl(["get", "svc"]).check().stdout
        let rows = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.first == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], "\(table)")
        #expect(rows.contains { $0.prefix(5) == ["web", "NodePort", ip, "<none>", "80:30080/TCP"] }, "\(table)")
        #expect(rows.contains { $0.prefix(5).dropFirst(3) == ["<none>", "9000/TCP"] && $0.first == "echo" }, "\(table)")
        // kubectl's tabwriter: the TYPE column starts where the widest NAME plus three spaces ends.
        #expect(table.hasPrefix("NAME   TYPE "), "\(table)")

        // Requests from the node: node address, localhost and the ClusterIP each reach both ready pods.
        var urls = ["http://\(nodeAddress):30080/", "http://127.0.0.1:30080/", "http://\(ip)/"]
        for url in urls {
            var counts: [String: Int] = [:]
            // The proxier syncs within a second or two of the pods turning ready.
            _ = waitUntil(timeout: .seconds(30)) {
                counts = (try? hits(agent, url, count: 10)) ?? [:]
                return counts.count == 2 && counts["FAILED"] == nil
            }
            counts = try hits(agent, url, count: 200)
            #expect(balanced(counts, total: 200), "\(url): \(counts)\n\(ruleset(agent))")
            #expect(counts["web-c"] == nil)
        }
        #expect(!ruleset(agent).contains("\(gatedIP):8080"), "an unready pod has no rules")
        let endpoints = try agent.agentctl(["get", "endpoints"]).check().stdout
        #expect(endpoints.contains("web ") && endpoints.contains(":8080,") && !endpoints.contains(gatedIP), "\(endpoints)")
        // The EndpointSlice controller's view of the same Service: the unready pod is listed, not ready.
        let slicesJSON = try agent.agentctl(["get", "endpointslices", "-o", "json"]).check().stdout
        let generated = try KubeJSON.decoder().decode(ObjectList<EndpointSlice>.self, from: Data(slicesJSON.utf8)).items.filter {
            $0.serviceKey == "default/web"
        }
        let webEndpoints = generated.flatMap(\.endpoints)
        #expect(webEndpoints.count == 3 && generated.allSatisfy { $0.metadata.labels?["endpointslice.kubernetes.io/managed-by"] != nil }, "\(slicesJSON)")
        #expect(webEndpoints.first { $0.addresses == [gatedIP] }?.conditions?.ready == false, "\(slicesJSON)")
        #expect(webEndpoints.filter { $0.conditions?.ready == true }.count == 2, "\(slicesJSON)")
        let described = try agent.agentctl(["describe", "svc", "web"]).check().stdout
        #expect(described.contains("Selector:                 app=web"), "\(described)")
        #expect(described.contains("NodePort:                 http  30080/TCP"), "\(described)")
        #expect(described.contains("TargetPort:               http/TCP"), "\(described)")

        // Service variables: in a pod started after the Service, not in one with enableServiceLinks: false.
        let env = try agent.agentctl(["exec", "web-a", "--", "env"]).check().stdout
        for line in [
            "WEB_SERVICE_HOST=\(ip)", "WEB_SERVICE_PORT=80", "WEB_SERVICE_PORT_HTTP=80", "WEB_PORT=tcp://\(ip):80",
            "WEB_PORT_80_TCP=tcp://\(ip):80", "WEB_PORT_80_TCP_PROTO=tcp", "WEB_PORT_80_TCP_PORT=80", "WEB_PORT_80_TCP_ADDR=\(ip)",
        ] {
            #expect(env.split(separator: "\n").contains(Substring(line)), "\(line) in\n\(env)")
        }
        #expect(try !agent.agentctl(["exec", "web-c", "--", "env"]).check().stdout.contains("WEB_SERVICE_HOST"))

        // Hairpin: a pod reaching its own Service by ClusterIP lands on itself too.
        let hairpin = try agent.agentctl(["exec", "web-a", "--", "sh", "-c", "for i in $(seq 30); do timeout 5 wget -qO- http://\(ip)/; done"])
        #expect(hairpin.stdout.contains("web-a") && hairpin.stdout.contains("web-b"), "\(hairpin)")

        // Readiness: the gated pod joins once its probe passes and leaves again when it fails.
        try agent.agentctl(["exec", "web-c", "--", "touch", "/tmp/ready"]).check()
        #expect(
            waitUntil(timeout: .seconds(30)) { ((try? hits(agent, urls[2], count: 30)) ?? [:])["web-c"] != nil },
            "the ready pod never got traffic\n\(ruleset(agent))")
        try agent.agentctl(["exec", "web-c", "--", "rm", "/tmp/ready"]).check()
        #expect(
            waitUntil(timeout: .seconds(30)) {
                let counts = (try? hits(agent, urls[2], count: 30)) ?? [:]
                return counts["web-c"] == nil && counts["FAILED"] == nil && !ruleset(agent).contains("\(gatedIP):8080")
            }, "the unready pod kept its rules\n\(ruleset(agent))")

        // Editing nodePort in the file: the new port answers, the old one refuses, and a connection to another
        // Service carries on.
        let echoJSON = try agent.agentctl(["get", "svc", "echo", "-o", "json"]).check().stdout
        let echoIP = try #require(try KubeJSON.decoder().decode(Service.self, from: Data(echoJSON.utf8)).spec.clusterIP)
        let connectionStop = agent.dir + "/stop-connection"
        // Connectable = the echo Service has its endpoint programmed (without one the port is rejected).
        let connectable = "import socket; socket.create_connection((\"\(echoIP)\", 9000), timeout=2)"
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.inNetns(["/usr/bin/python3", "-c", connectable]))?.succeeded == true })
        let connection = try spawn([
            "/usr/bin/nsenter", "--net=/run/netns/\(agent.netns)", "/usr/bin/python3", "-c",
            longConnectionScript(host: echoIP, port: 9000, stopFile: connectionStop),
        ])
        try agent.write("web.yaml", example.replacingOccurrences(of: "nodePort: 30080", with: "nodePort: 30090"))
        #expect(
            waitUntil(timeout: .seconds(30)) {
                (try? agent.inNetns(["wget", "-qO-", "-T", "3", "http://127.0.0.1:30090/"]))?.succeeded == true
                    && (try? agent.inNetns(["wget", "-qO-", "-T", "3", "http://127.0.0.1:30080/"]))?.succeeded == false
            }, "\(ruleset(agent))")
        let refused = try agent.inNetns(["wget", "-O-", "-T", "3", "http://\(nodeAddress):30080/"])
        #expect(!refused.succeeded && refused.stderr.contains("refused"), "\(refused)")
        #expect(try clusterIP(agent) == ip, "the edit keeps the ClusterIP")
        Thread.sleep(forTimeInterval: 1)
        #expect(FileManager.default.createFile(atPath: connectionStop, contents: nil))
        let echoed = try connection.wait(timeout: .seconds(30))
        #expect(echoed.succeeded && (Int(echoed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 10, "\(echoed)")
        urls = ["http://\(nodeAddress):30090/", "http://\(ip)/"]

        // SIGKILL + restart: a request loop keeps succeeding; the first full sync finds the rules in place.
        let stop = agent.dir + "/stop-loop"
        let loop = try spawn([
            "/usr/bin/nsenter", "--net=/run/netns/\(agent.netns)", "sh", "-c",
            "while [ ! -f \(stop) ]; do wget -qO- -t 1 -T 3 \(urls[0]) || echo FAILED; sleep 0.05; done",
        ])
        try agent.killAgent()
        try agent.start()
        #expect(waitUntil(timeout: .seconds(30)) { agent.log().contains("full sync found the rules in place; nothing written") }, "\(agent.log())")
        Thread.sleep(forTimeInterval: 2)
        #expect(FileManager.default.createFile(atPath: stop, contents: nil))
        let output = try loop.wait(timeout: .seconds(30)).stdout
        let lines = output.split(separator: "\n")
        #expect(lines.count > 20 && !lines.contains("FAILED"), "\(lines.count) requests, failures: \(lines.filter { $0 == "FAILED" }.count)")

        // Deleting the Service removes every rule it had.
        try agent.write("web.yaml", example.components(separatedBy: "---\n").dropFirst().joined(separator: "---\n"))
        #expect(waitUntil(timeout: .seconds(30)) { !ruleset(agent).contains("default/web") }, "\(ruleset(agent))")
        #expect(try !agent.agentctl(["get", "svc"]).stdout.contains("\nweb "))
    }

    /// nftables mode: the same balance over the three addresses, and allocation errors as events naming the file.
    @Test func nodePortServiceInNFTablesMode() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged", "--proxy-mode=nftables"])
        defer { agent.cleanUp() }
        try addDefaultRoute(agent)
        let example = try String(contentsOfFile: repoRoot() + "/examples/nodeport-service.yaml", encoding: .utf8)
        try agent.write("web.yaml", example)
        // A second Service asking for the same nodePort: rejected with the API server's words, no rules.
        try agent.write(
            "clash.yaml",
            """
            apiVersion: v1
            kind: Service
            metadata:
              name: zclash
            spec:
              type: NodePort
              selector: {app: web}
              ports:
              - port: 81
                targetPort: 8080
                nodePort: 30080
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: lb
            spec:
              type: LoadBalancer
              selector: {app: web}
              ports:
              - port: 8081
                targetPort: http
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: nobody
            spec:
              selector: {app: nobody}
              ports:
              - port: 82
            """)
        for name in ["web-a", "web-b"] {
            _ = try #require(try agent.waitForPod(name, timeout: .seconds(90)) { isRunningAndReady($0) }, "\(agent.log())")
        }
        let ip = try clusterIP(agent)
        for url in ["http://\(nodeAddress):30080/", "http://127.0.0.1:30080/", "http://\(ip)/"] {
            _ = waitUntil(timeout: .seconds(30)) { ((try? hits(agent, url, count: 10)) ?? [:]).count == 2 }
            let counts = try hits(agent, url, count: 200)
            #expect(balanced(counts, total: 200), "\(url): \(counts)\n\(ruleset(agent))")
        }
        let events = try agent.events()
        #expect(
            events.contains("clash.yaml: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"), "\(events)")
        #expect(events.contains("clash.yaml: Service default/nobody: selector matches no pods; the service has no endpoints"), "\(events)")
        let rules = try agent.inNetns(["nft", "list", "table", "ip", "minikubelet"]).check().stdout
        // Without session affinity a service is elements of the random-slot maps: web's ClusterIP is there with both
        // endpoints (slots 0 and 1 of the 2-endpoint map), the refused zclash's port 81 is not.
        #expect(rules.contains("\(ip) . tcp . 80 . 0 : ") && rules.contains("\(ip) . tcp . 80 . 1 : "), "\(rules)")
        #expect(!rules.contains(" tcp . 81 ") && !rules.contains("zclash"), "\(rules)")
        let table = try agent.agentctl(["get", "svc"]).check().stdout
        #expect(!table.contains("zclash"))
        // LoadBalancer the ServiceLB way: the node address is the external IP and answers on the service port.
        #expect(table.split(separator: "\n").contains { $0.hasPrefix("lb ") && $0.contains(" \(nodeAddress) ") }, "\(table)")
        #expect(balanced(try hits(agent, "http://\(nodeAddress):8081/", count: 50), total: 50))

        // SIGKILL + restart: the first full sync matches the table's fingerprint and writes nothing; traffic flows.
        try agent.killAgent()
        try agent.start()
        #expect(waitUntil(timeout: .seconds(30)) { agent.log().contains("full sync found the rules in place; nothing written") }, "\(agent.log())")
        #expect(balanced(try hits(agent, "http://127.0.0.1:30080/", count: 50), total: 50))
    }

    /// Acceptance 6's UDP service: two testserver UDP echo pods behind a UDP NodePort Service answer datagrams sent to
    /// the ClusterIP, the node address and 127.0.0.1; when one pod goes, the flows of long-lived client sockets pinned
    /// to it are moved to the other pod by the agent's `conntrack -D` (UDP has no teardown: without it the flows would
    /// keep going to the dead address as long as datagrams keep them alive).
    @Test(arguments: ["iptables", "nftables"])
    func udpServiceBalancesAndStaleFlowsMove(proxyMode: String) throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged", "--proxy-mode=\(proxyMode)"])
        defer { agent.cleanUp() }
        try addDefaultRoute(agent)
        try agent.loadTestserverImage()
        try agent.write("udp-svc.yaml", udpEchoService)
        for name in ["udp-a", "udp-b"] { try agent.write("\(name).yaml", udpEchoPod(name)) }
        for name in ["udp-a", "udp-b"] {
            _ = try #require(try agent.waitForPod(name, timeout: .seconds(90)) { isRunningAndReady($0) }, "\(agent.log())")
        }
        let json = try agent.agentctl(["get", "svc", "udp-echo", "-o", "json"]).check().stdout
        let ip = try #require(try KubeJSON.decoder().decode(Service.self, from: Data(json.utf8)).spec.clusterIP)
        let table = try agent.agentctl(["get", "svc"]).check().stdout
        #expect(table.split(separator: "\n").contains { $0.hasPrefix("udp-echo ") && $0.contains(" 53:30053/UDP ") }, "\(table)")

        let targets = [(ip, 53), (nodeAddress, 30053), ("127.0.0.1", 30053)]
        for (host, port) in targets {
            var counts: [String: Int] = [:]
            // Until both pods are programmed (and their echo sockets bound).
            _ = waitUntil(timeout: .seconds(60)) {
                counts = (try? udpHits(agent, host: host, port: port, count: 10)) ?? [:]
                return counts.keys.sorted() == ["udp-a", "udp-b"]
            }
            counts = try udpHits(agent, host: host, port: port, count: 60)
            #expect(
                counts.keys.sorted() == ["udp-a", "udp-b"] && counts.values.allSatisfy { $0 >= 12 },
                "\(host):\(port): \(counts)\n\(ruleset(agent))")
        }

        // Stale flows: sockets to the ClusterIP and the node port, pinned to udp-a; udp-a goes; the same sockets are
        // answered by udp-b.
        let out = agent.dir + "/udp-client.out"
        let stop = agent.dir + "/udp-client.stop"
        let client = try spawn([
            "/usr/bin/nsenter", "--net=/run/netns/\(agent.netns)", "/usr/bin/python3", "-c",
            stickyUDPClientScript(targets: Array(targets.prefix(2)), pin: "udp-a", outFile: out, stopFile: stop),
        ])
        defer {
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            _ = try? client.wait(timeout: .seconds(30))
        }
        func lines() -> [Substring] { ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n") }
        /// The last `n` answers to each target, once each target has that many since pinning.
        func lastAnswers(_ n: Int) -> [[Substring]] {
            let answers = lines().drop { $0 != "pinned" }.dropFirst()
            return (0..<2).map { index in Array(answers.filter { $0.hasPrefix("\(index) ") }.suffix(n).map { $0.dropFirst(2) }) }
        }
        #expect(waitUntil(timeout: .seconds(60)) { lastAnswers(5).allSatisfy { $0.count == 5 } }, "\(lines())")
        #expect(lastAnswers(5) == [Array(repeating: "udp-a", count: 5), Array(repeating: "udp-a", count: 5)], "pinned: \(lines())")
        try agent.remove("udp-a.yaml")
        let removed = ContinuousClock.now
        let moved = waitUntil(timeout: .seconds(30), interval: .milliseconds(200)) {
            lastAnswers(5) == [Array(repeating: "udp-b", count: 5), Array(repeating: "udp-b", count: 5)]
        }
        #expect(moved, "the pinned flows did not move to udp-b: \(lines().suffix(40))\n\(agent.log())")
        if moved { print("udp (\(proxyMode)): pinned flows answered by udp-b \(ContinuousClock.now - removed) after udp-a's manifest went") }
    }

    /// A selector-less Service fed by two EndpointSlices (one per backend pod, the pod IPs read from the API): the
    /// ClusterIP reaches both; dropping the addresses from the slices removes them, the last one leaves a REJECT.
    /// A slice without the service-name label is refused with an event naming the file and the field.
    @Test func selectorlessServiceFromEndpointSlices() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try addDefaultRoute(agent)
        for name in ["backend-a", "backend-b"] { try agent.write("\(name).yaml", backendPod(name)) }
        var ips: [String: String] = [:]
        for name in ["backend-a", "backend-b"] {
            let pod = try #require(try agent.waitForPod(name, timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
            ips[name] = try #require(pod.status?.podIP)
        }
        let a = try #require(ips["backend-a"])
        let b = try #require(ips["backend-b"])
        try agent.write(
            "ext.yaml",
            """
            apiVersion: v1
            kind: Service
            metadata:
              name: ext
            spec:
              ports:
              - name: http
                port: 80
                targetPort: 8080
            """)
        try agent.write("ext-a.yaml", extSlice("ext-a", addresses: [a]))
        try agent.write("ext-b.yaml", extSlice("ext-b", addresses: [b]))
        try agent.write(
            "bad-slice.yaml",
            """
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: nolabel
            addressType: IPv4
            endpoints: [{addresses: ["\(a)"]}]
            """)
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.agentctl(["get", "svc", "ext"]))?.succeeded == true }, "\(agent.log())")
        let json = try agent.agentctl(["get", "svc", "ext", "-o", "json"]).check().stdout
        let ip = try #require(try KubeJSON.decoder().decode(Service.self, from: Data(json.utf8)).spec.clusterIP)
        let url = "http://\(ip)/"
        var counts: [String: Int] = [:]
        _ = waitUntil(timeout: .seconds(30)) {
            counts = (try? hits(agent, url, count: 10)) ?? [:]
            return counts.count == 2 && counts["FAILED"] == nil
        }
        counts = try hits(agent, url, count: 60)
        #expect(balanced(counts, total: 60) && counts["backend-a"] != nil, "\(counts)\n\(ruleset(agent))")
        let endpoints = try agent.agentctl(["get", "endpoints", "ext"]).check().stdout
        #expect(endpoints.contains("\(a):8080") && endpoints.contains("\(b):8080"), "\(endpoints)")
        let slices = try agent.agentctl(["get", "endpointslices"]).check().stdout
        #expect(slices.hasPrefix("NAME    ADDRESSTYPE   PORTS   ENDPOINTS"), "\(slices)")
        #expect(slices.split(separator: "\n").contains { $0.hasPrefix("ext-a   IPv4          8080    \(a) ") }, "\(slices)")
        let yaml = try agent.agentctl(["get", "endpointslices", "ext-a", "-o", "yaml"]).check().stdout
        #expect(yaml.contains("addressType: IPv4") && yaml.contains("kubernetes.io/service-name: ext") && yaml.contains(a), "\(yaml)")
        let missing = try agent.agentctl(["get", "endpointslices", "nolabel"])
        #expect(missing.stderr.contains("endpointslices.discovery.k8s.io \"nolabel\" not found"), "\(missing)")
        let events = try agent.events()
        #expect(
            events.contains(
                "bad-slice.yaml: metadata.labels[kubernetes.io/service-name]: Required value: the name of the Service this EndpointSlice belongs to"),
            "\(events)")

        // Editing a slice to drop its address: only the other pod answers; dropping the last one leaves a REJECT.
        try agent.write("ext-b.yaml", extSlice("ext-b", addresses: []))
        #expect(
            waitUntil(timeout: .seconds(30)) { (try? hits(agent, url, count: 20)) == ["backend-a": 20] }, "\((try? hits(agent, url, count: 20)) ?? [:])")
        try agent.write("ext-a.yaml", extSlice("ext-a", addresses: []))
        #expect(
            waitUntil(timeout: .seconds(30)) {
                let result = try? agent.inNetns(["wget", "-O-", "-T", "3", url])
                return result?.succeeded == false && result?.stderr.contains("refused") == true
            }, "\(ruleset(agent))")
        #expect(ruleset(agent).contains("default/ext:http has no endpoints"), "\(ruleset(agent))")
    }
}
