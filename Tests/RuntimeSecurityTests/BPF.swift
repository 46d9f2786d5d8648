// A classic-BPF interpreter for seccomp programs, so tests can ask "what does this filter return for syscall N
// with these arguments on this architecture" without loading anything into the kernel.

struct SeccompData {
    var nr: Int32
    var arch: UInt32
    var instructionPointer: UInt64 = 0
    var args: [UInt64] = [0, 0, 0, 0, 0, 0]

    func word(at offset: UInt32) -> UInt32? {
        var bytes: [UInt8] = []
        func put32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        func put64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
        put32(UInt32(bitPattern: nr))
        put32(arch)
        put64(instructionPointer)
        for a in args { put64(a) }
        let o = Int(offset)
        guard o % 4 == 0, o + 4 <= bytes.count else { return nil }
        return UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
    }
}

enum BPFError: Error { case badInstruction(Int, UInt16), badLoad(Int), fellOff }

/// Runs `filter` (raw sock_filter bytes) and returns the 32-bit seccomp action.
func runBPF(_ filter: [UInt8], _ data: SeccompData) throws -> UInt32 {
    let count = filter.count / 8
    func ins(_ i: Int) -> (code: UInt16, jt: UInt8, jf: UInt8, k: UInt32) {
        let o = i * 8
        let code = UInt16(filter[o]) | UInt16(filter[o + 1]) << 8
        let k = UInt32(filter[o + 4]) | UInt32(filter[o + 5]) << 8 | UInt32(filter[o + 6]) << 16 | UInt32(filter[o + 7]) << 24
        return (code, filter[o + 2], filter[o + 3], k)
    }
    var a: UInt32 = 0
    var x: UInt32 = 0
    var mem = [UInt32](repeating: 0, count: 16)
    var pc = 0
    while pc < count {
        let (code, jt, jf, k) = ins(pc)
        pc += 1
        switch code {
        case 0x20:  // ld [k]
            guard let v = data.word(at: k) else { throw BPFError.badLoad(pc - 1) }
            a = v
        case 0x00: a = k  // ld #k
        case 0x01: x = k  // ldx #k
        case 0x60: a = mem[Int(k)]  // ld M[k]
        case 0x61: x = mem[Int(k)]  // ldx M[k]
        case 0x02: mem[Int(k)] = a  // st
        case 0x03: mem[Int(k)] = x  // stx
        case 0x07: x = a  // tax
        case 0x87: a = x  // txa
        case 0x04: a = a &+ k
        case 0x14: a = a &- k
        case 0x54: a &= k
        case 0x44: a |= k
        case 0x64: a <<= k
        case 0x74: a >>= k
        case 0x5C: a &= x
        case 0x05: pc += Int(k)  // ja
        case 0x15: pc += a == k ? Int(jt) : Int(jf)
        case 0x25: pc += a > k ? Int(jt) : Int(jf)
        case 0x35: pc += a >= k ? Int(jt) : Int(jf)
        case 0x45: pc += a & k != 0 ? Int(jt) : Int(jf)
        case 0x1D: pc += a == x ? Int(jt) : Int(jf)
        case 0x2D: pc += a > x ? Int(jt) : Int(jf)
        case 0x3D: pc += a >= x ? Int(jt) : Int(jf)
        case 0x4D: pc += a & x != 0 ? Int(jt) : Int(jf)
        case 0x06: return k  // ret #k
        case 0x16: return a  // ret a
        default: throw BPFError.badInstruction(pc - 1, code)
        }
    }
    throw BPFError.fellOff
}

enum Arch {
    static let x86_64: UInt32 = 0xC000_003E
    static let x86: UInt32 = 0x4000_0003
}

enum Ret {
    static let allow: UInt32 = 0x7FFF_0000
    static let eperm: UInt32 = 0x0005_0001
    static let enosys: UInt32 = 0x0005_0026
    static func errno(_ e: UInt32) -> UInt32 { 0x0005_0000 | e }
}
