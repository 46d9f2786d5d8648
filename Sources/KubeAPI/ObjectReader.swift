import Yams

// Why not Codable: `DecodingError` texts ("The data couldn't be read because it isn't in the correct format",
// coding paths printed as `CodingKeys(stringValue: "containers", intValue: nil)`) do not name the field the way an
// operator writes it, stop at the first problem, and cannot report unknown fields. Manifests are therefore read
// from the `Yams.Node` tree by this small reader, which knows the current field path, reports every problem with
// Kubernetes wording, keeps going after an error, and remembers which keys were used so the rest become
// unknown-field warnings.

/// Limits applied while reading a manifest. They exist so that hostile or broken files cost bounded time and memory.
public struct DecodeLimits: Sendable, Hashable {
    /// Files larger than this are refused before parsing; kubelet's `maxConfigLength` is 10 MiB.
    public var maxFileBytes: Int
    /// Deepest nesting accepted: checked on the text before parsing (see `NestingScan`) and on field paths while reading.
    public var maxDepth: Int
    /// Nodes visited per document, counting every expansion of a YAML alias ("billion laughs" defence).
    public var maxNodes: Int
    /// Errors and warnings kept per document; the rest are summarised in one line.
    public var maxDiagnostics: Int

    public init(maxFileBytes: Int = 10 * 1024 * 1024, maxDepth: Int = 100, maxNodes: Int = 200_000, maxDiagnostics: Int = 200) {
        self.maxFileBytes = maxFileBytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
        self.maxDiagnostics = maxDiagnostics
    }
}

/// A warning about a document: an unknown field, an ignored field, an unsupported kind.
public struct DecodeWarning: Hashable, Sendable, CustomStringConvertible {
    public var path: FieldPath
    public var message: String

    public init(path: FieldPath, message: String) {
        self.path = path
        self.message = message
    }

    public static func unknownField(_ path: FieldPath) -> DecodeWarning {
        DecodeWarning(path: path, message: "unknown field \(goQuote(path.description))")
    }

    public var description: String { message }
}

/// Shared state of one document being read: collected errors and warnings, and the node budget.
final class DecodeContext {
    let limits: DecodeLimits
    private(set) var errors: [FieldError] = []
    private(set) var warnings: [DecodeWarning] = []
    private(set) var droppedErrors = 0
    private(set) var droppedWarnings = 0
    private(set) var visited = 0
    private(set) var budgetExceeded = false
    private(set) var depthExceeded = false

    init(limits: DecodeLimits) {
        self.limits = limits
    }

    /// Counts one node at `depth` (path components); false once the budget is spent (the first time, an error
    /// says why). The path is only built for that error: reading is hot, and most reads succeed.
    func visit(_ path: @autoclosure () -> FieldPath, depth: Int) -> Bool {
        if budgetExceeded { return false }
        visited += 1
        if visited > limits.maxNodes {
            budgetExceeded = true
            errors.append(
                .forbidden(
                    path(),
                    "document has more than \(limits.maxNodes) nodes after expanding YAML aliases; refusing to read further"))
            return false
        }
        if depth > limits.maxDepth {
            if !depthExceeded {
                depthExceeded = true
                errors.append(.forbidden(path(), "nesting deeper than \(limits.maxDepth) levels"))
            }
            return false
        }
        return true
    }

    func error(_ error: FieldError) {
        if errors.count >= limits.maxDiagnostics {
            droppedErrors += 1
        } else {
            errors.append(error)
        }
    }

    func warn(_ warning: DecodeWarning) {
        if warnings.count >= limits.maxDiagnostics {
            droppedWarnings += 1
        } else {
            warnings.append(warning)
        }
    }

    var allErrors: [FieldError] {
        droppedErrors == 0 ? errors : errors + [.forbidden(.root, "\(droppedErrors) more errors not shown")]
    }

    var allWarnings: [DecodeWarning] {
        droppedWarnings == 0 ? warnings : warnings + [DecodeWarning(path: .root, message: "\(droppedWarnings) more warnings not shown")]
    }
}

/// What a YAML scalar resolves to, following go-yaml v2 (what sigs.k8s.io/yaml, and so Kubernetes, uses):
/// YAML 1.1 booleans (`yes`, `no`, `on`, `off`, `y`, `n`), `null`/`~`/empty, Go-style integers and floats.
/// Timestamps and sexagesimal numbers stay strings, as they do after Kubernetes' YAML-to-JSON step.
///
/// Resolved here rather than through Yams' resolver: that one runs up to seven `NSRegularExpression`s per plain
/// scalar (slow on Linux) and follows YAML 1.1 where go-yaml does not (sexagesimal `1:30` as an integer).
enum ScalarType {
    case string, int, float, bool, null

