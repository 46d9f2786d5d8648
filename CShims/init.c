// The container init stage: everything between clone and execve.
//
// Runs in the child of a multi-threaded Swift process, so it only uses async-signal-safe calls and
// never allocates (ARCHITECTURE.md rule 1). The order follows runc/crun (reference/runtime.md §1):
// join the cgroup v1 hierarchies (itself; cgroup2 through clone3) -> wait for the parent (id maps
// written, rlimits set) -> setns joins -> cgroup ns -> mount
// propagation -> rootfs bind -> spec mounts -> /dev nodes -> pivot_root -> console -> read-only
// remounts -> hostname -> sysctls -> read-only and masked paths -> no_new_privs -> seccomp (without
// NNP: needs CAP_SYS_ADMIN) -> capabilities and ids -> READY -> exec fifo -> seccomp (with NNP) ->
// close fds -> execve.
#define _GNU_SOURCE
#include "cshims.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <grp.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define MK_PATH_MAX 4096

// ---------------------------------------------------------------------------------------------
// Small async-signal-safe string helpers (no libc allocation, no stdio).

static size_t mk_strlcpy(char *dst, const char *src, size_t cap) {
    size_t i = 0;
    if (cap == 0) return 0;
    for (; src && src[i] && i + 1 < cap; i++) dst[i] = src[i];
    dst[i] = 0;
    return i;
}

static size_t mk_strlcat(char *dst, const char *src, size_t cap) {
    size_t n = strlen(dst);
    if (n >= cap) return n;
    return n + mk_strlcpy(dst + n, src, cap - n);
}

static void mk_utoa(unsigned long v, char *out, size_t cap) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && n < sizeof(tmp));
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++) out[i] = tmp[n - 1 - i];
    out[i] = 0;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Reporting: a stage name (and optional path) plus errno, sent to the parent before READY; after
// READY the parent is gone, so the message goes to the container's stderr (as runc does).

static const struct mk_plan *g_plan;
static int g_ready_sent;

__attribute__((noreturn)) static void fail(const char *stage, const char *detail) {
    int err = errno;
    struct mk_sync_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.kind = MK_SYNC_ERROR;
    msg.err = err;
    mk_strlcpy(msg.stage, stage, sizeof(msg.stage));
    if (detail) {
        mk_strlcat(msg.stage, " ", sizeof(msg.stage));
        mk_strlcat(msg.stage, detail, sizeof(msg.stage));
    }
    if (!g_ready_sent && g_plan && g_plan->sync_fd >= 0) {
        (void)write_all(g_plan->sync_fd, &msg, sizeof(msg));
    } else {
        char line[400] = "minirun: ";
        char num[24];
        mk_strlcat(line, msg.stage, sizeof(line));
        if (err) {
            // strerror may allocate (translations): print the number only.
            mk_strlcat(line, " (errno ", sizeof(line));
            mk_utoa((unsigned long)err, num, sizeof(num));
            mk_strlcat(line, num, sizeof(line));
            mk_strlcat(line, ")", sizeof(line));
        }
        mk_strlcat(line, "\n", sizeof(line));
        (void)write_all(2, line, strlen(line));
    }
    _exit(127);
}

static void send_sync(int kind) {
    struct mk_sync_msg msg;
    memset(&msg, 0, sizeof(msg));
    msg.kind = kind;
    if (write_all(g_plan->sync_fd, &msg, sizeof(msg)) != 0) fail("sync write", NULL);
}

static void wait_sync(int kind) {
    struct mk_sync_msg msg;
    for (;;) {
        ssize_t n = read(g_plan->sync_fd, &msg, sizeof(msg));
        if (n < 0 && errno == EINTR) continue;
        if (n != (ssize_t)sizeof(msg) || msg.kind != kind) {
            // The parent died or aborted the create: nothing to report to.
            _exit(1);
        }
        return;
    }
}

// ---------------------------------------------------------------------------------------------
// Filesystem helpers.

