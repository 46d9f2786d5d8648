// Explanations of security refusals for `agentctl diagnose`: what went wrong in one sentence and the usual fix.

/// A short explanation of a refusal and how to fix it.
public struct Diagnosis: Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public var message: String
    public var explanation: String
    public var suggestedFix: String

    public var description: String { "\(reason): \(message)\n  why: \(explanation)\n  fix: \(suggestedFix)" }

    /// The diagnosis of `error`.
    public init(_ error: PodSecurityError) {
        reason = error.reason
        message = error.message
        switch error.kind {
        case .runAsUserBreaksNonRoot:
            explanation = "runAsNonRoot is true but runAsUser is 0 (root), so the container could only run as root."
            suggestedFix = "Set securityContext.runAsUser to a non-zero uid (e.g. 1000), or remove runAsNonRoot if root is really needed."
        case .imageRunsAsRoot:
            explanation = "runAsNonRoot is true and the image runs as root (its USER is 0 or unset), and no runAsUser overrides it."
            suggestedFix = "Set securityContext.runAsUser to a non-zero uid, or use an image whose USER is a non-zero numeric uid."
        case .imageNonNumericUser:
            explanation = "runAsNonRoot is true and the image's USER is a name; the node cannot prove that name is not uid 0."
            suggestedFix = "Set securityContext.runAsUser to the user's numeric uid, or change the image to `USER <uid>`."
        case .unknownUser:
            explanation = "The image's user is not in the image's /etc/passwd, so its uid and gid cannot be determined."
            suggestedFix = "Set securityContext.runAsUser (and runAsGroup), or add the user to the image's /etc/passwd."
        case .unknownCapability:
            explanation = "securityContext.capabilities names a capability Linux does not have."
            suggestedFix = "Use capability names without the CAP_ prefix from capabilities(7), e.g. NET_ADMIN, or ALL."
        case .seccompProfile:
            explanation = "The Localhost seccomp profile is missing, unreadable, invalid, or its path leaves the node's seccomp directory."
            suggestedFix = "Put the profile (OCI linux.seccomp JSON) under <root>/seccomp/ and set localhostProfile to its relative path without '..'."
        case .unsupportedValue:
            explanation = "A securityContext field has a value Kubernetes does not define."
            suggestedFix = "Use one of the supported values listed in the message."
        case .sysctlForbidden:
            explanation = "The pod sets a sysctl outside kubelet's safe set (or a network/IPC sysctl while sharing the host's namespace)."
            suggestedFix = "Remove the sysctl, use one of the safe sysctls, or start the agent with --allowed-unsafe-sysctls=<name>."
        case .podSecurityStandards:
            explanation = "The pod does not meet the Pod Security Standards level enforced on this node or its namespace."
            suggestedFix =
                "Change each listed field as the message says, or lower the level (--pod-security or the namespace label "
                + "pod-security.kubernetes.io/enforce) if the workload really needs it."
        }
    }
}

extension Diagnosis {
    /// The diagnosis of a refusal known only by the reason and message it left in a pod's status (the agent stores
    /// strings, and a pod rejected before a restart stays rejected); nil when the message is not a security refusal.
    public init?(reason: String, message: String) {
        let kind: PodSecurityError.Kind
        switch reason {
        case SecurityReason.sysctlForbidden:
            kind = .sysctlForbidden
        case SecurityReason.forbidden where message.contains("violates PodSecurity"):
            kind = .podSecurityStandards
        case SecurityReason.createContainerConfigError, SecurityReason.createContainerError:
            let patterns: [(String, PodSecurityError.Kind)] = [
                ("container's runAsUser breaks non-root policy", .runAsUserBreaksNonRoot),
                ("container has runAsNonRoot and image will run as root", .imageRunsAsRoot),
                ("container has runAsNonRoot and image has non-numeric user", .imageNonNumericUser),
                ("unable to find user", .unknownUser),
                ("unknown capability", .unknownCapability),
                ("Unsupported value", .unsupportedValue),
                ("seccomp", .seccompProfile),
            ]
            guard let match = patterns.first(where: { message.contains($0.0) }) else { return nil }
            kind = match.1
        default:
            return nil
        }
        self.init(PodSecurityError(kind, reason: reason, message: message))
    }
}
