// The Security module: capabilities and seccomp, computed in the parent before the container fork
// (ARCHITECTURE.md rule 1; runtime.md §1.6, §2).
//
// Entry points
//   Seccomp.compile(_:ignoringUnknownSyscalls:)                 OCI linux.seccomp → SeccompProgram (raw cBPF + flags)
//   Seccomp.compile(_:cacheDirectory:ignoringUnknownSyscalls:)  the same with an on-disk cache (SeccompCache.swift)
//   CapabilitySets(_:field:)                                    process.capabilities → five kernel masks
//   Capabilities.mask(of:field:) / names(of:) / lastCap / supportedMask / resolveKubernetes(add:drop:defaults:)
//   DefaultProfiles.capabilities / seccomp(capabilities:)       the 14 default caps and the RuntimeDefault profile
//
// The child side (CShims, or csec_load_filter in CSeccomp's shim.h) only does
//   struct sock_fprog prog = { .len = instructionCount, .filter = filter };
//   seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog);
// before execve: with no_new_privs after the capability drop, without it before (it then needs CAP_SYS_ADMIN).
//
// Decisions
// - Unknown syscall names are errors with the field path, except real syscalls newer than the installed
//   libseccomp (Seccomp.recentKernelSyscalls), which are skipped like runc does; `ignoringUnknownSyscalls` skips all.
// - runc's "newer syscalls return ENOSYS" patch is implemented as a cBPF prologue (ENOSYSPatch.swift).
// - SCMP_ACT_NOTIFY (user notification, listenerPath) is not implemented: a clear "unsupported" error.
// - Capability names come from our own table of the kernel ABI (Capabilities.swift says why), libcap only
//   backs `lastCap` when /proc is unreadable.
// - The RuntimeDefault profile is Swift data (DefaultProfiles.swift says why), written for this project.