/// mkdir -p, using a stack copy of the path.
static int mkdir_p(const char *path, mode_t mode) {
    // Most targets exist already (the rootfs has them): one call instead of one per component.
    if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
    char buf[MK_PATH_MAX];
    size_t n = mk_strlcpy(buf, path, sizeof(buf));
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char saved = buf[i];
            buf[i] = 0;
            if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
            buf[i] = saved;
        }
    }
    return 0;
}

/// Creates an empty file at `path` (and its parent directories) to bind a file over.
static int touch_file(const char *path) {
    char dir[MK_PATH_MAX];
    mk_strlcpy(dir, path, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir_p(dir, 0755) != 0) return -1;
    }
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
        // It may already exist as something we cannot open for writing (a device, a read-only file).
        struct stat st;
        return stat(path, &st) == 0 ? 0 : -1;
    }
    close(fd);
    return 0;
}

/// Flags that stay locked on a mount in a user namespace; a remount must keep them (runc retries
/// the same way with the statfs flags).
static unsigned long locked_flags(const char *path) {
    struct statvfs st;
    unsigned long out = 0;
    if (statvfs(path, &st) != 0) return 0;
    if (st.f_flag & ST_NOSUID) out |= MS_NOSUID;
    if (st.f_flag & ST_NODEV) out |= MS_NODEV;
    if (st.f_flag & ST_NOEXEC) out |= MS_NOEXEC;
    if (st.f_flag & ST_RDONLY) out |= MS_RDONLY;
    if (st.f_flag & ST_NOATIME) out |= MS_NOATIME;
    if (st.f_flag & ST_NODIRATIME) out |= MS_NODIRATIME;
    if (st.f_flag & ST_RELATIME) out |= MS_RELATIME;
    return out;
}

static int bind_remount(const char *path, unsigned long flags) {
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0) return 0;
    if (errno != EPERM) return -1;
    return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags | locked_flags(path), NULL);
}

