import ArgumentParser
import Foundation
import KubeAPI
import Yams

/// ConfigMaps and Secrets as kubectl prints them: `[]byte` fields base64 in JSON and YAML.
struct ConfigObjectOut: Codable {
    var apiVersion: String
    var kind: String
    var metadata: ObjectMeta
    var type: String?
    var immutable: Bool?
    var data: [String: String]?
    var binaryData: [String: String]?

    init(_ configMap: ConfigMap) {
        apiVersion = configMap.apiVersion
        kind = configMap.kind
        metadata = configMap.metadata
        immutable = configMap.immutable
        data = configMap.data
        binaryData = configMap.binaryData?.mapValues { $0.base64EncodedString() }
    }

    init(_ secret: Secret) {
        apiVersion = secret.apiVersion
        kind = secret.kind
        metadata = secret.metadata
        type = secret.type
        immutable = secret.immutable
        data = secret.data?.mapValues { $0.base64EncodedString() }
    }

    var dataCount: Int { (data?.count ?? 0) + (binaryData?.count ?? 0) }
}

extension Get {
    func configObjects(kind: String, path: String) throws {
        var items: [ConfigObjectOut]
        if kind == "Secret" {
            items = try connection.call { try connection.client.getJSON(path, as: ObjectList<Secret>.self, decoder: KubeJSON.decoder()) }
                .items.map(ConfigObjectOut.init)
        } else {
            items = try connection.call { try connection.client.getJSON(path, as: ObjectList<ConfigMap>.self, decoder: KubeJSON.decoder()) }
                .items.map(ConfigObjectOut.init)
        }
        items = items.filter { ($0.metadata.namespace ?? "default") == namespace }
        try printResources(items, plural: kind == "Secret" ? "secrets" : "configmaps", name: \.metadata.name) { items in
            let now = Date()
            var rows = [kind == "Secret" ? ["NAME", "TYPE", "DATA", "AGE"] : ["NAME", "DATA", "AGE"]]
            for item in items {
                let itemAge = age(item.metadata.creationTimestamp, now: now)
                rows.append(
                    kind == "Secret"
                        ? [item.metadata.name ?? "", item.type ?? "Opaque", String(item.dataCount), itemAge]
                        : [item.metadata.name ?? "", String(item.dataCount), itemAge])
            }
            return table(rows)
        }
    }
}

extension Get {
    /// kubectl's access-mode abbreviations (RWO, ROX, RWX, RWOP).
    static func modes(_ modes: [String]?) -> String {
        let short = ["ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"]
        return (modes ?? []).map { short[$0] ?? $0 }.joined(separator: ",")
    }

    func printStorage<T: Encodable>(_ items: [T], rows: [[String]], plural: String) throws {
        switch output {
        case "json":
            print(String(decoding: try KubeJSON.encoder(pretty: true).encode(items), as: UTF8.self))
        case "yaml":
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            print(try encoder.encode(items), terminator: "")
        case nil, "wide":
            if rows.count == 1 {
                FileHandle.standardError.write(Data("No resources found\(plural == "persistentvolumes" ? "" : " in \(namespace) namespace").\n".utf8))
                return
            }
            print(table(rows), terminator: "")
        default:
            throw ValidationError("unknown output format \"\(output ?? "")\" (wide, json, yaml)")
        }
    }

    func claims() throws {
        var items = try connection.call {
            try connection.client.getJSON("/v1/persistentvolumeclaims", as: ObjectList<PersistentVolumeClaim>.self, decoder: KubeJSON.decoder())
        }.items.filter { ($0.metadata.namespace ?? "default") == namespace }
        if let name { items = items.filter { $0.metadata.name == name } }
        var rows = [["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "AGE"]]
        for claim in items {
            rows.append([
                claim.metadata.name ?? "", claim.status?.phase ?? "Pending", claim.spec.volumeName ?? "", claim.status?.capacity?["storage"]?.description ?? "",
                Self.modes(claim.status?.accessModes), claim.spec.storageClassName ?? "local-path", "<unset>", "<unknown>",
            ])
        }
        try printStorage(items, rows: rows, plural: "persistentvolumeclaims")
    }

    func persistentVolumes() throws {
        var items = try connection.call {
            try connection.client.getJSON("/v1/persistentvolumes", as: ObjectList<PersistentVolume>.self, decoder: KubeJSON.decoder())
        }.items
        if let name { items = items.filter { $0.metadata.name == name } }
        var rows = [["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS", "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"]]
        for volume in items {
            rows.append([
                volume.metadata.name ?? "", volume.spec.capacity?["storage"]?.description ?? "", Self.modes(volume.spec.accessModes),
                volume.spec.persistentVolumeReclaimPolicy ?? "Retain", volume.status?.phase ?? "Available", "", volume.spec.storageClassName ?? "",
                "<unset>", "", "<unknown>",
            ])
        }
        try printStorage(items, rows: rows, plural: "persistentvolumes")
    }
}
