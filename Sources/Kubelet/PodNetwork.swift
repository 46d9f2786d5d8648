import CNI
import Foundation
import Glibc
import KubeAPI
import OCISpec

/// The agent's pod-network settings (daemon flags).
public struct NetworkSettings: Sendable {
    public var cniBinDir: String
    public var cniConfDir: String
    public var podCIDR: String
    /// nil: detected (the default-route interface's IPv4 address, else the first global IPv4 address).
    public var nodeIP: String?

    public init(cniBinDir: String = "/usr/lib/cni", cniConfDir: String = "/etc/cni/net.d", podCIDR: String = "10.88.0.0/16", nodeIP: String? = nil) {
        self.cniBinDir = cniBinDir
        self.cniConfDir = cniConfDir
        self.podCIDR = podCIDR
        self.nodeIP = nodeIP
    }
}

/// What a pod's network attachment was made with (libcni's result cache): DEL must use the very
/// configuration and arguments ADD used, even after an agent crash or a changed conflist.
struct NetworkAttachment: Codable, Sendable {
    var config: NetworkConfigList
    var runtime: RuntimeArguments
    /// The final ADD result; nil while ADD is in progress (a crash then leaves a DEL to do).
    var result: JSONValue?
}

/// Pod networking through CNI (kubelet + containerd's CRI network role): the agent's conflist, ADD when a
/// pod's sandbox is made, DEL when it goes, garbage collection at start, and the per-pod /etc files.
struct PodNetwork: Sendable {
    static let networkName = "minikubelet"
    static let bridgeName = "mk0"
    static let conflistName = "10-minikubelet.conflist"
    static let ifName = "eth0"

    let settings: NetworkSettings
    let root: String
    /// The node's address (status.hostIP); "" when none was found.
    let nodeIP: String

    init(settings: NetworkSettings, root: String) {
        self.settings = settings
        self.root = root
        nodeIP = settings.nodeIP ?? NodeAddress.detect(excluding: Self.bridgeName) ?? ""
    }

    var dataDir: String { root + "/cni/networks" }
    var leaseDir: String { dataDir + "/" + Self.networkName }
    var cacheDir: String { root + "/cni/results" }
    func cachePath(_ uid: String) -> String { cacheDir + "/\(Self.networkName)-\(uid)-\(Self.ifName).json" }
    var runner: PluginRunner { PluginRunner(binDirectories: [settings.cniBinDir]) }

    /// The default conflist: bridge `mk0` (gateway, hairpin) with host-local IPAM over the pod CIDR (leases
    /// under the agent's root, not /var/lib/cni), then portmap for hostPorts. Masquerading of pod egress is
    /// not the bridge's (`ipMasq` makes it create a chain per pod with six iptables runs, about 25 ms of every
    /// pod start and again at DEL) but one agent rule for the whole CIDR: see `installPodMasquerade`.
    func defaultConflist(bridgeMasquerade: Bool = false) -> NetworkConfigList {
        let ipam: [String: JSONValue] = [
            "type": .string("host-local"), "ranges": .array([.array([.object(["subnet": .string(settings.podCIDR)])])]),
            "routes": .array([.object(["dst": .string("0.0.0.0/0")])]), "dataDir": .string(dataDir),
        ]
        return NetworkConfigList(
            cniVersion: "1.0.0", name: Self.networkName,
            plugins: [
                [
                    "type": .string("bridge"), "bridge": .string(Self.bridgeName), "isGateway": .bool(true), "ipMasq": .bool(bridgeMasquerade),
                    "hairpinMode": .bool(true), "ipam": .object(ipam),
                ],
                ["type": .string("portmap"), "capabilities": .object(["portMappings": .bool(true)]), "snat": .bool(true)],
            ])
    }

