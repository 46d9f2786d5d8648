// cgroup v2 device control: the rule list compiled to a BPF_PROG_TYPE_CGROUP_DEVICE eBPF program.
//
// v2 has no devices.* files. The kernel runs a program attached to the cgroup for every device access
// (open, mknod) with a `struct bpf_cgroup_dev_ctx`:
//     u32 access_type   // (access << 16) | type; type BPF_DEVCG_DEV_BLOCK=1 / CHAR=2,
//                       // access BPF_DEVCG_ACC_MKNOD=1 / READ=2 / WRITE=4 (one or more bits)
//     u32 major
//     u32 minor
// and allows the access when it returns 1, refuses it with EPERM when it returns 0.
//
// The rules first go through `DeviceEmulator` (the v1 semantics, as runc does), which leaves a default action
// and exceptions that all have the other action, so their order does not matter. The program is then:
//     prologue: r2 = type, r3 = access, r4 = major, r5 = minor
//     one block per exception: if every field matches, return the exception's action; else fall to the next block
//     epilogue: return the default action
import CShims
import Glibc

/// One eBPF instruction (`struct bpf_insn`): 8 bytes, little-endian, registers packed dst | src << 4.
public struct BPFInstruction: Sendable, Equatable, CustomStringConvertible {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    /// The kernel's encoding.
    var bytes: [UInt8] {
        let off = UInt16(bitPattern: offset)
        let value = UInt32(bitPattern: imm)
        return [
            code, (src << 4) | (dst & 0x0f), UInt8(off & 0xff), UInt8(off >> 8),
            UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24),
        ]
    }

    /// A readable form for tests and error messages, e.g. `ldxw r2, [r1+0]`, `jne r4, 1, +2`.
    public var description: String {
        let op = BPFInstruction.mnemonics[code] ?? "op\(code)"
        switch code {
        case BPF.ldxw: return "\(op) r\(dst), [r\(src)+\(offset)]"
        case BPF.and32Imm, BPF.rsh32Imm, BPF.mov64Imm: return "\(op) r\(dst), \(imm)"
        case BPF.mov32Reg: return "\(op) r\(dst), r\(src)"
        case BPF.jneImm, BPF.jeqImm: return "\(op) r\(dst), \(imm), +\(offset)"
        case BPF.jneReg: return "\(op) r\(dst), r\(src), +\(offset)"
        default: return op
        }
    }

    static let mnemonics: [UInt8: String] = [
        BPF.ldxw: "ldxw", BPF.and32Imm: "and32", BPF.rsh32Imm: "rsh32", BPF.mov32Reg: "mov32", BPF.mov64Imm: "mov",
        BPF.jneImm: "jne", BPF.jeqImm: "jeq", BPF.jneReg: "jne", BPF.exit: "exit",
    ]
}

/// The opcodes the generator uses (linux/bpf_common.h + linux/bpf.h class | op | source).
enum BPF {
    /// BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
    static let ldxw: UInt8 = 0x61
    /// BPF_ALU | BPF_AND | BPF_K: dst = (u32)dst & imm
    static let and32Imm: UInt8 = 0x54
    /// BPF_ALU | BPF_RSH | BPF_K: dst = (u32)dst >> imm
    static let rsh32Imm: UInt8 = 0x74
    /// BPF_ALU | BPF_MOV | BPF_X: dst = (u32)src
    static let mov32Reg: UInt8 = 0xbc
    /// BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
    static let mov64Imm: UInt8 = 0xb7
    /// BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto +off
    static let jneImm: UInt8 = 0x55
    /// BPF_JMP | BPF_JEQ | BPF_K: if dst == imm goto +off
    static let jeqImm: UInt8 = 0x15
    /// BPF_JMP | BPF_JNE | BPF_X: if dst != src goto +off
    static let jneReg: UInt8 = 0x5d
    /// BPF_JMP | BPF_EXIT: return r0
    static let exit: UInt8 = 0x95

