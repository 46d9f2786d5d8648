import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Synchronization

/// How the image service talks to registries.
public struct RegistryOptions: Sendable {
    /// Hosts (`host` or `host:port`) reached over HTTPS without certificate verification, falling back to
    /// plain HTTP. Loopback hosts are always treated as insecure, as docker and containerd do.
    public var insecureHosts: Set<String>
    /// The platform picked from manifest lists / OCI indexes.
    public var platform: Platform
    /// Layers downloaded at the same time.
    public var maxConcurrentDownloads: Int
    /// Manifests and indexes larger than this are rejected (containerd uses 4 MiB).
    public var maxManifestBytes: Int
    /// Connect timeout in seconds.
    public var connectTimeoutSeconds: Int64

    public init(
        insecureHosts: Set<String> = [], platform: Platform = .linuxAMD64, maxConcurrentDownloads: Int = 4, maxManifestBytes: Int = 4 << 20,
        connectTimeoutSeconds: Int64 = 10
    ) {
        self.insecureHosts = insecureHosts
        self.platform = platform
        self.maxConcurrentDownloads = maxConcurrentDownloads
        self.maxManifestBytes = maxManifestBytes
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    func isInsecure(_ host: String) -> Bool {
        if insecureHosts.contains(host) { return true }
        let bare: Substring
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            bare = host[host.index(after: host.startIndex)..<close]
        } else {
            bare = host.split(separator: ":", maxSplits: 1).first ?? Substring(host)
        }
        return bare == "localhost" || bare.hasPrefix("127.") || bare == "::1"
    }
}

/// A parsed `WWW-Authenticate` challenge.
struct AuthChallenge: Equatable {
    var scheme: String
    var parameters: [String: String]

    /// Parses `Bearer realm="…",service="…",scope="…"` (quoted values may contain commas).
    static func parse(_ header: String) -> AuthChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.isEmpty ? nil : AuthChallenge(scheme: trimmed.lowercased(), parameters: [:])
        }
        let scheme = trimmed[..<space].lowercased()
        var params: [String: String] = [:]
        var rest = trimmed[trimmed.index(after: space)...]
        while !rest.isEmpty {
            rest = rest.drop(while: { $0 == " " || $0 == "," })
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var consumed = rest.startIndex
                for index in rest.indices {
                    consumed = rest.index(after: index)
                    let c = rest[index]
                    if escaped {
                        value.append(c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        break
                    } else {
                        value.append(c)
                    }
                }
                rest = rest[consumed...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            params[key] = value
        }
        return AuthChallenge(scheme: scheme, parameters: params)
    }
}

/// Progress of one blob during a pull.
public struct LayerProgress: Sendable {
    public enum Phase: String, Sendable {
        case waiting, downloading, verifying, extracting, done, alreadyExists = "exists"
    }
    public var digest: Digest
    public var phase: Phase
    public var bytes: Int64
    public var total: Int64
}

/// A client for one registry host and repository, speaking the OCI Distribution API.
final class RegistryClient: Sendable {
    let reference: ImageReference
    let host: String
    let options: RegistryOptions
    let credential: RegistryCredential?
    private let http: HTTPClient
    private let state = Mutex(State())

    private struct State {
        var baseURL: String?
        var authorization: String?
        var challenge: AuthChallenge?
    }

