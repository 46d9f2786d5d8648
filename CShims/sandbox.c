// Pod sandbox creation (see mk_sandbox.h). The agent is multi-threaded: the child made by clone runs only
// raw system calls (no allocation, no locks, no atfork handlers) and exits without returning.
#define _GNU_SOURCE
#include "mk_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { STAGE_OK = 0, STAGE_HOSTNAME = 1, STAGE_SOCKET = 2, STAGE_GET_FLAGS = 3, STAGE_SET_FLAGS = 4 };

/// Closes every descriptor but `a` and `b` (close_range(2), Linux 5.9; a bounded loop before that).
static void close_all_but(int a, int b) {
    int lo = a < b ? a : b, hi = a < b ? b : a;
    unsigned int ranges[3][2] = {{0, (unsigned int)lo - 1}, {(unsigned int)lo + 1, (unsigned int)hi - 1}, {(unsigned int)hi + 1, ~0U}};
    for (int i = 0; i < 3; i++) {
        if (ranges[i][0] > ranges[i][1] || (i == 0 && lo == 0)) continue;
        if (syscall(SYS_close_range, ranges[i][0], ranges[i][1], 0) == 0) continue;
        struct rlimit limit;
        unsigned int last = getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 65536 ? (unsigned int)limit.rlim_cur : 65536;
        for (unsigned int fd = ranges[i][0]; fd <= ranges[i][1] && fd < last; fd++) close((int)fd);
    }
}

/// In the new namespaces: hostname, loopback up; reports {stage, errno}, then waits for the parent to
/// close `release` (the namespaces must stay alive until they are bind-mounted).
static void sandbox_child(const char *hostname, int loopback, int report, int release) {
    // The clone copied every descriptor of the agent, close-on-exec or not (there is no exec here). Holding
    // another sandbox's `release` or `report` pipe would make two concurrent creations wait on each other forever.
    close_all_but(report, release);
    int result[2] = {STAGE_OK, 0};
    if (sethostname(hostname, strlen(hostname)) != 0) {
        result[0] = STAGE_HOSTNAME;
        result[1] = errno;
    } else if (loopback) {
        int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0) {
            result[0] = STAGE_SOCKET;
            result[1] = errno;
        } else {
            struct ifreq request;
            memset(&request, 0, sizeof request);
            memcpy(request.ifr_name, "lo", 3);
            if (ioctl(sock, SIOCGIFFLAGS, &request) != 0) {
                result[0] = STAGE_GET_FLAGS;
                result[1] = errno;
            } else {
                request.ifr_flags |= IFF_UP;
                if (ioctl(sock, SIOCSIFFLAGS, &request) != 0) {
                    result[0] = STAGE_SET_FLAGS;
                    result[1] = errno;
                }
            }
            close(sock);
        }
    }
    ssize_t written;
    do {
        written = write(report, result, sizeof result);
    } while (written < 0 && errno == EINTR);
    char byte;
    while (read(release, &byte, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

static const char *stage_name(int stage) {
    switch (stage) {
    case STAGE_HOSTNAME: return "sethostname";
    case STAGE_SOCKET: return "socket";
    case STAGE_GET_FLAGS: return "SIOCGIFFLAGS lo";
    case STAGE_SET_FLAGS: return "SIOCSIFFLAGS lo";
    default: return "?";
    }
}

int mk_sandbox_create(const char *hostname, const char *net_path, const char *ipc_path, const char *uts_path, char *error,
                      size_t error_size) {
    int network = net_path != NULL && net_path[0] != '\0';
    int report[2], release[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        snprintf(error, error_size, "pipe: %s", strerror(errno));
        return -1;
    }
    if (pipe2(release, O_CLOEXEC) != 0) {
        snprintf(error, error_size, "pipe: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    // The child must not run the agent's signal handlers: everything is blocked across the clone.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    long flags = CLONE_NEWIPC | CLONE_NEWUTS | (network ? CLONE_NEWNET : 0) | SIGCHLD;
    // Raw clone, not fork(): no atfork handlers of the runtime libraries run in the child.
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid == 0) sandbox_child(hostname, network, report[1], release[0]);  // closes all else first
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    close(release[0]);
    if (pid < 0) {
        snprintf(error, error_size, "clone: %s", strerror(clone_errno));
        close(report[0]);
        close(release[1]);
        return -1;
    }
    int result[2] = {-1, 0};
    ssize_t got;
    do {
        got = read(report[0], result, sizeof result);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    int status = 0;
    if (got != (ssize_t)sizeof result) {
        snprintf(error, error_size, "the namespace child exited before reporting");
        status = -1;
    } else if (result[0] != STAGE_OK) {
        snprintf(error, error_size, "%s: %s", stage_name(result[0]), strerror(result[1]));
        status = -1;
    }
    const char *kinds[3] = {"net", "ipc", "uts"};
    const char *targets[3] = {network ? net_path : NULL, ipc_path, uts_path};
    int mounted[3] = {0, 0, 0};
    for (int i = 0; i < 3 && status == 0; i++) {
        if (targets[i] == NULL) continue;
        char source[64];
        snprintf(source, sizeof source, "/proc/%d/ns/%s", (int)pid, kinds[i]);
        if (mount(source, targets[i], NULL, MS_BIND, NULL) != 0) {
            snprintf(error, error_size, "bind-mounting %s on %s: %s", source, targets[i], strerror(errno));
            status = -1;
        } else {
            mounted[i] = 1;
        }
    }
    if (status != 0) {
        for (int i = 0; i < 3; i++) {
            if (mounted[i]) umount2(targets[i], MNT_DETACH);
        }
    }
    close(release[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return status;
}
