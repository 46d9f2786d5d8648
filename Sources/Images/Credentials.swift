import Foundation

/// A username/password (or identity token) for one registry.
public struct RegistryCredential: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    var basicAuthorization: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// Credentials keyed by registry host, read from the conventional Docker `config.json`
/// (`{"auths": {"host": {"auth": base64(user:pass)}}}`, or `username`/`password` fields).
public struct RegistryCredentials: Sendable, Equatable {
    public var byHost: [String: RegistryCredential]

    public init(_ byHost: [String: RegistryCredential] = [:]) { self.byHost = byHost }

    /// No credentials: anonymous pulls only.
    public static let none = RegistryCredentials()

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    public static var defaultConfigPath: String {
        if let dir = ProcessInfo.processInfo.environment["DOCKER_CONFIG"], !dir.isEmpty { return dir + "/config.json" }
        return NSHomeDirectory() + "/.docker/config.json"
    }

    /// Reads `path`. A missing file gives no credentials; a malformed one is an error.
    public static func load(dockerConfig path: String = defaultConfigPath) throws(ImageError) -> RegistryCredentials {
        guard FileManager.default.fileExists(atPath: path) else { return .none }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .io(path: path, message: "cannot read credentials: \(error.localizedDescription)")
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws(ImageError) -> RegistryCredentials {
        struct File: Decodable {
            struct Entry: Decodable {
                var auth: String?
                var username: String?
                var password: String?
                var identitytoken: String?
            }
            var auths: [String: Entry]?
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw .io(path: path, message: "malformed docker config.json: \(error)")
        }
        var result: [String: RegistryCredential] = [:]
        for (key, entry) in file.auths ?? [:] {
            let host = normaliseHost(key)
            if let user = entry.username, let password = entry.password, !user.isEmpty {
                result[host] = RegistryCredential(username: user, password: password)
            } else if let auth = entry.auth, let decoded = Data(base64Encoded: auth), let text = String(data: decoded, encoding: .utf8),
                let colon = text.firstIndex(of: ":")
            {
                result[host] = RegistryCredential(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
            } else if let token = entry.identitytoken, !token.isEmpty {
                result[host] = RegistryCredential(username: "<token>", password: token)
            } else {
                throw .io(path: path, message: "entry for \(key) has no usable auth, username/password or identitytoken")
            }
        }
        return RegistryCredentials(result)
    }

    /// `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/x` → `host:5000`.
    static func normaliseHost(_ key: String) -> String {
        var host = Substring(key)
        if let range = host.range(of: "://") { host = host[range.upperBound...] }
        if let slash = host.firstIndex(of: "/") { host = host[..<slash] }
        let text = String(host)
        switch text {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return ImageReference.defaultRegistry
        default: return text
        }
    }

    /// The credential for `registry` (a reference's registry, e.g. `docker.io` or `127.0.0.1:5000`).
    public func credential(for registry: String) -> RegistryCredential? { byHost[Self.normaliseHost(registry)] }
}
