/*
 * minirun-shim: the per-container supervisor (the conmon / containerd-shim role).
 *
 * Usage:
 *   minirun-shim --runtime PATH [--runtime-root DIR] --bundle DIR --id ID
 *                --log-path FILE --exit-file FILE [--pid-file FILE]
 *                [--log-max-size BYTES] [--log-max-files N]
 *
 *   --runtime PATH       OCI runtime with the runc command line (minirun, runc); a bare name is
 *                        looked up in PATH.
 *   --runtime-root DIR   passed to the runtime as `--root DIR` (its state directory).
 *   --bundle DIR         OCI bundle (config.json + rootfs). process.terminal must be false.
 *   --id ID              container id.
 *   --log-path FILE      container log in the CRI format (appended to, created 0640).
 *   --exit-file FILE     written (atomically: FILE.tmp + rename) when the container's init exits:
 *                        {"pid":N,"exitCode":C,"signal":S,"finishedAt":"RFC3339Nano","oomKilled":B}
 *                        exitCode is 128+S when the init was killed by signal S (as Kubernetes
 *                        shows it), S is 0 for a normal exit; oomKilled is true when the
 *                        container's memory cgroup counted an OOM kill while it ran.
 *   --pid-file FILE      where the runtime writes the container's pid (default: a temporary
 *                        FILE.pid next to the exit file, removed once read).
 *   --log-max-size B     rotate the log when a record would take it past B bytes (default 10 MiB,
 *                        kubelet's containerLogMaxSize); 0 or negative disables rotation.
 *   --log-max-files N    keep at most N files: FILE, FILE.1 ... FILE.(N-1), newest first
 *                        (default 5, kubelet's containerLogMaxFiles); N=1 truncates in place.
 *
 * Result: the invoking process (the "launcher") prints the container's pid on stdout and exits
 * 0 once `RUNTIME create` and `RUNTIME start` have succeeded, or prints
 * "minirun-shim: <reason>" on stderr and exits 1 (the runtime's own error text is included;
 * exit 2 for a usage error). After a failed start the shim runs `RUNTIME delete --force ID`.
 * No exit file is written on failure. The shim itself lives on, detached (own session, stdio
 * on /dev/null, cwd /, a child of whoever adopts orphans), until the container's init exits,
 * then drains the pipes (at most DRAIN_MS), writes the exit file and exits 0. A caller can
 * therefore run this synchronously and the container outlives the caller, even a SIGKILLed one.
 * The launcher waits as long as the runtime takes; a caller wanting a bound applies its own.
 *
 * Runtime contract (runc's, and minirun's): with process.terminal false the container's
 * stdio is the runtime's stdio, passed through untouched; `create` exits leaving the init
 * orphaned, so it is reparented to the shim (PR_SET_CHILD_SUBREAPER) and only the shim can
 * wait() for it. Anything on the pipes before `create` exits is the runtime's own output.
 *
 * Signals to the shim: SIGTERM, SIGINT, SIGQUIT are ignored: the shim does not own the
 * container's lifetime (stop it with `RUNTIME kill`), and it must keep reading the container's
 * output and reap it. SIGHUP reopens the log path (for an external rotator, like CRI's
 * ReopenContainerLog). SIGKILL of the shim leaves the container without a log reader.
 *
 * Log records: `<UTC timestamp, 9 fractional digits>Z <stdout|stderr> <F|P> <content>\n`
 * (runtime.md 4.4). A line longer than LINE_MAX_BYTES is split into P records ending with an F
 * record; an unterminated chunk is written as P when the stream ends or when it has waited
 * IDLE_FLUSH_MS without more data (so prompts and progress output appear in the log).
 * Content is copied verbatim apart from the line's '\n' (a '\r' before it is kept).
 * Rotation happens between records, so a file exceeds B only by a single oversized record.
 *
 * Why C: the shim lives as long as its container, one per container, so its footprint is the
 * product requirement (< 2 MiB RSS). It uses only libc, static buffers and a single poll loop.
 * Link it as a static executable (Package.swift linkerSettings `-static-executable
 * -nostartfiles`): by default swiftc links even a C target against libswiftCore and libstdc++,
 * whose loading alone takes the idle RSS from ~0.7 MiB to ~2.1 MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* containerd's default max_container_log_line_size: longer lines become P records. */
