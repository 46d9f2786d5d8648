// nftables partial syncs over netlink (libnftnl): the encoding pieces, then real kernels in network namespaces
// this file creates: a table built by full sync + netlink partial syncs must list exactly like the same final state
// written by `nft -f` alone, and a batch the kernel refuses must change nothing.
import Foundation
import TestSupport
import Testing

@testable import ServiceProxy

@Suite("nftables netlink encoding")
struct NFTNetlinkEncodingTests {
    @Test(
        arguments: [
            ("10.96.0.1 . tcp . 80", [10, 96, 0, 1, 6, 0, 0, 0, 0, 80, 0, 0]),
            ("172.30.0.43 . udp . 53", [172, 30, 0, 43, 17, 0, 0, 0, 0, 53, 0, 0]),
            ("tcp . 30080", [6, 0, 0, 0, 0x75, 0x80, 0, 0]),
            ("sctp . 32767", [132, 0, 0, 0, 0x7f, 0xff, 0, 0]),
            ("10.96.0.1", [10, 96, 0, 1]),
        ] as [(String, [UInt8])])
    func elementKeys(key: String, bytes: [UInt8]) throws {
        #expect(try NFTEncoding.elementKey(key) == bytes)
    }

    /// Random-slot keys: KEY holds each range's first slot, KEY_END its last, both big-endian u32 (`nft --debug=netlink`
    /// of `add element ... { 10.96.0.2 . tcp . 80 . 0-21845 : ... }` sends `00000000` and `00005555`).
    @Test(
        arguments: [
            (
                "10.96.0.2 . tcp . 80 . 0-21845", [10, 96, 0, 2, 6, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0, 0],
                [10, 96, 0, 2, 6, 0, 0, 0, 0, 80, 0, 0, 0, 0, 0x55, 0x55]
            ),
            ("udp . 30080 . 21846-65535", [17, 0, 0, 0, 0x75, 0x80, 0, 0, 0, 0, 0x55, 0x56], [17, 0, 0, 0, 0x75, 0x80, 0, 0, 0, 0, 0xff, 0xff]),
        ] as [(String, [UInt8], [UInt8])])
    func slotRangeKeys(key: String, start: [UInt8], end: [UInt8]) throws {
        let encoded = try NFTEncoding.elementKeyRange(key)
        #expect(encoded.start == start && encoded.end == end)
        #expect(throws: NFTEncoding.InvalidValue.self) { try NFTEncoding.elementKey(key) }
    }

    /// An exact slot (the maps for 1-8 endpoints) is numgen's value as is: a host-endian u32 (`nft --debug=netlink`
    /// of `add element ... { 10.96.0.2 . tcp . 80 . 2 : ... }` sends `02000000`); without `slot` it would be a port.
    @Test func exactSlotKeys() throws {
        #expect(try NFTEncoding.elementKeyRange("10.96.0.2 . tcp . 80 . 2", slot: true) == ([10, 96, 0, 2, 6, 0, 0, 0, 0, 80, 0, 0, 2, 0, 0, 0], nil))
        #expect(try NFTEncoding.elementKeyRange("tcp . 30080 . 7", slot: true) == ([6, 0, 0, 0, 0x75, 0x80, 0, 0, 7, 0, 0, 0], nil))
        #expect(try NFTEncoding.elementKey("tcp . 30080 . 7") == [6, 0, 0, 0, 0x75, 0x80, 0, 0, 0, 7, 0, 0])
    }

    @Test func elementValues() throws {
        #expect(try NFTEncoding.elementValue("10.88.0.3 . 8080").data == [10, 88, 0, 3, 0x1f, 0x90, 0, 0])
        #expect(try NFTEncoding.elementValue("goto service-X").verdict?.chain == "service-X")
    }

    @Test(arguments: ["10.96.0 . tcp . 80", "icmp . 80", "tcp . 70000", "10.96.0.1 . tcp . http", "tcp . 80 . 5-4", "tcp . 80 . 0-65536", "tcp . 80 . 1-"])
    func badElementKeysAreRefused(key: String) {
        #expect(throws: NFTEncoding.InvalidValue.self) { try NFTEncoding.elementKey(key) }
    }