    /// The network this agent uses: the configuration named `minikubelet` in the conf dir (first by file
    /// name), written as 10-minikubelet.conflist when there is none. Other networks (podman's 87-podman*,
    /// ...) are never used: the agent owns its bridge and leases.
    func conflist(log: Bool = false) throws(CNIError) -> NetworkConfigList {
        let loaded = ConfigDirectory.load(settings.cniConfDir)
        if log { for problem in loaded.problems { Log.warning("CNI configuration \(problem)") } }
        let path = settings.cniConfDir + "/" + Self.conflistName
        // The default an earlier version of the agent wrote (the bridge masquerading per pod) is replaced by
        // today's; any other content is the operator's and is kept.
        if let entry = ConfigDirectory.select(loaded.entries, network: Self.networkName),
            entry.file != path || entry.list != defaultConflist(bridgeMasquerade: true)
        {
            if log {
                let others = loaded.entries.filter { $0.file != entry.file }.map(\.file)
                Log.info("CNI network \(Self.networkName) from \(entry.file)" + (others.isEmpty ? "" : "; ignoring \(others.joined(separator: ", "))"))
            }
            return entry.list
        }
        let list = defaultConflist()
        do {
            try FileManager.default.createDirectory(atPath: settings.cniConfDir, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let temporary = path + ".tmp"
            try encoder.encode(list).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw CNIError.io("rename \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            throw .io("writing the default CNI configuration \(path): \(error)")
        }
        Log.info("CNI network \(Self.networkName): wrote the default configuration \(path) (bridge \(Self.bridgeName), pod CIDR \(settings.podCIDR))")
        return list
    }

    // MARK: - Node set-up

    /// The per-network-namespace settings the data path needs, in the agent's own namespace.
    func prepareNode() async {
        if !FileManager.default.fileExists(atPath: "/proc/sys/net/bridge") {
            let result = try? await Command.run(["/sbin/modprobe", "br_netfilter"])
            if result?.succeeded != true {
                Log.warning(
                    "modprobe br_netfilter failed (\(result?.stderr.trimmingCharacters(in: .whitespacesAndNewlines) ?? "not run")): pod → service → pod on the bridge will not work"
                )
            }
        }
        var applied: [String] = []
        for (key, value) in [
            ("net.ipv4.ip_forward", "1"), ("net.bridge.bridge-nf-call-iptables", "1"), ("net.ipv4.conf.all.route_localnet", "1"),
        ] {
            let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
            do {
                try Data(value.utf8).write(to: URL(fileURLWithPath: path))
                applied.append("\(key)=\(value)")
            } catch {
                Log.warning("cannot set \(key)=\(value): \(error)")
            }
        }
        Log.info("node network set-up in the agent's network namespace: \(applied.joined(separator: " ")); node IP \(nodeIP.isEmpty ? "<none>" : nodeIP)")
        do {
            // Only the agent's own default network leaves masquerading to the agent; an operator's
            // conflist (ipMasq or not) is used exactly as written.
            if try conflist(log: true) == defaultConflist() { await installPodMasquerade() }
        } catch {
            Log.error("CNI: \(error)")
        }
    }

    static let masqueradeChain = "MINIKUBELET-POD-MASQ"

    /// The iptables-restore input for the pod egress chain (declaring the chain flushes it, so a changed pod
    /// CIDR replaces the old rules): traffic inside the pod CIDR keeps its source; anything else leaving a pod,
    /// except multicast, is masqueraded to the node's address, as the bridge plugin's `ipMasq` does per pod.
    static func masqueradeRules(podCIDR: String) -> String {
        let chain = masqueradeChain
        return """
            *nat
            :\(chain) - [0:0]
            -A \(chain) -s \(podCIDR) -d \(podCIDR) -m comment --comment "minikubelet: pod to pod keeps its source" -j RETURN
            -A \(chain) -s \(podCIDR) ! -d 224.0.0.0/4 -m comment --comment "minikubelet: masquerade pod egress" -j MASQUERADE
            COMMIT

            """
    }

    /// One masquerade rule for all pods, in the iptables the bridge plugin would have used (`iptables`, the
    /// host's default backend), hooked into nat POSTROUTING once.
    func installPodMasquerade() async {
        func jump(_ operation: String) -> [String] {
            [
                "/usr/sbin/iptables", "-w", "5", "-t", "nat", operation, "POSTROUTING", "-m", "comment", "--comment", "minikubelet: pod egress", "-j",
                Self.masqueradeChain,
            ]
        }
        do {
            let rules = root + "/cni/pod-masquerade.rules"
            do {
                try FileManager.default.createDirectory(atPath: root + "/cni", withIntermediateDirectories: true)
                try Data(Self.masqueradeRules(podCIDR: settings.podCIDR).utf8).write(to: URL(fileURLWithPath: rules))
            } catch {
                throw CommandError(argv: ["iptables-restore", rules], detail: "writing the rules: \(error)")
            }
            try await Command.check(["/usr/sbin/iptables-restore", "-w", "5", "--noflush", rules])
            if try await Command.run(jump("-C")).succeeded == false { try await Command.check(jump("-A")) }
        } catch {
            Log.warning("pod egress masquerade for \(settings.podCIDR) not installed (pods cannot reach addresses off the node): \(error)")
        }
    }

    // MARK: - ADD / DEL

    static func portMappings(_ pod: Pod) -> [PortMapping] {
        (pod.spec.containers + (pod.spec.initContainers ?? [])).flatMap { $0.ports ?? [] }.compactMap { port in
            guard let hostPort = port.hostPort, hostPort != 0 else { return nil }
            // go-cni lowercases the protocol; portmap matches on "tcp"/"udp"/"sctp".
            return PortMapping(
                hostPort: Int(hostPort), containerPort: Int(port.containerPort), protocol: (port.protocol ?? "TCP").lowercased(),
                hostIP: (port.hostIP ?? "").isEmpty ? nil : port.hostIP)
        }
    }

    func cached(_ uid: String) -> NetworkAttachment? {
        guard let data = FileManager.default.contents(atPath: cachePath(uid)) else { return nil }
        return try? JSONDecoder().decode(NetworkAttachment.self, from: data)
    }

    /// The pod's IPs from a completed attachment.
    func cachedIPs(_ uid: String) -> [String]? {
        guard let attachment = cached(uid), let raw = attachment.result,
            let data = try? JSONEncoder().encode(raw), let result = try? JSONDecoder().decode(CNIResult.self, from: data)
        else { return nil }
        return result.addresses(onInterface: Self.ifName)
    }

    private func save(_ attachment: NetworkAttachment, uid: String) throws(CNIError) {
        do {
            try FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
            let temporary = cachePath(uid) + ".tmp"
            try JSONEncoder().encode(attachment).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, cachePath(uid)) == 0 else { throw CNIError.io("rename \(temporary): \(String(cString: strerror(errno)))") }
        } catch {
            throw .io("caching the network attachment of pod \(uid): \(error)")
        }
    }

    /// ADD for a fresh sandbox; a previous attachment of the pod (an earlier sandbox) is deleted first.
    /// A failed ADD is followed by DEL (CNI spec), so nothing is left half-made.
    func attach(pod: Pod, uid: String, netns: String) async throws(CNIError) -> [String] {
        if cached(uid) != nil { try await detach(uid: uid, netns: netns) }
        let runtime = RuntimeArguments(
            containerID: uid, netns: netns, ifName: Self.ifName,
            args: [
                ("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", pod.metadata.namespace ?? "default"), ("K8S_POD_NAME", pod.metadata.name ?? ""),
                ("K8S_POD_INFRA_CONTAINER_ID", uid), ("K8S_POD_UID", uid),
            ], portMappings: Self.portMappings(pod))
        var config = try conflist()
        // The agent's own network runs portmap only for pods with hostPorts: with no mappings it changes
        // nothing yet costs a plugin run (~10 ms of the pod start). DEL uses the cached list, so it matches.
        if runtime.portMappings.isEmpty && config == defaultConflist() {
            config.plugins.removeAll { $0["type"] == .string("portmap") }
        }
        var attachment = NetworkAttachment(config: config, runtime: runtime, result: nil)
        try save(attachment, uid: uid)
        let chain = NetworkChain(list: attachment.config, runner: runner)
        do throws(CNIError) {
            let added = try await chain.add(runtime)
            attachment.result = added.raw
            try save(attachment, uid: uid)
            let ips = added.result.addresses(onInterface: Self.ifName)
            guard !ips.isEmpty else { throw CNIError.badResult(type: attachment.config.pluginTypes.last ?? "", command: "ADD", detail: "no IP address") }
            return ips
        } catch {
            do { try await detach(uid: uid, netns: netns) } catch let cleanup { Log.warning("pod \(uid): DEL after a failed ADD: \(cleanup)") }
            throw error
        }
    }

    /// DEL with the cached configuration and result; a no-op for a pod never attached. The namespace is
    /// passed only while its pin still exists (DEL then also removes the pod's interface and masquerade rules).
    func detach(uid: String, netns: String?) async throws(CNIError) {
        guard let attachment = cached(uid) else { return }
        var runtime = attachment.runtime
        runtime.netns = netns.flatMap { MountTable.isMountPoint($0) ? $0 : nil }
        // A plugin that is not installed (any more) cannot release anything: skipped, or the pod could never go.
        let skipped = try await NetworkChain(list: attachment.config, runner: runner).delete(
            runtime, prevResult: attachment.result, ignoringMissingPlugins: true)
        if !skipped.isEmpty {
            Log.warning("pod \(uid): CNI DEL skipped plugins not found in \(settings.cniBinDir): \(skipped.joined(separator: ", "))")
        }
        do { try FileManager.default.removeItem(atPath: cachePath(uid)) } catch {
            throw .io("removing \(cachePath(uid)): \(error)")
        }
    }

    // MARK: - Garbage collection

    /// At start, before any worker runs: attachments, leases, namespace pins and veths of pods the store
    /// does not know (removed while the agent was down and never cleaned up, or a crash mid-cleanup).
    func collectGarbage(knownPods: Set<String>) async {
        let prefix = "\(Self.networkName)-"
        let suffix = "-\(Self.ifName).json"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: cacheDir)) ?? [] where file.hasPrefix(prefix) && file.hasSuffix(suffix) {
            let uid = String(file.dropFirst(prefix.count).dropLast(suffix.count))
            guard !knownPods.contains(uid) else { continue }
            do {
                try await detach(uid: uid, netns: root + "/pods/\(uid)/ns/net")
                Log.info("CNI garbage collection: deleted the network attachment of unknown pod \(uid)")
            } catch {
                Log.warning("CNI garbage collection: DEL for unknown pod \(uid): \(error)")
            }
        }
        for uid in (try? FileManager.default.contentsOfDirectory(atPath: root + "/pods")) ?? [] where !knownPods.contains(uid) {
            let sandbox = Sandbox(podDirectory: root + "/pods/" + uid)
            guard Sandbox.kinds.contains(where: { MountTable.isMountPoint(sandbox.path($0)) }) else { continue }
            do {
                try await sandbox.destroy()
                Log.info("garbage collection: removed the namespace pins of unknown pod \(uid)")
            } catch {
                Log.warning("garbage collection: namespaces of unknown pod \(uid): \(error)")
            }
        }
        await collectLeases(knownPods: knownPods)
        await collectVeths(knownPods: knownPods)
    }

    /// host-local lease files (`<ip>` holding `<containerID>\r\n<ifname>`) of unknown container IDs: DEL by
    /// container ID with the current configuration (releases the lease and any portmap chains), then the file.
    private func collectLeases(knownPods: Set<String>) async {
        for file in (try? FileManager.default.contentsOfDirectory(atPath: leaseDir)) ?? [] where NodeAddress.isIPv4(file) {
            let path = leaseDir + "/" + file
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            // "\r\n" is one Character in Swift: split on isNewline, not on "\r" / "\n".
            let owner = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !knownPods.contains(owner) else { continue }
            if !owner.isEmpty, let list = try? conflist() {
                let runtime = RuntimeArguments(containerID: owner, netns: nil, ifName: Self.ifName, args: [("IgnoreUnknown", "1")])
                do { try await NetworkChain(list: list, runner: runner).delete(runtime, prevResult: nil) } catch {
                    Log.warning("CNI garbage collection: DEL for lease \(file) of \(owner): \(error)")
                }
            }
            if FileManager.default.fileExists(atPath: path) {
                do { try FileManager.default.removeItem(atPath: path) } catch {
                    Log.warning("CNI garbage collection: removing lease \(path): \(error)")
                    continue
                }
            }
            Log.info("CNI garbage collection: released lease \(file) of unknown container \(owner.isEmpty ? "<none>" : owner)")
        }
    }

    /// veths on the bridge that no known pod's attachment lists (their pod's namespace is held elsewhere).
    private func collectVeths(knownPods: Set<String>) async {
        guard let listing = try? await Command.run(["/usr/sbin/ip", "-o", "link", "show", "master", Self.bridgeName]), listing.succeeded else { return }
        var owned: Set<String> = []
        for uid in knownPods {
            guard let raw = cached(uid)?.result, let data = try? JSONEncoder().encode(raw), let result = try? JSONDecoder().decode(CNIResult.self, from: data)
            else { continue }
            owned.formUnion(result.hostInterfaces)
        }
        for line in listing.stdout.split(separator: "\n") {
            // `7: veth1234abcd@if2: <...> ...`
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { continue }
            let name = String(fields[1].split(separator: "@").first ?? "").trimmingCharacters(in: CharacterSet(charactersIn: ":"))
            guard name.hasPrefix("veth"), !owned.contains(name) else { continue }
            do {
                try await Command.check(["/usr/sbin/ip", "link", "delete", name])
                Log.info("CNI garbage collection: removed stale veth \(name) from \(Self.bridgeName)")
            } catch {
                Log.warning("CNI garbage collection: \(error)")
            }
        }
    }
}

/// The node's address, from the agent's own network namespace.
enum NodeAddress {
    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    /// IPv4 addresses per interface (up, not loopback).
    static func addresses() -> [(interface: String, address: String)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out: [(String, String)] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            let flags = Int32(bitPattern: entry.pointee.ifa_flags)
            guard let socketAddress = entry.pointee.ifa_addr, socketAddress.pointee.sa_family == sa_family_t(AF_INET),
                flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0
            else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else { continue }
            out.append((String(cString: entry.pointee.ifa_name), String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        return out
    }

    /// The default-route interface's address (kubelet's fallback when the host name does not resolve),
    /// else the first address of an interface that is not the pod bridge or a veth.
    static func detect(excluding bridge: String) -> String? {
        let candidates = addresses().filter { $0.interface != bridge && !$0.interface.hasPrefix("veth") }
        if let routes = ProcFile.read("/proc/net/route") {
            for line in routes.split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count > 2, fields[1] == "00000000" else { continue }
                if let match = candidates.first(where: { $0.interface == fields[0] }) { return match.address }
            }
        }
        return candidates.first?.address
    }
}
