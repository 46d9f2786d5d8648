// The agent's pod sandbox: pinned network, IPC and UTS namespaces without spawning helper programs.
#ifndef MK_SANDBOX_H
#define MK_SANDBOX_H

#include <stddef.h>

/// Creates new IPC and UTS namespaces (and a network namespace when `net_path` is non-empty) in a short-lived
/// child, which sets `hostname` and brings `lo` up (new network namespace only); the caller's process then
/// bind-mounts `/proc/<child>/ns/{net,ipc,uts}` onto the existing files `net_path`, `ipc_path`, `uts_path`
/// and reaps the child. Returns 0, or -1 with a message in `error` (nothing left mounted).
int mk_sandbox_create(const char *hostname, const char *net_path, const char *ipc_path, const char *uts_path, char *error,
                      size_t error_size);

#endif
