// bpf(2) for the cgroup v2 device filter (Sources/Cgroups/DeviceFilter.swift builds the program).
// glibc has no bpf() wrapper and syscall(2) is variadic, which Swift cannot call.
#include "cshims.h"

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int mk_bpf(int cmd, union bpf_attr *attr) {
    return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int mk_bpf_load_device_program(const void *insns, uint32_t insn_count, const char *license, char *log, uint32_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = insn_count;
    attr.license = (uint64_t)(uintptr_t)license;
    if (log != NULL && log_size > 0) {
        log[0] = '\0';
        attr.log_buf = (uint64_t)(uintptr_t)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    // The kernel returns the program fd with O_CLOEXEC set.
    return mk_bpf(BPF_PROG_LOAD, &attr);
}

int mk_bpf_attach_device_program(int prog_fd, int cgroup_fd) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    return mk_bpf(BPF_PROG_ATTACH, &attr);
}

int mk_bpf_device_program_ids(int cgroup_fd, uint32_t *ids, uint32_t max, uint32_t *count) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = (uint32_t)cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
    attr.query.prog_cnt = max;
    int rc = mk_bpf(BPF_PROG_QUERY, &attr);
    // On ENOSPC the kernel still reports how many programs are attached.
    *count = attr.query.prog_cnt;
    return rc;
}

int mk_bpf_detach_device_program(int cgroup_fd, uint32_t prog_id) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = prog_id;
    int prog_fd = mk_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (prog_fd < 0) return -1;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    int rc = mk_bpf(BPF_PROG_DETACH, &attr);
    int saved = errno;
    close(prog_fd);
    errno = saved;
    return rc;
}
