import Foundation
import Yams

/// JSON encoding of API objects the way `kubectl get -o json` prints them.
public enum KubeJSON {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        // Kubernetes times are RFC 3339 in UTC with second precision.
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// YAML encoding of API objects for `agentctl get -o yaml`: sorted keys like kubectl, nil fields omitted.
public enum KubeYAML {
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(value)
    }
}

/// A Kubernetes list (`{"apiVersion", "kind", "items"}`): what the agent's API returns for a kind and what agentctl
/// prints for `-o json|yaml` (kubectl's `kind: List`). A list without apiVersion or kind still decodes.
public struct ObjectList<Item: Codable>: Codable {
    public var apiVersion: String
    public var kind: String
    public var items: [Item]

    public init(apiVersion: String = "v1", kind: String = "List", items: [Item]) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.items = items
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion) ?? "v1"
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? "List"
        items = try container.decode([Item].self, forKey: .items)
    }
}
