// Fixed JSON documents: `minirun spec` (mirrors `runc spec`) and `minirun features` (runc's shape).

public enum Documents {
    /// The default config.json, the same content `runc spec` writes (a busybox-friendly `sh` with a terminal).
    public static let defaultSpec = """
        {
        	"ociVersion": "1.2.0",
        	"process": {
        		"terminal": true,
        		"user": {
        			"uid": 0,
        			"gid": 0
        		},
        		"args": [
        			"sh"
        		],
        		"env": [
        			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        			"TERM=xterm"
        		],
        		"cwd": "/",
        		"capabilities": {
        			"bounding": [
        				"CAP_AUDIT_WRITE",
        				"CAP_KILL",
        				"CAP_NET_BIND_SERVICE"
        			],
        			"effective": [
        				"CAP_AUDIT_WRITE",
        				"CAP_KILL",
        				"CAP_NET_BIND_SERVICE"
        			],
        			"permitted": [
        				"CAP_AUDIT_WRITE",
        				"CAP_KILL",
        				"CAP_NET_BIND_SERVICE"
        			],
        			"ambient": [
        				"CAP_AUDIT_WRITE",
        				"CAP_KILL",
        				"CAP_NET_BIND_SERVICE"
        			]
        		},
        		"rlimits": [
        			{
        				"type": "RLIMIT_NOFILE",
        				"hard": 1024,
        				"soft": 1024
        			}
        		],
        		"noNewPrivileges": true
        	},
        	"root": {
        		"path": "rootfs",
        		"readonly": true
        	},
        	"hostname": "minirun",
        	"mounts": [
        		{
        			"destination": "/proc",
        			"type": "proc",
        			"source": "proc"
        		},
        		{
        			"destination": "/dev",
        			"type": "tmpfs",
        			"source": "tmpfs",
        			"options": [
        				"nosuid",
        				"strictatime",
        				"mode=755",
        				"size=65536k"
        			]
        		},
        		{
        			"destination": "/dev/pts",
        			"type": "devpts",
        			"source": "devpts",
        			"options": [
        				"nosuid",
        				"noexec",
        				"newinstance",
        				"ptmxmode=0666",
        				"mode=0620",
        				"gid=5"
        			]
        		},
        		{
        			"destination": "/dev/shm",
        			"type": "tmpfs",
        			"source": "shm",
        			"options": [
        				"nosuid",
        				"noexec",
        				"nodev",
        				"mode=1777",
        				"size=65536k"
        			]
        		},
        		{
        			"destination": "/dev/mqueue",
        			"type": "mqueue",
        			"source": "mqueue",
        			"options": [
        				"nosuid",
        				"noexec",
        				"nodev"
        			]
        		},
        		{
        			"destination": "/sys",
        			"type": "sysfs",
        			"source": "sysfs",
        			"options": [
        				"nosuid",
        				"noexec",
        				"nodev",
        				"ro"
        			]
        		},
        		{
        			"destination": "/sys/fs/cgroup",
        			"type": "cgroup",
        			"source": "cgroup",
        			"options": [
        				"nosuid",
        				"noexec",
        				"nodev",
        				"relatime",
        				"ro"
        			]
        		}
        	],
        	"linux": {
        		"resources": {
        			"devices": [
        				{
        					"allow": false,
        					"access": "rwm"
        				}
        			]
        		},
        		"namespaces": [
        			{
        				"type": "pid"
        			},
        			{
        				"type": "network"
        			},
        			{
        				"type": "ipc"
        			},
        			{
        				"type": "uts"
        			},
        			{
        				"type": "mount"
        			}
        		],
        		"maskedPaths": [
        			"/proc/acpi",
        			"/proc/asound",
        			"/proc/kcore",
        			"/proc/keys",
        			"/proc/latency_stats",
        			"/proc/timer_list",
        			"/proc/timer_stats",
        			"/proc/sched_debug",
        			"/sys/firmware",
        			"/proc/scsi"
        		],
        		"readonlyPaths": [
        			"/proc/bus",
        			"/proc/fs",
        			"/proc/irq",
        			"/proc/sys",
        			"/proc/sysrq-trigger"
        		]
        	}
        }

        """

    /// `minirun features` (runtime-spec features.md, runc's layout).
    public static func features(capabilities: [String]) -> String {
        let caps = capabilities.map { "\"\($0)\"" }.joined(separator: ",")
        let options = MountOptionsList.all.map { "\"\($0)\"" }.joined(separator: ",")
        return """
            {"ociVersionMin":"1.0.0","ociVersionMax":"1.2.0",\
            "hooks":["prestart","createRuntime","poststart","poststop"],\
            "mountOptions":[\(options)],\
            "linux":{"namespaces":["cgroup","ipc","mount","network","pid","user","uts"],\
            "capabilities":[\(caps)],\
            "cgroup":{"v1":true,"v2":true,"systemd":false,"systemdUser":false},\
            "seccomp":{"enabled":true,\
            "actions":["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS","SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRACE","SCMP_ACT_TRAP"],\
            "operators":["SCMP_CMP_EQ","SCMP_CMP_GE","SCMP_CMP_GT","SCMP_CMP_LE","SCMP_CMP_LT","SCMP_CMP_MASKED_EQ","SCMP_CMP_NE"],\
            "archs":["SCMP_ARCH_X86","SCMP_ARCH_X86_64","SCMP_ARCH_X32"]},\
            "apparmor":{"enabled":false},"selinux":{"enabled":false}},\
            "annotations":{"io.github.minikubelet.minirun.version":"0.1.0"}}

            """
    }
}

enum MountOptionsList {
    static let all = [
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev", "nodiratime",
        "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro",
        "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync", "unbindable",
    ]
}
