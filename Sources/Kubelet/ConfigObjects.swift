import AgentAPI
import AgentStore
import Crypto
import Foundation
import KubeAPI
import Synchronization

/// The node's secret-sealing key: 32 random bytes at `<root>/node.key` (mode 0600), created at first start.
enum NodeKey {
    static func loadOrCreate(root: String) throws(AgentError) -> Data {
        let path = root + "/node.key"
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count == 32 else { throw AgentError(description: "\(path) is \(data.count) bytes, expected a 32-byte key") }
            chmod(path, 0o600)
            return data
        }
        let key = SymmetricKey(size: .bits256)
        let bytes = key.withUnsafeBytes { Data($0) }
        // O_EXCL: two agents starting at once must not each write a different key.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AgentError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw AgentError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return bytes
    }
}

/// AES-GCM sealing of secret manifests kept in the agent's state (nonce + ciphertext + tag).
struct SecretSealer: Sendable {
    /// The raw key (SymmetricKey is not Sendable; one is made per call).
    let keyBytes: Data
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    func seal(_ plaintext: Data) throws(AgentError) -> Data {
        do {
            guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
                throw AgentError(description: "AES-GCM produced no combined box")
            }
            return combined
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError(description: "sealing a secret: \(error)")
        }
    }

    func open(_ sealed: Data) throws(AgentError) -> Data {
        do { return try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key) } catch {
            throw AgentError(description: "opening a sealed secret (wrong node.key?): \(error)")
        }
    }
}

/// The ConfigMaps and Secrets the manifest directory defines, shared by the agent (writer) and the pod
/// workers (readers). `generation` changes whenever the contents do, so workers know to refresh volumes.
final class ConfigObjectStore: Sendable {
    private struct State {
        var configMaps: [String: ConfigMap] = [:]
        var secrets: [String: Secret] = [:]
        var claims: [String: ClaimBinding] = [:]
        var volumes: [PersistentVolume] = []
        var generation = 0
    }
    private let state = Mutex(State())

    var generation: Int { state.withLock { $0.generation } }

    func configMap(namespace: String, name: String) -> ConfigMap? { state.withLock { $0.configMaps["\(namespace)/\(name)"] } }
    func secret(namespace: String, name: String) -> Secret? { state.withLock { $0.secrets["\(namespace)/\(name)"] } }
    var configMaps: [ConfigMap] { state.withLock { $0.configMaps.values.sorted { $0.key < $1.key } } }
    var secrets: [Secret] { state.withLock { $0.secrets.values.sorted { $0.key < $1.key } } }

    func claim(namespace: String, name: String) -> ClaimBinding? { state.withLock { $0.claims["\(namespace)/\(name)"] } }
    var claimBindings: [ClaimBinding] { state.withLock { $0.claims.values.sorted { $0.claim.key < $1.claim.key } } }
    var persistentVolumes: [PersistentVolume] { state.withLock { $0.volumes } }

    /// Replaces the claims' bindings and the volumes; true when they changed.
    func replaceStorage(claims: [ClaimBinding], volumes: [PersistentVolume]) -> Bool {
        let newClaims = Dictionary(claims.map { ($0.claim.key, $0) }, uniquingKeysWith: { first, _ in first })
        return state.withLock { state in
            guard state.claims != newClaims || state.volumes != volumes else { return false }
            state.claims = newClaims
            state.volumes = volumes
            state.generation += 1
            return true
        }
    }