static void do_mount(const struct mk_mount *m) {
    if (m->kind & MK_MOUNT_FILE) {
        if (touch_file(m->target) != 0) fail("create mount point", m->target);
    } else {
        if (mkdir_p(m->target, 0755) != 0) fail("create mount point", m->target);
    }
    if (m->kind & MK_MOUNT_DIR_ONLY) return;
    if (m->kind & MK_MOUNT_BIND) {
        if (mount(m->source, m->target, NULL, m->flags, NULL) != 0) fail("bind mount", m->target);
        if (m->remount_flags && bind_remount(m->target, m->remount_flags) != 0) fail("remount bind", m->target);
    } else if (mount(m->source, m->target, m->fstype, m->flags, m->data) != 0) {
        if (!(m->kind & MK_MOUNT_SYSFS) || (errno != EPERM && errno != EINVAL)) fail("mount", m->target);
        // sysfs needs a network namespace owned by our user namespace; bind the host's instead.
        if (mount("/sys", m->target, NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind /sys", m->target);
        if (bind_remount(m->target, m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) != 0)
            fail("remount /sys", m->target);
    }
    if (m->propagation && mount(NULL, m->target, NULL, m->propagation, NULL) != 0)
        fail("mount propagation", m->target);
}

static void create_devices(const struct mk_plan *p) {
    for (int i = 0; i < p->ndevices; i++) {
        const struct mk_device *d = &p->devices[i];
        if (p->bind_devices) {
            // mknod is not allowed in a user namespace: bind the host node (runc does the same).
            if (touch_file(d->target) != 0) fail("create device", d->target);
            if (mount(d->host_path, d->target, NULL, MS_BIND, NULL) != 0) fail("bind device", d->target);
            continue;
        }
        char dir[MK_PATH_MAX];
        mk_strlcpy(dir, d->target, sizeof(dir));
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (mkdir_p(dir, 0755) != 0) fail("create device dir", dir);
        }
        (void)unlink(d->target);
        if (mknod(d->target, d->mode, d->dev) != 0) fail("mknod", d->target);
        if (chown(d->target, d->uid, d->gid) != 0) fail("chown device", d->target);
        if (chmod(d->target, d->mode & 07777) != 0) fail("chmod device", d->target);
    }
}

/// The runtime-spec symlinks in /dev (runtime-linux.md) and /dev/ptmx -> pts/ptmx.
static void create_dev_symlinks(const char *rootfs) {
    static const char *const links[][2] = {
        {"/proc/self/fd", "/dev/fd"},     {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
        {"/proc/self/fd/2", "/dev/stderr"}, {"pts/ptmx", "/dev/ptmx"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        char path[MK_PATH_MAX];
        mk_strlcpy(path, rootfs, sizeof(path));
        mk_strlcat(path, links[i][1], sizeof(path));
        if (i == 4) (void)unlink(path);
        if (symlink(links[i][0], path) != 0 && errno != EEXIST) fail("symlink", path);
    }
}

/// pivot_root(".", ".") with the old root stacked below and detached (runc's pivotRoot).
static void pivot_into(const char *rootfs) {
    int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (oldroot < 0) fail("open /", NULL);
    int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (newroot < 0) fail("open rootfs", rootfs);
    if (fchdir(newroot) != 0) fail("fchdir rootfs", rootfs);
    if (syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root", rootfs);
    if (fchdir(oldroot) != 0) fail("fchdir old root", NULL);
    // Slave, so the detach below does not propagate to the host.
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) != 0) fail("make old root rslave", NULL);
    if (umount2(".", MNT_DETACH) != 0) fail("umount old root", NULL);
    if (chdir("/") != 0) fail("chdir /", NULL);
    close(oldroot);
    close(newroot);
}

/// --no-pivot: move the rootfs over "/" and chroot (rootfs on a ramdisk cannot be pivoted).
static void move_root(const char *rootfs) {
    if (chdir(rootfs) != 0) fail("chdir rootfs", rootfs);
    if (mount(rootfs, "/", NULL, MS_MOVE, NULL) != 0) fail("move rootfs", rootfs);
    if (chroot(".") != 0) fail("chroot", rootfs);
    if (chdir("/") != 0) fail("chdir /", NULL);
}

static void write_file(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
    if (fd < 0) fail("open", path);
    if (write_all(fd, value, strlen(value)) != 0) fail("write", path);
    close(fd);
}

static void readonly_path(const char *path) {
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) != 0) {
        if (errno == ENOENT) return;
        fail("bind readonly path", path);
    }
    // Read-only only (runc 1.1 keeps the other flags of the proc mount).
    if (bind_remount(path, MS_RDONLY) != 0) fail("remount readonly path", path);
}

static void mask_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return;
        fail("stat masked path", path);
    }
    if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) != 0) fail("mask dir", path);
    } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) != 0) {
        fail("mask file", path);
    }
}

// ---------------------------------------------------------------------------------------------
// Console: a pty created inside the container (after /dev/pts is mounted), master sent to the
// --console-socket, slave made the controlling terminal and stdio.

int mk_send_fd(int sock, int fd, const char *name) {
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) < 0 ? -1 : 0;
}

static void setup_console(const struct mk_plan *p) {
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) fail("open /dev/ptmx", NULL);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) != 0) fail("unlock pty", NULL);
    unsigned int n = 0;
    if (ioctl(master, TIOCGPTN, &n) != 0) fail("pty number", NULL);
    char slave_path[64] = "/dev/pts/";
    char num[24];
    mk_utoa(n, num, sizeof(num));
    mk_strlcat(slave_path, num, sizeof(slave_path));
    int slave = open(slave_path, O_RDWR | O_NOCTTY);
    if (slave < 0) fail("open pty slave", slave_path);
    if (p->setup_rootfs) {
        // /dev/console is the pty slave (runtime-spec "Default Devices").
        if (touch_file("/dev/console") == 0) (void)mount(slave_path, "/dev/console", NULL, MS_BIND, NULL);
    }
    if (mk_send_fd(p->console_fd, master, slave_path) != 0) fail("send pty to console socket", NULL);
    close(master);
    close(p->console_fd);
    if (ioctl(slave, TIOCSCTTY, 0) != 0) fail("set controlling terminal", NULL);
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0) fail("dup pty to stdio", NULL);
    if (slave > 2) close(slave);
}

