// The effective settings as `agentctl describe` prints them (one "Key: value" row each).

extension EffectiveSecurity {
    /// Rows for `agentctl describe`, in a fixed order.
    public var describeRows: [(key: String, value: String)] {
        func caps(_ names: [String]) -> String {
            names.isEmpty ? "<none>" : names.map { $0.hasPrefix("CAP_") ? String($0.dropFirst(4)) : $0 }.joined(separator: ",")
        }
        var hostNamespaces: [String] = []
        if hostNetwork { hostNamespaces.append("network") }
        if hostPID { hostNamespaces.append("pid") }
        if hostIPC { hostNamespaces.append("ipc") }
        return [
            ("User", "\(uid):\(gid)"),
            ("Groups", additionalGids.map(String.init).joined(separator: ",")),
            ("RunAsNonRoot", String(runAsNonRoot)),
            ("Privileged", String(privileged)),
            ("Capabilities", caps(capabilities)),
            ("NoNewPrivileges", String(noNewPrivileges)),
            ("ReadOnlyRootFilesystem", String(readOnlyRootFilesystem)),
            ("Seccomp", seccomp.description),
            ("ProcMount", privileged ? "Unmasked (privileged)" : procMount.rawValue),
            ("HostNamespaces", hostNamespaces.isEmpty ? "<none>" : hostNamespaces.joined(separator: ",")),
            ("Sysctls", sysctls.isEmpty ? "<none>" : sysctls.keys.sorted().map { "\($0)=\(sysctls[$0] ?? "")" }.joined(separator: ",")),
        ]
    }
}
