/// A value shown inside an error message. Kubernetes prints strings quoted and numbers bare
/// (`Invalid value: "abc"` but `Invalid value: 0`), so the kind of value matters for the text.
public enum FieldValue: Hashable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// Printed verbatim (already formatted), e.g. a YAML scalar of the wrong type.
    case raw(String)

    public var description: String {
        switch self {
        case .string(let value): return goQuote(value)
        case .int(let value): return String(value)
        case .bool(let value): return String(value)
        case .raw(let value): return value
        }
    }
}

/// Quotes a string the way Go's `%q` does for the common cases (quotes, backslashes, control characters),
/// as Kubernetes messages print names. Public: other modules' Kubernetes-worded messages use it too.
public func goQuote(_ value: String) -> String {
    var out = "\""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\x" + String(scalar.value, radix: 16).leftPadded(to: 2)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// One problem with one field, worded like Kubernetes' `field.Error` so users can search for the text.
public struct FieldError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// `Required value`
        case required
        /// `Invalid value: X: detail`
        case invalid(FieldValue)
        /// `Unsupported value: "X": supported values: "A", "B"`
        case unsupported(FieldValue, supported: [String])
        /// `Duplicate value: "X"`
        case duplicate(FieldValue)
        /// `Not found: "X"`
        case notFound(FieldValue)
        /// `Forbidden: detail`
        case forbidden
        /// `Too long: may not be more than N bytes`
        case tooLong(FieldValue, max: Int)
        /// `Too many: N: must have at most M items`
        case tooMany(Int, max: Int)
    }

    public var path: FieldPath
    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ path: FieldPath, _ detail: String = "") {
        self.kind = kind
        self.path = path
        self.detail = detail
    }

    public static func required(_ path: FieldPath, _ detail: String = "") -> FieldError {
        FieldError(.required, path, detail)
    }

    public static func invalid(_ path: FieldPath, _ value: FieldValue, _ detail: String) -> FieldError {
        FieldError(.invalid(value), path, detail)
    }

    public static func unsupported(_ path: FieldPath, _ value: FieldValue, _ supported: [String]) -> FieldError {
        FieldError(.unsupported(value, supported: supported), path)
    }

    public static func duplicate(_ path: FieldPath, _ value: FieldValue) -> FieldError {
        FieldError(.duplicate(value), path)
    }

    public static func notFound(_ path: FieldPath, _ value: FieldValue) -> FieldError {
        FieldError(.notFound(value), path)
    }

    public static func forbidden(_ path: FieldPath, _ detail: String) -> FieldError {
        FieldError(.forbidden, path, detail)
    }

    /// The message without the path: `Required value`, `Invalid value: 0: must be greater than or equal to 1`.
    public var message: String {
        var text: String
        switch kind {
        case .required:
            text = "Required value"
        case .invalid(let value):
            text = "Invalid value: \(value)"
        case .unsupported(let value, let supported):
            text = "Unsupported value: \(value)"
            if !supported.isEmpty {
                text += ": supported values: " + supported.map(goQuote).joined(separator: ", ")
            }
        case .duplicate(let value):
            text = "Duplicate value: \(value)"
        case .notFound(let value):
            text = "Not found: \(value)"
        case .forbidden:
            text = "Forbidden"
        case .tooLong(_, let max):
            text = "Too long: may not be more than \(max) bytes"
        case .tooMany(let count, let max):
            text = "Too many: \(count): must have at most \(max) items"
        }
        if !detail.isEmpty {
            text += ": " + detail
        }
        return text
    }

    public var description: String {
        let path = path.description
        return path.isEmpty ? message : "\(path): \(message)"
    }
}