// ---------------------------------------------------------------------------------------------
// Privileges.

static void load_seccomp(const struct mk_plan *p) {
    struct sock_fprog prog = {.len = (unsigned short)p->seccomp_len, .filter = (struct sock_filter *)p->seccomp_filter};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->seccomp_flags, &prog) != 0) fail("load seccomp filter", NULL);
}

static void apply_identity_and_caps(const struct mk_plan *p) {
    // PR_CAPBSET_DROP needs CAP_SETPCAP, so the bounding set goes first.
    for (int cap = 0; cap <= p->last_cap; cap++) {
        if (p->cap_bounding & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail("drop bounding capability", NULL);
    }
    // Keep the permitted set across setuid from 0 to non-0; capset below sets the final sets.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_KEEPCAPS)", NULL);
    // Raw syscalls like setresuid/setresgid: glibc's setgroups() broadcasts the change to every thread it
    // knows of (setxid signals, then a futex wait), and after a raw clone of a multi-threaded parent those
    // threads do not exist in the child, so the wrapper would wait forever.
    if (syscall(SYS_setgroups, (size_t)p->ngids, p->gids) != 0) fail("setgroups", NULL);
    if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) != 0) fail("setgid", NULL);
    if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) != 0) fail("setuid", NULL);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("prctl(PR_SET_KEEPCAPS)", NULL);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    data[0].effective = (uint32_t)p->cap_effective;
    data[1].effective = (uint32_t)(p->cap_effective >> 32);
    data[0].permitted = (uint32_t)p->cap_permitted;
    data[1].permitted = (uint32_t)(p->cap_permitted >> 32);
    data[0].inheritable = (uint32_t)p->cap_inheritable;
    data[1].inheritable = (uint32_t)(p->cap_inheritable >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) fail("capset", NULL);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        fail("clear ambient capabilities", NULL);
    for (int cap = 0; cap <= p->last_cap; cap++) {
        if (!(p->cap_ambient & (1ULL << cap))) continue;
        // Ambient needs the cap in permitted and inheritable; runc ignores a refusal, so do we.
        (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    }
}

/// execvp-like lookup of argv[0] in the container's PATH, done before READY so that a missing
/// binary is a create-time error (as in runc). The result is written into `out`.
static void find_executable(const struct mk_plan *p, char *out, size_t cap) {
    const char *name = p->argv[0];
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) != 0) fail("exec:", name);
        if (!S_ISREG(st.st_mode) || access(name, X_OK) != 0) {
            errno = EACCES;
            fail("exec:", name);
        }
        mk_strlcpy(out, name, cap);
        return;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char *const *e = p->envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    const char *seg = path;
    while (*seg || seg == path) {
        const char *end = strchr(seg, ':');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        char cand[MK_PATH_MAX];
        if (len == 0) {
            mk_strlcpy(cand, ".", sizeof(cand));
        } else {
            mk_strlcpy(cand, seg, len + 1 < sizeof(cand) ? len + 1 : sizeof(cand));
        }
        mk_strlcat(cand, "/", sizeof(cand));
        mk_strlcat(cand, name, sizeof(cand));
        struct stat st;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            mk_strlcpy(out, cand, cap);
            return;
        }
        if (!end) break;
        seg = end + 1;
    }
    char detail[300] = "\"";
    mk_strlcat(detail, name, sizeof(detail));
    mk_strlcat(detail, "\": executable file not found in $PATH", sizeof(detail));
    errno = ENOENT;
    fail("exec:", detail);
}