    @Test func verdictsAndComments() throws {
        #expect(try NFTEncoding.verdict("goto service-X") == (true, "service-X"))
        #expect(try NFTEncoding.verdict("jump reject-chain") == (false, "reject-chain"))
        #expect(throws: NFTEncoding.InvalidValue.self) { try NFTEncoding.verdict("drop") }
        // nft's TLV: type 0 (NFTNL_UDATA_RULE_COMMENT), length with the NUL, the text (`nft --debug=netlink`).
        #expect(try NFTEncoding.ruleComment("abc") == [0, 4, 97, 98, 99, 0])
        #expect(throws: NFTEncoding.InvalidValue.self) { try NFTEncoding.ruleComment(String(repeating: "x", count: 128)) }
    }

    /// Each rule shape's text is what the proxier wrote before rules were structured (full syncs unchanged).
    @Test(arguments: [
        (NFTRule([.sourceAddress("10.1.2.3")], .jump("mark-for-masquerade")), "ip saddr 10.1.2.3 jump mark-for-masquerade"),
        (
            NFTRule([.destinationAddress("10.96.0.1"), .sourceAddressNot("10.244.0.0/16")], .jump("mark-for-masquerade")),
            "ip daddr 10.96.0.1 ip saddr != 10.244.0.0/16 jump mark-for-masquerade"
        ),
        (NFTRule([.sourceAddressInSet("aff")], .goto("ep")), "ip saddr @aff goto ep"),
        (NFTRule(.updateSourceSet("aff")), "update @aff { ip saddr }"),
        (NFTRule([.l4proto("udp")], .dnat(ip: "10.1.2.3", port: 53)), "meta l4proto udp dnat to 10.1.2.3:53"),
        (NFTRule(.randomGoto(["e0", "e1"])), "numgen random mod 2 vmap { 0 : goto e0 , 1 : goto e1 }"),
        (NFTRule(.goto("svc")), "goto svc"),
        (
            NFTRule([.sourceAddress("10.0.0.0/8")], .goto("svc"), comment: "short-circuit pod traffic"),
            "ip saddr 10.0.0.0/8 goto svc comment \"short-circuit pod traffic\""
        ),
        (NFTRule([.sourceIsLocal], .jump("m"), comment: "local"), "fib saddr type local jump m comment \"local\""),
        (NFTRule(.counter, comment: "ff00"), "counter comment \"ff00\""),
    ])
    func ruleText(rule: NFTRule, text: String) {
        #expect(rule.text == text)
    }

    /// Prefix matches as nft 1.0.6 encodes them: a byte-aligned prefix loads only its bytes, others mask 4 bytes.
    @Test(
        arguments: [
            ("10.244.0.0/16", [2], [10, 244]),
            ("10.0.0.0/8", [1], [10]),
            ("10.1.2.3", [4], [10, 1, 2, 3]),
            ("10.240.0.0/12", [4], [10, 240, 0, 0]),
        ] as [(String, [UInt32], [UInt8])])
    func prefixMatches(cidr: String, loads: [UInt32], compared: [UInt8]) throws {
        let expressions = try NFTExpressions.address(offset: 12, cidr, equal: false)
        #expect(expressions.first?.name == "payload")
        #expect(expressions.first?.attributes.last?.1 == .u32(loads[0]))
        #expect(expressions.last?.attributes.last?.1 == .bytes(compared))
        #expect(expressions.contains { $0.name == "bitwise" } == (cidr == "10.240.0.0/12"))
    }

    /// Element lists are split by size: one nested attribute past 64 KiB wraps its 16-bit length and the kernel
    /// silently takes a prefix (1,000 elements with 50-byte chain names did).
    @Test(arguments: [0, 1, 250, 1000, 3000])
    func elementMessagesStayUnder64KiB(count: Int) {
        let chain = String(repeating: "c", count: 50)
        let elements: [NFTNetlinkBatch.EncodedElement] = (0..<count).map { _ in
            (key: [UInt8](repeating: 1, count: 12), keyEnd: nil, verdict: (goto: true, chain: chain), data: nil)
        }
        let ranges = NFTNetlinkBatch.messageRanges(elements)
        #expect(ranges.map(\.count).reduce(0, +) == count)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        // 64 + 12 + 50 bytes counted per element; the real encoding is ~135 with the nests: still under 64 KiB.
        #expect(ranges.allSatisfy { $0.count * 135 < 65000 })
    }

