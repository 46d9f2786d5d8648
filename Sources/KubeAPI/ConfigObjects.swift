import Foundation
import Yams

/// A v1 ConfigMap: string `data` and base64 `binaryData` (pkg/apis/core/types.go).
public struct ConfigMap: Codable, Hashable, Sendable {
    public var apiVersion: String = "v1"
    public var kind: String = "ConfigMap"
    public var metadata: ObjectMeta
    public var data: [String: String]?
    public var binaryData: [String: Data]?
    public var immutable: Bool?

    public init(metadata: ObjectMeta = ObjectMeta(), data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }

    public var key: String { metadata.key }

    /// Every key with its bytes (`data` as UTF-8, then `binaryData`), as volumes and env see them.
    public var contents: [String: Data] {
        var out: [String: Data] = [:]
        for (key, value) in data ?? [:] { out[key] = Data(value.utf8) }
        for (key, value) in binaryData ?? [:] { out[key] = value }
        return out
    }
}

extension ConfigMap: ManifestDecodable {
    init(reader r: ObjectReader) {
        metadata = r.object("metadata") ?? ObjectMeta()
        data = r.stringMap("data")
        binaryData = r.map("binaryData") { node, path in r.base64(node, path) }
        immutable = r.bool("immutable")
        r.skip("apiVersion")
        r.skip("kind")
    }
}

/// A v1 Secret. `stringData` is merged into `data` when read (as the API server does on write), so the
/// object only ever holds `data`. Its description never shows the values.
public struct Secret: Codable, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var apiVersion: String = "v1"
    public var kind: String = "Secret"
    public var metadata: ObjectMeta
    public var data: [String: Data]?
    public var type: String?
    public var immutable: Bool?

    public init(metadata: ObjectMeta = ObjectMeta(), data: [String: Data]? = nil, type: String? = nil) {
        self.metadata = metadata
        self.data = data
        self.type = type
    }

    public var key: String { metadata.key }
    public var contents: [String: Data] { data ?? [:] }

    public var description: String { "Secret \(metadata.key) (\(type ?? Secret.opaque), \((data ?? [:]).count) keys)" }
    public var debugDescription: String { description }

    public static let opaque = "Opaque"

    /// Keys each built-in secret type requires (pkg/apis/core/validation ValidateSecret).
    static let requiredKeys: [String: [String]] = [
        "kubernetes.io/tls": ["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
        "kubernetes.io/dockercfg": [".dockercfg"],
        "kubernetes.io/ssh-auth": ["ssh-privatekey"],
    ]
}

extension Secret: ManifestDecodable {
    init(reader r: ObjectReader) {
        metadata = r.object("metadata") ?? ObjectMeta()
        var merged = r.map("data") { node, path in r.base64(node, path) }
        if let stringData = r.stringMap("stringData") {
            var data = merged ?? [:]
            for (key, value) in stringData { data[key] = Data(value.utf8) }
            merged = data
        }
        data = merged
        type = r.string("type")
        immutable = r.bool("immutable")
        r.skip("apiVersion")
        r.skip("kind")
    }
}

extension ObjectReader {
    /// Base64 bytes (`[]byte` fields); the error names the first bad byte as Go's encoding/base64 does.
    func base64(_ node: Node, _ path: FieldPath) -> Data? {
        guard let text = Self.string(node, path, ctx) else { return nil }
        if let data = Data(base64Encoded: text) { return data }
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8)
        let offset = text.utf8.firstIndex { !alphabet.contains($0) }.map { text.utf8.distance(from: text.utf8.startIndex, to: $0) } ?? text.utf8.count
        ctx.error(.invalid(path, .raw("\"<redacted>\""), "illegal base64 data at input byte \(offset)"))
        return nil
    }
}

extension Defaults {
    public static func apply(to configMap: inout ConfigMap) {
        if configMap.metadata.namespace?.isEmpty ?? true { configMap.metadata.namespace = namespace }
    }

    public static func apply(to secret: inout Secret) {
        if secret.metadata.namespace?.isEmpty ?? true { secret.metadata.namespace = namespace }
        if secret.type?.isEmpty ?? true { secret.type = Secret.opaque }
    }
}

extension Validation {
    /// kubectl's limit on the total size of a ConfigMap's or Secret's data.
    public static let maxConfigBytes = 1024 * 1024

    public static func validate(_ configMap: ConfigMap) -> [FieldError] {
        var errors = validate(configMap.metadata, path: FieldPath("metadata"))
        var total = 0
        for (key, value) in (configMap.data ?? [:]).sorted(by: { $0.key < $1.key }) {
            total += value.utf8.count
            errors += Names.configMapKey(key).map { .invalid(FieldPath("data").key(key), .string(key), $0) }
        }
        for (key, value) in (configMap.binaryData ?? [:]).sorted(by: { $0.key < $1.key }) {
            total += value.count
            errors += Names.configMapKey(key).map { .invalid(FieldPath("binaryData").key(key), .string(key), $0) }
            if configMap.data?[key] != nil {
                errors.append(.invalid(FieldPath("binaryData").key(key), .string(key), "duplicate of key present in data"))
            }
        }
        if total > maxConfigBytes {
            errors.append(FieldError(.tooLong(.raw(""), max: maxConfigBytes), FieldPath("data")))
        }
        return errors
    }

    public static func validate(_ secret: Secret) -> [FieldError] {
        var errors = validate(secret.metadata, path: FieldPath("metadata"))
        var total = 0
        // Values are never echoed: only keys appear in messages.
        for (key, value) in (secret.data ?? [:]).sorted(by: { $0.key < $1.key }) {
            total += value.count
            errors += Names.configMapKey(key).map { .invalid(FieldPath("data").key(key), .string(key), $0) }
        }
        if total > maxConfigBytes {
            errors.append(FieldError(.tooLong(.raw(""), max: maxConfigBytes), FieldPath("data")))
        }
        let type = secret.type ?? Secret.opaque
        for key in Secret.requiredKeys[type] ?? [] where secret.data?[key] == nil {
            errors.append(.required(FieldPath("data").key(key)))
        }
        if type == "kubernetes.io/basic-auth", secret.data?["username"] == nil, secret.data?["password"] == nil {
            errors.append(.required(FieldPath("data").key("username"), "either username or password is required"))
        }
        return errors
    }
}
