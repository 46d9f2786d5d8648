// minirun's C side: the container init stage that runs between clone and execve, and the few calls
// Swift cannot import (variadic prctl, raw syscalls, macros).
//
// ARCHITECTURE.md rule 1: the Swift process is multi-threaded, so after clone only async-signal-safe
// C runs, with no allocation. Swift resolves config.json into a flat `mk_plan` (every string, array
// and flag computed in advance) and `mk_spawn` clones the child, which only reads the plan.
#ifndef CSHIMS_H
#define CSHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Kinds of entries in `mk_plan.mounts` (bit flags).
enum {
    /// A bind mount: `flags` holds MS_BIND (| MS_REC); `remount_flags` is applied afterwards.
    MK_MOUNT_BIND = 1,
    /// The target is a file (bind of a file): create an empty file instead of a directory.
    MK_MOUNT_FILE = 2,
    /// Mount read-write first, remount read-only after the rootfs is complete (tmpfs like /dev).
    MK_MOUNT_LATE_RDONLY = 4,
    /// sysfs: if the kernel refuses (no owned network namespace), bind the host /sys instead, as runc does.
    MK_MOUNT_SYSFS = 8,
    /// Only create the target directory (no mount), e.g. cgroup controller dirs on a tmpfs.
    MK_MOUNT_DIR_ONLY = 16,
};

/// One mount, with every option already resolved into flags and a data string.
struct mk_mount {
    const char *source;
    /// Absolute path before pivot_root (rootfs + destination, symlinks resolved inside the rootfs).
    const char *target;
    /// The destination as seen inside the container (used after pivot_root).
    const char *dest;
    const char *fstype;
    const char *data;
    unsigned long flags;
    /// For binds: flags for the MS_BIND|MS_REMOUNT pass (ro, nosuid, ...); 0 = none.
    unsigned long remount_flags;
    /// MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE (| MS_REC); 0 = none.
    unsigned long propagation;
    int kind;
};

/// One device node to create under the new /dev.
struct mk_device {
    /// Absolute path before pivot_root.
    const char *target;
    /// The host node to bind when mknod is not allowed (user namespace).
    const char *host_path;
    mode_t mode;
    dev_t dev;
    uid_t uid;
    gid_t gid;
};

/// A namespace to join with setns (an fd opened by the parent).
struct mk_join {
    int fd;
    int nstype;
};

#define MK_MAX_JOINS 8
#define MK_MAX_CGROUP_TASK_FDS 16

/// Everything the child needs, resolved by Swift before clone.
struct mk_plan {
    /* process */
    char *const *argv;
    char *const *envp;
    const char *cwd;
    uid_t uid;
    gid_t gid;
    const gid_t *gids;
    int ngids;
    /// -1: leave the umask (0022 is set); else the value.
    int umask;
    int no_new_privs;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int last_cap;
    /// Raw `struct sock_filter` array; NULL = no seccomp.
    const void *seccomp_filter;
    unsigned int seccomp_len;
    unsigned int seccomp_flags;
    int terminal;
    /// Connected unix socket to send the pty master over (terminal only), else -1.
    int console_fd;
    int preserve_fds;

    /* namespaces */
    /// CLONE_NEW* flags passed to clone.
    int clone_flags;
    /// Unshared by the child after GO: CLONE_NEWCGROUP (after the cgroup join) and, with a new user
    /// namespace, the namespaces it must own.
    int unshare_flags;
    struct mk_join joins[MK_MAX_JOINS];
    int njoins;
    /// The child is in a new user namespace: switch to root in it once the parent wrote the maps.
    int new_userns;

    /* filesystem (setup_rootfs = 0 for exec) */
    int setup_rootfs;
    const char *rootfs;
    int readonly_root;
    int no_pivot;
    /// Propagation for "/" right after entering the mount namespace (MS_SLAVE|MS_REC by default).
    unsigned long root_propagation;
    /// Re-applied on the new "/" after pivot_root when rootfsPropagation is shared (0 = none).
    unsigned long post_pivot_propagation;
    const struct mk_mount *mounts;
    int nmounts;
    int setup_dev;
    const struct mk_device *devices;
    int ndevices;
    int bind_devices;
    const char *const *masked;
    int nmasked;
    const char *const *readonly;
    int nreadonly;
    const char *const *sysctl_paths;
    const char *const *sysctl_values;
    int nsysctl;
    const char *hostname;
    const char *domainname;

    /* cgroups */
    /// cgroup v1 `tasks` files (opened O_WRONLY by the parent, so the permission check is the parent's)
    /// that the child writes "0" to before anything else, then reports MK_SYNC_JOINED. A task that moves
    /// itself does not take the kernel's global cgroup_threadgroup_rwsem for writing, whose first writer
    /// after a quiet period waits for an RCU grace period (~7 ms here; runc pays it on every create).
    /// The child is single-threaded, so moving the thread moves the process.
    int cgroup_task_fds[MK_MAX_CGROUP_TASK_FDS];
    /// The same files' paths, for the error message.
    const char *const *cgroup_task_paths;
    int ncgroup_task_fds;
    /// cgroup2 directory for clone3(CLONE_INTO_CGROUP) (same reason, Linux >= 5.7), or -1.
    int cgroup_dir_fd;