    init(reference: ImageReference, options: RegistryOptions, credentials: RegistryCredentials) {
        self.reference = reference
        self.host = reference.registryHost
        self.options = options
        self.credential = credentials.credential(for: reference.registry)
        let timeout = HTTPClient.Configuration.Timeout(connect: .seconds(options.connectTimeoutSeconds), read: .seconds(120))
        let configuration: HTTPClient.Configuration
        if options.isInsecure(reference.registry) {
            configuration = HTTPClient.Configuration(certificateVerification: .none, timeout: timeout)
        } else {
            configuration = HTTPClient.Configuration(timeout: timeout)
        }
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func shutdown() async {
        do { try await http.shutdown() } catch {
            // Shutting down an idle client only fails if it was already shut down; nothing to clean up.
            _ = error
        }
    }

    private var image: String { reference.description }

    // MARK: - Ping and authentication

    /// `GET /v2/`: picks the scheme and sets up authentication for `reference.repository`.
    func ping() async throws {
        // Insecure hosts: plain HTTP first (a TLS server answers it with 400 at once, while a TLS
        // handshake against a plain-HTTP server can stall until the timeout), then HTTPS unverified.
        let schemes = options.isInsecure(reference.registry) ? ["http", "https"] : ["https"]
        var lastError: (any Error)?
        for scheme in schemes {
            let base = "\(scheme)://\(host)"
            var request = HTTPClientRequest(url: base + "/v2/")
            request.method = .GET
            do {
                let response = try await http.execute(request, timeout: .seconds(options.connectTimeoutSeconds + 5))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if scheme == "http" && response.status.code == 400 && schemes.count > 1 {
                    lastError = ImageError.registryError(image: image, status: 400, detail: "plain HTTP refused")
                    continue
                }
                state.withLock { $0.baseURL = base }
                switch response.status.code {
                case 200..<300:
                    return
                case 401:
                    let header = response.headers.first(name: "WWW-Authenticate") ?? ""
                    guard let challenge = AuthChallenge.parse(header) else {
                        throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "401 without a usable WWW-Authenticate header")
                    }
                    try await authenticate(challenge)
                    return
                default:
                    throw ImageError.registryError(image: image, status: Int(response.status.code), detail: "GET /v2/ failed")
                }
            } catch let error as ImageError {
                throw error
            } catch {
                lastError = error
                // Nothing listens or the name does not resolve: HTTPS on the same port will not do better.
                if Self.isConnectFailure(error) { break }
            }
        }
        throw ImageError.registryUnreachable(registry: reference.registry, detail: lastError.map { String(describing: $0) } ?? "no scheme")
    }

    /// Connection refused, DNS failure or connect timeout (as opposed to a protocol error after connecting).
    static func isConnectFailure(_ error: any Error) -> Bool {
        if let io = error as? IOError { return io.errnoCode == ECONNREFUSED || io.errnoCode == EHOSTUNREACH || io.errnoCode == ENETUNREACH }
        if error is SocketAddressError { return true }
        if let client = error as? HTTPClientError { return client == .connectTimeout }
        return false
    }

