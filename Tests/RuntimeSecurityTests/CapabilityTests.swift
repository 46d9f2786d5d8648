import OCISpec
import RuntimeSecurity
import Testing

struct CapabilityNameTests {
    @Test(arguments: [
        ("CAP_NET_RAW", 13), ("NET_RAW", 13), ("cap_net_raw", 13), ("net_raw", 13), ("Cap_Net_Raw", 13),
        ("CAP_CHOWN", 0), ("CHOWN", 0), ("CAP_SYS_ADMIN", 21), ("AUDIT_WRITE", 29), ("CAP_CHECKPOINT_RESTORE", 40),
        ("CAP_BPF", 39), ("perfmon", 38),
    ])
    func parses(name: String, value: Int) {
        #expect(CapabilityName(rawValue: name)?.value == value)
    }

    @Test(arguments: ["", "CAP_", "CAP_FOO", "12", "NET RAW", "CAP_NET_RAWX", "ALL", "CAP_CAP_CHOWN", " CAP_CHOWN"])
    func rejects(name: String) {
        #expect(CapabilityName(rawValue: name) == nil)
    }

    @Test func spellings() throws {
        let cap = try #require(CapabilityName(rawValue: "net_bind_service"))
        #expect(cap.rawValue == "CAP_NET_BIND_SERVICE")
        #expect(cap.kubernetesName == "NET_BIND_SERVICE")
        #expect(CapabilityName.all.count == 41)
    }
}

struct CapabilityMaskTests {
    @Test func maskOfDefaults() throws {
        let mask = try Capabilities.mask(of: DefaultProfiles.capabilities, field: "process.capabilities.bounding")
        // chown 0, dac_override 1, fowner 3, fsetid 4, kill 5, setgid 6, setuid 7, setpcap 8, net_bind_service 10,
        // net_raw 13, sys_chroot 18, mknod 27, audit_write 29, setfcap 31 (Docker's 0xa80425fb).
        #expect(mask == 0xA804_25FB)
        #expect(mask.nonzeroBitCount == 14)
    }

    @Test(arguments: [
        (["CAP_CHOWN", "CAP_FOO"], "process.capabilities.bounding[1]: unknown capability \"CAP_FOO\""),
        (["NET_RAW", "net_raw", "bogus"], "process.capabilities.bounding[2]: unknown capability \"bogus\""),
        ([""], "process.capabilities.bounding[0]: unknown capability \"\""),
    ])
    func invalidNameNamesFieldAndName(names: [String], message: String) {
        #expect(throws: SecurityError.self) { try Capabilities.mask(of: names, field: "process.capabilities.bounding") }
        do {
            _ = try Capabilities.mask(of: names, field: "process.capabilities.bounding")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test(arguments: [0, 1, 0xA804_25FB, 0x1FF_FFFF_FFFF, 1 << 40, (1 << 21) | (1 << 0)] as [UInt64])
    func roundTrip(mask: UInt64) throws {
        let names = Capabilities.names(of: mask)
        #expect(try Capabilities.mask(of: names, field: "x") == mask)
        #expect(names.allSatisfy { $0.hasPrefix("CAP_") })
    }

    @Test func unknownBitsAreNamedByNumber() {
        #expect(Capabilities.names(of: 1 << 50) == ["CAP_50"])
    }

    @Test func lastCapMatchesHost() {
        // Linux 5.9+ has 41 capabilities (0...40); the kernel here is newer.
        #expect(Capabilities.lastCap >= 40)
        #expect(Capabilities.supportedMask & 0x1FF_FFFF_FFFF == 0x1FF_FFFF_FFFF)
    }

    @Test func setsFromOCI() throws {
        let caps = OCI.Capabilities(
            bounding: DefaultProfiles.capabilities, effective: ["CAP_KILL"], inheritable: nil, permitted: ["KILL"], ambient: [])
        let sets = try CapabilitySets(caps)
        #expect(sets.bounding == 0xA804_25FB)
        #expect(sets.effective == 1 << 5)
        #expect(sets.permitted == 1 << 5)
        #expect(sets.inheritable == 0)
        #expect(sets.ambient == 0)
        #expect(try CapabilitySets(nil) == CapabilitySets())
    }

    @Test func setsErrorNamesTheSet() {
        let caps = OCI.Capabilities(bounding: ["CAP_KILL"], permitted: ["CAP_KILL", "CAP_NOPE"])
        do {
            _ = try CapabilitySets(caps)
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "process.capabilities.permitted[1]")
            #expect(error.description == "process.capabilities.permitted[1]: unknown capability \"CAP_NOPE\"")
        }
    }
}

struct KubernetesCapabilityTests {
    static let all = CapabilityName.all.map(\.rawValue)

    @Test(
        arguments: [
            // (add, drop, expected)
            ([], [], DefaultProfiles.capabilities),
            (["NET_BIND_SERVICE"], ["ALL"], ["CAP_NET_BIND_SERVICE"]),
            ([], ["ALL"], []),
            (["NET_ADMIN"], [], DefaultProfiles.capabilities + ["CAP_NET_ADMIN"]),
            ([], ["NET_RAW"], DefaultProfiles.capabilities.filter { $0 != "CAP_NET_RAW" }),
            (["ALL"], [], KubernetesCapabilityTests.all),
            (["ALL"], ["ALL"], []),
            (["ALL"], ["SYS_ADMIN"], KubernetesCapabilityTests.all.filter { $0 != "CAP_SYS_ADMIN" }),
            (["sys_time", "CAP_SYS_TIME"], ["ALL"], ["CAP_SYS_TIME"]),
            (["NET_ADMIN"], ["NET_ADMIN"], DefaultProfiles.capabilities),
            (["KILL"], ["all"], ["CAP_KILL"]),
            (["FOO"], ["ALL"], ["CAP_FOO"]),
        ] as [([String], [String], [String])])
    func resolves(add: [String], drop: [String], expected: [String]) {
        let got = Capabilities.resolveKubernetes(add: add, drop: drop, defaults: DefaultProfiles.capabilities)
        let sortedExpected = expected.sorted { a, b in
            switch (CapabilityName(rawValue: a), CapabilityName(rawValue: b)) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            default: return false
            }
        }
        #expect(got == sortedExpected)
    }
}