    /* synchronisation */
    int sync_fd;
    /// O_PATH fd of exec.fifo (create), or -1 (exec: run immediately).
    int fifo_fd;
};

/// Messages on the sync socket (SOCK_SEQPACKET), parent <-> child.
enum {
    /// parent -> child: cgroup joined, maps written, rlimits applied: go on.
    MK_SYNC_GO = 1,
    /// child -> parent: the container is set up, waiting for start (or about to execve for exec).
    MK_SYNC_READY = 2,
    /// child -> parent: a stage failed; `err` is errno, `stage` names what failed.
    MK_SYNC_ERROR = 3,
    /// child -> parent: it moved itself into the cgroup v1 hierarchies (`cgroup_task_fds`).
    MK_SYNC_JOINED = 4,
};

struct mk_sync_msg {
    int32_t kind;
    int32_t err;
    char stage[248];
};

/// Clones the container process with `plan->clone_flags`. If `pidns_fd` >= 0 the child is created in
/// that PID namespace (setns on the calling thread before clone, restored after: no extra fork).
/// With `plan->cgroup_dir_fd` >= 0 the child is created in that cgroup2 directory (clone3 CLONE_INTO_CGROUP);
/// `*into_cgroup` says whether that worked (else plain clone: the caller joins the cgroup by writing its pid).
/// Returns the child's pid, or -1 with errno set. The child never returns.
pid_t mk_spawn(const struct mk_plan *plan, int pidns_fd, int *into_cgroup);

/// Sends the file descriptor `fd` with SCM_RIGHTS on the unix socket `sock`, with `name` as payload.
int mk_send_fd(int sock, int fd, const char *name);

/// Opens an O_PATH file descriptor (O_PATH is a macro Swift does not import on every libc).
int mk_open_path(const char *path);

/// pidfd-free liveness probe: kill(pid, 0) == 0 or EPERM.
int mk_process_exists(pid_t pid);

/// Exit status helpers (the W* macros are not importable).
int mk_wifexited(int status);
int mk_wexitstatus(int status);
int mk_wifsignaled(int status);
int mk_wtermsig(int status);

/// open(path, flags, mode) without the variadic signature.
int mk_open(const char *path, int flags, mode_t mode);

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 and SIGWINCH to `pid` (foreground `run`).
void mk_forward_signals(pid_t pid);

/// makedev(3) (a macro).
uint64_t mk_makedev(uint32_t major, uint32_t minor);

/// prlimit(2) setting both limits of `resource` on `pid` (hidden behind _GNU_SOURCE).
int mk_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard);

/// pipe2(fds, O_CLOEXEC).
int mk_pipe_cloexec(int fds[2]);

/// Receives one fd sent with SCM_RIGHTS (the pty master, when minirun is its own console socket).
int mk_recv_fd(int sock);

/// Copies stdin -> pty master and master -> stdout (stdin in raw mode if a tty) until the container exits.
void mk_pty_proxy(int master);

/// Loads `insn_count` eBPF instructions (`struct bpf_insn`, 8 bytes each) as a BPF_PROG_TYPE_CGROUP_DEVICE
/// program: bpf(BPF_PROG_LOAD). If `log` is non-NULL the verifier log is written there (`log_size` bytes,
/// NUL-terminated). Returns the program fd (close-on-exec), or -1 with errno set.
int mk_bpf_load_device_program(const void *insns, uint32_t insn_count, const char *license, char *log, uint32_t log_size);

/// Attaches `prog_fd` to the cgroup directory `cgroup_fd` as a BPF_CGROUP_DEVICE program with
/// BPF_F_ALLOW_MULTI: bpf(BPF_PROG_ATTACH). Returns 0, or -1 with errno set.
int mk_bpf_attach_device_program(int prog_fd, int cgroup_fd);

/// The ids of the BPF_CGROUP_DEVICE programs attached to the cgroup `cgroup_fd` itself (not inherited ones):
/// bpf(BPF_PROG_QUERY). Stores up to `max` ids in `ids` and the number attached in `*count` (which can exceed
/// `max`: then call again with more room). Returns 0, or -1 with errno set.
int mk_bpf_device_program_ids(int cgroup_fd, uint32_t *ids, uint32_t max, uint32_t *count);

/// Detaches the BPF_CGROUP_DEVICE program with id `prog_id` from `cgroup_fd`: bpf(BPF_PROG_GET_FD_BY_ID) then
/// bpf(BPF_PROG_DETACH). Returns 0, or -1 with errno set.
int mk_bpf_detach_device_program(int cgroup_fd, uint32_t prog_id);

#endif