    @Test func randomGotoNeedsItsMap() {
        #expect(throws: NFTEncoding.InvalidValue.self) { try NFTExpressions.build(NFTRule(.randomGoto(["a"])), anonymousSetID: nil) }
    }

    /// NLMSG_ERROR replies: each names the sequence number of the message it answers; 0 is an ACK.
    @Test func repliesAreMatchedToMessages() {
        func reply(seq: UInt32, error: Int32) -> [UInt8] {
            var bytes: [UInt8] = []
            func u32(_ v: UInt32) { withUnsafeBytes(of: v) { bytes += $0 } }
            u32(36)
            u32(2)  // NLMSG_ERROR, no flags
            u32(seq)
            u32(0)
            u32(UInt32(bitPattern: error))
            u32(20)  // the answered message's header: length, type, seq, pid
            u32(0x0a06)
            u32(seq)
            u32(0)
            return bytes
        }
        let buffer = reply(seq: 3, error: 0) + reply(seq: 4, error: -ENOENT)
        let parsed = NFTNetlinkSocket.replies(buffer[...])
        #expect(parsed.map(\.seq) == [3, 4])
        #expect(parsed.map(\.error) == [0, -ENOENT])
        #expect(NFTNetlinkError(errno: ENOENT, object: "delete chain ip t c").description.contains("delete chain ip t c: No such file or directory"))
    }

    /// A partial sync's text is the batch's operations rendered: same order, same statements.
    @Test func operationsRenderAsNftText() {
        let rule = NFTRule(.goto("svc"))
        #expect(NFTOperation.addRule(chain: "ext", rule).text(table: "ip t") == "add rule ip t ext goto svc\n")
        #expect(
            NFTOperation.deleteElements(map: "m", [NFTElement("m", "tcp . 1", "goto a"), NFTElement("m", "tcp . 2", "goto b")]).text(table: "ip t")
                == "delete element ip t m { tcp . 1 : goto a, tcp . 2 : goto b }\n")
        #expect(
            NFTOperation.addSet(NFTAffinitySet(name: "s", timeoutSeconds: 60)).text(table: "ip t")
                == "add set ip t s { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }\n")
    }
}

@Suite("nftables partial sync planning")
struct NFTPartialPlanTests {
    /// Ports share ClusterIPs: the address leaves `cluster-ips` with the last port using it, and a port moved in the
    /// list (a service inserted before it) is neither rewritten nor removed.
    @Test func clusterIPsFollowTheLastPortUsingThem() throws {
        let runner = RecordingRunner()
        var proxier = NFTablesProxier(config: referenceConfig, runner: runner)
        func port(_ name: String, _ portName: String, ip: String) -> ProxyServicePort {
            ProxyServicePort(
                name: ServicePortName(namespace: "n", name: name, port: portName), clusterIP: ip, port: portName == "a" ? 80 : 81,
                endpoints: [ServiceEndpoint(ip: "10.244.1.1", port: 8080)])
        }
        let a = port("web", "a", ip: "10.96.0.5")
        let b = port("web", "b", ip: "10.96.0.5")
        let first = port("aaa", "a", ip: "10.96.0.9")
        _ = try proxier.sync(ProxyState(services: [a, b]), full: true)

        let moved = try proxier.sync(ProxyState(services: [first, a]), full: false)
        var text = try #require(runner.commands.last?.input)
        #expect(moved.chainsWritten == 0 && moved.chainsDeleted == 0, "\(moved)")
        #expect(!text.contains("delete element ip minikubelet cluster-ips"), "\(text)")
        // All three ports have the same endpoint: its hairpin pair stays while any of them does.
        #expect(!text.contains("hairpin-endpoints"), "\(text)")
        #expect(text.contains("add element ip minikubelet cluster-ips { 10.96.0.9 }"), "\(text)")
        #expect(!text.contains("n/web/tcp/a"), "an unchanged port that only moved was touched: \(text)")

        _ = try proxier.sync(ProxyState(services: [first]), full: false)
        text = try #require(runner.commands.last?.input)
        #expect(text.contains("delete element ip minikubelet cluster-ips { 10.96.0.5 }"), "\(text)")
        #expect(!text.contains("hairpin-endpoints"), "\(text)")

        _ = try proxier.sync(ProxyState(services: []), full: false)
        text = try #require(runner.commands.last?.input)
        #expect(text.contains("delete element ip minikubelet hairpin-endpoints { 10.244.1.1 . 10.244.1.1 }"), "\(text)")
    }
}