    private func authenticate(_ challenge: AuthChallenge) async throws {
        state.withLock { $0.challenge = challenge }
        switch challenge.scheme {
        case "basic":
            guard let credential else {
                throw ImageError.unauthorized(
                    image: image, registry: reference.registry, detail: "registry requires basic auth and no credentials are configured")
            }
            state.withLock { $0.authorization = credential.basicAuthorization }
        case "bearer":
            let token = try await fetchToken(challenge, scope: challenge.parameters["scope"] ?? "repository:\(reference.repository):pull")
            state.withLock { $0.authorization = "Bearer " + token }
        default:
            throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "unsupported auth scheme \(challenge.scheme)")
        }
    }

    private func fetchToken(_ challenge: AuthChallenge, scope: String) async throws -> String {
        guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
            throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "bearer challenge without realm")
        }
        var query = components.queryItems ?? []
        if let service = challenge.parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        // Ask for the repository we pull, even if the ping challenge named another scope.
        let wanted = "repository:\(reference.repository):pull"
        query.append(URLQueryItem(name: "scope", value: scope.contains(reference.repository) ? scope : wanted))
        components.queryItems = query
        guard let url = components.string else {
            throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "invalid token realm \(realm)")
        }
        var request = HTTPClientRequest(url: url)
        if let credential { request.headers.add(name: "Authorization", value: credential.basicAuthorization) }
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: .seconds(30)) } catch {
            throw ImageError.registryUnreachable(registry: realm, detail: "token endpoint: \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 200 else {
            let detail = credential == nil ? "anonymous token request refused" : "credentials rejected by token endpoint"
            throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "\(detail) (HTTP \(response.status.code))")
        }
        struct TokenResponse: Decodable {
            var token: String?
            var access_token: String?
        }
        let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(body.readableBytesView))
        guard let token = decoded?.token ?? decoded?.access_token, !token.isEmpty else {
            throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "token endpoint returned no token")
        }
        return token
    }

    // MARK: - Requests

    /// Sends a GET for `path`, re-authenticating once on a 401 with a new challenge.
    private func get(_ path: String, accept: String?) async throws -> HTTPClientResponse {
        for attempt in 0..<2 {
            let (base, authorization) = state.withLock { ($0.baseURL, $0.authorization) }
            guard let base else { throw ImageError.registryUnreachable(registry: reference.registry, detail: "not pinged") }
            var request = HTTPClientRequest(url: base + path)
            if let accept { request.headers.add(name: "Accept", value: accept) }
            if let authorization { request.headers.add(name: "Authorization", value: authorization) }
            let response: HTTPClientResponse
            do { response = try await http.execute(request, timeout: .seconds(600)) } catch {
                throw ImageError.registryUnreachable(registry: reference.registry, detail: String(describing: error))
            }
            if response.status.code == 401 {
                let body = try? await response.body.collect(upTo: 1 << 16)
                if attempt == 0, let header = response.headers.first(name: "WWW-Authenticate"), let challenge = AuthChallenge.parse(header),
                    challenge.scheme == "bearer"
                {
                    try await authenticate(challenge)
                    continue
                }
                let why = credential == nil ? "no credentials configured" : "credentials rejected"
                throw ImageError.unauthorized(
                    image: image, registry: reference.registry, detail: "\(why); \(Self.registryMessage(body) ?? "HTTP 401")")
            }
            return response
        }
        throw ImageError.unauthorized(image: image, registry: reference.registry, detail: "authentication failed twice")
    }

    /// Extracts `errors[].code: message` from a registry error body.
    static func registryMessage(_ body: ByteBuffer?) -> String? {
        guard let body else { return nil }
        struct Errors: Decodable {
            struct Item: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Item]?
        }
        guard let decoded = try? JSONDecoder().decode(Errors.self, from: Data(body.readableBytesView)), let items = decoded.errors, !items.isEmpty else {
            let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty ? nil : String(text.prefix(200))
        }
        return items.map { "\($0.code ?? "ERROR"): \($0.message ?? "")" }.joined(separator: "; ")
    }

    private func failure(_ response: HTTPClientResponse, what: String) async -> ImageError {
        let body = try? await response.body.collect(upTo: 1 << 16)
        let message = Self.registryMessage(body)
        switch response.status.code {
        case 404: return .notFound(image: image, what: "\(what)\(message.map { " (\($0))" } ?? "")")
        case 403: return .unauthorized(image: image, registry: reference.registry, detail: "access denied to \(what)")
        default: return .registryError(image: image, status: Int(response.status.code), detail: "\(what): \(message ?? "no detail")")
        }
    }

    /// Fetches a manifest or index by tag or digest. Verifies the digest when one is known.
    func fetchManifest(_ ref: String, expected: Digest?) async throws -> (data: Data, mediaType: String, digest: Digest) {
        let response = try await get("/v2/\(reference.repository)/manifests/\(ref)", accept: MediaType.acceptManifests)
        guard response.status.code == 200 else { throw await failure(response, what: "manifest \(ref)") }
        let limit = options.maxManifestBytes
        if let length = response.headers.first(name: "Content-Length").flatMap(Int64.init), length > Int64(limit) {
            throw ImageError.manifestTooLarge(image: image, size: length, limit: Int64(limit))
        }
        let body: ByteBuffer
        do { body = try await response.body.collect(upTo: limit) } catch let error as NIOTooManyBytesError {
            _ = error
            throw ImageError.manifestTooLarge(image: image, size: Int64(limit) + 1, limit: Int64(limit))
        } catch {
            throw ImageError.registryUnreachable(registry: reference.registry, detail: "reading manifest \(ref): \(error)")
        }
        let data = Data(body.readableBytesView)
        let digest = Digest.sha256(data)
        if let expected, expected != digest {
            throw ImageError.digestMismatch(image: image, what: "manifest", expected: expected.description, actual: digest.description)
        }
        let header = response.headers.first(name: "Content-Type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
        let probe: ManifestProbe
        do { probe = try JSONDecoder().decode(ManifestProbe.self, from: data) } catch {
            throw ImageError.invalidManifest(image: image, detail: "manifest \(ref) is not JSON: \(error)")
        }
        guard let mediaType = probe.effectiveMediaType(header: header) else {
            throw ImageError.invalidManifest(image: image, detail: "manifest \(ref) has no media type")
        }
        return (data, mediaType, digest)
    }

    /// Streams a blob into `file` (created exclusively), verifying size and digest.
    func fetchBlob(_ descriptor: Descriptor, to file: String, progress: (@Sendable (LayerProgress) -> Void)?) async throws {
        let response = try await get("/v2/\(reference.repository)/blobs/\(descriptor.digest)", accept: nil)
        guard response.status.code == 200 else { throw await failure(response, what: "blob \(descriptor.digest)") }
        let writer = try BlobWriter(path: file, expected: descriptor, image: image)
        var lastReport = ContinuousClock.now
        do {
            for try await chunk in response.body {
                try writer.write(chunk)
                let now = ContinuousClock.now
                if now - lastReport > .milliseconds(100) {
                    lastReport = now
                    progress?(LayerProgress(digest: descriptor.digest, phase: .downloading, bytes: writer.written, total: descriptor.size))
                }
            }
        } catch let error as ImageError {
            writer.abandon()
            throw error
        } catch {
            writer.abandon()
            throw ImageError.registryUnreachable(
                registry: reference.registry, detail: "download of \(descriptor.digest) interrupted after \(writer.written) bytes: \(error)")
        }
        progress?(LayerProgress(digest: descriptor.digest, phase: .verifying, bytes: writer.written, total: descriptor.size))
        try writer.finish()
    }
}

