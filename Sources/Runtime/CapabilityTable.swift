// Capability names → bits. Temporary until the Security module's `Capabilities.mask(of:)` lands.

enum CapabilityTable {
    static let names: [String] = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE",
    ]

    static func mask(of list: [String], field: String) throws(RuntimeError) -> UInt64 {
        var mask: UInt64 = 0
        for (index, name) in list.enumerated() {
            let upper = name.uppercased()
            let bare = upper.hasPrefix("CAP_") ? String(upper.dropFirst(4)) : upper
            guard let bit = names.firstIndex(of: bare) else {
                throw .config("\(field)[\(index)]", "unknown capability \"\(name)\"")
            }
            mask |= UInt64(1) << UInt64(bit)
        }
        return mask
    }
}