/// Blocks until `minirun start` opens exec.fifo for reading (runc: reopen the O_PATH fd for writing).
static void wait_for_start(const struct mk_plan *p) {
    char path[64] = "/proc/self/fd/";
    char num[24];
    mk_utoa((unsigned long)p->fifo_fd, num, sizeof(num));
    mk_strlcat(path, num, sizeof(path));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open exec fifo", NULL);
    if (write_all(fd, "0", 1) != 0) fail("write exec fifo", NULL);
    close(fd);
    close(p->fifo_fd);
}

// ---------------------------------------------------------------------------------------------
// Inherited fds. The child is a fork of the CLI, so until execve it holds every fd the CLI had
// (CLOEXEC only acts at exec): a caller's pipe or socket would stay open for as long as a created
// container waits for start. Close everything except stdio, the preserved fds and the plan's own.

static void close_inherited_fds(const struct mk_plan *p) {
    int keep[MK_MAX_JOINS + MK_MAX_CGROUP_TASK_FDS + 4];
    int n = 0;
    keep[n++] = p->sync_fd;
    keep[n++] = p->fifo_fd;
    keep[n++] = p->console_fd;
    for (int i = 0; i < p->njoins; i++) keep[n++] = p->joins[i].fd;
    for (int i = 0; i < p->ncgroup_task_fds; i++) keep[n++] = p->cgroup_task_fds[i];
    // Insertion sort: tiny array, no libc qsort (not async-signal-safe in principle).
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i - 1;
        for (; j >= 0 && keep[j] > v; j--) keep[j + 1] = keep[j];
        keep[j + 1] = v;
    }
    unsigned int next = 3 + (unsigned int)(p->preserve_fds > 0 ? p->preserve_fds : 0);
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned int)keep[i] < next) continue;
        if ((unsigned int)keep[i] > next) (void)syscall(SYS_close_range, next, (unsigned int)keep[i] - 1, 0);
        next = (unsigned int)keep[i] + 1;
    }
    (void)syscall(SYS_close_range, next, ~0U, 0);
}

// ---------------------------------------------------------------------------------------------
// The child.

