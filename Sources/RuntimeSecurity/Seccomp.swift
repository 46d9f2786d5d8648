import CSeccomp
import Glibc
import OCISpec

/// A compiled seccomp filter, ready for `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)` in the container child.
/// Computed in the parent before the fork (ARCHITECTURE.md rule 1): the child only copies the pointer into a
/// `struct sock_fprog` (`len = instructionCount`, `filter = filter.baseAddress`).
public struct SeccompProgram: Sendable, Equatable {
    /// Raw `struct sock_filter` array in host byte order, 8 bytes per instruction.
    public var filter: [UInt8]
    /// `SECCOMP_FILTER_FLAG_*` bits for the `seccomp(2)` call (from `linux.seccomp.flags`).
    public var flags: UInt32
    /// `filter.count / 8`; the `len` of `struct sock_fprog` (kernel limit: 4096).
    public var instructionCount: Int
    /// Syscall names skipped because libseccomp does not know them (only with `ignoringUnknownSyscalls`), as
    /// `field: name` strings for a debug log.
    public var skippedSyscalls: [String]
    /// True when the program came from the on-disk cache.
    public var cacheHit: Bool
    /// Set when the on-disk cache could not be written (the program is still valid); for a debug log.
    public var cacheNote: String?

    public init(
        filter: [UInt8], flags: UInt32, instructionCount: Int, skippedSyscalls: [String] = [], cacheHit: Bool = false,
        cacheNote: String? = nil
    ) {
        self.filter = filter
        self.flags = flags
        self.instructionCount = instructionCount
        self.skippedSyscalls = skippedSyscalls
        self.cacheHit = cacheHit
        self.cacheNote = cacheNote
    }
}

/// Compiles OCI `linux.seccomp` profiles to classic BPF with libseccomp.
public enum Seccomp {
    /// `SECCOMP_FILTER_FLAG_*` (linux/seccomp.h).
    public static let flagTSync: UInt32 = 1
    public static let flagLog: UInt32 = 2
    public static let flagSpecAllow: UInt32 = 4
    public static let flagNewListener: UInt32 = 8
    public static let flagWaitKillableRecv: UInt32 = 32

    static let eperm: UInt32 = 1
    static let enosys: UInt32 = 38

    /// Compiles `profile`.
    ///
    /// - Unknown syscall names: a name libseccomp does not know throws
    ///   `linux.seccomp.syscalls[i].names[j]: unknown syscall "foo"` — a typo in a user profile must not silently
    ///   widen or narrow the filter — unless it is a real syscall newer than the installed libseccomp
    ///   (`recentKernelSyscalls`, e.g. `mseal` with libseccomp 2.5.4): those are skipped, as runc does, so that the
    ///   default profiles of podman/containerd/Docker compile. Skipped names are listed in
    ///   `SeccompProgram.skippedSyscalls`. `ignoringUnknownSyscalls: true` skips every unknown name (runc's
    ///   behaviour for all profiles).
    /// - Invalid action, errno, operator, architecture or flag strings throw with the field path.
    /// - `SCMP_ACT_NOTIFY` (user notification) is not implemented and throws "unsupported".
    /// - `NO_NEW_PRIVS` is not set by the filter (`SCMP_FLTATR_CTL_NNP` = 0): the runtime applies
    ///   `process.noNewPrivileges` itself, then loads the filter.
    /// - Rules whose action equals the default action are skipped (libseccomp rejects them; runc does the same).
    /// - A rule with several conditions on the same argument index is split into one rule per condition (OR), as
    ///   runc does; conditions on different indexes in one rule are ANDed.
    /// - When the default action is not ALLOW/LOG, syscalls numbered above the highest syscall the profile names
    ///   (per architecture) return ENOSYS instead of the default action, so that libc falls back from syscalls newer
    ///   than the profile (runc's `patchbpf`). See `ENOSYSPatch`.
    public static func compile(_ profile: OCI.Seccomp, ignoringUnknownSyscalls: Bool = false) throws(SecurityError) -> SeccompProgram {
        let field = "linux.seccomp"
        let defaultErrno = try errnoValue(profile.defaultErrnoRet, field: field + ".defaultErrnoRet") ?? eperm
        let defaultAction = try action(profile.defaultAction, errnoRet: defaultErrno, field: field + ".defaultAction")
        if profile.defaultAction == "SCMP_ACT_NOTIFY" {
            throw SecurityError(field: field + ".defaultAction", "SCMP_ACT_NOTIFY is not allowed as the default action")
        }
        var flags: UInt32 = 0
        for (i, name) in (profile.flags ?? []).enumerated() {
            guard let bit = flagTable[name] else {
                throw SecurityError(field: "\(field).flags[\(i)]", "unknown seccomp flag \"\(name)\"")
            }
            flags |= bit
        }

        guard let ctx = seccomp_init(defaultAction) else {
            throw SecurityError(field: field + ".defaultAction", "libseccomp rejected default action \"\(profile.defaultAction)\"")
        }
        defer { seccomp_release(ctx) }
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)
        guard rc == 0 else { throw libseccompError("seccomp_attr_set(CTL_NNP)", rc) }

