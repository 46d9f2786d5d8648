import OCISpec
import RuntimeSecurity
import Testing

/// What the RuntimeDefault profile returns for given syscalls, evaluated with the BPF interpreter (BPF.swift) on the
/// compiled filter. The acceptance list: with the 14 default capabilities `unshare`, `mount`, `keyctl`, `swapon` and
/// `reboot` fail with EPERM, ordinary syscalls are allowed.
struct DefaultProfileTests {
    static let defaultProgram: SeccompProgram? = try? Seccomp.compile(
        DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities), ignoringUnknownSyscalls: true)
    static let adminProgram: SeccompProgram? = try? Seccomp.compile(
        DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities + ["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]), ignoringUnknownSyscalls: true)

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var arch: String = "SCMP_ARCH_X86_64"
        var args: [UInt64] = [0, 0, 0, 0, 0, 0]
        var expected: UInt32
        var testDescription: String { "\(name)(\(args[0])) on \(arch)" }
    }

    static let newns: UInt64 = 0x0002_0000
    static let cloneThread: UInt64 = 0x0005_0F00  // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM

    static let defaultCases: [Case] = [
        // Acceptance: blocked with EPERM.
        Case(name: "unshare", expected: Ret.eperm), Case(name: "mount", expected: Ret.eperm),
        Case(name: "umount2", expected: Ret.eperm), Case(name: "keyctl", expected: Ret.eperm),
        Case(name: "add_key", expected: Ret.eperm), Case(name: "request_key", expected: Ret.eperm),
        Case(name: "swapon", expected: Ret.eperm), Case(name: "swapoff", expected: Ret.eperm),
        Case(name: "reboot", expected: Ret.eperm), Case(name: "setns", expected: Ret.eperm),
        Case(name: "pivot_root", expected: Ret.eperm), Case(name: "kexec_load", expected: Ret.eperm),
        Case(name: "init_module", expected: Ret.eperm), Case(name: "bpf", expected: Ret.eperm),
        Case(name: "ptrace", expected: Ret.allow), Case(name: "kcmp", expected: Ret.eperm),
        Case(name: "settimeofday", expected: Ret.eperm), Case(name: "clock_settime", expected: Ret.eperm),
        Case(name: "userfaultfd", expected: Ret.eperm), Case(name: "io_uring_setup", expected: Ret.eperm),
        Case(name: "open_by_handle_at", expected: Ret.eperm), Case(name: "acct", expected: Ret.eperm),
        Case(name: "sethostname", expected: Ret.eperm),
        // Ordinary programs.
        Case(name: "read", expected: Ret.allow), Case(name: "write", expected: Ret.allow),
        Case(name: "openat", expected: Ret.allow), Case(name: "execve", expected: Ret.allow),
        Case(name: "mmap", expected: Ret.allow), Case(name: "exit_group", expected: Ret.allow),
        Case(name: "wait4", expected: Ret.allow), Case(name: "getdents64", expected: Ret.allow),
        Case(name: "chroot", expected: Ret.allow), Case(name: "statx", expected: Ret.allow),
        Case(name: "rseq", expected: Ret.allow), Case(name: "futex", expected: Ret.allow),
        Case(name: "arch_prctl", expected: Ret.allow), Case(name: "setuid", expected: Ret.allow),
        Case(name: "prlimit64", expected: Ret.allow), Case(name: "faccessat2", expected: Ret.allow),
        // clone: only without namespace flags; clone3: ENOSYS so libc falls back.
        Case(name: "clone", args: [cloneThread, 0, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "clone", args: [0x11, 0, 0, 0, 0, 0], expected: Ret.allow),  // fork(): SIGCHLD
        Case(name: "clone", args: [newns | 0x11, 0, 0, 0, 0, 0], expected: Ret.eperm),
        Case(name: "clone", args: [0x1000_0000 | 0x11, 0, 0, 0, 0, 0], expected: Ret.eperm),  // CLONE_NEWUSER
        Case(name: "clone", args: [0x4000_0000, 0, 0, 0, 0, 0], expected: Ret.eperm),  // CLONE_NEWNET
        Case(name: "clone3", expected: Ret.enosys),
        // socket: AF_ALG (38) and AF_VSOCK (40) refused.
        Case(name: "socket", args: [2, 1, 0, 0, 0, 0], expected: Ret.allow),  // AF_INET
        Case(name: "socket", args: [1, 1, 0, 0, 0, 0], expected: Ret.allow),  // AF_UNIX
        Case(name: "socket", args: [16, 3, 0, 0, 0, 0], expected: Ret.allow),  // AF_NETLINK
        Case(name: "socket", args: [39, 1, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "socket", args: [44, 1, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "socket", args: [38, 5, 0, 0, 0, 0], expected: Ret.eperm),  // AF_ALG
        Case(name: "socket", args: [40, 1, 0, 0, 0, 0], expected: Ret.eperm),  // AF_VSOCK
        // personality: only the listed personas.
        Case(name: "personality", args: [0, 0, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "personality", args: [0xFFFF_FFFF, 0, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "personality", args: [0x0040_0000, 0, 0, 0, 0, 0], expected: Ret.eperm),  // READ_IMPLIES_EXEC
        // i386 ABI.
        Case(name: "read", arch: "SCMP_ARCH_X86", expected: Ret.allow),
        Case(name: "socketcall", arch: "SCMP_ARCH_X86", expected: Ret.allow),
        Case(name: "chown32", arch: "SCMP_ARCH_X86", expected: Ret.allow),
        Case(name: "mount", arch: "SCMP_ARCH_X86", expected: Ret.eperm),
        Case(name: "keyctl", arch: "SCMP_ARCH_X86", expected: Ret.eperm),
        Case(name: "unshare", arch: "SCMP_ARCH_X86", expected: Ret.eperm),
        Case(name: "clone", arch: "SCMP_ARCH_X86", args: [newns, 0, 0, 0, 0, 0], expected: Ret.eperm),
        Case(name: "clone", arch: "SCMP_ARCH_X86", args: [0x11, 0, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "clone3", arch: "SCMP_ARCH_X86", expected: Ret.enosys),
    ]

    @Test(arguments: defaultCases)
    func defaultCapabilities(c: Case) throws {
        let program = try #require(Self.defaultProgram)
        let arch = c.arch == "SCMP_ARCH_X86" ? Arch.x86 : Arch.x86_64
        let number = try #require(Seccomp.syscallNumber(c.name, architecture: c.arch), "\(c.name) unknown on \(c.arch)")
        #expect(try runBPF(program.filter, SeccompData(nr: number, arch: arch, args: c.args)) == c.expected)
    }

    static let adminCases: [Case] = [
        Case(name: "mount", expected: Ret.allow), Case(name: "unshare", expected: Ret.allow),
        Case(name: "setns", expected: Ret.allow), Case(name: "reboot", expected: Ret.allow),
        Case(name: "clone", args: [newns | 0x11, 0, 0, 0, 0, 0], expected: Ret.allow),
        Case(name: "clone3", expected: Ret.allow),
        Case(name: "keyctl", expected: Ret.eperm), Case(name: "swapon", expected: Ret.eperm),
        Case(name: "kexec_load", expected: Ret.eperm), Case(name: "init_module", expected: Ret.eperm),
    ]

    @Test(arguments: adminCases)
    func withSysAdminAndSysBoot(c: Case) throws {
        let program = try #require(Self.adminProgram)
        let number = try #require(Seccomp.syscallNumber(c.name, architecture: c.arch))
        #expect(try runBPF(program.filter, SeccompData(nr: number, arch: Arch.x86_64, args: c.args)) == c.expected)
    }

    /// x32 syscalls arrive with AUDIT_ARCH_X86_64 and __X32_SYSCALL_BIT set in the number.
    @Test func x32ABI() throws {
        let program = try #require(Self.defaultProgram)
        func x32(_ name: String) throws -> Int32 {
            let n = try #require(Seccomp.syscallNumber(name, architecture: "SCMP_ARCH_X32"))
            return n | 0x4000_0000
        }
        #expect(try runBPF(program.filter, SeccompData(nr: try x32("read"), arch: Arch.x86_64)) == Ret.allow)
        #expect(try runBPF(program.filter, SeccompData(nr: try x32("openat"), arch: Arch.x86_64)) == Ret.allow)
        #expect(try runBPF(program.filter, SeccompData(nr: try x32("mount"), arch: Arch.x86_64)) == Ret.eperm)
        #expect(try runBPF(program.filter, SeccompData(nr: try x32("keyctl"), arch: Arch.x86_64)) == Ret.eperm)
        #expect(try runBPF(program.filter, SeccompData(nr: 0x4000_0000 | 900, arch: Arch.x86_64)) == Ret.enosys)
        // A syscall number newer than every name of the profile: ENOSYS (native and i386).
        #expect(try runBPF(program.filter, SeccompData(nr: 900, arch: Arch.x86_64)) == Ret.enosys)
        #expect(try runBPF(program.filter, SeccompData(nr: 900, arch: Arch.x86)) == Ret.enosys)
    }

    @Test func unknownArchitectureIsKilled() throws {
        let program = try #require(Self.defaultProgram)
        // AUDIT_ARCH_AARCH64 is not in the filter: libseccomp's bad-arch action (SECCOMP_RET_KILL_THREAD).
        #expect(try runBPF(program.filter, SeccompData(nr: 0, arch: 0xC000_00B7)) == 0)
    }

    @Test func neverAllowedIsAbsentFromEveryRule() {
        let all = DefaultProfiles.seccomp(capabilities: CapabilityName.all.map(\.rawValue))
        let named = Set((all.syscalls ?? []).flatMap(\.names))
        #expect(named.isDisjoint(with: DefaultProfiles.neverAllowed))
        #expect(DefaultProfiles.capabilities.count == 14)
    }

    @Test func allowListHasNoDuplicates() {
        let names = DefaultProfiles.seccomp(capabilities: []).syscalls?.first?.names ?? []
        #expect(Set(names).count == names.count)
        #expect(names.count > 300)
    }
}