__attribute__((noreturn)) static void child_main(const struct mk_plan *p) {
    g_plan = p;
    // Start clean: default signal handlers, nothing blocked (the Swift parent may have changed both).
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) (void)sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    close_inherited_fds(p);

    // Into the cgroup v1 hierarchies first, by the child itself (see mk_plan.cgroup_task_fds), so that
    // everything it does from here on is accounted to the container.
    if (p->ncgroup_task_fds > 0) {
        for (int i = 0; i < p->ncgroup_task_fds; i++) {
            if (write(p->cgroup_task_fds[i], "0", 1) != 1) fail("join cgroup", p->cgroup_task_paths[i]);
            close(p->cgroup_task_fds[i]);
        }
        send_sync(MK_SYNC_JOINED);
    }

    // The parent joins the cgroup (if the child did not), writes the id maps and applies rlimits, then says GO.
    wait_sync(MK_SYNC_GO);

    // setns in the order given by the parent (user first).
    for (int i = 0; i < p->njoins; i++) {
        if (setns(p->joins[i].fd, p->joins[i].nstype) != 0) fail("setns", NULL);
        close(p->joins[i].fd);
    }
    // Become root of the new user namespace now that the maps exist (uid only, as runc: the
    // namespaces unshared next are created with this uid and the original gid).
    if (p->new_userns && syscall(SYS_setresuid, 0, 0, 0) != 0) fail("setuid 0 in user namespace", NULL);
    // Created only now: the cgroup namespace so that its root is the container's cgroup; with a new
    // user namespace also mount/uts/ipc/net, so that they are owned by it (runc's order).
    if (p->unshare_flags && unshare(p->unshare_flags) != 0) fail("unshare namespaces", NULL);
    if (p->new_userns && syscall(SYS_setresgid, 0, 0, 0) != 0) fail("setgid 0 in user namespace", NULL);
    // A new session, so the pty (if any) can become the controlling terminal.
    (void)setsid();
    umask(0);

    int new_mount_ns = (p->clone_flags | p->unshare_flags) & CLONE_NEWNS;
    if (p->setup_rootfs) {
        if (new_mount_ns) {
            if (mount(NULL, "/", NULL, p->root_propagation, NULL) != 0) fail("set / propagation", NULL);
            // pivot_root needs new_root to be a mount point.
            if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) != 0) fail("bind rootfs", p->rootfs);
            if (mount(NULL, p->rootfs, NULL, MS_PRIVATE, NULL) != 0) fail("make rootfs private", p->rootfs);
        }
        for (int i = 0; i < p->nmounts; i++) do_mount(&p->mounts[i]);
        if (p->setup_dev) {
            create_devices(p);
            create_dev_symlinks(p->rootfs);
        }
        if (!new_mount_ns) {
            if (chroot(p->rootfs) != 0) fail("chroot", p->rootfs);
            if (chdir("/") != 0) fail("chdir /", NULL);
        } else if (p->no_pivot) {
            move_root(p->rootfs);
        } else {
            pivot_into(p->rootfs);
        }
        if (p->post_pivot_propagation && mount(NULL, "/", NULL, p->post_pivot_propagation, NULL) != 0)
            fail("set / propagation", NULL);
    }
    if (p->terminal) setup_console(p);
    if (p->setup_rootfs) {
        for (int i = 0; i < p->nmounts; i++) {
            const struct mk_mount *m = &p->mounts[i];
            if (!(m->kind & MK_MOUNT_LATE_RDONLY)) continue;
            // A bind remount: read-only per mount, the superblock stays rw (what runc shows).
            unsigned long keep = m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME);
            if (bind_remount(m->dest, MS_RDONLY | keep) != 0) fail("remount read-only", m->dest);
        }
        if (p->readonly_root && bind_remount("/", MS_RDONLY) != 0) fail("remount / read-only", NULL);
        if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) != 0) fail("sethostname", p->hostname);
        if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) != 0)
            fail("setdomainname", p->domainname);
        // sysctls before read-only paths: /proc/sys becomes read-only.
        for (int i = 0; i < p->nsysctl; i++) write_file(p->sysctl_paths[i], p->sysctl_values[i]);
        for (int i = 0; i < p->nreadonly; i++) readonly_path(p->readonly[i]);
        for (int i = 0; i < p->nmasked; i++) mask_path(p->masked[i]);
    }
    umask(p->umask >= 0 ? (mode_t)p->umask : 022);
    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)", NULL);
    // Without NNP, loading a filter needs CAP_SYS_ADMIN: do it while we still have it.
    if (p->seccomp_filter && !p->no_new_privs) load_seccomp(p);
    int cwd_done = chdir(p->cwd) == 0;
    apply_identity_and_caps(p);
    // A cwd only the container user can reach is retried after setuid (runc does the same).
    if (!cwd_done && chdir(p->cwd) != 0) fail("chdir", p->cwd);

    char exe[MK_PATH_MAX];
    find_executable(p, exe, sizeof(exe));

    send_sync(MK_SYNC_READY);
    g_ready_sent = 1;
    close(p->sync_fd);
    if (p->fifo_fd >= 0) wait_for_start(p);
    // With NNP, the filter goes as close to execve as possible (fewer syscalls need allowing).
    if (p->seccomp_filter && p->no_new_privs) load_seccomp(p);
    // Nothing but stdio and the preserved fds reaches the workload (CVE-2024-21626).
    if (syscall(SYS_close_range, 3 + p->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3 + p->preserve_fds; fd < 1024; fd++) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    execve(exe, p->argv, p->envp);
    fail("exec", exe);
}

// struct clone_args as of Linux 5.7 (the `cgroup` field), declared here because <linux/sched.h>
// redefines the CLONE_* macros <sched.h> already has.
struct mk_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define MK_CLONE_INTO_CGROUP 0x200000000ULL