/// A throwaway network namespace (loopback up) for nftables checks.
final class NFTNamespace {
    let name: String

    init(_ tag: String) throws {
        name = "nftnl-\(tag)-\(getpid() % 10000)-\(Int.random(in: 100...999))"
        let result = try run(["sh", "-c", "ip netns add \(name) && ip netns exec \(name) ip link set lo up"])
        guard result.succeeded else { throw TestFailure("creating \(name): \(result)") }
    }

    func close() { _ = try? run(["ip", "netns", "del", name]) }

    func exec(_ argv: [String]) throws -> String {
        let result = try run(["ip", "netns", "exec", name] + argv, timeout: .seconds(120))
        guard result.succeeded else { throw TestFailure("\(argv.joined(separator: " ")) in \(name): \(result)") }
        return result.stdout
    }

    func table() throws -> String { try exec(["nft", "list", "table", "ip", "minikubelet"]) }
}

/// `nft list table` with its blocks (chains, sets, maps) sorted: the kernel lists them in creation order, which
/// differs once partial syncs add chains after the full sync's. Inside a block only the element list of a set or
/// map is sorted: interval maps list elements in insertion order.
func normalizedTable(_ listing: String) -> String {
    var blocks: [String] = []
    var current: [String] = []
    var header: [String] = []
    var elements: [String]?
    for line in listing.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("elements = { ") {
            elements = []
        }
        if var list = elements {
            let body = trimmed.hasPrefix("elements = { ") ? String(trimmed.dropFirst("elements = { ".count)) : trimmed
            let closed = body.hasSuffix(" }")
            list += (closed ? String(body.dropLast(2)) : body).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            elements = list
            if closed {
                current.append("\t\telements = { " + list.sorted().joined(separator: ", ") + " }")
                elements = nil
            }
            continue
        }
        if line.hasPrefix("\tchain ") || line.hasPrefix("\tset ") || line.hasPrefix("\tmap ") {
            current = [line]
        } else if !current.isEmpty {
            current.append(line)
            if line == "\t}" {
                blocks.append(current.joined(separator: "\n"))
                current = []
            }
        } else {
            header.append(line)
        }
    }
    return (header + blocks.sorted()).joined(separator: "\n")
}

