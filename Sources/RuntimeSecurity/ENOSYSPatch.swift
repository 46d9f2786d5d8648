import CSeccomp

/// runc's "unknown syscalls return ENOSYS" patch (runtime.md §2.3), done by prepending a short cBPF prologue.
///
/// For every architecture of the filter, a syscall numbered above the highest syscall the profile names on that
/// architecture returns `-ENOSYS` instead of the default action, so that libc falls back (e.g. `clone3` → `clone`,
/// `fchmodat2` → `fchmodat`) when a program is newer than the profile. Syscalls the profile names are never
/// affected: all of them are at or below that maximum. Classic BPF only jumps forward, so prepending instructions
/// leaves every jump of libseccomp's program valid; the prologue ends by falling into the original program, which
/// reloads the architecture itself.
///
/// Prologue layout (x86_64 shown; other arches lack the x32 split):
/// ```
///     ld  [4]                          ; seccomp_data.arch
///     jeq AUDIT_ARCH_X86_64, 0, next
///     ld  [0]                          ; seccomp_data.nr
///     jge 0x40000000, x32, x64         ; __X32_SYSCALL_BIT
/// x32: jgt maxX32, enosys, orig        ; (ja orig when x32 is not in the filter)
/// x64: jgt maxX86_64, enosys, orig
/// next: ... next architecture ...
///     ja  orig
/// enosys: ret SECCOMP_RET_ERRNO | ENOSYS
/// orig: <libseccomp program>
/// ```
enum ENOSYSPatch {
    static let auditArchX86_64: UInt32 = 0xC000_003E
    static let x32SyscallBit: UInt32 = 0x4000_0000

    struct Instruction {
        var code: UInt16
        var jt: UInt8 = 0
        var jf: UInt8 = 0
        var k: UInt32 = 0
    }

    /// Label-based jumps, resolved once the prologue length is known.
    enum Target: Equatable {
        case next(Int)
        case enosys
        case orig
        case next1
        case skip(Int)
    }

    static let ldAbsW: UInt16 = 0x20
    static let jeqK: UInt16 = 0x15
    static let jgtK: UInt16 = 0x25
    static let jgeK: UInt16 = 0x35
    static let ja: UInt16 = 0x05
    static let retK: UInt16 = 0x06

    /// Returns `filter` with the prologue, or unchanged when the patch does not apply (no architecture with a named
    /// syscall, or a filter that does not start by loading the architecture).
    static func apply(to filter: [UInt8], arches: [UInt32], named: [String]) -> [UInt8] {
        guard filter.count >= 8, readInstruction(filter, at: 0).code == ldAbsW, readInstruction(filter, at: 0).k == 4 else {
            return filter
        }
        let x32Token = seccomp_arch_resolve_name("x32")
        var maxima: [UInt32: Int32] = [:]
        for arch in Set(arches) {
            var best: Int32 = -1
            for name in named {
                let nr = seccomp_syscall_resolve_name_arch(arch, name)
                if nr >= 0 { best = max(best, nr) }
            }
            maxima[arch] = best
        }
        let x32Max: Int32? = x32Token != 0 ? maxima.removeValue(forKey: x32Token) : nil

        // Blocks in a stable order (by arch token) so that the output is deterministic (cache-friendly).
        let blockArches = maxima.keys.sorted().filter { (maxima[$0] ?? -1) >= 0 }
        guard !blockArches.isEmpty else { return filter }

        var code: [(Instruction, Target, Target)] = []  // instruction, jt target, jf target
        code.append((Instruction(code: ldAbsW, k: 4), .next1, .next1))
        for (b, arch) in blockArches.enumerated() {
            let maxNr = UInt32(maxima[arch] ?? 0)
            code.append((Instruction(code: jeqK, k: arch), .next1, .next(b)))
            code.append((Instruction(code: ldAbsW, k: 0), .next1, .next1))
            if arch == auditArchX86_64 {
                // jt → the x32 check (next instruction); jf → the x86_64 check (one further).
                code.append((Instruction(code: jgeK, k: x32SyscallBit), .next1, .skip(1)))
                if let x32Max, x32Max >= 0 {
                    code.append((Instruction(code: jgtK, k: UInt32(bitPattern: x32Max)), .enosys, .orig))
                } else {
                    code.append((Instruction(code: ja), .orig, .orig))
                }
            }
            code.append((Instruction(code: jgtK, k: maxNr), .enosys, .orig))
            code.append((Instruction(code: ja, k: 0), .next1, .next1))  // marker: block end, removed below
        }
        code.append((Instruction(code: ja), .orig, .orig))
        code.append((Instruction(code: retK, k: 0x0005_0000 | Seccomp.enosys), .next1, .next1))

        // Drop the block-end markers, remembering where each block ends (= where `next(b)` points).
        var program: [(Instruction, Target, Target)] = []
        var nextIndex: [Int: Int] = [:]
        var block = 0
        for entry in code {
            if entry.0.code == ja, entry.1 == .next1 {
                nextIndex[block] = program.count
                block += 1
            } else {
                program.append(entry)
            }
        }
        let enosysIndex = program.count - 1
        let origIndex = program.count

        func index(of target: Target, from i: Int) -> Int {
            switch target {
            case .next(let b): return nextIndex[b] ?? origIndex
            case .enosys: return enosysIndex
            case .orig: return origIndex
            case .next1: return i + 1
            case .skip(let n): return i + 1 + n
            }
        }

        var out: [UInt8] = []
        out.reserveCapacity(program.count * 8 + filter.count)
        for (i, (instruction, jt, jf)) in program.enumerated() {
            var ins = instruction
            if ins.code == ja {
                ins.k = UInt32(index(of: jt, from: i) - i - 1)
            } else if ins.code != ldAbsW && ins.code != retK {
                ins.jt = UInt8(index(of: jt, from: i) - i - 1)
                ins.jf = UInt8(index(of: jf, from: i) - i - 1)
            }
            append(ins, to: &out)
        }
        out.append(contentsOf: filter)
        return out
    }

    static func readInstruction(_ bytes: [UInt8], at i: Int) -> Instruction {
        let o = i * 8
        let code = UInt16(bytes[o]) | UInt16(bytes[o + 1]) << 8
        let k = UInt32(bytes[o + 4]) | UInt32(bytes[o + 5]) << 8 | UInt32(bytes[o + 6]) << 16 | UInt32(bytes[o + 7]) << 24
        return Instruction(code: code, jt: bytes[o + 2], jf: bytes[o + 3], k: k)
    }

    static func append(_ ins: Instruction, to out: inout [UInt8]) {
        out.append(UInt8(ins.code & 0xFF))
        out.append(UInt8(ins.code >> 8))
        out.append(ins.jt)
        out.append(ins.jf)
        out.append(UInt8(ins.k & 0xFF))
        out.append(UInt8((ins.k >> 8) & 0xFF))
        out.append(UInt8((ins.k >> 16) & 0xFF))
        out.append(UInt8(ins.k >> 24))
    }
}