#define LINE_MAX_BYTES 16384
/* How long an unterminated chunk may wait for the rest of its line before it is logged as P. */
#define IDLE_FLUSH_MS 1000
/* After the init exits, how long to wait for EOF on the pipes (other holders of the write
 * ends, e.g. orphans of a container sharing the host pid namespace, must not keep us alive). */
#define DRAIN_MS 2000
/* Room for a path plus a suffix such as ".tmp" or ".12". */
#define PATH_BUF (PATH_MAX + 32)

static struct {
    const char *runtime, *runtime_root, *bundle, *id, *log_path, *exit_file, *pid_file;
    long long log_max_size;
    int log_max_files;
    bool pid_file_is_ours; /* we chose the pid file path, so we remove it */
} opt = {.log_max_size = 10LL * 1024 * 1024, .log_max_files = 5};

/* Paths made absolute before the shim changes its directory to "/". */
static char abs_runtime[PATH_BUF], abs_root[PATH_BUF], abs_bundle[PATH_BUF], abs_log[PATH_BUF],
    abs_exit[PATH_BUF], abs_pid[PATH_BUF];

static sigset_t orig_mask; /* restored in children: a blocked mask survives execve */
static int report_fd = -1; /* write end of the pipe to the launcher, until we reported */
static int log_fd = -1;
static long long log_size;

struct stream {
    const char *name;
    int fd;            /* read end of the container's pipe, -1 after EOF */
    size_t len;        /* bytes of an unterminated line in buf */
    long long last_ms; /* monotonic time of the last read, for the idle flush */
    char buf[LINE_MAX_BYTES];
};
static struct stream streams[2] = {{.name = "stdout", .fd = -1}, {.name = "stderr", .fd = -1}};

/* ---------- small helpers ---------- */

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t read_retry(int fd, void *p, size_t n) {
    ssize_t r;
    do r = read(fd, p, n);
    while (r < 0 && errno == EINTR);
    return r;
}