/// A state exercising every rule shape and the partial-sync cases, and the steps applied to it one after another.
func netlinkStates() -> [ProxyState] {
    func name(_ n: String) -> ServicePortName { ServicePortName(namespace: "nl", name: n, port: "p") }
    func eps(_ ips: [String], port: Int = 8080) -> [ServiceEndpoint] { ips.map { ServiceEndpoint(ip: $0, port: port) } }
    var services = [
        ProxyServicePort(name: name("a"), clusterIP: "10.96.1.1", port: 80, nodePort: 30001, endpoints: eps(["10.77.0.2", "10.77.0.3"])),
        ProxyServicePort(name: name("b"), protocol: .udp, clusterIP: "10.96.1.2", port: 53, endpoints: eps(["10.77.0.4"], port: 5353)),
        ProxyServicePort(name: name("c"), clusterIP: "10.96.1.3", port: 80, affinityTimeoutSeconds: 10800, endpoints: eps(["10.77.0.5", "10.77.0.6"])),
        ProxyServicePort(
            name: name("d"), clusterIP: "10.96.1.4", port: 443, nodePort: 30003, loadBalancerIPs: ["192.168.77.10"], externalPolicyLocal: true,
            endpoints: eps(["10.77.0.7", "10.77.0.8"])),
        ProxyServicePort(name: name("e"), clusterIP: "10.96.1.5", port: 80, nodePort: 30004, loadBalancerIPs: ["192.168.77.11"]),
    ]
    for index in 0..<8 {
        services.append(ProxyServicePort(name: name("bulk\(index)"), clusterIP: "10.96.2.\(index + 1)", port: 80, endpoints: eps(["10.77.1.\(index + 2)"])))
    }
    var steps = [ProxyState(services: services)]
    func step(_ change: (inout [ProxyServicePort]) -> Void) {
        change(&services)
        steps.append(ProxyState(services: services))
    }
    // Endpoint added, endpoint removed (with affinity: a set goes), endpoint changed.
    step {
        $0[0].endpoints += eps(["10.77.0.9"])
        $0[2].endpoints.removeLast()
        $0[1].endpoints = eps(["10.77.0.14"], port: 5353)
    }
    // Service added (NodePort, LoadBalancer IP), service removed, affinity on, externalTrafficPolicy Local on.
    step {
        $0.append(
            ProxyServicePort(
                name: name("new"), clusterIP: "10.96.3.1", port: 8080, nodePort: 30020, loadBalancerIPs: ["192.168.77.12"], endpoints: eps(["10.77.2.2"])))
        $0.removeAll { $0.name == name("bulk3") }
        $0[0].affinityTimeoutSeconds = 600
        $0[0].externalPolicyLocal = true
    }
    // A no-endpoint service gets endpoints, another loses all; a NodePort moves; affinity off.
    step {
        $0[4].endpoints = eps(["10.77.0.10", "10.77.0.11"])
        if let index = $0.firstIndex(where: { $0.name == name("bulk5") }) { $0[index].endpoints = [] }
        $0[3].nodePort = 30013
        $0[2].affinityTimeoutSeconds = nil
    }
    // Back: Local off, the new service gone, a ClusterIP changed (cluster-ips element out and in).
    step {
        $0[0].externalPolicyLocal = false
        $0.removeAll { $0.name == name("new") }
        $0[1].clusterIP = "10.96.1.22"
    }
    return steps
}

@Suite("nftables partial syncs over netlink in network namespaces", .serialized)
struct NFTNetlinkNetnsTests {
    let config = ProxyConfig(podCIDR: "10.77.0.0/16", serviceCIDR: "10.96.0.0/16")

