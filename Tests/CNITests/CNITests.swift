// Pure CNI client logic: configuration directories, results, errors, and the conflist semantics
// (prevResult chaining, DEL in reverse order) against fake plugins written as shell scripts.
import CNI
import Foundation
import Testing

private func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.path + "/cni-test-\(UInt64.random(in: 0..<UInt64.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite struct ConfigDirectoryTests {
    @Test func selectsOurNetworkAmongOthersAndReportsBrokenFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = [
            "87-podman-bridge.conflist": #"{"cniVersion":"0.4.0","name":"podman","plugins":[{"type":"bridge","bridge":"cni-podman0"}]}"#,
            "10-minikubelet.conflist": #"{"cniVersion":"1.0.0","name":"minikubelet","plugins":[{"type":"bridge"},{"type":"portmap"}]}"#,
            "99-minikubelet-copy.conflist": #"{"cniVersion":"1.0.0","name":"minikubelet","plugins":[{"type":"ptp"}]}"#,
            "05-single.conf": #"{"cniVersion":"0.3.1","name":"single","type":"loopback"}"#,
            "50-broken.conflist": "{ not json",
            "README": "ignored",
        ]
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let loaded = ConfigDirectory.load(dir)
        #expect(
            loaded.entries.map { ($0.file as NSString).lastPathComponent } == [
                "05-single.conf", "10-minikubelet.conflist", "87-podman-bridge.conflist", "99-minikubelet-copy.conflist",
            ])
        #expect(loaded.problems.count == 1)
        #expect(loaded.problems.first?.contains("50-broken.conflist") == true)
        let chosen = ConfigDirectory.select(loaded.entries, network: "minikubelet")
        #expect(chosen?.list.pluginTypes == ["bridge", "portmap"])
        #expect(ConfigDirectory.select(loaded.entries, network: "single")?.list.pluginTypes == ["loopback"])
        #expect(ConfigDirectory.select(loaded.entries, network: "absent") == nil)
    }
}

@Suite struct ResultTests {
    /// The bridge ADD result measured with Debian's plugins (reference kubeproxy.md §5.4).
    static let bridgeResult = """
        {"cniVersion":"1.0.0",
         "interfaces":[{"name":"cni0","mac":"be:1e:2e:59:5a:82"},{"name":"veth4daac0e9","mac":"4e:41:50:ad:90:54"},
                       {"name":"eth0","mac":"1e:54:de:36:b4:3f","sandbox":"/run/netns/pod1"}],
         "ips":[{"interface":2,"address":"10.88.0.2/16","gateway":"10.88.0.1"}],
         "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}
        """

    @Test func bridgeResult() throws {
        let result = try JSONDecoder().decode(CNIResult.self, from: Data(Self.bridgeResult.utf8))
        #expect(result.addresses(onInterface: "eth0") == ["10.88.0.2"])
        #expect(result.hostInterfaces == ["cni0", "veth4daac0e9"])
        #expect(result.ips?.first?.gateway == "10.88.0.1")
        #expect(result.routes?.first?.dst == "0.0.0.0/0")
    }

    @Test func version040ResultWithoutInterfaces() throws {
        let text = #"{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.2.3/24"}]}"#
        let result = try JSONDecoder().decode(CNIResult.self, from: Data(text.utf8))
        #expect(result.addresses(onInterface: "eth0") == ["10.1.2.3"])
    }
}

@Suite struct ErrorTests {
    @Test func pluginErrorObject() {
        let stdout = #"{"cniVersion":"1.0.0","code":999,"msg":"could not check ipv6 dnat","details":"chain CNI-DN-x not found"}"#
        let error = CNIError.fromOutput(type: "portmap", command: "CHECK", status: 1, stdout: stdout, stderr: "")
        #expect(error == .plugin(type: "portmap", command: "CHECK", code: 999, msg: "could not check ipv6 dnat", details: "chain CNI-DN-x not found"))
        #expect(error.description == "plugin type=\"portmap\" failed (check): could not check ipv6 dnat (chain CNI-DN-x not found) [code 999]")
    }

    @Test func unparsableOutput() {
        let error = CNIError.fromOutput(type: "bridge", command: "ADD", status: 2, stdout: "panic: boom", stderr: "trace")
        #expect(error == .failed(type: "bridge", command: "ADD", status: 2, output: "panic: boomtrace"))
    }
}

@Suite struct ChainTests {
    static let list = NetworkConfigList(
        cniVersion: "1.0.0", name: "testnet",
        plugins: [
            ["type": .string("first"), "keep": .string("me")],
            ["type": .string("second"), "capabilities": .object(["portMappings": .bool(true)])],
        ])