static pid_t waitpid_retry(pid_t pid, int *status, int flags) {
    pid_t r;
    do r = waitpid(pid, status, flags);
    while (r < 0 && errno == EINTR);
    return r;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 in UTC with a fixed 9-digit fraction: accepted by every CRI log reader (4.4). */
static void rfc3339_now(char out[40]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

/* The shim is detached from the caller: paths relative to the caller's cwd are resolved now. */
static const char *absolute(const char *path, char *buf) {
    if (path == NULL || path[0] == '/') return path;
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL || snprintf(buf, PATH_BUF, "%s/%s", cwd, path) >= PATH_BUF) {
        fprintf(stderr, "minirun-shim: cannot make %s absolute\n", path);
        exit(2);
    }
    return buf;
}

/* Close every descriptor from 3 up except `keep` (-1 for none): nothing of the caller's leaks
 * into the long-lived shim or the container. */
static void close_fds_except(int keep) {
    if (keep < 0) {
        close_range(3, ~0U, 0);
    } else {
        if (keep > 3) close_range(3, (unsigned)keep - 1, 0);
        close_range((unsigned)keep + 1, ~0U, 0);
    }
}

/* Report the outcome to the launcher once; later failures have no reader (stdio is /dev/null),
 * so they are visible only through the exit file or its absence. */
static void report(const char *fmt, ...) {
    if (report_fd < 0) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    (void)write_all(report_fd, msg, (size_t)n); /* EPIPE if the launcher is gone: nothing to do */
    close(report_fd);
    report_fd = -1;
}

/* ---------- running the runtime ---------- */

/* fork+exec argv with the given stdio. The child gets the original signal mask back (the
 * shim blocks signals for its signalfd and a blocked mask is inherited across execve). */
static pid_t spawn(char *const argv[], int in, int out, int err) {
    pid_t pid = fork();
    if (pid != 0) return pid;
    sigprocmask(SIG_SETMASK, &orig_mask, NULL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    close_fds_except(-1);
    execvp(argv[0], argv);
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Builds `RUNTIME [--root DIR] <args...>` into argv (at most 12 entries). */
static void runtime_argv(char *argv[12], char *const args[]) {
    int i = 0;
    argv[i++] = (char *)opt.runtime;
    if (opt.runtime_root) {
        argv[i++] = "--root";
        argv[i++] = (char *)opt.runtime_root;
    }
    while (*args && i < 11) argv[i++] = *args++;
    argv[i] = NULL;
}

/* Runs the runtime to completion; returns its wait status, or -1 if it could not be forked. */
static int run_runtime(char *const args[], int in, int out, int err) {
    char *argv[12];
    runtime_argv(argv, args);
    pid_t pid = spawn(argv, in, out, err);
    if (pid < 0) return -1;
    int status;
    if (waitpid_retry(pid, &status, 0) < 0) return -1;
    return status;
}

/* Whatever the runtime said on a pipe, as one line for an error message. */
static void slurp_message(int fd, char *msg, size_t size) {
    size_t n = 0;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (n + 1 < size) {
        ssize_t r = read_retry(fd, msg + n, size - 1 - n);
        if (r <= 0) break;
        n += (size_t)r;
    }
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    msg[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (msg[i] == '\n') msg[i] = ' ';
}

static void describe_status(int status, char *buf, size_t size) {
    if (status == -1)
        snprintf(buf, size, "could not run: %s", strerror(errno));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "wait status %d", status);
}

/* ---------- OOM accounting ---------- */

static char memcg_file[PATH_BUF]; /* memory.oom_control (v1) or memory.events (v2), or "" */

/* Finds the cgroup file that counts OOM kills for pid's memory cgroup: the v1 `memory`
 * hierarchy if the memory controller is on v1 (legacy or hybrid), else the v2 tree. Leaves
 * memcg_file empty when it cannot be found: OOM is then reported as false. */
static void find_memcg(pid_t pid) {
    char path[PATH_BUF], line[4096], v1[PATH_MAX] = "", v2[PATH_MAX] = "";
    snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
    FILE *f = fopen(path, "re");
    if (!f) return;
    /* Lines are "hierarchy-id:controller,list:/path"; v2 is "0::/path". */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':');
        if (!c1) continue;
        *c1 = 0;
        char *ctrls = c1 + 1, *c2 = strchr(ctrls, ':'), *save = NULL;
        if (!c2) continue;
        *c2 = 0;
        const char *cgpath = c2 + 1;
        if (strcmp(line, "0") == 0 && *ctrls == 0) {
            snprintf(v2, sizeof v2, "%s", cgpath);
            continue;
        }
        for (char *t = strtok_r(ctrls, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (strcmp(t, "memory") == 0) snprintf(v1, sizeof v1, "%s", cgpath);
    }
    fclose(f);
    bool use_v1 = v1[0] != 0;
    if (!use_v1 && !v2[0]) return;

    /* mountinfo: "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
    f = fopen("/proc/self/mountinfo", "re");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) { /* overlong line (long overlay options): skip the rest */
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
        }
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        *sep = 0;
        char root[PATH_MAX], mnt[PATH_MAX], fstype[64], source[256], super[1024] = "";
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2) continue;
        if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, super) < 2) continue;
        const char *cgpath;
        if (use_v1) {
            if (strcmp(fstype, "cgroup") != 0) continue;
            bool has_memory = false;
            char *save = NULL;
            for (char *t = strtok_r(super, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (strcmp(t, "memory") == 0) has_memory = true;
            if (!has_memory) continue;
            cgpath = v1;
        } else {
            if (strcmp(fstype, "cgroup2") != 0) continue;
            cgpath = v2;
        }
        /* The mount may expose a subtree (root != "/"): strip it from the process's path. */
        size_t rl = strlen(root);
        if (strcmp(root, "/") != 0) {
            if (strncmp(cgpath, root, rl) != 0 || (cgpath[rl] != '/' && cgpath[rl] != 0)) continue;
            cgpath += rl;
        }
        int n = snprintf(memcg_file, sizeof memcg_file, "%s%s/%s", mnt, cgpath,
                         use_v1 ? "memory.oom_control" : "memory.events");
        if (n < 0 || (size_t)n >= sizeof memcg_file) memcg_file[0] = 0; /* too long: no OOM info */
        break;
    }
    fclose(f);
}

