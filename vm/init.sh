#!/bin/busybox sh
# /init of the cgroup v2 test VM (copied in by vm/build.sh). Runs as PID 1 on the serial console.
# Protocol lines (parsed by vm/run.sh) all start with "SELFTEST "; everything else is informational.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb

# Stage 1: the initramfs root ("rootfs") cannot be pivot_root'ed away (EINVAL), and containers need pivot_root as on
# any real host. Copy the tree into a tmpfs mount and switch_root into it; stage 2 is this script again.
if [ "$$" = 1 ] && [ ! -e /.stage2 ]; then
    mkdir -p /newroot
    mount -t tmpfs -o mode=755 tmpfs /newroot
    for entry in /*; do
        case "$entry" in /newroot | /proc | /sys | /dev) mkdir -p "/newroot$entry" ;; *) cp -a "$entry" /newroot/ ;; esac
    done
    : >/newroot/.stage2
    exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || echo "SELFTEST FAIL vm-mount-cgroup2: mount failed"
# Keep kernel chatter (OOM reports) off the console so protocol lines stay whole.
echo 1 >/proc/sys/kernel/printk

echo "vm: kernel $(uname -r), commit $(cat /etc/minikubelet-commit), $(nproc) cpus, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB"
echo "vm: cmdline: $(cat /proc/cmdline)"
echo "vm: /sys/fs/cgroup is $(awk '$2 == "/sys/fs/cgroup" { t = $3 } END { print t }' /proc/mounts)"
echo "vm: cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

# Enable every controller the tests need in the root; cpuset and hugetlb when the kernel has them.
for c in cpu memory pids io cpuset hugetlb; do
    if grep -qw "$c" /sys/fs/cgroup/cgroup.controllers; then
        echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "vm: cannot enable $c"
    fi
done
echo "vm: cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

# Swap accounting: memory.swap.* exist in non-root cgroups only when the kernel accounts swap.
mkdir -p /sys/fs/cgroup/vm-probe
if [ -e /sys/fs/cgroup/vm-probe/memory.swap.max ]; then echo "vm: swap accounting: on"; else echo "vm: swap accounting: off"; fi
rmdir /sys/fs/cgroup/vm-probe

# A persistent state dir for minirun (its default /run/minirun is on the tmpfs above).
mkdir -p /run/minirun

limit=$(sed -n 's/.*selftest.timeout=\([0-9]*\).*/\1/p' /proc/cmdline)
start=$(cut -d' ' -f1 /proc/uptime)
# selftest.filter=a/,b/ (from VM_SELFTEST_FILTER in vm/run.sh) runs only the checks with those name prefixes.
filter=$(sed -n 's/.*selftest.filter=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
# shellcheck disable=SC2086 # the filter is a list of prefixes
timeout "${limit:-180}" /bin/minirun-selftest $filter
status=$?
end=$(cut -d' ' -f1 /proc/uptime)
echo "SELFTEST EXIT status=$status seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')"
sync
poweroff -f
# If poweroff fails, init exiting panics the kernel; panic=-1 + qemu -no-reboot then ends the VM.
echo o >/proc/sysrq-trigger
sleep 5
