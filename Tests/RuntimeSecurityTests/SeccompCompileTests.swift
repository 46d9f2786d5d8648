import OCISpec
import RuntimeSecurity
import Testing

func allowList(_ names: [String], default action: String = "SCMP_ACT_ERRNO") -> OCI.Seccomp {
    OCI.Seccomp(defaultAction: action, architectures: ["SCMP_ARCH_X86_64"], syscalls: [OCI.Syscall(names: names, action: "SCMP_ACT_ALLOW")])
}

func nr(_ name: String, _ arch: String = "SCMP_ARCH_X86_64") -> Int32 {
    Seccomp.syscallNumber(name, architecture: arch) ?? -1
}

struct SeccompCompileTests {
    static let validProfiles: [OCI.Seccomp] = [
        allowList(["read", "write", "exit_group"]),
        OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [OCI.Syscall(names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13)]),
        OCI.Seccomp(
            defaultAction: "SCMP_ACT_KILL_PROCESS", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            flags: ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"], syscalls: [OCI.Syscall(names: ["read"], action: "SCMP_ACT_ALLOW")]),
        OCI.Seccomp(
            defaultAction: "SCMP_ACT_LOG",
            syscalls: [
                OCI.Syscall(names: ["socket"], action: "SCMP_ACT_ERRNO", args: [OCI.SeccompArg(index: 0, value: 40, op: "SCMP_CMP_EQ")]),
                OCI.Syscall(
                    names: ["personality"], action: "SCMP_ACT_TRAP",
                    args: [OCI.SeccompArg(index: 0, value: 8, op: "SCMP_CMP_NE"), OCI.SeccompArg(index: 0, value: 0, op: "SCMP_CMP_NE")]),
                OCI.Syscall(names: ["ptrace"], action: "SCMP_ACT_TRACE", errnoRet: 7),
                OCI.Syscall(
                    names: ["clone"], action: "SCMP_ACT_KILL",
                    args: [OCI.SeccompArg(index: 0, value: 0x7E02_0000, valueTwo: 0x1_0000_0000 >> 32, op: "SCMP_CMP_MASKED_EQ")]),
                OCI.Syscall(
                    names: ["mmap"], action: "SCMP_ACT_KILL_THREAD",
                    args: [OCI.SeccompArg(index: 2, value: 7, op: "SCMP_CMP_GE"), OCI.SeccompArg(index: 3, value: 1, op: "SCMP_CMP_LT")]),
                OCI.Syscall(names: ["read"], action: "SCMP_ACT_LOG"),  // same as default: skipped
            ]),
        DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities),
        DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities + ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_TIME"]),
        DefaultProfiles.seccomp(capabilities: []),
    ]

    @Test(arguments: validProfiles)
    func validProfileCompiles(profile: OCI.Seccomp) throws {
        let program = try Seccomp.compile(profile, ignoringUnknownSyscalls: true)
        #expect(!program.filter.isEmpty)
        #expect(program.filter.count % 8 == 0)
        #expect(program.instructionCount == program.filter.count / 8)
        #expect(program.instructionCount <= 4096)
    }

    @Test func flagsAreMapped() throws {
        let program = try Seccomp.compile(Self.validProfiles[2])
        #expect(program.flags == Seccomp.flagLog | Seccomp.flagSpecAllow)
    }

    @Test func compileIsDeterministic() throws {
        let profile = DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities)
        let a = try Seccomp.compile(profile, ignoringUnknownSyscalls: true)
        let b = try Seccomp.compile(profile, ignoringUnknownSyscalls: true)
        #expect(a.filter == b.filter)
    }

    @Test(
        arguments: [
            (OCI.Seccomp(defaultAction: "SCMP_ACT_NOPE"), "linux.seccomp.defaultAction: unknown seccomp action \"SCMP_ACT_NOPE\""),
            (
                OCI.Seccomp(defaultAction: "SCMP_ACT_NOTIFY"),
                "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is unsupported (seccomp user notification is not implemented)"
            ),
            (OCI.Seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 70000), "linux.seccomp.defaultErrnoRet: errno 70000 out of range (0...4095)"),
            (
                OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]),
                "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_Z80\""
            ),
            (
                OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", flags: ["SECCOMP_FILTER_FLAG_BOGUS"]),
                "linux.seccomp.flags[0]: unknown seccomp flag \"SECCOMP_FILTER_FLAG_BOGUS\""
            ),
            (allowList(["read", "write", "foo"]), "linux.seccomp.syscalls[0].names[2]: unknown syscall \"foo\""),
            (
                OCI.Seccomp(
                    defaultAction: "SCMP_ACT_ALLOW",
                    syscalls: [OCI.Syscall(names: ["read"], action: "SCMP_ACT_ERRNO"), OCI.Syscall(names: ["write"], action: "SCMP_ACT_BLOCK")]),
                "linux.seccomp.syscalls[1].action: unknown seccomp action \"SCMP_ACT_BLOCK\""
            ),
            (
                OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [OCI.Syscall(names: ["read"], action: "SCMP_ACT_NOTIFY")]),
                "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY is unsupported (seccomp user notification is not implemented)"
            ),
            (
                OCI.Seccomp(
                    defaultAction: "SCMP_ACT_ALLOW",
                    syscalls: [
                        OCI.Syscall(
                            names: ["socket"], action: "SCMP_ACT_ERRNO",
                            args: [OCI.SeccompArg(index: 0, value: 1, op: "SCMP_CMP_EQ"), OCI.SeccompArg(index: 1, value: 1, op: "SCMP_CMP_APPROX")])
                    ]),
                "linux.seccomp.syscalls[0].args[1].op: unknown seccomp operator \"SCMP_CMP_APPROX\""
            ),
            (
                OCI.Seccomp(
                    defaultAction: "SCMP_ACT_ALLOW",
                    syscalls: [OCI.Syscall(names: ["socket"], action: "SCMP_ACT_ERRNO", args: [OCI.SeccompArg(index: 6, value: 1, op: "SCMP_CMP_EQ")])]),
                "linux.seccomp.syscalls[0].args[0].index: argument index 6 out of range (0...5)"
            ),
            (
                OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [OCI.Syscall(names: [], action: "SCMP_ACT_ERRNO")]),
                "linux.seccomp.syscalls[0].names: empty syscall name list"
            ),
        ] as [(OCI.Seccomp, String)])
    func invalidProfileErrorNamesTheField(profile: OCI.Seccomp, message: String) {
        do {
            _ = try Seccomp.compile(profile)
            Issue.record("expected \(message)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func unknownSyscallsSkippedOnlyWhenAsked() throws {
        let profile = allowList(["read", "not_a_syscall", "write"])
        let program = try Seccomp.compile(profile, ignoringUnknownSyscalls: true)
        #expect(program.skippedSyscalls == ["linux.seccomp.syscalls[0].names[1]: not_a_syscall"])
        #expect(try runBPF(program.filter, SeccompData(nr: nr("read"), arch: Arch.x86_64)) == Ret.allow)
    }

    /// Real syscalls newer than the installed libseccomp are skipped even in strict mode (podman's and Docker's
    /// profiles name them); a name that is no syscall at all is an error.
    @Test func recentKernelSyscallsAreSkippedNotErrors() throws {
        let unknownToLibrary = Seccomp.recentKernelSyscalls.filter { Seccomp.syscallNumber($0) == nil }.sorted()
        let program = try Seccomp.compile(allowList(["read"] + unknownToLibrary + ["write"]))
        // Some of them are known to libseccomp on other architectures only (pseudo-numbers): those are not skipped.
        let skippedNames = program.skippedSyscalls.compactMap { $0.split(separator: " ").last.map(String.init) }
        #expect(!skippedNames.isEmpty || unknownToLibrary.isEmpty)
        #expect(Set(skippedNames).isSubset(of: Set(unknownToLibrary)))
        #expect(throws: SecurityError.self) { try Seccomp.compile(allowList(["read", "msealx"])) }
    }

    @Test func defaultErrnoRetIsUsed() throws {
        let profile = OCI.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 13, architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [OCI.Syscall(names: ["read", "exit_group"], action: "SCMP_ACT_ALLOW")])
        let program = try Seccomp.compile(profile)
        #expect(try runBPF(program.filter, SeccompData(nr: nr("getpid"), arch: Arch.x86_64)) == Ret.errno(13))
        #expect(try runBPF(program.filter, SeccompData(nr: nr("read"), arch: Arch.x86_64)) == Ret.allow)
        #expect(try runBPF(program.filter, SeccompData(nr: nr("exit_group"), arch: Arch.x86_64)) == Ret.allow)
    }

    /// runc's patch: syscalls above the highest one the profile names return ENOSYS; others keep the default.
    @Test func newerSyscallsReturnENOSYS() throws {
        let profile = OCI.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            syscalls: [OCI.Syscall(names: ["read", "exit_group", "openat"], action: "SCMP_ACT_ALLOW")])
        let program = try Seccomp.compile(profile)
        let cases: [(Int32, UInt32, UInt32)] = [
            (nr("openat"), Arch.x86_64, Ret.allow),  // 257: the highest named
            (nr("getpid"), Arch.x86_64, Ret.eperm),  // below: default action
            (nr("pipe2"), Arch.x86_64, Ret.enosys),  // 293 > 257
            (1000, Arch.x86_64, Ret.enosys),
            (nr("openat", "SCMP_ARCH_X86"), Arch.x86, Ret.allow),  // 295 on i386
            (nr("getpid", "SCMP_ARCH_X86"), Arch.x86, Ret.eperm),
            (nr("pipe2", "SCMP_ARCH_X86"), Arch.x86, Ret.enosys),  // 331 > 295
        ]
        for (number, arch, expected) in cases {
            #expect(try runBPF(program.filter, SeccompData(nr: number, arch: arch)) == expected, "nr \(number) arch \(arch)")
        }
        // A default ALLOW profile is not patched.
        let allow = try Seccomp.compile(OCI.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [OCI.Syscall(names: ["read"], action: "SCMP_ACT_ERRNO")]))
        #expect(try runBPF(allow.filter, SeccompData(nr: 1000, arch: Arch.x86_64)) == Ret.allow)
    }

    @Test func ruleErrnoDefaultsToEPERM() throws {
        let profile = OCI.Seccomp(
            defaultAction: "SCMP_ACT_ALLOW",
            syscalls: [OCI.Syscall(names: ["mkdir"], action: "SCMP_ACT_ERRNO"), OCI.Syscall(names: ["rmdir"], action: "SCMP_ACT_ERRNO", errnoRet: 2)])
        let program = try Seccomp.compile(profile)
        #expect(try runBPF(program.filter, SeccompData(nr: nr("mkdir"), arch: Arch.x86_64)) == Ret.eperm)
        #expect(try runBPF(program.filter, SeccompData(nr: nr("rmdir"), arch: Arch.x86_64)) == Ret.errno(2))
        #expect(try runBPF(program.filter, SeccompData(nr: nr("read"), arch: Arch.x86_64)) == Ret.allow)
    }

    @Test func repeatedArgumentIndexIsOr() throws {
        // personality(0) or personality(8) allowed; anything else EPERM.
        let profile = OCI.Seccomp(
            defaultAction: "SCMP_ACT_ERRNO", architectures: ["SCMP_ARCH_X86_64"],
            syscalls: [
                OCI.Syscall(
                    names: ["personality"], action: "SCMP_ACT_ALLOW",
                    args: [OCI.SeccompArg(index: 0, value: 0, op: "SCMP_CMP_EQ"), OCI.SeccompArg(index: 0, value: 8, op: "SCMP_CMP_EQ")])
            ])
        let program = try Seccomp.compile(profile)
        for (arg, expected) in [(UInt64(0), Ret.allow), (8, Ret.allow), (9, Ret.eperm)] {
            #expect(try runBPF(program.filter, SeccompData(nr: nr("personality"), arch: Arch.x86_64, args: [arg, 0, 0, 0, 0, 0])) == expected)
        }
    }
}