/* The "oom_kill N" counter from memcg_file, or -1 if unavailable (old kernel, cgroup gone). */
static long long read_oom_kills(void) {
    if (!memcg_file[0]) return -1;
    FILE *f = fopen(memcg_file, "re");
    if (!f) return -1;
    char line[256];
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "oom_kill %lld", &v) == 1) break;
    fclose(f);
    return v;
}

/* ---------- the log ---------- */

static void open_log(bool truncate) {
    if (log_fd >= 0) close(log_fd);
    log_fd = open(opt.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | (truncate ? O_TRUNC : 0), 0640);
    struct stat st;
    log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

/* kubelet-style: FILE.(N-2) -> FILE.(N-1), ..., FILE -> FILE.1, then a fresh FILE. */
static void rotate_log(void) {
    char from[PATH_BUF], to[PATH_BUF];
    for (int i = opt.log_max_files - 1; i >= 1; i--) {
        if (i == 1)
            snprintf(from, sizeof from, "%s", opt.log_path);
        else
            snprintf(from, sizeof from, "%s.%d", opt.log_path, i - 1);
        snprintf(to, sizeof to, "%s.%d", opt.log_path, i);
        (void)rename(from, to); /* ENOENT: that generation does not exist yet */
    }
    open_log(true);
}

/* Records are batched: the lines one read delivered go out in one write(2), not one each. */
static char out_buf[32 * 1024];
static size_t out_len;

/* Write errors (disk full, log removed) drop the batch rather than stall the container: a
 * shim that stops reading freezes the container's writes. */
static void flush_log(void) {
    size_t off = 0;
    while (off < out_len && log_fd >= 0) {
        ssize_t w = write(log_fd, out_buf + off, out_len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        off += (size_t)w;
    }
    out_len = 0;
}

/* Appends one CRI record; `ts` is the time its data was read. log_size counts buffered bytes
 * too, so rotation happens at the same record boundary as if each were written at once. */
static void emit(const struct stream *s, const char *ts, char tag, const char *p, size_t n) {
    char head[64];
    int hl = snprintf(head, sizeof head, "%s %s %c ", ts, s->name, tag);
    size_t reclen = (size_t)hl + n + 1;
    if (opt.log_max_size > 0 && log_size > 0 && log_size + (long long)reclen > opt.log_max_size) {
        flush_log();
        rotate_log();
    }
    if (out_len + reclen > sizeof out_buf) flush_log(); /* a record (<= ~16.5 KiB) always fits */
    memcpy(out_buf + out_len, head, (size_t)hl);
    memcpy(out_buf + out_len + hl, p, n);
    out_buf[out_len + reclen - 1] = '\n';
    out_len += reclen;
    log_size += (long long)reclen;
}

static void flush_partial(struct stream *s) {
    char ts[40];
    rfc3339_now(ts);
    if (s->len > 0) emit(s, ts, 'P', s->buf, s->len);
    s->len = 0;
}

/* Reads what is available; logs each complete line as F, a full buffer as P. */
static void pump(struct stream *s) {
    ssize_t r = read_retry(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) { /* EOF (or a read error, treated alike): the last chunk has no newline */
        flush_partial(s);
        close(s->fd);
        s->fd = -1;
        return;
    }
    char ts[40];
    rfc3339_now(ts);
    s->last_ms = now_ms();
    s->len += (size_t)r;
    size_t start = 0;
    char *nl;
    while ((nl = memchr(s->buf + start, '\n', s->len - start)) != NULL) {
        size_t end = (size_t)(nl - s->buf);
        emit(s, ts, 'F', s->buf + start, end - start);
        start = end + 1;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    if (s->len == sizeof s->buf) flush_partial(s);
}

/* ---------- exit ---------- */

static void write_exit_file(pid_t pid, int status, const char *finished_at, bool oom) {
    int code = 0, sig = 0;
    if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        code = 128 + sig;
    }
    char json[256], tmp[PATH_BUF];
    int n = snprintf(json, sizeof json,
                     "{\"pid\":%d,\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%s\",\"oomKilled\":%s}\n", pid,
                     code, sig, finished_at, oom ? "true" : "false");
    snprintf(tmp, sizeof tmp, "%s.tmp", opt.exit_file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) return;
    /* fsync before rename: a reader never sees an empty or torn exit file, even after a crash. */
    bool ok = write_all(fd, json, (size_t)n) == 0 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, opt.exit_file) != 0) unlink(tmp);
}

