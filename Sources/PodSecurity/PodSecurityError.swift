// Errors and warnings of the PodSecurity module, worded as kubelet / pod-security-admission word them so a user can
// search for the text. Every error carries the Kubernetes reason the agent puts in the pod or container status.

/// Kubernetes reason strings used by this module.
public enum SecurityReason {
    /// Container waiting reason for a config kubelet refuses to build (runAsNonRoot, bad seccomp path, ...).
    public static let createContainerConfigError = "CreateContainerConfigError"
    /// Container waiting reason when the runtime side fails to build the spec (unknown user, unreadable profile).
    public static let createContainerError = "CreateContainerError"
    /// Pod rejection reason for a sysctl outside the allow-list (kubelet `sysctl.ForbiddenReason`).
    public static let sysctlForbidden = "SysctlForbidden"
    /// Pod rejection reason for a Pod Security Standards violation (the API server's 403 status reason).
    public static let forbidden = "Forbidden"
}

/// A refusal to run a pod or container, with the Kubernetes reason and message.
public struct PodSecurityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of refusal: decides which explanation `Diagnosis` gives.
    public enum Kind: Sendable, Equatable {
        /// runAsUser is 0 while runAsNonRoot is true.
        case runAsUserBreaksNonRoot
        /// The image runs as uid 0 (or has no USER) while runAsNonRoot is true.
        case imageRunsAsRoot
        /// The image user is a name, which cannot be verified as non-root.
        case imageNonNumericUser
        /// The image / runAsUser names a user or group the image's /etc/passwd or /etc/group does not have.
        case unknownUser
        /// A capability name the kernel ABI does not know.
        case unknownCapability
        /// seccompProfile Localhost: missing profile name, path escaping the seccomp directory, unreadable or invalid.
        case seccompProfile
        /// A seccompProfile type or procMount value outside the API's vocabulary.
        case unsupportedValue
        /// A pod sysctl outside the allow-list, or a namespaced sysctl with the host namespace.
        case sysctlForbidden
        /// A Pod Security Standards violation.
        case podSecurityStandards
    }

    public var kind: Kind
    /// Kubernetes reason (`CreateContainerConfigError`, `SysctlForbidden`, ...).
    public var reason: String
    /// Kubernetes message, verbatim.
    public var message: String

    public init(_ kind: Kind, reason: String, message: String) {
        self.kind = kind
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }
}

/// A field that was set but cannot be honoured on this node; the agent records it as a Warning event.
public struct SecurityWarning: Sendable, Equatable, CustomStringConvertible {
    /// The API path, e.g. `spec.containers[0].securityContext.seLinuxOptions`.
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
