// Device cgroup rules: the v1 transition writes and the v2 eBPF program, for fixed rule tables.
import Testing

@testable import Cgroups

@Suite struct DeviceTests {
    /// runc's default rule list (specconv AllowedDevices) after the spec's leading deny-all.
    static let runcDefaults: [DeviceRule] = [
        DeviceRule(allow: false, type: .all, access: .all),
        DeviceRule(allow: true, type: .char, access: .mknod),
        DeviceRule(allow: true, type: .block, access: .mknod),
        DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all),
        DeviceRule(allow: true, type: .char, major: 1, minor: 8, access: .all),
        DeviceRule(allow: true, type: .char, major: 1, minor: 7, access: .all),
        DeviceRule(allow: true, type: .char, major: 5, minor: 0, access: .all),
        DeviceRule(allow: true, type: .char, major: 1, minor: 5, access: .all),
        DeviceRule(allow: true, type: .char, major: 1, minor: 9, access: .all),
        DeviceRule(allow: true, type: .char, major: 136, access: .all),
        DeviceRule(allow: true, type: .char, major: 5, minor: 2, access: .all),
        DeviceRule(allow: true, type: .char, major: 10, minor: 200, access: .all),
    ]

    @Test("v1: from a new cgroup (a *:* rwm), deny all first, then the allows in (major, minor, type) order")
    func v1TransitionFromAllowAll() throws {
        let current = try DeviceEmulator(devicesList: "a *:* rwm\n", path: "devices.list")
        let writes = current.transition(to: try DeviceEmulator(rules: Self.runcDefaults)).map { ($0.allow ? "allow " : "deny ") + $0.cgroupLine }
        #expect(
            writes == [
                "deny a *:* rwm", "allow b *:* m", "allow c *:* m", "allow c 1:3 rwm", "allow c 1:5 rwm", "allow c 1:7 rwm",
                "allow c 1:8 rwm", "allow c 1:9 rwm", "allow c 5:0 rwm", "allow c 5:2 rwm", "allow c 10:200 rwm", "allow c 136:* rwm",
            ])
    }

    @Test("v1: an allow-list that already holds part of the target only revokes and grants the difference")
    func v1TransitionBetweenAllowLists() throws {
        let current = try DeviceEmulator(devicesList: "c 1:3 rwm\nc 1:5 rw\nc 4:1 r\n", path: "devices.list")
        let target = try DeviceEmulator(rules: [
            DeviceRule(allow: false, type: .all, access: .all), DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all),
            DeviceRule(allow: true, type: .char, major: 1, minor: 5, access: .all),
        ])
        #expect(current.transition(to: target).map(\.description) == ["deny c 4:1 r", "allow c 1:5 m"])
    }

    @Test("rules apply in order: a later deny removes access, a later allow-all resets to a deny-list")
    func rulesApplyInOrder() throws {
        let model = try DeviceEmulator(rules: [
            DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all),
            DeviceRule(allow: false, type: .char, major: 1, minor: 3, access: [.write]),
        ])
        #expect(!model.defaultAllow)
        #expect(model.orderedRules.map(\.cgroupLine) == ["c 1:3 rm"])
        let reset = try DeviceEmulator(rules: [
            DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all), DeviceRule(allow: true, type: .all, access: .all),
            DeviceRule(allow: false, type: .block, major: 8, access: [.write]),
        ])
        #expect(reset.defaultAllow)
        #expect(reset.orderedRules.map(\.description) == ["deny b 8:* w"])
    }

    @Test("a deny inside an allowed wildcard is refused (the v1 kernel would silently ignore it)")
    func holeInWildcardRefused() {
        #expect(throws: CgroupError.self) {
            try DeviceEmulator(rules: [
                DeviceRule(allow: true, type: .char, major: 136, access: .all), DeviceRule(allow: false, type: .char, major: 136, minor: 3, access: [.read]),
            ])
        }
    }

    @Test("devices.list parsing")
    func parseDevicesList() throws {
        let model = try DeviceEmulator(devicesList: "c 136:* rwm\nb *:* m\n", path: "devices.list")
        #expect(!model.defaultAllow)
        #expect(model.orderedRules.map(\.cgroupLine) == ["b *:* m", "c 136:* rwm"])
        #expect(throws: CgroupError.self) { try DeviceEmulator(devicesList: "x 1:2 rwm\n", path: "devices.list") }
        #expect(throws: CgroupError.self) { try DeviceEmulator(devicesList: "c 1:2 rwq\n", path: "devices.list") }
    }

    @Test("v2: instruction listing for an allow-list table")
    func allowListProgram() throws {
        let program = try DeviceFilter.program(for: [
            DeviceRule(allow: false, type: .all, access: .all),
            DeviceRule(allow: true, type: .char, major: 1, minor: 3, access: .all),
            DeviceRule(allow: true, type: .char, access: .mknod),
            DeviceRule(allow: true, type: .char, major: 136, access: [.read, .write]),
        ])
        #expect(
            program.map(\.description) == [
                // prologue: r2 = type, r3 = access, r4 = major, r5 = minor
                "ldxw r2, [r1+0]", "and32 r2, 65535", "ldxw r3, [r1+0]", "rsh32 r3, 16", "ldxw r4, [r1+4]", "ldxw r5, [r1+8]",
                // c *:* m
                "jne r2, 2, +5", "mov32 r1, r3", "and32 r1, 1", "jne r1, r3, +2", "mov r0, 1", "exit",
                // c 1:3 rwm
                "jne r2, 2, +4", "jne r4, 1, +3", "jne r5, 3, +2", "mov r0, 1", "exit",
                // c 136:* rw
                "jne r2, 2, +6", "mov32 r1, r3", "and32 r1, 6", "jne r1, r3, +3", "jne r4, 136, +2", "mov r0, 1", "exit",
                // default: deny
                "mov r0, 0", "exit",
            ])
    }

    @Test("v2: a deny-list table: deny rules match any overlapping access, default allow")
    func denyListProgram() throws {
        let program = try DeviceFilter.program(for: [
            DeviceRule(allow: true, type: .all, access: .all), DeviceRule(allow: false, type: .block, major: 8, minor: 0, access: [.write]),
        ])
        #expect(
            program.dropFirst(6).map(\.description) == [
                "jne r2, 1, +7", "mov32 r1, r3", "and32 r1, 4", "jeq r1, 0, +4", "jne r4, 8, +3", "jne r5, 0, +2", "mov r0, 0", "exit",
                "mov r0, 1", "exit",
            ])
    }

    @Test("v2: the kernel encoding of instructions (struct bpf_insn, little-endian)")
    func encoding() {
        let insns = [
            BPFInstruction(code: 0x61, dst: 2, src: 1, offset: 4, imm: 0), BPFInstruction(code: 0x55, dst: 4, src: 0, offset: -1, imm: 0x0102_0304),
        ]
        #expect(DeviceFilter.encode(insns) == [0x61, 0x12, 4, 0, 0, 0, 0, 0, 0x55, 0x04, 0xff, 0xff, 4, 3, 2, 1])
    }
}