/* ---------- the shim ---------- */

static int read_pid_file(void) {
    char buf[32];
    int fd = open(opt.pid_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read_retry(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    return (v > 0 && v <= INT_MAX && (*end == 0 || *end == '\n')) ? (int)v : -1;
}

static void delete_container(int devnull) {
    char *args[] = {"delete", "--force", (char *)opt.id, NULL};
    (void)run_runtime(args, devnull, devnull, devnull);
}

/* The detached shim: create, start, report, then supervise until the init exits. */
static int shim_main(void) {
    setsid(); /* no terminal, no process group shared with the caller: its kill(-pgid) misses us */
    /* Orphans of the container (the runtime's init once `create` exits) become our children,
     * so only we can wait() for the init's status. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        report("error PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        return 1;
    }
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) {
        report("error /dev/null: %s", strerror(errno));
        return 1;
    }
    if (null > 2) close(null);
    const int devnull = 0; /* stdin for the runtime's processes, and its output when unwanted */
    /* Don't pin the caller's directory (or its mount) for the container's life; "/" cannot fail. */
    if (chdir("/") != 0) return 1;

    /* Signals are read from a signalfd in the loop instead of handlers: no async-signal-safety
     * concerns, and SIG_IGN would be inherited by the container, which must get defaults. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGQUIT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGPIPE); /* a vanished launcher must give EPIPE, not kill us */
    sigprocmask(SIG_BLOCK, &mask, &orig_mask);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        report("error signalfd: %s", strerror(errno));
        return 1;
    }

    /* Fail now rather than lose the exit status when the container ends. */
    char probe[PATH_BUF];
    snprintf(probe, sizeof probe, "%s.tmp", opt.exit_file);
    int pfd = open(probe, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    if (pfd < 0) {
        report("error cannot write exit file %s: %s", probe, strerror(errno));
        return 1;
    }
    close(pfd);
    unlink(probe);

    open_log(false);
    if (log_fd < 0) {
        report("error cannot open log %s: %s", opt.log_path, strerror(errno));
        return 1;
    }

    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
        report("error pipe: %s", strerror(errno));
        return 1;
    }
    /* The runtime hands its stdio to the container's process (runc's pass-through mode). */
    char *create_args[] = {"create", "--bundle", (char *)opt.bundle, "--pid-file", (char *)opt.pid_file,
                           (char *)opt.id, NULL};
    unlink(opt.pid_file);
    int st = run_runtime(create_args, devnull, outp[1], errp[1]);
    close(outp[1]); /* from now on only the container holds the write ends: EOF means it is gone */
    close(errp[1]);
    char msg[2048], how[128];
    if (st != 0) {
        /* Before `start` nothing of the container's own has run, so what the pipes hold is the
         * runtime's (or its init stage's) error. */
        slurp_message(errp[0], msg, sizeof msg);
        if (!msg[0]) slurp_message(outp[0], msg, sizeof msg);
        describe_status(st, how, sizeof how);
        report("error %s create failed (%s): %s", opt.runtime, how, msg[0] ? msg : "no message");
        return 1;
    }
    pid_t ctr = read_pid_file();
    if (opt.pid_file_is_ours) unlink(opt.pid_file);
    if (ctr <= 0) {
        report("error %s create did not write a valid pid to %s", opt.runtime, opt.pid_file);
        delete_container(devnull);
        return 1;
    }
    find_memcg(ctr);
    long long oom_before = read_oom_kills();

    int msgp[2];
    if (pipe2(msgp, O_CLOEXEC) != 0) {
        report("error pipe: %s", strerror(errno));
        delete_container(devnull);
        return 1;
    }
    char *start_args[] = {"start", (char *)opt.id, NULL};
    st = run_runtime(start_args, devnull, msgp[1], msgp[1]);
    close(msgp[1]);
    if (st != 0) {
        slurp_message(msgp[0], msg, sizeof msg);
        describe_status(st, how, sizeof how);
        report("error %s start failed (%s): %s", opt.runtime, how, msg[0] ? msg : "no message");
        /* A created-but-never-started container would otherwise leak its state and cgroup. */
        delete_container(devnull);
        return 1;
    }
    close(msgp[0]);
    report("ok %d", ctr);

    streams[0].fd = outp[0];
    streams[1].fd = errp[0];
    for (int i = 0; i < 2; i++) fcntl(streams[i].fd, F_SETFL, O_NONBLOCK);

    bool exited = false;
    int ctr_status = 0;
    long long drain_deadline = 0;
    char finished_at[40] = "";
    for (;;) {
        /* Reap everything: the init, and orphans reparented to us (host-pid-namespace
         * containers). A SIGCHLD that arrived before the loop is still pending on the fd. */
        int s;
        pid_t p;
        while ((p = waitpid_retry(-1, &s, WNOHANG)) > 0)
            if (p == ctr && !exited) {
                exited = true;
                ctr_status = s;
                rfc3339_now(finished_at);
                drain_deadline = now_ms() + DRAIN_MS;
            }

        long long now = now_ms();
        if (exited && ((streams[0].fd < 0 && streams[1].fd < 0) || now >= drain_deadline)) break;
        int timeout = -1;
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd < 0 || streams[i].len == 0) continue;
            long long due = streams[i].last_ms + IDLE_FLUSH_MS - now;
            if (due <= 0) {
                flush_partial(&streams[i]);
                continue;
            }
            if (timeout < 0 || due < timeout) timeout = (int)due;
        }
        if (exited && (timeout < 0 || drain_deadline - now < timeout)) timeout = (int)(drain_deadline - now);

        flush_log(); /* everything logged so far is on disk before we may block */
        struct pollfd pfd[3] = {{sfd, POLLIN, 0}, {streams[0].fd, POLLIN, 0}, {streams[1].fd, POLLIN, 0}};
        int n = poll(pfd, 3, timeout); /* a negative fd (closed stream) is skipped by poll */
        if (n < 0) {
            if (errno == EINTR) continue;
            break; /* cannot happen with valid arguments; don't spin */
        }
        for (int i = 0; i < 2; i++)
            if (streams[i].fd >= 0 && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) pump(&streams[i]);
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read_retry(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo == SIGHUP) { /* external rotation: reopen the path */
                    flush_log();
                    open_log(false);
                }
            /* SIGCHLD: reaped at the top of the loop. SIGTERM/SIGINT/SIGQUIT/SIGPIPE: ignored. */
        }
    }
    if (!exited) return 1; /* poll failed: unreachable in practice, no status to record */
    for (int i = 0; i < 2; i++) {
        if (streams[i].fd >= 0) { /* drain deadline passed: keep what was said */
            flush_partial(&streams[i]);
            close(streams[i].fd);
        }
    }
    flush_log(); /* the log is complete before the exit file says the container is gone */
    long long oom_after = read_oom_kills();
    bool oom = oom_after > 0 && oom_after > (oom_before < 0 ? 0 : oom_before);
    write_exit_file(ctr, ctr_status, finished_at, oom);
    return 0;
}