    func writeFiles(_ states: [ProxyState], into dir: String) throws -> [String] {
        try JSONEncoder().encode(config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return try states.enumerated().map { index, state in
            let path = "\(dir)/state\(index).json"
            try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Full sync of `paths[0]`, then `paths[1...last]` as netlink partial syncs in one process, beside a fresh
    /// namespace given `paths[last]` by `nft -f` alone: both tables must list the same.
    func expectSameTables(_ paths: [String], last: Int, dir: String) throws {
        let partial = try NFTNamespace("p")
        defer { partial.close() }
        let text = try NFTNamespace("t")
        defer { text.close() }
        let out = try partial.exec(
            [
                proxyctlPath(), "change", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[0], "--state2",
                paths[1...last].joined(separator: ","),
            ])
        let reports = out.split(separator: "\n")
        #expect(reports.count == last + 1, "\(out)")
        #expect(reports.first?.contains("\"full\":true") == true, "\(out)")
        for report in reports.dropFirst() {
            #expect(report.contains("\"full\":false") && report.contains("\"netlink\":true") && report.contains("\"wrote\":true"), "step \(last): \(report)")
        }
        _ = try text.exec([proxyctlPath(), "apply", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[last]])
        let viaNetlink = try partial.table()
        let viaText = try text.table()
        #expect(normalizedTable(viaNetlink) == normalizedTable(viaText), "step \(last):\n--- netlink\n\(viaNetlink)\n--- nft -f\n\(viaText)")
    }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "nftnl-\(getpid())-\(Int.random(in: 1000...9999))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Every rule shape and partial-sync case, checked after each step.
    @Test func partialSyncsMatchTextSyncs() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let states = netlinkStates()
        let listing = NFTablesProxier(config: config).fullText(states[states.count - 1])
        #expect(listing.contains("numgen random mod") && listing.contains("flags dynamic,timeout") && listing.contains("fib saddr type local"))
        let paths = try writeFiles(states, into: dir)
        for last in 1..<paths.count { try expectSameTables(paths, last: last, dir: dir) }
    }

    /// One endpoint of a service without session affinity moves: the partial sync (over netlink) is element deletes
    /// and adds only, so the kernel keeps every chain and rule and does not revalidate the table; the result equals
    /// `nft -f` of the new state.
    @Test func endpointChangeIsElementChangesOnly() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = netlinkStates()[0]
        var after = before
        // Still the second of the two by `ip:port` (endpoints are sorted): only its slot range changes.
        after.services[0].endpoints[1].ip = "10.77.0.9"
        let paths = try writeFiles([before, after], into: dir)
        let node = try NFTNamespace("e")
        defer { node.close() }
        _ = try node.exec([proxyctlPath(), "apply", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[0]])
        let chainsBefore = chainBlocks(try node.table())
        let out = try node.exec(
            [
                proxyctlPath(), "change", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[0], "--state2", paths[1], "--dump",
                dir + "/delta.txt",
            ])
        let report = out.split(separator: "\n").last.map(String.init) ?? ""
        #expect(report.contains("\"netlink\":true") && report.contains("\"chainsWritten\":0") && report.contains("\"chainsDeleted\":0"), "\(out)")
        let delta = try String(contentsOfFile: dir + "/delta.txt", encoding: .utf8)
        #expect(delta.contains("delete element ip minikubelet service-endpoints-2 { 10.96.1.1 . tcp . 80 . 1 : 10.77.0.3 . 8080 }"), "\(delta)")
        #expect(delta.contains("add element ip minikubelet nodeport-endpoints-2 { tcp . 30001 . 1 : 10.77.0.9 . 8080 }"), "\(delta)")
        for line in delta.split(separator: "\n") where !line.hasPrefix("add element ") && !line.hasPrefix("delete element ") {
            // The fingerprint's counter rule: no expression with a validate operation, so no revalidation either.
            #expect(line.hasPrefix("flush chain ip minikubelet fingerprint") || line.hasPrefix("add rule ip minikubelet fingerprint counter "), "\(line)")
        }
        #expect(chainsBefore.count > 10)
        #expect(chainBlocks(try node.table()) == chainsBefore, "chains or rules changed")
        let text = try NFTNamespace("x")
        defer { text.close() }
        _ = try text.exec([proxyctlPath(), "apply", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[1]])
        #expect(normalizedTable(try node.table()) == normalizedTable(try text.table()))
    }

    /// The chain blocks of a listing but the fingerprint's.
    func chainBlocks(_ listing: String) -> [String] {
        var blocks: [String] = []
        var current: [String]?
        for line in listing.split(separator: "\n").map(String.init) {
            if line.hasPrefix("\tchain ") && line != "\tchain fingerprint {" { current = [] }
            current?.append(line)
            if line == "\t}", let block = current {
                blocks.append(block.joined(separator: "\n"))
                current = nil
            }
        }
        return blocks
    }

    /// 400 services whose endpoints all move, and a new one with 2,500 endpoints: thousands of messages in one batch
    /// (more ACKs than a default netlink receive buffer holds, a batch bigger than the default send buffer) and a
    /// random-dispatch map whose elements take several messages.
    @Test func largePartialSyncMatchesTextSync() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func state(_ third: Int) -> ProxyState {
            var services = (0..<400).map { index in
                ProxyServicePort(
                    name: ServicePortName(namespace: "big", name: "s\(index)"), clusterIP: "10.96.\(10 + index / 200).\(index % 200 + 1)", port: 80,
                    endpoints: [ServiceEndpoint(ip: "10.77.\(third + index / 200).\(index % 200 + 2)", port: 8080)])
            }
            if third == 20 {
                let endpoints = (0..<2500).map { ServiceEndpoint(ip: "10.78.\($0 / 250).\($0 % 250 + 2)", port: 8080) }
                services.append(
                    ProxyServicePort(name: ServicePortName(namespace: "big", name: "wide"), clusterIP: "10.96.30.1", port: 80, endpoints: endpoints))
            }
            return ProxyState(services: services)
        }
        let paths = try writeFiles([state(10), state(20)], into: dir)
        try expectSameTables(paths, last: 1, dir: dir)
    }

