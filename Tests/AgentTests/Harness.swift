// A real minikubelet for tests: started as a process inside a network namespace of its own
// (`nsenter --net`, see README: `ip netns exec` would also give it a private mount namespace, and a
// restarted agent would then not see its predecessor's mounts), with temp manifests/root/socket and a
// cgroup parent of its own below the test process's cgroup.
import Foundation
import Glibc
import KubeAPI
import TestSupport

enum AgentTestError: Error, CustomStringConvertible {
    case setup(String)
    var description: String {
        switch self {
        case .setup(let message): return message
        }
    }
}

func repoRoot() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}

/// The build products directory: where the running test bundle lives.
func buildProductsDir() -> String {
    var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    let exe = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.path + "/minikubelet") { dir = dir.deletingLastPathComponent() }
    return dir.path
}

let testImage = "minikubelet.local/busybox:1.36"

/// Builds the busybox OCI layout once per machine (examples/make-busybox-image.sh).
func busyboxLayout() throws -> String {
    let layout = "/tmp/minikubelet-test-busybox-layout"
    if FileManager.default.fileExists(atPath: layout + "/index.json") { return layout }
    // Unique per call: parallel tests in one process may build it at the same time (same pid, same path before).
    let temporary = layout + ".\(getpid()).\(UInt32.random(in: 0..<UInt32.max))"
    try run([repoRoot() + "/examples/make-busybox-image.sh", temporary], timeout: .seconds(120)).check()
    if rename(temporary, layout) != 0 { _ = try? run(["rm", "-rf", temporary]) }
    return layout
}

final class AgentHarness {
    let dir: String
    let manifests: String
    let root: String
    let socket: String
    let netns: String
    let cgroupParent: String
    let logPath: String
    /// Always a temp dir: the agent writes its default conflist there, never into /etc/cni/net.d.
    let cniConfDir: String
    /// Extra minikubelet flags (e.g. `--pod-security=privileged`).
    let extraArgs: [String]
    private(set) var agent: Child?

    /// `nodeAddress`: a veth `node0` with that /24 address in the agent's namespace (the node's interface).
    init(nodeAddress: String? = nil, extraArgs: [String] = []) throws {
        self.extraArgs = extraArgs
        let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
        dir = "/tmp/mk-agent-\(tag)"
        manifests = dir + "/manifests"
        root = dir + "/root"
        socket = dir + "/agent.sock"
        netns = "mk-agent-\(tag)"
        cgroupParent = "mk-agent-test-\(tag)"
        logPath = dir + "/agent.log"
        cniConfDir = dir + "/cni-conf"
        try FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        try run(["ip", "netns", "add", netns]).check()
        if let nodeAddress {
            try run(["ip", "-n", netns, "link", "add", "node0", "type", "veth", "peer", "name", "node1"]).check()
            try run(["ip", "-n", netns, "addr", "add", nodeAddress + "/24", "dev", "node0"]).check()
            for link in ["node0", "node1", "lo"] { try run(["ip", "-n", netns, "link", "set", link, "up"]).check() }
        }
        try start()
        try loadImage()
    }

    var binaries: String { buildProductsDir() }

    func start() throws {
        let argv =
            [
                "/usr/bin/nsenter", "--net=/run/netns/\(netns)", binaries + "/minikubelet", "--manifests", manifests, "--root", root, "--socket", socket,
                "--node-name", "test-node", "--cgroup-parent", cgroupParent, "--cni-conf-dir", cniConfDir,
            ] + extraArgs
        let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
        agent = try spawn(["/bin/sh", "-c", "exec \(quoted) >>'\(logPath)' 2>&1"], captureOutput: false)
        guard waitUntil(timeout: .seconds(30), { (try? agentctl(["get", "pods"]))?.succeeded == true }) else {
            throw AgentTestError.setup("the agent did not answer on \(socket); log:\n\(log())")
        }
    }

    /// SIGKILL: the agent gets no chance to clean up (the crash case).
    func killAgent() throws {
        guard let agent else { return }
        agent.kill(SIGKILL)
        _ = try agent.wait(timeout: .seconds(10))
        self.agent = nil
    }

    /// Runs a command in the agent's network namespace.
    func inNetns(_ argv: [String], timeout: Duration = .seconds(30)) throws -> CommandResult {
        try run(["/usr/bin/nsenter", "--net=/run/netns/\(netns)"] + argv, timeout: timeout)
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "<no log>" }

    @discardableResult
    func agentctl(_ args: [String]) throws -> CommandResult {
        try run([binaries + "/agentctl", "--socket", socket] + args, timeout: .seconds(60))
    }

    func loadImage() throws {
        let layout = try busyboxLayout()
        try agentctl(["image", "load", layout, "--name", testImage]).check()
    }