    /// BPF_DEVCG_DEV_* (the low 16 bits of access_type).
    static func deviceType(_ type: DeviceRuleType) -> Int32? {
        switch type {
        case .block: return 1
        case .char: return 2
        case .all: return nil
        }
    }

    /// BPF_DEVCG_ACC_* bits for an access set.
    static func accessBits(_ access: DeviceAccess) -> Int32 {
        (access.contains(.mknod) ? 1 : 0) | (access.contains(.read) ? 2 : 0) | (access.contains(.write) ? 4 : 0)
    }
}

/// Builds the device program for a rule list.
public enum DeviceFilter {
    /// Registers after the prologue.
    private static let typeReg: UInt8 = 2
    private static let accessReg: UInt8 = 3
    private static let majorReg: UInt8 = 4
    private static let minorReg: UInt8 = 5

    /// The program for `rules` (applied in order to a deny-all start, like v1 writes).
    public static func program(for rules: [DeviceRule]) throws(CgroupError) -> [BPFInstruction] {
        program(for: try DeviceEmulator(rules: rules))
    }

    static func program(for model: DeviceEmulator) -> [BPFInstruction] {
        var insns: [BPFInstruction] = [
            // r1 is the context pointer on entry.
            ins(BPF.ldxw, dst: typeReg, src: 1, offset: 0),
            ins(BPF.and32Imm, dst: typeReg, imm: 0xffff),
            ins(BPF.ldxw, dst: accessReg, src: 1, offset: 0),
            ins(BPF.rsh32Imm, dst: accessReg, imm: 16),
            ins(BPF.ldxw, dst: majorReg, src: 1, offset: 4),
            ins(BPF.ldxw, dst: minorReg, src: 1, offset: 8),
        ]
        for rule in model.orderedRules { insns += block(rule) }
        insns += [ins(BPF.mov64Imm, dst: 0, imm: model.defaultAllow ? 1 : 0), ins(BPF.exit)]
        return insns
    }

    /// A condition of a block: jumps past the block's end when it does not hold.
    private enum Check {
        /// `if reg != imm goto next`
        case equals(UInt8, Int32)
        /// Requested access within the rule's: `r1 = access; r1 &= bits; if r1 != access goto next`.
        case accessWithin(Int32)
        /// Requested access overlaps the rule's: `r1 = access; r1 &= bits; if r1 == 0 goto next`.
        case accessOverlaps(Int32)
    }

    /// `if <every field matches> return <rule's action>`. Wildcard fields are not tested.
    ///
    /// Access matching follows the v1 kernel: an allow exception must cover every requested access
    /// (`match_exception`), a deny exception applies when it covers any of them (`match_exception_partial`).
    private static func block(_ rule: DeviceRule) -> [BPFInstruction] {
        var checks: [Check] = []
        if let type = BPF.deviceType(rule.type) { checks.append(.equals(typeReg, type)) }
        if rule.access != .all {
            let bits = BPF.accessBits(rule.access)
            checks.append(rule.allow ? .accessWithin(bits) : .accessOverlaps(bits))
        }
        if let major = rule.major { checks.append(.equals(majorReg, Int32(truncatingIfNeeded: major))) }
        if let minor = rule.minor { checks.append(.equals(minorReg, Int32(truncatingIfNeeded: minor))) }

        // Emit with placeholder offsets, remembering each jump, then point every jump at the block's end.
        var body: [BPFInstruction] = []
        var jumps: [Int] = []
        for check in checks {
            switch check {
            case .equals(let reg, let value):
                jumps.append(body.count)
                body.append(ins(BPF.jneImm, dst: reg, imm: value))
            case .accessWithin(let bits):
                body += [ins(BPF.mov32Reg, dst: 1, src: accessReg), ins(BPF.and32Imm, dst: 1, imm: bits)]
                jumps.append(body.count)
                body.append(ins(BPF.jneReg, dst: 1, src: accessReg))
            case .accessOverlaps(let bits):
                body += [ins(BPF.mov32Reg, dst: 1, src: accessReg), ins(BPF.and32Imm, dst: 1, imm: bits)]
                jumps.append(body.count)
                body.append(ins(BPF.jeqImm, dst: 1, imm: 0))
            }
        }
        body += [ins(BPF.mov64Imm, dst: 0, imm: rule.allow ? 1 : 0), ins(BPF.exit)]
        for index in jumps {
            // Offsets count from the instruction after the jump.
            body[index].offset = Int16(body.count - index - 1)
        }
        return body
    }

