// Errors of the Security module. Every error names the config.json field it is about, so that a bad profile or
// capability list produces one line a user can act on:
//   linux.seccomp.syscalls[3].names[0]: unknown syscall "foo"

/// An invalid or unsupported capability / seccomp configuration, or a libseccomp failure.
public struct SecurityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The config.json path of the offending value, e.g. `process.capabilities.bounding[2]` or
    /// `linux.seccomp.defaultAction`. Empty for errors not tied to a field (cache I/O, libseccomp internals).
    public var field: String
    /// What is wrong, e.g. `unknown capability "CAP_FOO"`.
    public var message: String

    public init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