/// Writes a blob to a temp file while hashing it; `finish` checks size and digest.
final class BlobWriter {
    let path: String
    let expected: Descriptor
    let image: String
    private let fd: Int32
    private var hasher = SHA256()
    private(set) var written: Int64 = 0

    init(path: String, expected: Descriptor, image: String) throws {
        self.path = path
        self.expected = expected
        self.image = image
        guard expected.digest.algorithm == "sha256" else {
            throw ImageError.invalidManifest(image: image, detail: "unsupported digest algorithm \(expected.digest.algorithm)")
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageError.errno(path, "create") }
    }

    func write(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        written += Int64(bytes.count)
        if written > expected.size {
            throw ImageError.sizeMismatch(image: image, what: "blob \(expected.digest)", expected: expected.size, actual: written)
        }
        hasher.update(bufferPointer: bytes)
        try FileIO.writeAll(fd, bytes, path: path)
    }

    func abandon() {
        close(fd)
        unlink(path)
    }

    func finish() throws {
        defer { close(fd) }
        guard written == expected.size else {
            unlink(path)
            throw ImageError.sizeMismatch(image: image, what: "blob \(expected.digest) (truncated)", expected: expected.size, actual: written)
        }
        let actual = Digest(algorithm: "sha256", hex: hasher.finalize().hexString)
        guard actual == expected.digest else {
            unlink(path)
            throw ImageError.digestMismatch(image: image, what: "blob", expected: expected.digest.description, actual: actual.description)
        }
        guard fsync(fd) == 0 else { throw ImageError.errno(path, "fsync") }
    }
}

extension Digest {
    static func sha256(_ data: Data) -> Digest {
        Digest(algorithm: "sha256", hex: SHA256.hash(data: data).hexString)
    }

    /// Hashes a file in 1 MiB chunks.
    static func sha256(file path: String) throws -> (Digest, Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError.errno(path, "open") }
        defer { close(fd) }
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageError.errno(path, "read")
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
        return (Digest(algorithm: "sha256", hex: hasher.finalize().hexString), total)
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        var text = ""
        text.reserveCapacity(64)
        let digits = Array("0123456789abcdef".utf8)
        for byte in self {
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
            text.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0xf)]))
        }
        return text
    }
}

extension SHA256.Digest {
    var hexString: String { Array(self).hexString }
}