pid_t mk_spawn(const struct mk_plan *plan, int pidns_fd, int *into_cgroup) {
    *into_cgroup = 0;
    int own_pidns = -1;
    if (pidns_fd >= 0) {
        own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pidns < 0) return -1;
        if (setns(pidns_fd, CLONE_NEWPID) != 0) {
            int err = errno;
            close(own_pidns);
            errno = err;
            return -1;
        }
    }
    // A raw clone without a new stack behaves like fork (the stack is copied; no CLONE_VM), but
    // creates the namespaces in the same call: no extra process hop (crun style).
    long pid = -1;
#ifdef SYS_clone3
    if (plan->cgroup_dir_fd >= 0) {
        struct mk_clone_args args;
        memset(&args, 0, sizeof(args));
        args.flags = (uint64_t)(unsigned int)plan->clone_flags | MK_CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)plan->cgroup_dir_fd;
        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid == 0) child_main(plan);
        if (pid > 0) *into_cgroup = 1;
        // Older kernels (ENOSYS, E2BIG) or a cgroup that refuses it: plain clone, the parent writes the pid.
    }
#endif
    if (pid < 0) pid = syscall(SYS_clone, (unsigned long)plan->clone_flags | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) child_main(plan);
    int err = errno;
    if (own_pidns >= 0) {
        (void)setns(own_pidns, CLONE_NEWPID);
        close(own_pidns);
    }
    errno = err;
    return (pid_t)pid;
}

int mk_open_path(const char *path) { return open(path, O_PATH | O_CLOEXEC); }

int mk_open(const char *path, int flags, mode_t mode) { return open(path, flags, mode); }

int mk_process_exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

int mk_wifexited(int status) { return WIFEXITED(status); }
int mk_wexitstatus(int status) { return WEXITSTATUS(status); }
int mk_wifsignaled(int status) { return WIFSIGNALED(status); }
int mk_wtermsig(int status) { return WTERMSIG(status); }

// ---------------------------------------------------------------------------------------------
// `minirun run` in the foreground forwards the usual terminal/termination signals to the container
// init (which runs in its own session, so it does not get them from the terminal itself).

static volatile pid_t g_forward_pid;

static void forward_signal(int sig) {
    if (g_forward_pid > 0) (void)kill(g_forward_pid, sig);
}

void mk_forward_signals(pid_t pid) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    g_forward_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) (void)sigaction(sigs[i], &sa, NULL);
}

// ---------------------------------------------------------------------------------------------
// Calls glibc hides behind _GNU_SOURCE or macros, with fixed signatures for Swift.

uint64_t mk_makedev(uint32_t major, uint32_t minor) { return (uint64_t)makedev(major, minor); }

int mk_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard) {
    struct rlimit limit = {.rlim_cur = soft, .rlim_max = hard};
    return prlimit(pid, resource, &limit, NULL);
}

int mk_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

// ---------------------------------------------------------------------------------------------
// Foreground `run` with `process.terminal` and no --console-socket: minirun is its own console
// socket (a socketpair), receives the pty master and copies between it and its own stdio.

int mk_recv_fd(int sock) {
    char data[256];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) {
        errno = EBADMSG;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof(int));
    return fd;
}

#include <poll.h>

void mk_pty_proxy(int master) {
    struct termios saved;
    int raw = isatty(0) && tcgetattr(0, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        (void)tcsetattr(0, TCSANOW, &t);
        struct winsize ws;
        if (ioctl(0, TIOCGWINSZ, &ws) == 0) (void)ioctl(master, TIOCSWINSZ, &ws);
    }
    struct pollfd fds[2] = {{.fd = 0, .events = POLLIN}, {.fd = master, .events = POLLIN}};
    char buf[4096];
    for (;;) {
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(master, buf, sizeof(buf));
            if (r <= 0) break; // EIO once the last slave fd closes: the container exited.
            if (write_all(1, buf, (size_t)r) != 0) break;
        }
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            ssize_t r = read(0, buf, sizeof(buf));
            if (r <= 0) {
                fds[0].fd = -1; // stdin closed: keep copying output.
            } else if (write_all(master, buf, (size_t)r) != 0) {
                break;
            }
        }
    }
    if (raw) (void)tcsetattr(0, TCSANOW, &saved);
}