    /// A partial sync the kernel refuses (an element it should delete is gone) raises a typed error naming that
    /// element, changes nothing (one batch, one transaction), and the retry, a full sync, repairs the table.
    @Test func refusedPartialSyncChangesNothingAndFullSyncRepairs() throws {
        let dir = NSTemporaryDirectory() + "nftnl-\(getpid())-\(Int.random(in: 1000...9999))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try NFTNamespace("r")
        defer { node.close() }
        let fresh = try NFTNamespace("f")
        defer { fresh.close() }
        var states = netlinkStates()
        let first = states[0]
        var refused = first
        refused.services[0].nodePort = 30031  // its old element must be deleted: the one removed below
        refused.services[1].endpoints.append(ServiceEndpoint(ip: "10.77.0.30", port: 5353))
        var repaired = refused
        repaired.services[2].endpoints.append(ServiceEndpoint(ip: "10.77.0.31", port: 8080))
        states = [first, refused, repaired]
        let paths = try writeFiles(states, into: dir)
        let statePath = dir + "/state.json"
        let reportPath = dir + "/report.jsonl"
        func reports() -> [String] { ((try? String(contentsOfFile: reportPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        func use(_ index: Int) throws {
            try Data(contentsOf: URL(fileURLWithPath: paths[index])).write(to: URL(fileURLWithPath: statePath), options: .atomic)
        }
        try use(0)
        let child = try spawn(
            [
                "ip", "netns", "exec", node.name, proxyctlPath(), "run", "--mode", "nftables", "--state", statePath, "--report", reportPath, "--config",
                dir + "/config.json", "--min-sync-ms", "50", "--retry-ms", "3000",
            ], captureOutput: false)
        defer {
            child.kill(SIGKILL, group: true)
            _ = try? child.wait(timeout: .seconds(10))
        }
        #expect(waitUntil(timeout: .seconds(60), interval: .milliseconds(50)) { reports().count >= 1 }, "first sync: \(reports())")
        #expect(reports().first?.contains("\"full\":true") == true, "\(reports())")

        // Someone removes one of our map elements behind the proxier's back.
        _ = try node.exec(["nft", "delete", "element", "ip", "minikubelet", "nodeport-endpoints-2", "{ tcp . 30001 . 0 }"])
        let before = try node.table()
        try use(1)
        #expect(waitUntil(timeout: .seconds(60), interval: .milliseconds(50)) { reports().count >= 2 }, "second sync: \(reports())")
        let error = reports().count >= 2 ? reports()[1] : ""
        #expect(error.contains("\"error\""), "\(error)")
        #expect(error.contains("delete element ip minikubelet nodeport-endpoints-2 { tcp . 30001 . 0 : 10.77.0.2 . 8080"), "\(error)")
        #expect(error.contains("No such file or directory"), "\(error)")
        #expect(try node.table() == before, "a refused batch must change nothing")

        // The retry is a full sync and leaves exactly what `nft -f` of that state gives.
        #expect(waitUntil(timeout: .seconds(60), interval: .milliseconds(50)) { reports().count >= 3 }, "retry: \(reports())")
        let retry = reports().count >= 3 ? reports()[2] : ""
        #expect(retry.contains("\"full\":true") && !retry.contains("\"error\""), "\(retry)")
        _ = try fresh.exec([proxyctlPath(), "apply", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[1]])
        #expect(normalizedTable(try node.table()) == normalizedTable(try fresh.table()))

        // And partial syncs over netlink carry on from the repaired table.
        try use(2)
        #expect(waitUntil(timeout: .seconds(60), interval: .milliseconds(50)) { reports().count >= 4 }, "fourth sync: \(reports())")
        let fourth = reports().count >= 4 ? reports()[3] : ""
        #expect(fourth.contains("\"full\":false") && fourth.contains("\"netlink\":true") && !fourth.contains("\"error\""), "\(fourth)")
        _ = try fresh.exec([proxyctlPath(), "apply", "--mode", "nftables", "--config", dir + "/config.json", "--state", paths[2]])
        #expect(normalizedTable(try node.table()) == normalizedTable(try fresh.table()))
    }
}
