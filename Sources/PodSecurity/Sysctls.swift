// Pod sysctls: kubelet's allow-list admission (pkg/kubelet/sysctl: safe_sysctls.go + allowlist.go).
// A pod whose sysctl is not allow-listed is rejected before anything runs: reason `SysctlForbidden`,
// message `forbidden sysctl: "<name>" not allowlisted`; a namespaced sysctl with the host's namespace gives
// `forbidden sysctl: "<name>" not allowed with host <net|ipc> enabled`.
import KubeAPI

public enum Sysctls {
    /// kubelet's safe set with the namespace each lives in. (kubelet also gates the newer ones on the kernel
    /// version; every kernel this project supports has them.)
    public static let safe: [(name: String, namespace: String)] = [
        ("kernel.shm_rmid_forced", "ipc"),
        ("net.ipv4.ip_local_port_range", "net"),
        ("net.ipv4.tcp_syncookies", "net"),
        ("net.ipv4.ping_group_range", "net"),
        ("net.ipv4.ip_unprivileged_port_start", "net"),
        ("net.ipv4.ip_local_reserved_ports", "net"),
        ("net.ipv4.tcp_keepalive_time", "net"),
        ("net.ipv4.tcp_fin_timeout", "net"),
        ("net.ipv4.tcp_keepalive_intvl", "net"),
        ("net.ipv4.tcp_keepalive_probes", "net"),
        ("net.ipv4.tcp_rmem", "net"),
        ("net.ipv4.tcp_wmem", "net"),
        ("net.ipv4.tcp_slow_start_after_idle", "net"),
        ("net.ipv4.tcp_notsent_lowat", "net"),
    ]

    /// `net/ipv4/tcp_syncookies` → `net.ipv4.tcp_syncookies` (kubelet `NormalizeName`: when the first separator is
    /// a slash, slashes and dots swap).
    public static func normalize(_ name: String) -> String {
        guard let first = name.firstIndex(where: { $0 == "." || $0 == "/" }), name[first] == "/" else { return name }
        return String(name.map { $0 == "/" ? "." : $0 == "." ? "/" : $0 })
    }

    /// The namespace an unsafe (operator-allowed) sysctl belongs to, as kubelet's `GetNamespace`.
    static func namespace(of name: String) -> String? {
        if name.hasPrefix("net.") { return "net" }
        if name.hasPrefix("fs.mqueue.") || name.hasPrefix("kernel.sem") || name.hasPrefix("kernel.shm") || name.hasPrefix("kernel.msg") {
            return "ipc"
        }
        return nil
    }

    /// Why `name` is refused for a pod with the given host namespaces, or nil if it is allowed.
    /// `allowedUnsafe` holds names or `prefix*` patterns (`--allowed-unsafe-sysctls`).
    public static func forbiddenReason(_ rawName: String, hostNetwork: Bool, hostIPC: Bool, allowedUnsafe: [String] = []) -> String? {
        let name = normalize(rawName)
        func hostConflict(_ ns: String?) -> String? {
            if ns == "ipc" && hostIPC { return "\(goQuote(name)) not allowed with host ipc enabled" }
            if ns == "net" && hostNetwork { return "\(goQuote(name)) not allowed with host net enabled" }
            return nil
        }
        if let entry = safe.first(where: { $0.name == name }) { return hostConflict(entry.namespace) }
        for pattern in allowedUnsafe {
            let matches = pattern.hasSuffix("*") ? name.hasPrefix(String(pattern.dropLast())) : normalize(pattern) == name
            if matches { return hostConflict(namespace(of: name)) }
        }
        return "\(goQuote(name)) not allowlisted"
    }

    /// kubelet's sysctl admission for `pod`: the first forbidden sysctl rejects the pod.
    public static func admit(pod: Pod, allowedUnsafe: [String] = []) throws(PodSecurityError) {
        for sysctl in pod.spec.securityContext?.sysctls ?? [] {
            if let why = forbiddenReason(
                sysctl.name, hostNetwork: pod.spec.hostNetwork ?? false, hostIPC: pod.spec.hostIPC ?? false, allowedUnsafe: allowedUnsafe)
            {
                throw PodSecurityError(.sysctlForbidden, reason: SecurityReason.sysctlForbidden, message: "forbidden sysctl: \(why)")
            }
        }
    }
}