    private static func ins(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) -> BPFInstruction {
        BPFInstruction(code: code, dst: dst, src: src, offset: offset, imm: imm)
    }

    /// The kernel encoding of a program.
    static func encode(_ program: [BPFInstruction]) -> [UInt8] {
        program.flatMap(\.bytes)
    }
}

extension DeviceFilter {
    /// Loads the program for `rules` and attaches it to the cgroup directory `path` (BPF_F_ALLOW_MULTI, as runc:
    /// programs of parent cgroups keep applying too). The attachment outlives the program fd, which is closed.
    /// Device programs this cgroup already had are detached afterwards (all attached programs must allow an
    /// access, so a leftover would keep the old rules in force); attaching first leaves no unfiltered window.
    static func attach(_ rules: [DeviceRule], to path: String) throws(CgroupError) {
        let code = encode(try program(for: rules))
        let count = UInt32(code.count / 8)
        let license = "Apache"
        var programFD = code.withUnsafeBytes { insns in
            mk_bpf_load_device_program(insns.baseAddress, count, license, nil, 0)
        }
        if programFD < 0 {
            let err = errno
            // Load again with the verifier log for the error message.
            var log = [CChar](repeating: 0, count: 16384)
            programFD = code.withUnsafeBytes { insns in
                log.withUnsafeMutableBufferPointer { buf in
                    mk_bpf_load_device_program(insns.baseAddress, count, license, buf.baseAddress, UInt32(buf.count))
                }
            }
            if programFD < 0 {
                let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                var error = CgroupError.posix("bpf(BPF_PROG_LOAD) device filter for", path: path, errno: err)
                if !verifier.isEmpty { error.detail += "; verifier: " + verifier.split(separator: "\n").suffix(3).joined(separator: " | ") }
                throw error
            }
        }
        defer { close(programFD) }
        let dirFD = retryingEINTR { mk_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
        guard dirFD >= 0 else { throw .posix("open", path: path, errno: errno) }
        defer { close(dirFD) }
        let previous = try attachedPrograms(dirFD, path: path)
        guard mk_bpf_attach_device_program(programFD, dirFD) == 0 else {
            throw .posix("bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)", path: path, errno: errno)
        }
        for id in previous where mk_bpf_detach_device_program(dirFD, id) != 0 {
            let err = errno
            // ENOENT: detached meanwhile (another apply); nothing left to remove.
            if err != ENOENT { throw .posix("bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE) of program \(id) from", path: path, errno: err) }
        }
    }

    /// Ids of the device programs attached to this cgroup itself (bpf(BPF_PROG_QUERY)).
    private static func attachedPrograms(_ dirFD: Int32, path: String) throws(CgroupError) -> [UInt32] {
        var room = 8
        while true {
            var ids = [UInt32](repeating: 0, count: room)
            var count: UInt32 = 0
            let rc = ids.withUnsafeMutableBufferPointer { buf in mk_bpf_device_program_ids(dirFD, buf.baseAddress, UInt32(buf.count), &count) }
            if rc == 0 { return Array(ids.prefix(Int(count))) }
            let err = errno
            guard err == ENOSPC, Int(count) > room else { throw .posix("bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE)", path: path, errno: err) }
            room = Int(count)
        }
    }
}