    /// Writes a manifest atomically (as editors and `agentctl apply` do).
    func write(_ name: String, _ text: String) throws {
        let temporary = manifests + "/.\(name).tmp"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, manifests + "/" + name) == 0 else { throw AgentTestError.setup("rename \(name)") }
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: manifests + "/" + name) }

    func pods() throws -> [Pod] {
        let result = try agentctl(["get", "pods", "-o", "json"])
        guard result.succeeded else { return [] }
        struct List: Decodable { var items: [Pod] }
        return try KubeJSON.decoder().decode(List.self, from: Data(result.stdout.utf8)).items
    }

    func pod(_ name: String) throws -> Pod? { try pods().first { $0.metadata.name == name } }

    func waitForPod(_ name: String, timeout: Duration = .seconds(60), _ condition: (Pod) -> Bool) throws -> Pod? {
        var last: Pod?
        let ok = try waitUntil(timeout: timeout, interval: .milliseconds(200)) {
            last = try pod(name)
            return last.map(condition) ?? false
        }
        return ok ? last : nil
    }

    func events() throws -> String { try agentctl(["get", "events"]).stdout }

    /// Container IDs the runtime knows.
    func runtimeContainers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/runtime")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The pod's cgroup directories in every hierarchy, below the test's own cgroup.
    func podCgroupDirectories(uid: String) -> [String] {
        cgroupBases(includeNamed: false).map { $0 + "/\(cgroupParent)/pods/\(uid)" }
    }

    /// `includeNamed`: also hierarchies without controllers (name=systemd), where the runtime puts nothing.
    func cgroupBases(includeNamed: Bool = true) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/cgroup"), let data = try? handle.readToEnd() else { return [] }
        let text = String(decoding: data, as: UTF8.self)
        var bases: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, includeNamed || !fields[1].hasPrefix("name=") else { continue }
            let path = fields[2] == "/" ? "" : String(fields[2])
            // v1 hierarchies are mounted at their controller list ("cpu,cpuacct", "name=systemd" → "systemd");
            // the empty list is the v2 (unified) tree.
            let name = fields[1].isEmpty ? "unified" : fields[1].replacingOccurrences(of: "name=", with: "")
            let mount =
                FileManager.default.fileExists(atPath: "/sys/fs/cgroup/\(name)") ? "/sys/fs/cgroup/\(name)" : (fields[1].isEmpty ? "/sys/fs/cgroup" : "")
            if !mount.isEmpty { bases.append(mount + path) }
        }
        return bases
    }

    /// Removes every pod through the agent (manifests gone), then stops it and removes the namespace.
    func cleanUp() {
        do {
            if agent == nil { try start() }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: manifests)) ?? [] {
                try? FileManager.default.removeItem(atPath: manifests + "/" + name)
            }
            if !waitUntil(timeout: .seconds(90), { ((try? pods()) ?? [Pod()]).isEmpty }) {
                print("cleanup: pods still present; agent log:\n\(log())")
            }
        } catch {
            print("cleanup: \(error)")
        }
        try? killAgent()
        for base in cgroupBases() {
            rmdir(base + "/\(cgroupParent)/pods")
            rmdir(base + "/\(cgroupParent)")
        }
        do { try run(["ip", "netns", "delete", netns]).check() } catch { print("cleanup: netns \(netns): \(error)") }
        do { try FileManager.default.removeItem(atPath: dir) } catch { print("cleanup: rm \(dir): \(error)") }
    }
}

let testserverImage = "minikubelet.local/testserver:1"

/// The testserver OCI layout (examples/make-testserver-image.sh), rebuilt when the binary changes.
func testserverLayout() throws -> String {
    let binary = buildProductsDir() + "/testserver"
    var info = stat()
    guard stat(binary, &info) == 0 else { throw AgentTestError.setup("no testserver binary at \(binary) (swift build --product testserver)") }
    let layout = "/tmp/minikubelet-test-testserver-layout-\(info.st_mtim.tv_sec)-\(info.st_size)"
    if FileManager.default.fileExists(atPath: layout + "/index.json") { return layout }
    // Unique per call: parallel tests in one process may build it at the same time (same pid, same path before).
    let temporary = layout + ".\(getpid()).\(UInt32.random(in: 0..<UInt32.max))"
    try run([repoRoot() + "/examples/make-testserver-image.sh", temporary, binary], timeout: .seconds(300)).check()
    if rename(temporary, layout) != 0 { _ = try? run(["rm", "-rf", temporary]) }
    return layout
}

/// An event as the API returns it (`GET /v1/events`).
struct APIEvent: Decodable, CustomStringConvertible {
    struct Involved: Decodable {
        var name: String
        var fieldPath: String?
    }
    var involvedObject: Involved
    var type: String
    var reason: String
    var message: String
    var count: Int
    var firstTimestamp: Date
    var lastTimestamp: Date
    var description: String { "\(involvedObject.name) \(type) \(reason) x\(count): \(message)" }
}

extension AgentHarness {
    func loadTestserverImage() throws {
        try agentctl(["image", "load", try testserverLayout(), "--name", testserverImage]).check()
    }

    /// GET on the agent's API (curl over the unix socket).
    func apiGet(_ path: String) throws -> String {
        try run(["curl", "-sS", "--max-time", "30", "--unix-socket", socket, "http://agent" + path], timeout: .seconds(40)).check().stdout
    }

    func podEvents(_ pod: String) throws -> [APIEvent] {
        struct List: Decodable { var items: [APIEvent] }
        let text = try apiGet("/v1/events?pod=\(pod)")
        return try KubeJSON.decoder().decode(List.self, from: Data(text.utf8)).items
    }
}
