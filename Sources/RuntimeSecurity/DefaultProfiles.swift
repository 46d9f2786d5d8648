import OCISpec

// The RuntimeDefault security profile, kept as data.
//
// Why Swift data and not a JSON resource: resources need `Bundle.module` (Foundation), and this module must start
// fast with FoundationEssentials at most; a Swift literal is also checked by the compiler and costs no parsing at
// container start. The lists below were written for minikubelet from the Linux syscall table and the rules of
// runtime.md §2.2 (Docker/containerd allow-list approach); they are not a copy of another project's file.
//
// Maintenance: add new harmless syscalls to `allowed`; gate privileged ones in `capabilityGated`; anything absent
// is refused with EPERM (or ENOSYS when newer than every name here, see ENOSYSPatch). Names libseccomp does not know
// yet are skipped at compile time (`ignoringUnknownSyscalls`), so listing a brand-new syscall is safe.

/// Built-in defaults: the containerd/Docker capability set and the RuntimeDefault seccomp profile.
public enum DefaultProfiles {
    /// The 14 default capabilities (runtime.md §2.1), for bounding, permitted and effective.
    public static let capabilities: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// The architectures of the default profile on an x86_64 host (native plus the two sub-ABIs).
    public static let architectures: [String] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

    /// The RuntimeDefault profile for a container whose capability set (bounding, in either spelling) is
    /// `capabilities`: default action EPERM, an allow-list, argument filters for `clone`, `socket` and
    /// `personality`, and capability-gated groups (runtime.md §2.2). Compile it with
    /// `Seccomp.compile(_:ignoringUnknownSyscalls: true)`.
    public static func seccomp(capabilities: [String]) -> OCI.Seccomp {
        let caps = Set(capabilities.compactMap { CapabilityName(rawValue: $0) })
        func has(_ name: String) -> Bool { CapabilityName(rawValue: name).map { caps.contains($0) } ?? false }

        var rules: [OCI.Syscall] = [OCI.Syscall(names: allowed + x86Only, action: "SCMP_ACT_ALLOW")]

        // socket(2): every address family except AF_ALG (38) and AF_VSOCK (40).
        rules.append(OCI.Syscall(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [OCI.SeccompArg(index: 0, value: 38, op: "SCMP_CMP_LT")]))
        rules.append(OCI.Syscall(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [OCI.SeccompArg(index: 0, value: 39, op: "SCMP_CMP_EQ")]))
        rules.append(OCI.Syscall(names: ["socket"], action: "SCMP_ACT_ALLOW", args: [OCI.SeccompArg(index: 0, value: 40, op: "SCMP_CMP_GT")]))

        // personality(2): PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the 0xffffffff query.
        for persona: UInt64 in [0x0, 0x8, 0x20000, 0x20008, 0xFFFF_FFFF] {
            rules.append(OCI.Syscall(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [OCI.SeccompArg(index: 0, value: persona, op: "SCMP_CMP_EQ")]))
        }

        if has("CAP_SYS_ADMIN") {
            rules.append(OCI.Syscall(names: ["clone", "clone3"], action: "SCMP_ACT_ALLOW"))
        } else {
            // clone(2) without CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (x86: flags are arg 0).
            rules.append(
                OCI.Syscall(
                    names: ["clone"], action: "SCMP_ACT_ALLOW",
                    args: [OCI.SeccompArg(index: 0, value: cloneNamespaceFlags, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]))
            // clone3 passes flags in a struct the filter cannot inspect: ENOSYS makes libc fall back to clone.
            rules.append(OCI.Syscall(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38))
        }

        for group in capabilityGated where group.anyOf.contains(where: has) {
            rules.append(OCI.Syscall(names: group.names, action: "SCMP_ACT_ALLOW"))
        }

        return OCI.Seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: architectures, syscalls: rules)
    }

    /// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET.
    public static let cloneNamespaceFlags: UInt64 = 0x7E02_0000

    /// Syscalls granted when the container holds any of `anyOf`.
    public struct CapabilityGroup: Sendable {
        public var anyOf: [String]
        public var names: [String]
    }

