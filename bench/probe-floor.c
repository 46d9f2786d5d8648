// The floor for bench/probes.sh: the least a prober can spend on the same probes. One thread, one epoll, no
// runtime: each target is probed once per period from a random phase, as kubelet's workers are.
//   http IP PORT PATH   non-blocking connect, one send of kubelet's request, read to the end, status 200-399
//   tcp IP PORT         non-blocking connect, close once it opened
//   exec ARGV...        posix_spawn with stdout and stderr pipes, a pidfd for the exit, waitpid
// Targets come on stdin, one per line. Runs for WINDOW seconds, then prints its own CPU (utime + stime, the
// figure bench/probes.sh reports for the agent) and the probe counts.
// Usage: probe-floor PERIOD_MS WINDOW_S < targets
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum kind { HTTP, TCP, EXEC };
enum { MAX_TARGETS = 4096, MAX_ARGS = 16 };

struct target {
    enum kind kind;
    struct sockaddr_in addr;
    char request[256];
    size_t request_len;
    char *argv[MAX_ARGS + 1];
    long long due_ns;
    // In flight: the socket, or the exec's pipes and pidfd (-1 when none).
    int fd, out, err, pidfd;
    pid_t pid;
    char response[16];
    size_t response_len;
};

static struct target targets[MAX_TARGETS];
static int ntargets, epfd;
static long ok[3], failed[3];

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// epoll data: target index << 2 | which descriptor (0 socket, 1 stdout, 2 stderr, 3 pidfd).
static void watch(int fd, int index, int which, unsigned events) {
    struct epoll_event ev = {.events = events, .data.u64 = (unsigned long long)index << 2 | which};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

// Removed from the epoll set before the close: a vfork child of a concurrent posix_spawn may still hold the
// description (it closes its close-on-exec copies after the parent resumed), keeping a closed pidfd registered.
static void unwatch_close(int *fd) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

static void finish_socket(struct target *t, int success) {
    unwatch_close(&t->fd);
    if (success) ok[t->kind]++;
    else failed[t->kind]++;
}

static void start(struct target *t, int index) {
    if (t->kind == EXEC) {
        int out[2], err[2];
        if (pipe2(out, O_CLOEXEC | O_NONBLOCK) || pipe2(err, O_CLOEXEC | O_NONBLOCK)) { failed[EXEC]++; return; }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, err[1], 2);
        int rc = posix_spawn(&t->pid, t->argv[0], &actions, NULL, t->argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        close(out[1]);
        close(err[1]);
        if (rc != 0) { close(out[0]); close(err[0]); failed[EXEC]++; return; }
        t->out = out[0];
        t->err = err[0];
        t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
        watch(t->out, index, 1, EPOLLIN);
        watch(t->err, index, 2, EPOLLIN);
        watch(t->pidfd, index, 3, EPOLLIN);
        return;
    }
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    t->response_len = 0;
    if (connect(t->fd, (struct sockaddr *)&t->addr, sizeof t->addr) != 0 && errno != EINPROGRESS) {
        finish_socket(t, 0);
        return;
    }
    watch(t->fd, index, 0, EPOLLOUT);
}

static void drain(int *fd) {
    char buf[4096];
    ssize_t n;
    while ((n = read(*fd, buf, sizeof buf)) > 0) {}
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) unwatch_close(fd);
}