    init(_ scalar: Node.Scalar) {
        // The scalar's own tag: empty while implicit, `str` for quoted and block scalars, or an explicit `!!int`.
        switch scalar.tag.description {
        case "":
            self = scalar.style == .plain ? Self.resolvePlain(scalar.string) : .string
        case Tag.Name.int.rawValue: self = .int
        case Tag.Name.float.rawValue: self = .float
        case Tag.Name.bool.rawValue: self = .bool
        case Tag.Name.null.rawValue: self = .null
        default: self = .string
        }
    }

    static func resolvePlain(_ text: String) -> ScalarType {
        switch text {
        case "", "~", "null", "Null", "NULL":
            return .null
        case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE", "n", "N", "no", "No", "NO", "off", "Off", "OFF",
            "false", "False", "FALSE":
            return .bool
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN":
            return .float
        default:
            break
        }
        guard let first = text.utf8.first,
            first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".") || (first >= 48 && first <= 57)
        else { return .string }
        if parseYAMLInt(text) != nil { return .int }
        return isGoFloat(text) ? .float : .string
    }

    /// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, go-yaml v2's float pattern.
    static func isGoFloat(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        let integerDigits = bytes.prefix(while: isDigit).count
        bytes = bytes.dropFirst(integerDigits)
        var fractionDigits = 0
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            fractionDigits = bytes.prefix(while: isDigit).count
            bytes = bytes.dropFirst(fractionDigits)
            if integerDigits == 0 && fractionDigits == 0 { return false }
        } else if integerDigits == 0 {
            return false
        }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            let exponentDigits = bytes.prefix(while: isDigit).count
            if exponentDigits == 0 { return false }
            bytes = bytes.dropFirst(exponentDigits)
        }
        return bytes.isEmpty
    }
}

/// Renders a node for an error message: scalars as Kubernetes would print them, collections by kind.
func describe(_ node: Node) -> FieldValue {
    switch node {
    case .scalar(let scalar):
        switch ScalarType(scalar) {
        case .string: return .string(scalar.string)
        default: return .raw(scalar.string)
        }
    case .mapping: return .raw("map")
    case .sequence: return .raw("list")
    case .alias: return .raw("alias")
    }
}

