// Pod networking end to end: a real agent in its own network namespace attaches pods through Debian's
// CNI plugins (bridge mk0, host-local, portmap); traffic stays inside that namespace.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

private let nodeAddress = "10.250.0.1"

/// Serves `hello-from-<name>` on port 80; a sidecar shares the pod's network namespace.
private func webPod(name: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      terminationGracePeriodSeconds: 2
      hostAliases:
      - ip: 1.2.3.4
        hostnames: [foo, bar]
      containers:
      - name: web
        image: \(testImage)
        command: ["sh", "-c", "mkdir -p /www && echo hello-from-\(name) > /www/index.html && exec httpd -f -p 80 -h /www"]
        ports:
        - containerPort: 80
          hostPort: 8080
        env:
        - name: MY_POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: MY_HOST_IP
          valueFrom: {fieldRef: {fieldPath: status.hostIP}}
      - name: sidecar
        image: \(testImage)
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    """
}

private func clientPod(name: String) -> String {
    """
    apiVersion: v1
    kind: Pod
    metadata:
      name: \(name)
    spec:
      terminationGracePeriodSeconds: 2
      hostname: cli
      subdomain: sub
      dnsPolicy: None
      dnsConfig:
        nameservers: [10.0.0.10]
        searches: [svc.example]
        options:
        - name: ndots
          value: "2"
      containers:
      - name: main
        image: \(testImage)
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    """
}

private func veths(_ agent: AgentHarness) throws -> [String] {
    let listing = try agent.inNetns(["ip", "-o", "link", "show", "master", "mk0"])
    guard listing.succeeded else { return [] }
    return listing.stdout.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        return fields.count > 1 ? String(fields[1].split(separator: "@").first ?? "") : nil
    }
}

private func leases(_ agent: AgentHarness) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: agent.root + "/cni/networks/minikubelet")) ?? []).filter { $0.hasPrefix("10.") }.sorted()
}

private func isMountPoint(_ path: String) -> Bool {
    // Not String(contentsOfFile:): it trusts st_size (0 for /proc files) and stops after the first page.
    let table = (try? run(["cat", "/proc/self/mountinfo"]))?.stdout ?? ""
    return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == path }
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct NetworkTests {
    @Test func podsGetAddressesTalkAndAreDeletedThroughCNI() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try agent.write("web.yaml", webPod(name: "web"))
        try agent.write("client.yaml", clientPod(name: "client"))
        let web = try #require(try agent.waitForPod("web", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        let client = try #require(try agent.waitForPod("client", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil })
        let webIP = try #require(web.status?.podIP)
        let clientIP = try #require(client.status?.podIP)
        #expect(webIP != clientIP)
        #expect(webIP.hasPrefix("10.88.") && clientIP.hasPrefix("10.88."))
        #expect(web.status?.podIPs?.map(\.ip) == [webIP])
        #expect(web.status?.hostIP == nodeAddress)
        #expect(leases(agent) == [webIP, clientIP].sorted())
        #expect(try veths(agent).count == 2)
        let wide = try agent.agentctl(["get", "pods", "-o", "wide"]).check().stdout
        #expect(wide.contains(webIP) && wide.contains(clientIP))
        #expect(try agent.agentctl(["ps"]).check().stdout.contains(webIP))
        #expect(try agent.agentctl(["describe", "pod", "web"]).check().stdout.contains("IPs:\n  IP:  \(webIP)\n"))
        let events = try agent.events()
        #expect(events.contains("MissingClusterDNS") && events.contains("cannot create Pod using \"ClusterFirst\" policy"))
        let conflist = try String(contentsOfFile: agent.cniConfDir + "/10-minikubelet.conflist", encoding: .utf8)
        #expect(conflist.contains("\"dataDir\" : \"\(agent.root)/cni/networks\""))

        // Pod to pod by IP, container to container over loopback, hostPort on the node address.
        let fetched = try agent.agentctl(["exec", "client", "--", "timeout", "10", "wget", "-qO-", "http://\(webIP)/"])
        #expect(fetched.stdout == "hello-from-web\n", "\(fetched)")
        let local = try agent.agentctl(["exec", "web", "-c", "sidecar", "--", "timeout", "10", "wget", "-qO-", "http://127.0.0.1/"])
        #expect(local.stdout == "hello-from-web\n", "\(local)")
        let hostPort = try agent.inNetns(["wget", "-qO-", "-T", "10", "http://\(nodeAddress):8080/"])
        #expect(hostPort.stdout == "hello-from-web\n", "\(hostPort)")

        // Downward API and the pod's /etc files.
        let env = try agent.agentctl(["exec", "web", "-c", "web", "--", "sh", "-c", "echo $MY_POD_IP $MY_HOST_IP"]).check().stdout
        #expect(env == "\(webIP) \(nodeAddress)\n")
        let hosts = try agent.agentctl(["exec", "web", "-c", "web", "--", "cat", "/etc/hosts"]).check().stdout
        #expect(hosts.hasPrefix("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"))
        #expect(hosts.contains("\n\(webIP)\tweb\n"))
        #expect(hosts.hasSuffix("\n# Entries added by HostAliases.\n1.2.3.4\tfoo\tbar\n"))
        #expect(try agent.agentctl(["exec", "web", "-c", "web", "--", "cat", "/etc/hostname"]).check().stdout == "web\n")
        let resolv = try agent.agentctl(["exec", "client", "--", "cat", "/etc/resolv.conf"]).check().stdout
        #expect(resolv == "search svc.example\nnameserver 10.0.0.10\noptions ndots:2\n")
        let clientHosts = try agent.agentctl(["exec", "client", "--", "cat", "/etc/hosts", "/etc/hostname"]).check().stdout
        #expect(clientHosts.hasSuffix("\n\(clientIP)\tcli.sub.default.svc.cluster.local\tcli\ncli\n"), "\(clientHosts)")

        // Deleting the pod calls DEL: lease, veth and hostPort chain go.
        try agent.remove("web.yaml")
        #expect(try waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) { try agent.pod("web") == nil })
        #expect(leases(agent) == [clientIP])
        #expect(try veths(agent).count == 1)
        let nat = try agent.inNetns(["iptables-save", "-t", "nat"]).check().stdout
        #expect(!nat.contains("CNI-DN-"), "\(nat)")
        #expect(!nat.contains(web.metadata.uid ?? "<no uid>"))
        #expect(try agent.inNetns(["wget", "-qO-", "-T", "3", "http://\(nodeAddress):8080/"]).succeeded == false)
    }

    /// Pod egress leaves with the node's address: one agent rule for the pod CIDR (the default conflist has
    /// no per-pod `ipMasq` chains). The "outside" namespace has no route to the pod CIDR, so an unmasqueraded
    /// connection gets no answer and the test fails.
    @Test func podEgressIsMasqueradedByOneAgentRule() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress)
        defer { agent.cleanUp() }
        let outside = agent.netns + "-out"
        try run(["ip", "netns", "add", outside]).check()
        defer { _ = try? run(["ip", "netns", "delete", outside]) }
        try run(["ip", "-n", agent.netns, "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", outside]).check()
        try run(["ip", "-n", agent.netns, "addr", "add", "10.251.0.1/24", "dev", "up0"]).check()
        try run(["ip", "-n", outside, "addr", "add", "10.251.0.2/24", "dev", "up1"]).check()
        for (namespace, link) in [(agent.netns, "up0"), (outside, "up1"), (outside, "lo")] {
            try run(["ip", "-n", namespace, "link", "set", link, "up"]).check()
        }
        // Answers each HTTP request with the address the connection came from.
        let server = try spawn([
            "ip", "netns", "exec", outside, "python3", "-c",
            """
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.251.0.2", 8081)); s.listen()
            while True:
                c, a = s.accept(); c.recv(4096); c.sendall(("HTTP/1.0 200 OK\\r\\n\\r\\n" + a[0] + "\\n").encode()); c.close()
            """,
        ])
        defer { server.kill(SIGKILL) }
        try agent.write("client.yaml", clientPod(name: "client"))
        let client = try #require(try agent.waitForPod("client", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        #expect(client.status?.podIP?.hasPrefix("10.88.") == true)
        var seen = ""
        _ = waitUntil(timeout: .seconds(30)) {
            seen = (try? agent.agentctl(["exec", "client", "--", "timeout", "5", "wget", "-qO-", "http://10.251.0.2:8081/"]).stdout) ?? ""
            return !seen.isEmpty
        }
        #expect(seen == "10.251.0.1\n", "the outside saw \(seen.debugDescription); log:\n\(agent.log())")
        let nat = try agent.inNetns(["iptables-save", "-t", "nat"]).check().stdout
        #expect(nat.contains("-A POSTROUTING -m comment --comment \"minikubelet: pod egress\" -j MINIKUBELET-POD-MASQ"), "\(nat)")
        #expect(!nat.contains(client.metadata.uid ?? "<no uid>"), "no per-pod chain from the bridge plugin: \(nat)")
        let conflist = try String(contentsOfFile: agent.cniConfDir + "/10-minikubelet.conflist", encoding: .utf8)
        #expect(conflist.contains("\"ipMasq\" : false") && conflist.contains("portmap"))
        // A pod without hostPorts is attached without portmap (the cached list is what DEL will run).
        let uid = try #require(client.metadata.uid)
        let cached = try String(contentsOfFile: agent.root + "/cni/results/minikubelet-\(uid)-eth0.json", encoding: .utf8)
        #expect(cached.contains("\"bridge\"") && !cached.contains("portmap"), "\(cached)")
    }

    @Test func hostNetworkPodUsesTheAgentNamespace() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try agent.write(
            "host.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: host
            spec:
              hostNetwork: true
              terminationGracePeriodSeconds: 2
              dnsConfig:
                nameservers: [10.0.0.11]
                options:
                - name: ndots
                  value: "3"
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
            """)
        let pod = try #require(try agent.waitForPod("host", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        #expect(pod.status?.podIP == nodeAddress)
        #expect(pod.status?.hostIP == nodeAddress)
        let addresses = try agent.agentctl(["exec", "host", "--", "ip", "-o", "-4", "addr"]).check().stdout
        #expect(addresses.contains("node0") && addresses.contains(nodeAddress), "\(addresses)")
        let hosts = try agent.agentctl(["exec", "host", "--", "cat", "/etc/hosts"]).check().stdout
        #expect(hosts.hasPrefix("# Kubernetes-managed hosts file (host network).\n"))
        #expect(leases(agent).isEmpty)
        // Default policy for a hostNetwork pod with ClusterFirst: the node's resolv.conf, dnsConfig merged in.
        let resolv = try agent.agentctl(["exec", "host", "--", "cat", "/etc/resolv.conf"]).check().stdout
        let nodeServers = try String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("nameserver ") }.map(String.init)
        for line in nodeServers + ["nameserver 10.0.0.11"] { #expect(resolv.contains(line + "\n"), "\(resolv)") }
        #expect(resolv.contains("ndots:3"))
        #expect(try agent.events().contains("MissingClusterDNS") == false)
        #expect(try agent.events().contains("UnsupportedField") == false)
    }

    /// The sandbox the agent makes (no helper programs): the pod's own network, IPC and UTS namespaces, pinned
    /// under the pod's directory and shared by its containers, with the pod's hostname and `lo` up; a hostNetwork
    /// pod keeps the node's network and UTS namespaces but gets its own IPC namespace.
    @Test func sandboxNamespacesArePinnedWithHostnameAndLoopback() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try agent.write(
            "pods.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: sandboxed
            spec:
              hostname: box-name
              terminationGracePeriodSeconds: 2
              containers:
              - name: one
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
              - name: two
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
            ---
            apiVersion: v1
            kind: Pod
            metadata:
              name: on-host
            spec:
              hostNetwork: true
              terminationGracePeriodSeconds: 2
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
            """)
        let pod = try #require(try agent.waitForPod("sandboxed", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        _ = try #require(try agent.waitForPod("on-host", timeout: .seconds(90)) { isRunningAndReady($0) }, "\(agent.log())")
        let uid = try #require(pod.metadata.uid)
        func namespaces(_ pod: String, _ container: String) throws -> [String] {
            try agent.agentctl(["exec", pod, "-c", container, "--", "sh", "-c", "for n in net ipc uts; do readlink /proc/self/ns/$n; done"]).check()
                .stdout.split(separator: "\n").map(String.init)
        }
        func inode(_ path: String) -> String {
            var info = stat()
            return stat(path, &info) == 0 ? String(info.st_ino) : "stat \(path) failed"
        }
        let one = try namespaces("sandboxed", "one")
        #expect(one.count == 3)
        #expect(try namespaces("sandboxed", "two") == one)
        // The pins are the very namespaces the containers are in.
        let pins = ["net", "ipc", "uts"].map { "\($0):[\(inode(agent.root + "/pods/\(uid)/ns/" + $0))]" }
        #expect(one == pins, "\(one) \(pins)")
        // None of them is the agent's (its network namespace is the harness's; IPC and UTS are this process's).
        let agentNet = "net:[\(inode("/run/netns/" + agent.netns))]"
        let own = ["ipc", "uts"].map { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/" + $0)) ?? "?" }
        #expect(!one.contains(agentNet) && !one.contains(own[0]) && !one.contains(own[1]), "\(one) \(agentNet) \(own)")
        #expect(try agent.agentctl(["exec", "sandboxed", "-c", "two", "--", "cat", "/proc/sys/kernel/hostname"]).check().stdout == "box-name\n")
        let loopback = try agent.agentctl(["exec", "sandboxed", "-c", "one", "--", "ip", "-o", "link", "show", "lo"]).check().stdout
        #expect(loopback.contains("<LOOPBACK,UP,LOWER_UP>"), "\(loopback)")

        // hostNetwork: the node's network and (as containerd does) UTS namespaces, its own IPC namespace.
        let host = try namespaces("on-host", "main")
        #expect(host.count == 3 && host[0] == agentNet && host[2] == own[1], "\(host) \(agentNet) \(own)")
        #expect(!host.contains(own[0]) && !host.contains(one[1]), "\(host) \(own) \(one)")
        var nodeName = [CChar](repeating: 0, count: 256)
        gethostname(&nodeName, nodeName.count)
        let hostName = try agent.agentctl(["exec", "on-host", "--", "cat", "/proc/sys/kernel/hostname"]).check().stdout
        #expect(hostName == String(decoding: nodeName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "\n", "\(hostName)")

        // Deleting the pod releases the pins.
        try agent.remove("pods.yaml")
        #expect(try waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) { try agent.pods().isEmpty }, "\(agent.log())")
        #expect(!FileManager.default.fileExists(atPath: agent.root + "/pods/\(uid)/ns/net"))
        #expect(!isMountPoint(agent.root + "/pods/\(uid)/ns/uts"))
    }

    @Test func delAfterAgentCrashAndStaleLeasesCollected() throws {
        let agent = try AgentHarness(nodeAddress: nodeAddress, extraArgs: ["--pod-security=privileged"])
        defer { agent.cleanUp() }
        try agent.write("p.yaml", sleeperPod(name: "p"))
        try agent.write("q.yaml", sleeperPod(name: "q"))
        let p = try #require(try agent.waitForPod("p", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        let q = try #require(try agent.waitForPod("q", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil })
        let pIP = try #require(p.status?.podIP)
        let qIP = try #require(q.status?.podIP)
        try agent.killAgent()
        // A lease of a container nobody knows (a pod lost with an older state directory).
        let stale = agent.root + "/cni/networks/minikubelet/10.88.200.200"
        try "0123456789abcdef0123456789abcdef\r\neth0".write(toFile: stale, atomically: true, encoding: .utf8)
        // A veth on the bridge no pod owns, and a namespace pin of a pod the store does not know.
        try agent.inNetns(["ip", "link", "add", "vethstale0", "type", "veth", "peer", "name", "vethstale1"]).check()
        try agent.inNetns(["ip", "link", "set", "vethstale0", "master", "mk0"]).check()
        #expect(try veths(agent).count == 3)
        let pin = agent.root + "/pods/0123456789abcdef0123456789abcdef/ns/net"
        try FileManager.default.createDirectory(atPath: agent.root + "/pods/0123456789abcdef0123456789abcdef/ns", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: pin, contents: nil))
        try run(["unshare", "--net=\(pin)", "true"]).check()
        #expect(isMountPoint(pin))
        try agent.remove("p.yaml")
        try agent.start()
        #expect(try waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) { try agent.pod("p") == nil }, "\(agent.log())")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(leases(agent) == [qIP], "\(agent.log())")
        #expect(!leases(agent).contains(pIP))
        #expect(try veths(agent).count == 1)
        // The surviving pod keeps its address across the restart.
        let after = try #require(try agent.waitForPod("q", timeout: .seconds(30)) { isRunningAndReady($0) })
        #expect(after.status?.podIP == qIP)
        #expect(agent.log().contains("released lease 10.88.200.200"))
        #expect(!isMountPoint(pin), "\(agent.log())")
    }
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct NetworkFailureTests {
    /// A plugin that does not exist: kubelet's FailedCreatePodSandBox event, then a retry once the network is fixed.
    @Test func failedAddIsReportedAndRetried() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let conflist = agent.cniConfDir + "/10-minikubelet.conflist"
        try #"{"cniVersion":"1.0.0","name":"minikubelet","plugins":[{"type":"nosuchplugin"}]}"#.write(
            toFile: conflist, atomically: true, encoding: .utf8)
        try agent.write("p.yaml", sleeperPod(name: "p"))
        #expect(
            try waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) {
                try agent.events().contains("Failed to create pod sandbox: failed to find plugin \"nosuchplugin\" in path [/usr/lib/cni]")
            }, "\((try? agent.events()) ?? "")")
        #expect(try agent.pod("p")?.status?.podIP == nil)
        // Removed: the agent writes its default configuration again at the next attempt.
        try FileManager.default.removeItem(atPath: conflist)
        let pod = try #require(try agent.waitForPod("p", timeout: .seconds(90)) { isRunningAndReady($0) && $0.status?.podIP != nil }, "\(agent.log())")
        #expect(pod.status?.podIP?.hasPrefix("10.88.") == true)
    }
}
