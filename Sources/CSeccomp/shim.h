#ifndef MINIKUBELET_CSECCOMP_SHIM_H
#define MINIKUBELET_CSECCOMP_SHIM_H

#include <seccomp.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

// Small C helpers for the Security module. `seccomp`, `prctl` and `syscall` are variadic in glibc and
// therefore not callable from Swift; these wrappers are the only way to reach them from Swift code.

/// An anonymous in-memory file for `seccomp_export_bpf` (a pipe could block once the BPF exceeds 64 KiB).
static inline int csec_memfd(void) {
    return (int)syscall(SYS_memfd_create, "minirun-seccomp", 1U /* MFD_CLOEXEC */);
}

/// Installs a raw classic-BPF seccomp filter (`count` instructions of 8 bytes) on the calling thread.
/// Async-signal-safe: a direct system call, no allocation. Returns 0 or -errno.
static inline int csec_load_filter(const void *filter, unsigned short count, unsigned int flags) {
    struct sock_fprog prog;
    prog.len = count;
    prog.filter = (struct sock_filter *)filter;
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    return rc < 0 ? -errno : (int)rc;
}

/// Test/diagnostic helper: fork, set NO_NEW_PRIVS, load the filter, execve `path`. Everything after fork is
/// async-signal-safe C (the caller is a multi-threaded Swift process). Returns the child pid or -errno.
/// A NULL `filter` (or `count` 0) runs the program unfiltered (with NO_NEW_PRIVS), for control runs.
/// The child exits with 126 if the filter could not be installed and 127 if execve failed.
static inline pid_t csec_spawn_filtered(const char *path, char *const argv[], char *const envp[], const void *filter,
                                        unsigned short count, unsigned int flags) {
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        // The parent is a Swift process: its threads block signals (SIGCHLD among them) and ignore SIGPIPE, and it
        // has descriptors without CLOEXEC. Give the program a clean slate: empty mask, default dispositions, fds 0-2.
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) {
            (void)sigaction(sig, &dfl, NULL);  // fails harmlessly for SIGKILL, SIGSTOP and glibc-reserved signals
        }
        (void)syscall(SYS_close_range, 3U, ~0U, 0U);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            _exit(126);
        }
        if (filter != NULL && count > 0 && csec_load_filter(filter, count, flags) < 0) {
            _exit(126);
        }
        execve(path, argv, envp);
        _exit(127);
    }
    return pid;
}

#endif
