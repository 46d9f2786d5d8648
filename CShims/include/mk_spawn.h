#pragma once
#include <spawn.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which Swift's Glibc module does not import:
/// the spawned program starts with only the descriptors below `from`. Returns 0 or an errno value.
int mk_spawn_file_actions_closefrom(posix_spawn_file_actions_t *actions, int from);

#include <stdint.h>
#include <sys/types.h>

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits (Linux >= 5.3). -1 and errno on failure.
int mk_pidfd_open(pid_t pid);

/// epoll without struct epoll_event (packed on x86_64) crossing into Swift: descriptors are registered for EPOLLIN
/// with a 64-bit token, and a wait returns the tokens of the ready ones (at most 64).
int mk_epoll_create(void);
int mk_epoll_add(int epfd, int fd, uint64_t token);
int mk_epoll_del(int epfd, int fd);
int mk_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK).
int mk_eventfd(void);