        var arches: [UInt32] = [seccomp_arch_native()]
        for (i, name) in (profile.architectures ?? []).enumerated() {
            let archField = "\(field).architectures[\(i)]"
            let token = try archToken(name, field: archField)
            rc = seccomp_arch_add(ctx, token)
            if rc == -EEXIST { continue }
            guard rc == 0 else { throw SecurityError(field: archField, "libseccomp cannot add architecture \"\(name)\": \(errorText(rc))") }
            arches.append(token)
        }

        let syscalls = profile.syscalls ?? []
        if syscalls.count > 32 {
            // Binary-tree syscall dispatch (libseccomp >= 2.5); an older library keeps the linear layout.
            _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        }

        var skipped: [String] = []
        var named: [(name: String, number: Int32)] = []
        for (i, rule) in syscalls.enumerated() {
            let ruleField = "\(field).syscalls[\(i)]"
            if rule.action == "SCMP_ACT_NOTIFY" {
                throw SecurityError(field: ruleField + ".action", "SCMP_ACT_NOTIFY is unsupported (seccomp user notification is not implemented)")
            }
            let errno = try errnoValue(rule.errnoRet, field: ruleField + ".errnoRet") ?? eperm
            let act = try action(rule.action, errnoRet: errno, field: ruleField + ".action")
            let conditionSets = try conditions(rule.args ?? [], field: ruleField + ".args")
            if rule.names.isEmpty {
                throw SecurityError(field: ruleField + ".names", "empty syscall name list")
            }
            for (j, name) in rule.names.enumerated() {
                let nameField = "\(ruleField).names[\(j)]"
                // libseccomp resolves every name in its table (returning a negative pseudo-number for syscalls
                // the native architecture lacks, e.g. `socketcall` on x86_64), so an error means no arch knows it.
                let number = seccomp_syscall_resolve_name(name)
                guard number != __NR_SCMP_ERROR else {
                    if ignoringUnknownSyscalls || recentKernelSyscalls.contains(name) {
                        skipped.append("\(nameField): \(name)")
                        continue
                    }
                    throw SecurityError(field: nameField, "unknown syscall \"\(name)\"")
                }
                named.append((name, number))
                if act == defaultAction { continue }
                for conds in conditionSets {
                    rc = conds.withUnsafeBufferPointer { buf in
                        seccomp_rule_add_array(ctx, act, number, UInt32(buf.count), buf.baseAddress)
                    }
                    guard rc == 0 else {
                        throw SecurityError(field: nameField, "libseccomp rejected the rule for \"\(name)\": \(errorText(rc))")
                    }
                }
            }
        }

