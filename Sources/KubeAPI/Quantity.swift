/// Kubernetes' `resource.Quantity`: a fixed-point number with a unit suffix (`100m`, `64Mi`, `1.5Gi`, `1e3`, `2k`).
///
/// The value is kept exactly as an integer count of nano-units (`Int128`), which covers every quantity the agent
/// meets (up to about 1.7e29 units) without floating-point rounding. Like Kubernetes, precision finer than 1n is
/// rounded up, and `milliValue`/`value` round up (ceil), so `0.1m` CPU is 1 millicore.
public struct Quantity: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// How the quantity was written; decides the canonical suffix family (Kubernetes `Format`).
    public enum Format: String, Hashable, Sendable {
        case decimalSI = "DecimalSI"
        case binarySI = "BinarySI"
        case decimalExponent = "DecimalExponent"
    }

    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var input: String
        public var description: String
    }

    /// Kubernetes' own wording (apimachinery `ErrFormatWrong`), so users can search for it.
    public static let formatMessage = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

    static let nano: Int128 = 1_000_000_000

    /// The value in units of 10^-9 (1 CPU = 1_000_000_000, 1 byte = 1_000_000_000).
    public let nanoValue: Int128
    public let format: Format

    public init(nanoValue: Int128, format: Format) {
        self.nanoValue = nanoValue
        self.format = format
    }

    public init(milli: Int64) {
        self.init(nanoValue: Int128(milli) * 1_000_000, format: .decimalSI)
    }

    public init(_ value: Int64, format: Format = .decimalSI) {
        self.init(nanoValue: Int128(value) * Self.nano, format: format)
    }

    public init(parsing text: String) throws(ParseError) {
        let input = text.trimmingSpaces()
        func fail(_ message: String = Quantity.formatMessage) -> ParseError { ParseError(input: text, description: message) }
        var chars = Array(input.utf8)[...]
        guard !chars.isEmpty else { throw fail() }
        var negative = false
        if chars.first == UInt8(ascii: "+") || chars.first == UInt8(ascii: "-") {
            negative = chars.first == UInt8(ascii: "-")
            chars = chars.dropFirst()
        }
        // Number part: digits with at most one '.', at least one digit.
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        var seenDot = false
        while let c = chars.first, (c >= 48 && c <= 57) || c == UInt8(ascii: ".") {
            if c == UInt8(ascii: ".") {
                if seenDot { throw fail() }
                seenDot = true
            } else if seenDot {
                fractionDigits.append(c - 48)
            } else {
                integerDigits.append(c - 48)
            }
            chars = chars.dropFirst()
        }
        guard !(integerDigits.isEmpty && fractionDigits.isEmpty) else { throw fail() }
        let suffix = String(decoding: chars, as: UTF8.self)
        // The suffix must match `[eEinumkKMGTP]*[-+]?[0-9]*` first; then it must be one Kubernetes knows.
        guard Self.suffixMatchesPattern(suffix) else { throw fail() }
        let format: Format
        var base10Exponent = 0
        var binaryMultiplier: Int128 = 1
        switch suffix {
        case "": format = .decimalSI
        case "n": (format, base10Exponent) = (.decimalSI, -9)
        case "u": (format, base10Exponent) = (.decimalSI, -6)
        case "m": (format, base10Exponent) = (.decimalSI, -3)
        case "k": (format, base10Exponent) = (.decimalSI, 3)
        case "M": (format, base10Exponent) = (.decimalSI, 6)
        case "G": (format, base10Exponent) = (.decimalSI, 9)
        case "T": (format, base10Exponent) = (.decimalSI, 12)
        case "P": (format, base10Exponent) = (.decimalSI, 15)
        case "E": (format, base10Exponent) = (.decimalSI, 18)
        case "Ki": (format, binaryMultiplier) = (.binarySI, 1 << 10)
        case "Mi": (format, binaryMultiplier) = (.binarySI, 1 << 20)
        case "Gi": (format, binaryMultiplier) = (.binarySI, 1 << 30)
        case "Ti": (format, binaryMultiplier) = (.binarySI, 1 << 40)
        case "Pi": (format, binaryMultiplier) = (.binarySI, 1 << 50)
        case "Ei": (format, binaryMultiplier) = (.binarySI, 1 << 60)
        default:
            guard let first = suffix.first, first == "e" || first == "E", let exponent = Int(suffix.dropFirst()),
                suffix.count > 1
            else {
                throw fail("unable to parse quantity's suffix")
            }
            // Clamped so the arithmetic below cannot overflow; 10^±1000 is out of range either way.
            (format, base10Exponent) = (.decimalExponent, min(max(exponent, -1000), 1000))
        }
        // value = digits × 10^(exponent - fractionCount) × binaryMultiplier, in nano units (+9), rounded up.
        var digits = Array((integerDigits + fractionDigits).drop { $0 == 0 })
        var scale = base10Exponent - fractionDigits.count + 9
        // Digits below one nano-unit only matter for rounding up: drop them, remembering whether any was set.
        var droppedNonZero = false
        if scale < 0 && digits.count > 30 {
            let drop = min(digits.count - 30, -scale)
            droppedNonZero = digits.suffix(drop).contains { $0 != 0 }
            digits.removeLast(drop)
            scale += drop
        }
        guard digits.count + max(scale, 0) <= 30 else { throw fail("quantity is too large") }
        var mantissa: Int128 = 0
        for digit in digits { mantissa = mantissa * 10 + Int128(digit) }
        var nanos: Int128
        if scale >= 0 {
            nanos = mantissa * Self.power10(scale)
            let (product, overflow) = nanos.multipliedReportingOverflow(by: binaryMultiplier)
            guard !overflow, product <= Self.maxNano else { throw fail("quantity is too large") }
            nanos = product + (droppedNonZero ? 1 : 0)
        } else {
            // Multiply by the binary factor first so e.g. 0.5Ki stays exact, then divide rounding up.
            let (product, overflow) = mantissa.multipliedReportingOverflow(by: binaryMultiplier)
            guard !overflow else { throw fail("quantity is too large") }
            if -scale > 38 {
                nanos = product == 0 && !droppedNonZero ? 0 : 1
            } else {
                let divisor = Self.power10(-scale)
                nanos = product / divisor + (product % divisor == 0 && !droppedNonZero ? 0 : 1)
            }
            guard nanos <= Self.maxNano else { throw fail("quantity is too large") }
        }
        self.nanoValue = negative ? -nanos : nanos
        self.format = format
    }

    /// Largest magnitude accepted: 10^29 nano-units (10^20 units), beyond anything a node has.
    static let maxNano: Int128 = power10(29)

    static func power10(_ n: Int) -> Int128 {
        var result: Int128 = 1
        for _ in 0..<n { result *= 10 }
        return result
    }

    private static func suffixMatchesPattern(_ suffix: String) -> Bool {
        var rest = Substring(suffix)
        rest = rest.drop { "eEinumkKMGTP".contains($0) }
        if rest.first == "+" || rest.first == "-" { rest = rest.dropFirst() }
        return rest.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The value in thousandths, rounded up (Kubernetes `MilliValue`); CPU is usually handled in millicores.
    public var milliValue: Int64 {
        Self.clamp(Self.ceilDiv(nanoValue, 1_000_000))
    }

    /// The value in whole units, rounded up (Kubernetes `Value`); memory is handled in bytes.
    public var value: Int64 {
        Self.clamp(Self.ceilDiv(nanoValue, Self.nano))
    }

    public var isZero: Bool { nanoValue == 0 }

    static func ceilDiv(_ a: Int128, _ b: Int128) -> Int128 {
        let q = a / b
        return (a % b != 0 && a > 0) ? q + 1 : q
    }

    static func clamp(_ v: Int128) -> Int64 {
        if v > Int128(Int64.max) { return Int64.max }
        if v < Int128(Int64.min) { return Int64.min }
        return Int64(v)
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanoValue < rhs.nanoValue }

    /// Equality is by value, like Kubernetes' `Cmp`: `1Gi` == `1024Mi` and `1` == `1000m`.
    public static func == (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanoValue == rhs.nanoValue }

    public func hash(into hasher: inout Hasher) { hasher.combine(nanoValue) }

    /// The canonical form Kubernetes prints (`1.5Gi` → `1536Mi`, `0.5` → `500m`, `1e3` → `1e3`, `1000` → `1k`).
    public var description: String {
        var format = format
        let magnitude = nanoValue.magnitude
        if format == .binarySI {
            // Small or fractional binary values are shown in decimal to avoid rounding (Kubernetes CanonicalizeBytes).
            if magnitude < UInt128(1024) * UInt128(Self.nano) || magnitude % UInt128(Self.nano) != 0 {
                format = .decimalSI
            }
        }
        let sign = nanoValue < 0 ? "-" : ""
        if magnitude == 0 { return "0" }
        switch format {
        case .binarySI:
            var number = magnitude / UInt128(Self.nano)
            var exponent = 0
            while exponent < 6 && number % 1024 == 0 {
                number /= 1024
                exponent += 1
            }
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            return sign + String(number) + suffixes[exponent]
        case .decimalSI, .decimalExponent:
            // number × 10^exponent with exponent a multiple of 3, starting at nano (-9).
            var number = magnitude
            var exponent = -9
            while number % 1000 == 0 {
                number /= 1000
                exponent += 3
            }
            if format == .decimalExponent {
                return sign + String(number) + (exponent == 0 ? "" : "e\(exponent)")
            }
            let suffixes = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
            if let suffix = suffixes[exponent] {
                return sign + String(number) + suffix
            }
            return sign + String(number) + "e\(exponent)"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try Quantity(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

/// A value that is either an integer or a string (Kubernetes `intstr.IntOrString`), used for probe ports.
public enum IntOrString: Hashable, Sendable, Codable, CustomStringConvertible {
    case int(Int32)
    case string(String)

    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .string(let value): return value
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        do {
            self = .int(try container.decode(Int32.self))
        } catch DecodingError.typeMismatch {
            // Not a number: the other half of the union.
            self = .string(try container.decode(String.self))
        }
    }
}