    public static let capabilityGated: [CapabilityGroup] = [
        CapabilityGroup(
            anyOf: ["CAP_SYS_ADMIN"],
            names: [
                "bpf", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "listmount", "lookup_dcookie",
                "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount", "mount_setattr", "move_mount",
                "name_to_handle_at", "open_tree", "open_tree_attr", "perf_event_open", "quotactl", "quotactl_fd",
                "setdomainname", "sethostname", "setns", "statmount", "syslog", "umount", "umount2", "unshare",
            ]),
        CapabilityGroup(anyOf: ["CAP_SYS_BOOT"], names: ["reboot"]),
        CapabilityGroup(anyOf: ["CAP_SYS_MODULE"], names: ["delete_module", "finit_module", "init_module"]),
        CapabilityGroup(anyOf: ["CAP_SYS_PACCT"], names: ["acct"]),
        CapabilityGroup(anyOf: ["CAP_SYS_PTRACE"], names: ["kcmp", "pidfd_getfd", "process_madvise"]),
        CapabilityGroup(anyOf: ["CAP_SYS_RAWIO"], names: ["ioperm", "iopl"]),
        CapabilityGroup(anyOf: ["CAP_SYS_TIME"], names: ["clock_settime", "clock_settime64", "settimeofday", "stime"]),
        CapabilityGroup(anyOf: ["CAP_SYS_TTY_CONFIG"], names: ["vhangup"]),
        CapabilityGroup(anyOf: ["CAP_SYS_NICE"], names: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        CapabilityGroup(anyOf: ["CAP_SYSLOG"], names: ["syslog"]),
        CapabilityGroup(anyOf: ["CAP_BPF"], names: ["bpf"]),
        CapabilityGroup(anyOf: ["CAP_PERFMON"], names: ["perf_event_open"]),
        CapabilityGroup(anyOf: ["CAP_DAC_READ_SEARCH"], names: ["open_by_handle_at"]),
        CapabilityGroup(anyOf: ["CAP_SYS_CHROOT"], names: ["chroot"]),
    ]

    /// Never allowed, whatever the capabilities (absent from every list above; kept for tests and documentation).
    public static let neverAllowed: [String] = [
        "_sysctl", "add_key", "create_module", "get_kernel_syms", "io_uring_enter", "io_uring_register",
        "io_uring_setup", "kexec_file_load", "kexec_load", "keyctl", "migrate_pages", "move_pages", "nfsservctl",
        "pivot_root", "query_module", "request_key", "swapoff", "swapon", "sysfs", "uselib", "userfaultfd", "ustat",
        "vm86", "vm86old",
    ]

    /// x86 (32-bit and x32/x86_64) specific syscalls allowed unconditionally.
    static let x86Only: [String] = ["arch_prctl", "modify_ldt"]

    /// Allowed unconditionally: ordinary process, file, memory, signal, time, IPC and network syscalls, including the
    /// 32-bit (`*32`, `*64`, `*_time64`) variants of the i386 ABI. Sorted; one family per line where it helps.
    static let allowed: [String] = [
        "_llseek", "_newselect", "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat",
        "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
        "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64",
        "close", "close_range", "connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait",
        "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
        "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
        "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr",
        "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
        "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait",
        "futex_waitv", "futex_wake", "futimesat",
        "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
        "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
        "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresgid32",
        "getresuid", "getresuid32", "getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid",
        "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
        "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy",
        "io_getevents", "io_pgetevents", "io_pgetevents_time64", "io_setup", "io_submit", "ioctl", "ioprio_get",
        "ioprio_set", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
        "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "listxattrat", "llistxattr",
        "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
        "madvise", "map_shadow_stack", "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat", "mknod",
        "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify",
        "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink",
        "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
        "nanosleep", "newfstatat", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
        "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
        "preadv", "preadv2", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6",
        "pselect6_time64", "ptrace", "pwrite64", "pwritev", "pwritev2",
        "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
        "recvmsg", "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
        "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
        "sendto", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid",
        "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
        "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32",
        "setrlimit", "setsid", "setsockopt", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl",
        "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigpending", "sigprocmask",
        "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
        "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo",
        "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
        "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
        "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
        "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
        "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
    ]
}