    @Test func injectsRuntimeKeysAndCapabilities() throws {
        let runtime = RuntimeArguments(containerID: "c1", netns: "/x", portMappings: [PortMapping(hostPort: 8080, containerPort: 80, protocol: "tcp")])
        let first = try JSONDecoder().decode(
            JSONValue.self, from: NetworkChain.pluginConfig(Self.list.plugins[0], list: Self.list, runtime: runtime, prevResult: nil))
        #expect(first["name"] == .string("testnet"))
        #expect(first["cniVersion"] == .string("1.0.0"))
        #expect(first["keep"] == .string("me"))
        #expect(first["runtimeConfig"] == nil)
        #expect(first["prevResult"] == nil)
        let prev = JSONValue.object(["cniVersion": .string("1.0.0")])
        let second = try JSONDecoder().decode(
            JSONValue.self, from: NetworkChain.pluginConfig(Self.list.plugins[1], list: Self.list, runtime: runtime, prevResult: prev))
        #expect(second["capabilities"] == nil)
        #expect(second["prevResult"] == prev)
        #expect(
            second["runtimeConfig"]?["portMappings"]
                == .array([.object(["hostPort": .number(8080), "containerPort": .number(80), "protocol": .string("tcp")])]))
    }

    /// Fake plugins log their calls; ADD runs in order with prevResult chaining, DEL in reverse with the cached result.
    @Test func addInOrderDeleteInReverse() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["first", "second"] {
            let script = """
                #!/bin/sh
                in=$(cat)
                echo "$CNI_COMMAND \(name) $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_ARGS $CNI_PATH" >> \(dir)/calls
                printf '%s' "$in" > \(dir)/stdin-\(name)-$CNI_COMMAND
                if [ "$CNI_COMMAND" = ADD ]; then
                  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.0.\(name == "first" ? 5 : 6)/24","interface":0}]}'
                fi
                """
            try script.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            chmod(dir + "/" + name, 0o755)
        }
        let chain = NetworkChain(list: Self.list, runner: PluginRunner(binDirectories: [dir]))
        let runtime = RuntimeArguments(containerID: "pod1", netns: "/run/netns/p", args: [("K8S_POD_NAME", "web"), ("K8S_POD_UID", "u1")])
        let added = try await chain.add(runtime)
        #expect(added.result.addresses(onInterface: "eth0") == ["10.1.0.6"])
        let secondInput = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/stdin-second-ADD")))
        #expect(secondInput["prevResult"]?["ips"] == .array([.object(["address": .string("10.1.0.5/24"), "interface": .number(0)])]))
        try await chain.delete(RuntimeArguments(containerID: "pod1", netns: nil), prevResult: added.raw)
        let calls = try String(contentsOfFile: dir + "/calls", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(
            calls == [
                "ADD first pod1 /run/netns/p eth0 K8S_POD_NAME=web;K8S_POD_UID=u1 \(dir)",
                "ADD second pod1 /run/netns/p eth0 K8S_POD_NAME=web;K8S_POD_UID=u1 \(dir)",
                "DEL second pod1  eth0  \(dir)",
                "DEL first pod1  eth0  \(dir)",
            ])
        let firstDelete = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/stdin-first-DEL")))
        #expect(firstDelete["prevResult"] == added.raw)
    }

    @Test func failingPluginAndMissingPlugin() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "#!/bin/sh\ncat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"code\":7,\"msg\":\"bad config\"}'\nexit 1\n".write(
            toFile: dir + "/first", atomically: true, encoding: .utf8)
        chmod(dir + "/first", 0o755)
        let chain = NetworkChain(list: Self.list, runner: PluginRunner(binDirectories: [dir]))
        await #expect(throws: CNIError.plugin(type: "first", command: "ADD", code: 7, msg: "bad config", details: nil)) {
            _ = try await chain.add(RuntimeArguments(containerID: "c", netns: "/x"))
        }
        // DEL asks every plugin even when one fails or is missing, and reports the first failure.
        await #expect(throws: CNIError.notFound(type: "second", searched: [dir])) {
            try await chain.delete(RuntimeArguments(containerID: "c", netns: nil), prevResult: nil)
        }
        // Skipping missing plugins still reports the one that ran and failed.
        await #expect(throws: CNIError.plugin(type: "first", command: "DEL", code: 7, msg: "bad config", details: nil)) {
            try await chain.delete(RuntimeArguments(containerID: "c", netns: nil), prevResult: nil, ignoringMissingPlugins: true)
        }
        #expect(CNIError.notFound(type: "x", searched: ["/a", "/b"]).description == "failed to find plugin \"x\" in path [/a /b]")
    }
}
