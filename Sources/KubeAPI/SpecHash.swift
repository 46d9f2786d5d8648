import Foundation

/// Stable hashes of pod and container specs, used to notice that a manifest's spec changed.
///
/// The spec is encoded as canonical JSON (sorted keys, canonical quantities, fields in Kubernetes' names) and
/// hashed with FNV-1a 64. Not a cryptographic hash on purpose: the hash only compares the agent's own view of a
/// spec with the one it started containers from, nobody is trying to forge a collision, and FNV-1a is tiny,
/// dependency-free and identical on every platform and run (Swift's `Hasher` is seeded per process, so its values
/// cannot be stored). Kubelet itself uses FNV for the container hash.
public enum SpecHash {
    public static func fnv1a64<Bytes: Sequence>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// Canonical JSON: sorted keys, no escaped slashes, nil fields omitted, ISO 8601 times.
    public static func canonicalJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(value)
    }

    /// 16 lowercase hex digits.
    public static func hash<T: Encodable>(_ value: T) throws -> String {
        let digest = fnv1a64(try canonicalJSON(value))
        return String(digest, radix: 16).leftPadded(to: 16)
    }

    public static func podSpec(_ spec: PodSpec) throws -> String { try hash(spec) }

    public static func container(_ container: Container) throws -> String { try hash(container) }
}