static void usage(void) {
    fputs("usage: minirun-shim --runtime PATH [--runtime-root DIR] --bundle DIR --id ID --log-path FILE\n"
          "                    --exit-file FILE [--pid-file FILE] [--log-max-size BYTES] [--log-max-files N]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"runtime", required_argument, NULL, 'r'},   {"runtime-root", required_argument, NULL, 'R'},
        {"bundle", required_argument, NULL, 'b'},    {"id", required_argument, NULL, 'i'},
        {"log-path", required_argument, NULL, 'l'},  {"exit-file", required_argument, NULL, 'e'},
        {"pid-file", required_argument, NULL, 'p'},  {"log-max-size", required_argument, NULL, 's'},
        {"log-max-files", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': opt.runtime = optarg; break;
        case 'R': opt.runtime_root = optarg; break;
        case 'b': opt.bundle = optarg; break;
        case 'i': opt.id = optarg; break;
        case 'l': opt.log_path = optarg; break;
        case 'e': opt.exit_file = optarg; break;
        case 'p': opt.pid_file = optarg; break;
        case 's':
            opt.log_max_size = strtoll(optarg, &end, 10);
            if (*end || end == optarg) usage();
            break;
        case 'n':
            opt.log_max_files = (int)strtol(optarg, &end, 10);
            if (*end || end == optarg || opt.log_max_files < 1 || opt.log_max_files > 1000) usage();
            break;
        default: usage();
        }
    }
    if (optind != argc || !opt.runtime || !opt.bundle || !opt.id || !opt.log_path || !opt.exit_file ||
        !opt.id[0])
        usage();
    opt.runtime = strchr(opt.runtime, '/') ? absolute(opt.runtime, abs_runtime) : opt.runtime;
    opt.runtime_root = absolute(opt.runtime_root, abs_root);
    opt.bundle = absolute(opt.bundle, abs_bundle);
    opt.log_path = absolute(opt.log_path, abs_log);
    opt.exit_file = absolute(opt.exit_file, abs_exit);
    if (opt.pid_file) {
        opt.pid_file = absolute(opt.pid_file, abs_pid);
    } else {
        snprintf(abs_pid, sizeof abs_pid, "%s.pid", opt.exit_file);
        opt.pid_file = abs_pid;
        opt.pid_file_is_ours = true;
    }

    /* With a closed 0, 1 or 2 inherited, our pipes could land there and be clobbered when the
     * shim points its stdio at /dev/null. */
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2) {
    }
    if (fd > 2) close(fd);

    /* The launcher waits on this pipe for "ok PID" or "error MESSAGE", then exits. */
    int rp[2];
    if (pipe2(rp, O_CLOEXEC) != 0) {
        perror("minirun-shim: pipe");
        return 1;
    }
    fflush(NULL);
    pid_t shim = fork();
    if (shim < 0) {
        perror("minirun-shim: fork");
        return 1;
    }
    if (shim == 0) {
        close(rp[0]);
        report_fd = rp[1];
        close_fds_except(report_fd);
        _exit(shim_main());
    }

    close(rp[1]);
    char buf[4200];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof buf && (r = read_retry(rp[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    if (strncmp(buf, "ok ", 3) == 0) {
        printf("%s\n", buf + 3);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strncmp(buf, "error ", 6) == 0) {
        fprintf(stderr, "minirun-shim: %s\n", buf + 6);
    } else {
        int st;
        char how[128];
        describe_status(waitpid_retry(shim, &st, 0) == shim ? st : -1, how, sizeof how);
        fprintf(stderr, "minirun-shim: the shim exited without reporting (%s)\n", how);
    }
    return 1;
}
