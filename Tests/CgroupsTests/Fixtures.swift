// /proc/self/cgroup and /proc/self/mountinfo texts for the three layouts.

enum Fixtures {
    /// The development host: hybrid, cpu and cpuacct mounted separately, memory cgroup below /process_api.
    static let hybridCgroup = """
        9:name=systemd:/
        8:pids:/
        7:blkio:/
        6:freezer:/
        5:devices:/
        4:memory:/process_api/ec2c1b6c815e40278a96ab664562fe0e
        3:cpuset:/
        2:cpuacct:/
        1:cpu:/
        0::/

        """

    static let hybridMountinfo = """
        24 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw

        """

    /// A systemd legacy host: cpu,cpuacct co-mounted (with the usual symlinks), no unified tree.
    static let legacyCgroup = """
        11:pids:/user.slice/user-0.slice/session-1.scope
        6:cpu,cpuacct:/user.slice
        5:memory:/user.slice/user-0.slice/session-1.scope
        4:cpuset:/
        1:name=systemd:/user.slice/user-0.slice/session-1.scope

        """

    static let legacyMountinfo = """
        25 18 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
        29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
        30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
        31 25 0:27 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
        35 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,pids

        """

    /// Pure v2 (systemd unified), the process in a service cgroup.
    static let unifiedCgroup = "0::/system.slice/minikubelet.service\n"

    static let unifiedMountinfo = """
        22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
        26 24 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        40 27 0:35 / /mnt/with\\040space rw,relatime shared:20 - tmpfs tmpfs rw

        """

    /// Inside a container whose cgroup subtree is bind-mounted as the hierarchy root (no cgroupns).
    static let subtreeMountinfo = """
        600 590 0:38 /kubepods/pod1/ctr /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw

        """
}