        var filter = try export(ctx)
        if !(defaultAction == SCMP_ACT_ALLOW || defaultAction == SCMP_ACT_LOG) {
            filter = ENOSYSPatch.apply(to: filter, arches: arches, named: named.map(\.name))
        }
        let count = filter.count / 8
        if count > 4096 {
            throw SecurityError(field: field, "compiled filter has \(count) instructions; the kernel limit is 4096")
        }
        return SeccompProgram(filter: filter, flags: flags, instructionCount: count, skippedSyscalls: skipped)
    }

    /// The syscall number of `name` on `architecture` (an OCI name such as `SCMP_ARCH_X86`; nil = the native
    /// architecture), or nil when libseccomp does not know it there.
    public static func syscallNumber(_ name: String, architecture: String? = nil) -> Int32? {
        let token: UInt32
        if let architecture {
            guard let libName = archNames[architecture] else { return nil }
            token = seccomp_arch_resolve_name(libName)
            guard token != 0 else { return nil }
        } else {
            token = seccomp_arch_native()
        }
        let nr = seccomp_syscall_resolve_name_arch(token, name)
        return nr >= 0 ? nr : nil
    }

    /// The installed libseccomp version, e.g. "2.5.4" (part of the cache key).
    public static var libraryVersion: String {
        guard let v = seccomp_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)"
    }

    // MARK: - Vocabulary

    /// Syscalls added in Linux 5.1 ... 6.17 (x86_64 numbers 424-469, plus a few arch-specific ones). A profile may
    /// name them although the installed libseccomp predates them; they are skipped rather than reported as unknown.
    /// Extend when the kernel adds syscalls (runtime.md §2.3).
    public static let recentKernelSyscalls: Set<String> = [
        "pidfd_send_signal", "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree", "move_mount",
        "fsopen", "fsconfig", "fsmount", "fspick", "pidfd_open", "clone3", "close_range", "openat2", "pidfd_getfd",
        "faccessat2", "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
        "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv",
        "set_mempolicy_home_node", "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait",
        "futex_requeue", "statmount", "listmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
        "mseal", "setxattrat", "getxattrat", "listxattrat", "removexattrat", "open_tree_attr", "file_getattr",
        "file_setattr", "uretprobe", "riscv_hwprobe", "riscv_flush_icache",
    ]

    static let flagTable: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_TSYNC": flagTSync,
        "SECCOMP_FILTER_FLAG_LOG": flagLog,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": flagSpecAllow,
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": flagWaitKillableRecv,
    ]

    /// OCI architecture names (config-linux.md); resolved through libseccomp so that an architecture the installed
    /// library does not support is reported, not ignored.
    static let archNames: [String: String] = [
        "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
        "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64",
        "SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
        "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
        "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le",
        "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x",
        "SCMP_ARCH_PARISC": "parisc", "SCMP_ARCH_PARISC64": "parisc64",
        "SCMP_ARCH_RISCV64": "riscv64", "SCMP_ARCH_LOONGARCH64": "loongarch64",
    ]

    static func archToken(_ name: String, field: String) throws(SecurityError) -> UInt32 {
        guard let libName = archNames[name] else {
            throw SecurityError(field: field, "unknown architecture \"\(name)\"")
        }
        let token = seccomp_arch_resolve_name(libName)
        guard token != 0 else {
            throw SecurityError(field: field, "architecture \"\(name)\" is not supported by the installed libseccomp")
        }
        return token
    }

    static func action(_ name: String, errnoRet: UInt32, field: String) throws(SecurityError) -> UInt32 {
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return SCMP_ACT_KILL_THREAD
        case "SCMP_ACT_KILL_PROCESS": return SCMP_ACT_KILL_PROCESS
        case "SCMP_ACT_TRAP": return SCMP_ACT_TRAP
        case "SCMP_ACT_ERRNO": return 0x0005_0000 | (errnoRet & 0xFFFF)
        case "SCMP_ACT_TRACE": return 0x7FF0_0000 | (errnoRet & 0xFFFF)
        case "SCMP_ACT_ALLOW": return SCMP_ACT_ALLOW
        case "SCMP_ACT_LOG": return SCMP_ACT_LOG
        case "SCMP_ACT_NOTIFY":
            throw SecurityError(field: field, "SCMP_ACT_NOTIFY is unsupported (seccomp user notification is not implemented)")
        default: throw SecurityError(field: field, "unknown seccomp action \"\(name)\"")
        }
    }

    static func errnoValue(_ value: UInt32?, field: String) throws(SecurityError) -> UInt32? {
        guard let value else { return nil }
        guard value <= 4095 else { throw SecurityError(field: field, "errno \(value) out of range (0...4095)") }
        return value
    }

    static let opTable: [String: scmp_compare] = [
        "SCMP_CMP_NE": SCMP_CMP_NE, "SCMP_CMP_LT": SCMP_CMP_LT, "SCMP_CMP_LE": SCMP_CMP_LE, "SCMP_CMP_EQ": SCMP_CMP_EQ,
        "SCMP_CMP_GE": SCMP_CMP_GE, "SCMP_CMP_GT": SCMP_CMP_GT, "SCMP_CMP_MASKED_EQ": SCMP_CMP_MASKED_EQ,
    ]

    /// The condition lists to add for one rule: one list (ANDed) normally; one list per condition when an
    /// argument index repeats (runc semantics, libseccomp rejects repeated indexes in one rule).
    static func conditions(_ args: [OCI.SeccompArg], field: String) throws(SecurityError) -> [[scmp_arg_cmp]] {
        var result: [scmp_arg_cmp] = []
        var indexes = Set<UInt32>()
        var repeated = false
        for (k, arg) in args.enumerated() {
            guard arg.index < 6 else { throw SecurityError(field: "\(field)[\(k)].index", "argument index \(arg.index) out of range (0...5)") }
            guard let op = opTable[arg.op] else { throw SecurityError(field: "\(field)[\(k)].op", "unknown seccomp operator \"\(arg.op)\"") }
            if !indexes.insert(arg.index).inserted { repeated = true }
            result.append(scmp_arg_cmp(arg: arg.index, op: op, datum_a: arg.value, datum_b: arg.valueTwo ?? 0))
        }
        return repeated ? result.map { [$0] } : [result]
    }

    // MARK: - libseccomp plumbing

    static func export(_ ctx: scmp_filter_ctx) throws(SecurityError) -> [UInt8] {
        let fd = csec_memfd()
        guard fd >= 0 else { throw SecurityError(field: "", "memfd_create for the seccomp export failed: \(errorText(-errno))") }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw libseccompError("seccomp_export_bpf", rc) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0, lseek(fd, 0, SEEK_SET) == 0 else { throw SecurityError(field: "", "lseek on the seccomp export failed: \(errorText(-errno))") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress.map { $0 + done }, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SecurityError(field: "", "reading the seccomp export failed: \(errorText(n < 0 ? -errno : -EIO))") }
            done += n
        }
        guard !bytes.isEmpty, bytes.count % 8 == 0 else {
            throw SecurityError(field: "", "libseccomp exported \(bytes.count) bytes, not a whole number of BPF instructions")
        }
        return bytes
    }

    static func libseccompError(_ call: String, _ rc: Int32) -> SecurityError {
        SecurityError(field: "", "\(call) failed: \(errorText(rc))")
    }

    static func errorText(_ rc: Int32) -> String {
        let code = rc < 0 ? -rc : rc
        return String(cString: strerror(code)) + " (errno \(code))"
    }
}
