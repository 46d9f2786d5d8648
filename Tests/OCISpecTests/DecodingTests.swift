import FoundationEssentials
import OCISpec
import Testing

/// config.json decoding: runc's own output decodes, unknown fields are ignored (as runc ignores them),
/// wrong types fail, and encoding round-trips.
@Suite struct DecodingTests {
    static let runcLike = """
        {
          "ociVersion": "1.0.2-dev",
          "process": {
            "terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                             "ambient": ["CAP_KILL"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
          },
          "root": {"path": "rootfs", "readonly": true},
          "hostname": "runc",
          "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                     {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}],
          "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}], "memory": {"limit": 67108864}, "pids": {"limit": 64}},
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
            "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                                      "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]}]}
          },
          "someFutureField": {"nested": [1, 2, 3]}
        }
        """

    @Test func runcStyleConfigDecodesAndIgnoresUnknownFields() throws {
        let spec = try JSONDecoder().decode(OCI.Spec.self, from: Data(Self.runcLike.utf8))
        #expect(spec.process?.args == ["sh"])
        #expect(spec.process?.capabilities?.bounding == ["CAP_AUDIT_WRITE", "CAP_KILL"])
        #expect(spec.process?.rlimits == [OCI.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)])
        #expect(spec.root == OCI.Root(path: "rootfs", readonly: true))
        #expect(spec.mounts?.count == 2)
        #expect(spec.linux?.namespaces?[1] == OCI.Namespace(type: "network", path: "/run/netns/x"))
        #expect(spec.linux?.resources?.memory?.limit == 67_108_864)
        #expect(spec.linux?.resources?.devices?.first == OCI.DeviceCgroup(allow: false, access: "rwm"))
        #expect(spec.linux?.seccomp?.syscalls?.first?.args?.first == OCI.SeccompArg(index: 1, value: 511, op: "SCMP_CMP_EQ"))
    }

    struct WrongType: Sendable, CustomStringConvertible {
        let json: String
        let description: String
    }

    static let wrongTypes: [WrongType] = [
        WrongType(json: #"{"ociVersion": "1", "process": {"user": {"uid": "root", "gid": 0}, "cwd": "/"}}"#, description: "uid as a string"),
        WrongType(json: #"{"ociVersion": "1", "root": {"path": 7}}"#, description: "root.path as a number"),
        WrongType(json: #"{"ociVersion": "1", "linux": {"namespaces": {"type": "pid"}}}"#, description: "namespaces as an object"),
        WrongType(json: #"{"ociVersion": "1", "process": {"user": {"uid": 0, "gid": 0}}}"#, description: "process without cwd"),
        WrongType(json: #"{"process": {}}"#, description: "no ociVersion"),
    ]

    @Test(arguments: wrongTypes) func wrongTypesFail(_ c: WrongType) {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(OCI.Spec.self, from: Data(c.json.utf8)) }
    }

    @Test func encodingRoundTrips() throws {
        let spec = try JSONDecoder().decode(OCI.Spec.self, from: Data(Self.runcLike.utf8))
        let again = try JSONDecoder().decode(OCI.Spec.self, from: JSONEncoder().encode(spec))
        #expect(again == spec)
    }

    @Test func stateCarriesRuncExtras() throws {
        let state = OCI.State(id: "c1", status: .running, pid: 42, bundle: "/b", rootfs: "/b/rootfs", created: "2026-01-01T00:00:00Z")
        let decoded = try JSONDecoder().decode(OCI.State.self, from: JSONEncoder().encode(state))
        #expect(decoded == state)
        #expect(decoded.status == .running)
    }
}
