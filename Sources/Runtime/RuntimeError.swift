// One error type for the runtime: a single line a user understands, naming the config field,
// syscall or file that failed (README: "Errors are one line").
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A runtime failure. `description` is the line `minirun` prints after `minirun: `.
public struct RuntimeError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// A config.json problem: `config.json: <field path>: <what>`.
    public static func config(_ field: String, _ what: String) -> RuntimeError {
        RuntimeError("config.json: \(field): \(what)")
    }

    /// A failed syscall or file operation; `errno` is captured by the caller right after the call.
    public static func system(_ operation: String, _ subject: String? = nil, errno code: Int32) -> RuntimeError {
        let subjectPart = subject.map { " \($0)" } ?? ""
        return RuntimeError("\(operation)\(subjectPart): \(errorString(code)) (errno \(code))")
    }

    /// A usage error on the command line.
    public static func usage(_ what: String) -> RuntimeError {
        RuntimeError(what)
    }
}

/// `strerror` as a Swift string.
func errorString(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}

/// The current errno, read at once after a failed call.
@inline(__always)
func currentErrno() -> Int32 { errno }
