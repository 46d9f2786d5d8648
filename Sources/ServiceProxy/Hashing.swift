import Crypto
import Foundation

/// Chain names exactly as kube-proxy derives them, so rules on this node read like a kube-proxy node's.
public enum ChainNames {
    /// RFC 4648 base32 (Go's `base32.StdEncoding`), with padding.
    public static func base32(_ bytes: some Sequence<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = ""
        var buffer: UInt64 = 0
        var bits = 0

        for byte in bytes {
            buffer = (buffer << 8) | UInt64(byte)
            bits += 8

            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt64(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt64(5 - bits)) & 31)]) }
        while out.count % 8 != 0 { out.append("=") }

        return out
    }

    static func hash(_ text: String, length: Int) -> String {
        String(base32(SHA256.hash(data: Data(text.utf8))).prefix(length))
    }

    /// `portProtoHash`: base32(sha256(servicePortName + protocol))[:16].
    public static func servicePortHash(_ name: ServicePortName, _ proto: ServiceProtocol) -> String {
        hash(name.description + proto.lowercased, length: 16)
    }

    public static func svc(_ name: ServicePortName, _ proto: ServiceProtocol) -> String { "KUBE-SVC-" + servicePortHash(name, proto) }
    public static func svl(_ name: ServicePortName, _ proto: ServiceProtocol) -> String { "KUBE-SVL-" + servicePortHash(name, proto) }
    public static func ext(_ name: ServicePortName, _ proto: ServiceProtocol) -> String { "KUBE-EXT-" + servicePortHash(name, proto) }

    /// `KUBE-SEP-` + base32(sha256(servicePortName + protocol + "ip:port"))[:16].
    public static func sep(_ name: ServicePortName, _ proto: ServiceProtocol, endpoint: String) -> String {
        "KUBE-SEP-" + hash(name.description + proto.lowercased + endpoint, length: 16)
    }

    /// Prefixes of per-service chains: the only chains garbage-collected (`isServiceChainName`).
    public static let servicePrefixes = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-"]

    public static func isServiceChain(_ name: String) -> Bool { servicePrefixes.contains { name.hasPrefix($0) } }

    // nftables mode: `<prefix>-<base32(sha256(base))[:8]>-<base>`, base = `ns/svc/proto/portname`.
    static func nftBase(_ name: ServicePortName, _ proto: ServiceProtocol) -> String {
        "\(name.namespace)/\(name.name)/\(proto.lowercased)/\(name.port)"
    }

    static func hashAndTruncate(_ base: String) -> String {
        let full = hash(base, length: 8) + "-" + base
        // nftables chain names are limited to 256 bytes.
        return String(full.prefix(200))
    }

    public static func nftService(_ name: ServicePortName, _ proto: ServiceProtocol) -> String {
        "service-" + hashAndTruncate(nftBase(name, proto))
    }
    public static func nftExternal(_ name: ServicePortName, _ proto: ServiceProtocol) -> String {
        "external-" + hashAndTruncate(nftBase(name, proto))
    }
    public static func nftLocal(_ name: ServicePortName, _ proto: ServiceProtocol) -> String {
        "local-" + hashAndTruncate(nftBase(name, proto))
    }
    static func nftEndpointBase(_ name: ServicePortName, _ proto: ServiceProtocol, _ endpoint: ServiceEndpoint) -> String {
        nftBase(name, proto) + "__" + endpoint.ip.replacingOccurrences(of: ":", with: ".") + "/\(endpoint.port)"
    }
    public static func nftEndpoint(_ name: ServicePortName, _ proto: ServiceProtocol, _ endpoint: ServiceEndpoint) -> String {
        "endpoint-" + hashAndTruncate(nftEndpointBase(name, proto, endpoint))
    }
    public static func nftAffinity(_ name: ServicePortName, _ proto: ServiceProtocol, _ endpoint: ServiceEndpoint) -> String {
        "affinity-" + hashAndTruncate(nftEndpointBase(name, proto, endpoint))
    }
}
