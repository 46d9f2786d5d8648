// Unit tests: config.json problems give one error naming the field.
import Foundation
import Testing

@testable import OCISpec
@testable import Runtime

@Suite("Config validation")
struct ConfigValidationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var expected: String
        var mutate: @Sendable (inout OCI.Spec) -> Void
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "unknown namespace", expected: "config.json: linux.namespaces[5].type: unknown namespace type \"foo\"") {
            $0.linux?.namespaces?.append(OCI.Namespace(type: "foo"))
        },
        Case(name: "duplicate namespace", expected: "config.json: linux.namespaces[5].type: duplicate namespace type \"pid\"") {
            $0.linux?.namespaces?.append(OCI.Namespace(type: "pid"))
        },
        Case(name: "missing namespace path", expected: "config.json: linux.namespaces[1].path: namespace path \"/nonexistent/ns\" does not exist") {
            $0.linux?.namespaces?[1].path = "/nonexistent/ns"
        },
        Case(name: "bad capability", expected: "config.json: process.capabilities.bounding[1]: unknown capability \"CAP_FOO\"") {
            $0.process?.capabilities?.bounding = ["CAP_KILL", "CAP_FOO"]
        },
        Case(name: "missing rootfs", expected: "config.json: root.path: rootfs \"/nonexistent/rootfs\" does not exist or is not a directory") {
            $0.root = OCI.Root(path: "/nonexistent/rootfs")
        },
        Case(name: "no root", expected: "config.json: root: required field is missing") { $0.root = nil },
        Case(name: "no process", expected: "config.json: process: required field is missing") { $0.process = nil },
        Case(name: "empty args", expected: "config.json: process.args: must name the program to run") { $0.process?.args = [] },
        Case(name: "relative cwd", expected: "config.json: process.cwd: must be an absolute path, got \"tmp\"") { $0.process?.cwd = "tmp" },
        Case(name: "unknown rlimit", expected: "config.json: process.rlimits[0].type: unknown rlimit \"RLIMIT_FOO\"") {
            $0.process?.rlimits = [OCI.Rlimit(type: "RLIMIT_FOO", hard: 1, soft: 1)]
        },
        Case(
            name: "rlimit above hard limit",
            expected:
                "config.json: process.rlimits[0]: RLIMIT_NOFILE hard limit 1048576 is above the current hard limit 4096 (raising it needs CAP_SYS_RESOURCE)"
        ) {
            $0.process?.rlimits = [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: 1_048_576, soft: 1024)]
        },
        Case(name: "soft above hard", expected: "config.json: process.rlimits[0]: RLIMIT_NOFILE soft limit 2048 is above the hard limit 1024") {
            $0.process?.rlimits = [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 2048)]
        },
        Case(name: "relative mount destination", expected: "config.json: mounts[0].destination: must be an absolute path, got \"proc\"") {
            $0.mounts?[0].destination = "proc"
        },
        Case(name: "bind without source", expected: "config.json: mounts[7].source: a bind mount needs a source") {
            $0.mounts?.append(OCI.Mount(destination: "/mnt", type: "bind", options: ["rbind"]))
        },
        Case(name: "user namespace without mappings", expected: "config.json: linux.uidMappings: a user namespace needs uid mappings") {
            $0.linux?.namespaces?.append(OCI.Namespace(type: "user"))
        },
        Case(name: "hostname without uts", expected: "config.json: hostname: setting the hostname needs a private UTS namespace") {
            $0.linux?.namespaces?.removeAll { $0.type == "uts" }
        },
        Case(name: "non-namespaced sysctl", expected: "config.json: linux.sysctl.vm.swappiness: sysctl \"vm.swappiness\" is not in a separate kernel namespace")
        {
            $0.linux?.sysctl = ["vm.swappiness": "10"]
        },
        Case(name: "net sysctl without netns", expected: "config.json: linux.sysctl.net.ipv4.ip_forward: needs a private network namespace") {
            $0.linux?.namespaces?.removeAll { $0.type == "network" }
            $0.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        },
        Case(name: "bad device type", expected: "config.json: linux.devices[0].type: unknown device type \"x\"") {
            $0.linux?.devices = [OCI.Device(path: "/dev/foo", type: "x", major: 1, minor: 1)]
        },
        Case(name: "bad propagation", expected: "config.json: linux.rootfsPropagation: unknown propagation \"weird\"") {
            $0.linux?.rootfsPropagation = "weird"
        },
        Case(name: "bad cpu period", expected: "config.json: linux.resources.cpu.period: must be between 1000 and 1000000 microseconds, got 10") {
            $0.linux?.resources = OCI.Resources(cpu: OCI.CPU(period: 10))
        },
        Case(name: "oomScoreAdj range", expected: "config.json: process.oomScoreAdj: must be between -1000 and 1000, got 5000") {
            $0.process?.oomScoreAdj = 5000
        },
        Case(name: "time namespace", expected: "config.json: linux.namespaces[5].type: the time namespace is not supported") {
            $0.linux?.namespaces?.append(OCI.Namespace(type: "time"))
        },
    ]

    @Test("invalid configs name the field", arguments: cases)
    func rejects(_ testCase: Case) throws {
        let rootfs = try TemporaryDirectory()
        defer { rootfs.remove() }
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: rootfs.path)
        testCase.mutate(&spec)
        let resolver = SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost())
        #expect(throws: RuntimeError(testCase.expected)) { try resolver.resolve() }
    }

    @Test(
        "wrong JSON types name the field",
        arguments: [
            (#"{"ociVersion":"1.0","process":{"user":{"uid":"x","gid":0},"cwd":"/"}}"#, "config.json: process.user.uid: expected a non-negative integer"),
            (#"{"ociVersion":"1.0","process":{"user":{"uid":0,"gid":0},"cwd":"/","args":"sh"}}"#, "config.json: process.args: expected an array"),
            (#"{"ociVersion":"1.0","root":{"readonly":true}}"#, "config.json: root.path: required field is missing"),
            (#"{"ociVersion":"1.0","mounts":[{"destination":"/a"},{"destination":5}]}"#, "config.json: mounts[1].destination: expected a string"),
            ("{not json", "config.json: invalid JSON"),
        ])
    func decodingErrors(_ json: String, _ expected: String) {
        #expect(throws: RuntimeError(expected)) { try ConfigLoader.decode(Array(json.utf8)) }
    }

    @Test func unknownFieldsAreIgnored() throws {
        let json = #"{"ociVersion":"1.0","futureField":{"x":1},"process":{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"newThing":true}}"#
        let spec = try ConfigLoader.decode(Array(json.utf8))
        #expect(spec.process?.args == ["sh"])
    }

    @Test func defaultSpecResolves() throws {
        let rootfs = try TemporaryDirectory()
        defer { rootfs.remove() }
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: rootfs.path, readonly: true)
        let plan = try SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost()).resolve()
        #expect(
            plan.namespaces.cloneFlags == NamespaceKind.pid.cloneFlag | NamespaceKind.network.cloneFlag | NamespaceKind.ipc.cloneFlag
                | NamespaceKind.uts.cloneFlag | NamespaceKind.mount.cloneFlag)
        #expect(plan.process.capabilities.bounding == (1 << 5) | (1 << 10) | (1 << 29))
        #expect(plan.mounts.first { $0.destination == "/dev" }?.data == "mode=755,size=65536k")
        #expect(plan.devices.map(\.path) == ["/dev/null", "/dev/random", "/dev/full", "/dev/tty", "/dev/zero", "/dev/urandom"])
        #expect(plan.cgroupsPath == "minirun-t")
    }

    @Test func systemdCgroupsPathIsMappedToCgroupfs() throws {
        let rootfs = try TemporaryDirectory()
        defer { rootfs.remove() }
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: rootfs.path)
        spec.linux?.cgroupsPath = "machine.slice:libpod:abc"
        let plan = try SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost()).resolve()
        #expect(plan.cgroupsPath == "/machine.slice/libpod-abc.scope")
    }

    @Test func homeComesFromTheContainersPasswdWhenUnset() throws {
        let rootfs = try TemporaryDirectory()
        defer { rootfs.remove() }
        try FileManager.default.createDirectory(atPath: rootfs.path + "/etc", withIntermediateDirectories: true)
        try "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\nnohome:x:40:40:::/bin/false\n"
            .write(toFile: rootfs.path + "/etc/passwd", atomically: true, encoding: .utf8)
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: rootfs.path)
        let resolver = SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost())
        #expect(try resolver.environmentWithHome(["PATH=/bin"], uid: 33) == ["PATH=/bin", "HOME=/var/www"])
        #expect(try resolver.environmentWithHome(["HOME=", "A=b"], uid: 0) == ["HOME=/root", "A=b"])
        #expect(try resolver.environmentWithHome(["HOME=/x"], uid: 0) == ["HOME=/x"])
        #expect(try resolver.environmentWithHome([], uid: 40) == ["HOME=/"])
        #expect(try resolver.environmentWithHome([], uid: 1234) == ["HOME=/"])
        try FileManager.default.removeItem(atPath: rootfs.path + "/etc/passwd")
        #expect(try resolver.environmentWithHome([], uid: 0) == ["HOME=/"])
    }

    @Test func deviceRulesAreTheSpecsThenRuncsDefaults() throws {
        let rootfs = try TemporaryDirectory()
        defer { rootfs.remove() }
        var spec = try defaultSpec()
        spec.root = OCI.Root(path: rootfs.path)
        spec.linux?.resources = OCI.Resources(devices: [
            OCI.DeviceCgroup(allow: false, access: "rwm"), OCI.DeviceCgroup(allow: true, type: "b", major: 8, minor: -1, access: "r"),
        ])
        spec.linux?.devices = [OCI.Device(path: "/dev/null", type: "c", major: 1, minor: 3)]
        let rules = try SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost()).resolve().resources.devices
        #expect(
            rules.map(\.description) == [
                "deny a *:* rwm", "allow b 8:* r", "allow c *:* m", "allow b *:* m", "allow c 1:8 rwm", "allow c 1:7 rwm", "allow c 5:0 rwm",
                "allow c 1:5 rwm", "allow c 1:9 rwm", "allow c 136:* rwm", "allow c 5:2 rwm", "allow c 10:200 rwm",
            ])
        spec.linux?.resources = OCI.Resources(devices: [OCI.DeviceCgroup(allow: true, type: "c", access: "rwx")])
        #expect(throws: RuntimeError.self) { try SpecResolver(spec: spec, bundle: rootfs.path, id: "t", host: fakeHost()).resolve() }
    }
}