func typeName(_ node: Node) -> String {
    switch node {
    case .scalar(let scalar):
        switch ScalarType(scalar) {
        case .string: return "a string"
        case .int, .float: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    case .mapping: return "a map"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

func isNull(_ node: Node) -> Bool {
    if case .scalar(let scalar) = node, ScalarType(scalar) == .null { return true }
    return false
}

/// Parses an integer the way go-yaml v2 does (Go `ParseInt(s, 0, 64)` after dropping `_`):
/// `8080`, `+1`, `-2`, `0x1F`, `0o17`, `017`, `0b101`, `1_000`.
func parseYAMLInt(_ text: String) -> Int64? {
    var body = Substring(text.replacingOccurrences(of: "_", with: ""))
    var negative = false
    if body.hasPrefix("-") {
        negative = true
        body = body.dropFirst()
    } else if body.hasPrefix("+") {
        body = body.dropFirst()
    }
    var radix = 10
    if body.hasPrefix("0x") || body.hasPrefix("0X") {
        radix = 16
        body = body.dropFirst(2)
    } else if body.hasPrefix("0o") || body.hasPrefix("0O") {
        radix = 8
        body = body.dropFirst(2)
    } else if body.hasPrefix("0b") || body.hasPrefix("0B") {
        radix = 2
        body = body.dropFirst(2)
    } else if body.count > 1 && body.hasPrefix("0") {
        radix = 8
        body = body.dropFirst()
    }
    guard !body.isEmpty, body.allSatisfy(\.isHexDigit), let magnitude = UInt64(body, radix: radix) else { return nil }
    if negative {
        return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
    }
    return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
}

/// Types read from a manifest mapping.
protocol ManifestDecodable {
    init(reader: ObjectReader)
}

/// Reads the fields of one YAML mapping, tracking its field path and which keys were used.
final class ObjectReader {
    let ctx: DecodeContext
    let path: FieldPath
    private var order: [String] = []
    private var values: [String: Node] = [:]
    private var consumed: Set<String> = []

    /// Nil (with an error recorded) when `node` is not a mapping.
    init?(node: Node, path: FieldPath, ctx: DecodeContext) {
        self.ctx = ctx
        self.path = path
        guard case .mapping(let mapping) = node else {
            ctx.error(.invalid(path, describe(node), "expected a map (object), got \(typeName(node))"))
            return nil
        }
        collect(mapping, merging: false)
    }

    private func collect(_ mapping: Node.Mapping, merging: Bool) {
        var merges: [Node] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                ctx.error(.invalid(path, describe(keyNode), "map keys must be strings"))
                continue
            }
            if key.style == .plain && key.string == "<<" {
                merges.append(value)
                continue
            }
            if values[key.string] == nil {
                order.append(key.string)
                values[key.string] = value
            } else if !merging {
                ctx.error(.duplicate(path.child(key.string), .string(key.string)))
            }
        }
        // YAML merge keys (`<<: *defaults`): explicit keys win, as in go-yaml, which Kubernetes uses.
        for merge in merges {
            switch merge {
            case .mapping(let inner):
                guard ctx.visit(path, depth: path.components.count) else { return }
                collect(inner, merging: true)
            case .sequence(let list):
                for case .mapping(let inner) in list {
                    guard ctx.visit(path, depth: path.components.count) else { return }
                    collect(inner, merging: true)
                }
            default:
                ctx.error(.invalid(path.child("<<"), describe(merge), "merge key needs a map or a list of maps"))
            }
        }
    }

    var keys: [String] { order }

    /// The raw node for a key (nil when absent or null), marking it used.
    func node(_ key: String) -> Node? {
        consumed.insert(key)
        guard let node = values[key], !isNull(node) else { return nil }
        return ctx.visit(path.child(key), depth: path.components.count + 1) ? node : nil
    }

    func has(_ key: String) -> Bool {
        if let node = values[key] { return !isNull(node) }
        return false
    }

    /// Marks a key as used without reading it (fields the agent deliberately ignores).
    func skip(_ key: String) {
        consumed.insert(key)
    }

    /// Marks a key as used and, when present, warns that it is ignored.
    func ignore(_ key: String, reason: String) {
        consumed.insert(key)
        if has(key) {
            ctx.warn(DecodeWarning(path: path.child(key), message: "\(path.child(key)): field is ignored: \(reason)"))
        }
    }

    /// Unknown-field warnings for every key not read. Call once the type has read its fields.
    func finish() {
        for key in order where !consumed.contains(key) {
            ctx.warn(.unknownField(path.child(key)))
        }
    }

    // MARK: typed values

    func string(_ key: String) -> String? {
        guard let node = node(key) else { return nil }
        return Self.string(node, path.child(key), ctx)
    }

    static func string(_ node: Node, _ path: FieldPath, _ ctx: DecodeContext) -> String? {
        guard case .scalar(let scalar) = node else {
            ctx.error(.invalid(path, describe(node), "expected a string, got \(typeName(node))"))
            return nil
        }
        switch ScalarType(scalar) {
        case .string:
            return scalar.string
        case .null:
            return nil
        default:
            // Kubernetes refuses these too ("cannot unmarshal number into Go struct field ... of type string").
            ctx.error(.invalid(path, .raw(scalar.string), "expected a string, got \(typeName(node)) (quote it: \(goQuote(scalar.string)))"))
            return nil
        }
    }

    func int64(_ key: String) -> Int64? {
        guard let node = node(key) else { return nil }
        return Self.int64(node, path.child(key), ctx)
    }

    static func int64(_ node: Node, _ path: FieldPath, _ ctx: DecodeContext) -> Int64? {
        guard case .scalar(let scalar) = node, ScalarType(scalar) == .int, let value = parseYAMLInt(scalar.string) else {
            ctx.error(.invalid(path, describe(node), "expected integer"))
            return nil
        }
        return value
    }

    func int32(_ key: String) -> Int32? {
        guard let node = node(key) else { return nil }
        return Self.int32(node, path.child(key), ctx)
    }

    static func int32(_ node: Node, _ path: FieldPath, _ ctx: DecodeContext) -> Int32? {
        guard let value = int64(node, path, ctx) else { return nil }
        guard let narrow = Int32(exactly: value) else {
            ctx.error(.invalid(path, .int(value), "expected a 32-bit integer"))
            return nil
        }
        return narrow
    }

    func bool(_ key: String) -> Bool? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let scalar) = node, ScalarType(scalar) == .bool, let value = Bool.yaml(scalar.string) else {
            ctx.error(.invalid(path.child(key), describe(node), "expected true or false"))
            return nil
        }
        return value
    }

    func strings(_ key: String) -> [String]? {
        list(key) { node, path in Self.string(node, path, ctx) }
    }

    func stringMap(_ key: String) -> [String: String]? {
        map(key) { node, path in Self.string(node, path, ctx) }
    }

    func intOrString(_ key: String) -> IntOrString? {
        guard let node = node(key) else { return nil }
        let path = path.child(key)
        guard case .scalar(let scalar) = node else {
            ctx.error(.invalid(path, describe(node), "expected an integer or a string, got \(typeName(node))"))
            return nil
        }
        switch ScalarType(scalar) {
        case .int:
            if let value = parseYAMLInt(scalar.string), let narrow = Int32(exactly: value) { return .int(narrow) }
            ctx.error(.invalid(path, .raw(scalar.string), "expected a 32-bit integer"))
            return nil
        case .string:
            return .string(scalar.string)
        default:
            ctx.error(.invalid(path, .raw(scalar.string), "expected an integer or a string, got \(typeName(node))"))
            return nil
        }
    }

    func quantity(_ key: String) -> Quantity? {
        guard let node = node(key) else { return nil }
        return Self.quantity(node, path.child(key), ctx)
    }

    static func quantity(_ node: Node, _ path: FieldPath, _ ctx: DecodeContext) -> Quantity? {
        // Kubernetes accepts both `cpu: 1` and `cpu: "1"`.
        guard case .scalar(let scalar) = node, [.string, .int, .float].contains(ScalarType(scalar)) else {
            ctx.error(.invalid(path, describe(node), "expected a quantity such as \"100m\" or \"64Mi\", got \(typeName(node))"))
            return nil
        }
        do {
            return try Quantity(parsing: scalar.string)
        } catch {
            ctx.error(.invalid(path, .string(scalar.string), error.description))
            return nil
        }
    }

    func quantityMap(_ key: String) -> [String: Quantity]? {
        map(key) { node, path in Self.quantity(node, path, ctx) }
    }

    func object<T: ManifestDecodable>(_ key: String, as type: T.Type = T.self) -> T? {
        guard let node = node(key) else { return nil }
        guard let reader = ObjectReader(node: node, path: path.child(key), ctx: ctx) else { return nil }
        let value = T(reader: reader)
        reader.finish()
        return value
    }

    func objects<T: ManifestDecodable>(_ key: String, as type: T.Type = T.self) -> [T]? {
        list(key) { node, path in
            guard let reader = ObjectReader(node: node, path: path, ctx: ctx) else { return nil }
            let value = T(reader: reader)
            reader.finish()
            return value
        }
    }

    /// Reads a list; elements that fail are left out (their errors are recorded).
    func list<T>(_ key: String, _ element: (Node, FieldPath) -> T?) -> [T]? {
        guard let node = node(key) else { return nil }
        let path = path.child(key)
        guard case .sequence(let sequence) = node else {
            ctx.error(.invalid(path, describe(node), "expected a list, got \(typeName(node))"))
            return nil
        }
        var out: [T] = []
        for (index, item) in sequence.enumerated() {
            let itemPath = path.index(index)
            guard ctx.visit(itemPath, depth: itemPath.components.count) else { break }
            if isNull(item) {
                ctx.error(.invalid(itemPath, .raw("null"), "list items may not be null"))
                continue
            }
            if let value = element(item, itemPath) { out.append(value) }
        }
        return out
    }

    func map<T>(_ key: String, _ element: (Node, FieldPath) -> T?) -> [String: T]? {
        guard let node = node(key) else { return nil }
        guard let inner = ObjectReader(node: node, path: path.child(key), ctx: ctx) else { return nil }
        var out: [String: T] = [:]
        for name in inner.keys {
            guard let value = inner.node(name) else { continue }
            if let decoded = element(value, inner.path.key(name)) { out[name] = decoded }
        }
        return out
    }
}

extension Bool {
    /// YAML 1.1 booleans, as resolved by Yams' default resolver.
    static func yaml(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "y", "on": return true
        case "false", "no", "n", "off": return false
        default: return nil
        }
    }
}