    /// Replaces the whole set; returns the kinds whose contents changed.
    func replace(configMaps: [ConfigMap], secrets: [Secret]) -> (configMaps: Bool, secrets: Bool) {
        let newConfigMaps = Dictionary(configMaps.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let newSecrets = Dictionary(secrets.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        return state.withLock { state in
            let changed = (state.configMaps != newConfigMaps, state.secrets != newSecrets)
            if changed.0 || changed.1 {
                state.configMaps = newConfigMaps
                state.secrets = newSecrets
                state.generation += 1
            }
            return changed
        }
    }

    func configMapData(namespace: String, name: String) -> [String: Data]? { configMap(namespace: namespace, name: name)?.contents }
    func secretData(namespace: String, name: String) -> [String: Data]? { secret(namespace: namespace, name: name)?.contents }
}

extension Agent {
    /// Takes the ConfigMaps and Secrets of a directory read: memory first (workers read it), then the store
    /// (secrets sealed), then wakes the workers so waiting pods retry and mounted volumes refresh.
    func applyObjects(_ objects: [SourceObject]) {
        var configMaps: [ConfigMap] = []
        var secrets: [Secret] = []
        var files: [String: String] = [:]
        for source in objects {
            switch source.object {
            case .configMap(let configMap):
                configMaps.append(configMap)
                files["ConfigMap \(configMap.key)"] = source.file
            case .secret(let secret):
                secrets.append(secret)
                files["Secret \(secret.key)"] = source.file
            default:
                continue
            }
        }
        let changed = context.objects.replace(configMaps: configMaps, secrets: secrets)
        guard changed.configMaps || changed.secrets else { return }
        persistObjects(configMaps: configMaps, secrets: secrets, files: files, changed: changed)
        Log.info("configuration objects: \(configMaps.count) ConfigMaps, \(secrets.count) Secrets")
        // Synchronous up to here (no suspension, like `apply`): two directory reads never interleave.
        Task { await self.objectsChanged() }
    }

    private func persistObjects(configMaps: [ConfigMap], secrets: [Secret], files: [String: String], changed: (configMaps: Bool, secrets: Bool)) {
        let encoder = KubeJSON.encoder(pretty: false)
        let now = Date()
        do {
            if changed.configMaps {
                let records = try configMaps.map { configMap in
                    ObjectRecord(
                        kind: "ConfigMap", namespace: configMap.metadata.namespace ?? "default", name: configMap.metadata.name ?? "",
                        file: files["ConfigMap \(configMap.key)"] ?? "", manifest: try encoder.encode(configMap), updatedAt: now)
                }
                try context.store.replaceObjects(kind: "ConfigMap", with: records)
            }
            if changed.secrets {
                let records = try secrets.map { secret in
                    ObjectRecord(
                        kind: "Secret", namespace: secret.metadata.namespace ?? "default", name: secret.metadata.name ?? "",
                        file: files["Secret \(secret.key)"] ?? "", manifest: try context.sealer.seal(try encoder.encode(secret)), updatedAt: now)
                }
                try context.store.replaceObjects(kind: "Secret", with: records)
            }
        } catch {
            // The message names the operation, never the values.
            Log.error("saving configuration objects: \(error)")
        }
    }
}

/// An environment that keeps first-definition order while later definitions replace values (kubelet
/// builds a map; a list with duplicate names would make getenv return the stale first one).
struct OrderedEnvironment {
    private(set) var entries: [(name: String, value: String)] = []
    private(set) var values: [String: String] = [:]
    private var positions: [String: Int] = [:]

    mutating func set(_ name: String, _ value: String) {
        if let position = positions[name] {
            entries[position].value = value
        } else {
            positions[name] = entries.count
            entries.append((name, value))
        }
        values[name] = value
    }
}

/// ConfigMap and Secret references of a container's environment, with kubelet's error texts
/// (kubelet.md §4.2): the GroupResource of the not-found error is singular (`configmap "x" not found`).
struct ConfigEnvironment {
    let objects: ConfigObjectStore
    let namespace: String

    func addEnvFrom(_ sources: [EnvFromSource], to env: inout OrderedEnvironment) throws(ContainerConfigError) {
        for source in sources {
            let prefix = source.prefix ?? ""
            var data: [String: Data]?
            if let ref = source.configMapRef {
                data = objects.configMapData(namespace: namespace, name: ref.name ?? "")
                if data == nil && ref.optional != true { throw ContainerConfigError(message: "configmap \"\(ref.name ?? "")\" not found") }
            } else if let ref = source.secretRef {
                data = objects.secretData(namespace: namespace, name: ref.name ?? "")
                if data == nil && ref.optional != true { throw ContainerConfigError(message: "secret \"\(ref.name ?? "")\" not found") }
            }
            for (key, value) in (data ?? [:]).sorted(by: { $0.key < $1.key }) {
                env.set(prefix + key, String(decoding: value, as: UTF8.self))
            }
        }
    }

    /// The value of a configMapKeyRef/secretKeyRef; nil when optional and missing.
    func value(_ source: EnvVarSource) throws(ContainerConfigError) -> String? {
        let isSecret = source.configMapKeyRef == nil
        guard let ref = source.configMapKeyRef ?? source.secretKeyRef else { return nil }
        let name = ref.name ?? ""
        let optional = ref.optional == true
        let data = isSecret ? objects.secretData(namespace: namespace, name: name) : objects.configMapData(namespace: namespace, name: name)
        guard let data else {
            if optional { return nil }
            throw ContainerConfigError(message: "\(isSecret ? "secret" : "configmap") \"\(name)\" not found")
        }
        guard let value = data[ref.key] else {
            if optional { return nil }
            throw ContainerConfigError(message: "couldn't find key \(ref.key) in \(isSecret ? "Secret" : "ConfigMap") \(namespace)/\(name)")
        }
        return String(decoding: value, as: UTF8.self)
    }
}

extension Agent {
    /// `GET /v1/configmaps`, `GET /v1/secrets`: the stored objects (secrets unsealed; data base64 in JSON, as
    /// the API server returns it), creationTimestamp = when the agent last saw them change.
    func configObjects(kind: String) -> APIResponse {
        do {
            let records = try context.store.objects(kind: kind)
            let decoder = KubeJSON.decoder()
            let body: Data
            if kind == "Secret" {
                let items = try records.map { record in
                    var secret = try decoder.decode(Secret.self, from: try context.sealer.open(record.manifest))
                    secret.metadata.creationTimestamp = record.updatedAt
                    return secret
                }
                body = try KubeJSON.encoder(pretty: true).encode(ObjectList(kind: "SecretList", items: items))
            } else {
                let items = try records.map { record in
                    var configMap = try decoder.decode(ConfigMap.self, from: record.manifest)
                    configMap.metadata.creationTimestamp = record.updatedAt
                    return configMap
                }
                body = try KubeJSON.encoder(pretty: true).encode(ObjectList(kind: "ConfigMapList", items: items))
            }
            return APIResponse(status: 200, body: body)
        } catch {
            return .error(500, "listing \(kind) objects: \(error)")
        }
    }
}