static void event(int index, int which) {
    struct target *t = &targets[index];
    if (t->kind == EXEC) {
        if (which == 1) drain(&t->out);
        else if (which == 2) drain(&t->err);
        else {
            int status = 0;
            waitpid(t->pid, &status, WNOHANG);
            unwatch_close(&t->pidfd);
            t->pid = 0;
            // The agent removes its probe's pid file after each run; so does the floor.
            for (int i = 0; t->argv[i] && t->argv[i + 1]; i++)
                if (strcmp(t->argv[i], "--pid-file") == 0) unlink(t->argv[i + 1]);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok[EXEC]++;
            else failed[EXEC]++;
        }
        return;
    }
    if (t->fd < 0) return;
    int error = 0;
    socklen_t len = sizeof error;
    if (t->response_len == 0 && !(t->request_len == 0)) {
        // Connecting (HTTP): once open, send the request and wait for the answer.
        getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error) { finish_socket(t, 0); return; }
        if (send(t->fd, t->request, t->request_len, MSG_NOSIGNAL) != (ssize_t)t->request_len) { finish_socket(t, 0); return; }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned long long)index << 2};
        epoll_ctl(epfd, EPOLL_CTL_MOD, t->fd, &ev);
        t->response_len = 1;  // marks "request sent"; the status line goes to response[1..]
        return;
    }
    if (t->kind == TCP) {
        getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &error, &len);
        finish_socket(t, error == 0);
        return;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(t->fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && t->response_len < sizeof t->response - 1; i++) t->response[t->response_len++] = buf[i];
    }
    if (n < 0 && errno == EAGAIN) return;
    t->response[t->response_len] = 0;
    // "?HTTP/1.x NNN": the status code at offset 10.
    int code = t->response_len >= 13 ? atoi(t->response + 10) : 0;
    finish_socket(t, code >= 200 && code < 400);
}

// utime + stime from /proc/self/stat, in clock ticks: the same figure bench/probes.sh reads for the agent.
static long long ticks(void) {
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');  // the command name may hold spaces; fields 3.. follow its ')'
    long long utime = 0, stime = 0;
    if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &utime, &stime);
    return utime + stime;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: probe-floor PERIOD_MS WINDOW_S < targets\n"); return 2; }
    long long period = atoll(argv[1]) * 1000000LL, end = now_ns() + atoll(argv[2]) * 1000000000LL;
    char line[1024];
    srand((unsigned)getpid());
    while (ntargets < MAX_TARGETS && fgets(line, sizeof line, stdin)) {
        struct target *t = &targets[ntargets];
        char *words[MAX_ARGS + 2];
        int n = 0;
        for (char *w = strtok(line, " \t\n"); w && n < MAX_ARGS + 1; w = strtok(NULL, " \t\n")) words[n++] = strdup(w);
        if (n < 2) continue;
        t->fd = t->out = t->err = t->pidfd = -1;
        t->due_ns = now_ns() + (long long)((double)rand() / RAND_MAX * (double)period);
        if (strcmp(words[0], "exec") == 0) {
            t->kind = EXEC;
            for (int i = 1; i < n; i++) t->argv[i - 1] = words[i];
            t->argv[n - 1] = NULL;
        } else if (n >= 3) {
            t->kind = strcmp(words[0], "http") == 0 ? HTTP : TCP;
            t->addr.sin_family = AF_INET;
            t->addr.sin_port = htons((unsigned short)atoi(words[2]));
            inet_pton(AF_INET, words[1], &t->addr.sin_addr);
            if (t->kind == HTTP) {
                t->request_len = (size_t)snprintf(t->request, sizeof t->request,
                    "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                    n > 3 ? words[3] : "/", words[1], words[2]);
            }
        } else continue;
        ntargets++;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    long long ticks0 = ticks();
    struct epoll_event events[64];
    for (long long now = now_ns(); now < end; now = now_ns()) {
        long long next = end;
        for (int i = 0; i < ntargets; i++) {
            struct target *t = &targets[i];
            int busy = t->fd >= 0 || t->out >= 0 || t->err >= 0 || t->pidfd >= 0;
            if (t->due_ns <= now) {
                // A probe still running at its next period is skipped, as a kubelet worker waits for its probe.
                if (!busy) start(t, i);
                t->due_ns += period;
            }
            if (t->due_ns < next) next = t->due_ns;
        }
        int timeout = (int)((next - now) / 1000000) + 1;
        int count = epoll_wait(epfd, events, 64, timeout);
        for (int i = 0; i < count; i++) event((int)(events[i].data.u64 >> 2), (int)(events[i].data.u64 & 3));
    }
    double cpu = (double)(ticks() - ticks0) / (double)sysconf(_SC_CLK_TCK);
    printf("floor prober: CPU %.2f s over %s s; http %ld ok %ld failed, tcp %ld ok %ld failed, exec %ld ok %ld failed\n", cpu,
        argv[2], ok[HTTP], failed[HTTP], ok[TCP], failed[TCP], ok[EXEC], failed[EXEC]);
    return 0;
}
