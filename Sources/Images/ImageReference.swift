import Foundation

/// A normalised image reference, resolved the way containerd and docker do it:
/// `nginx` → `docker.io/library/nginx:latest`.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible, Codable {
    /// Registry host, optionally with a port (`docker.io`, `127.0.0.1:5000`).
    public let registry: String
    /// Repository path inside the registry (`library/nginx`, `team/app`).
    public let repository: String
    /// Tag, if any. `nil` when only a digest was given.
    public let tag: String?
    /// Content digest (`sha256:...`), if the reference pins one.
    public let digest: Digest?

    /// The default registry for names without a host.
    public static let defaultRegistry = "docker.io"
    static let maxNameLength = 255

    /// Parses and normalises `string`. Throws `ImageError.invalidReference` (reason `InvalidImageName`).
    public init(parsing string: String) throws(ImageError) {
        let input = string
        guard !input.isEmpty else { throw .invalidReference(input, "empty reference") }
        guard !input.contains(where: { $0.isWhitespace }) else { throw .invalidReference(input, "contains whitespace") }
        var rest = Substring(input)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            let digestPart = String(rest[rest.index(after: at)...])
            do { digest = try Digest(parsing: digestPart) } catch { throw .invalidReference(input, "invalid digest \(digestPart)") }
            rest = rest[..<at]
        }
        var tag: String?
        // A tag is the part after the last ':' that comes after the last '/' (a ':' before that is a port).
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tagPart = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(tagPart) else { throw .invalidReference(input, "invalid tag \"\(tagPart)\"") }
            tag = tagPart
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .invalidReference(input, "empty repository name") }
        var registry = Self.defaultRegistry
        var path = String(rest)
        if let slash = rest.firstIndex(of: "/") {
            let first = String(rest[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                registry = first
                path = String(rest[rest.index(after: slash)...])
            }
        }
        guard Self.isValidRegistry(registry) else { throw .invalidReference(input, "invalid registry host \"\(registry)\"") }
        if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = Self.defaultRegistry }
        if registry == Self.defaultRegistry && !path.contains("/") { path = "library/" + path }
        guard path.lowercased() == path else { throw .invalidReference(input, "repository name must be lowercase") }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        for component in components where !Self.isValidPathComponent(component) {
            throw .invalidReference(input, "invalid repository path component \"\(component)\"")
        }
        guard registry.count + 1 + path.count <= Self.maxNameLength else {
            throw .invalidReference(input, "repository name longer than \(Self.maxNameLength) characters")
        }
        self.registry = registry
        self.repository = path
        self.tag = tag ?? (digest == nil ? "latest" : nil)
        self.digest = digest
    }

    /// Builds a reference from parts that are already normalised.
    public init(registry: String, repository: String, tag: String?, digest: Digest?) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// `registry/repository` without tag or digest.
    public var name: String { "\(registry)/\(repository)" }

    /// The fully normalised form: `docker.io/library/nginx:latest`, `host:5000/app@sha256:...`.
    public var description: String {
        var text = name
        if let tag { text += ":" + tag }
        if let digest { text += "@" + digest.description }
        return text
    }

    /// What to ask the registry for: the digest if pinned, otherwise the tag.
    public var manifestReference: String { digest?.description ?? tag ?? "latest" }

    /// Same repository, pinned to `digest` (no tag): the image's "repo digest".
    public func withDigest(_ digest: Digest) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: nil, digest: digest)
    }

    /// The host to contact for this reference (docker.io is served by registry-1.docker.io).
    public var registryHost: String { registry == Self.defaultRegistry ? "registry-1.docker.io" : registry }

    static func isValidTag(_ tag: String) -> Bool {
        guard let first = tag.unicodeScalars.first, tag.unicodeScalars.count <= 128 else { return false }
        func word(_ c: Unicode.Scalar) -> Bool { c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "_") }
        guard word(first) else { return false }
        return tag.unicodeScalars.dropFirst().allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func isValidPathComponent(_ component: Substring) -> Bool {
        let chars = Array(component.utf8)
        guard !chars.isEmpty else { return false }
        func alnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }
        var i = 0
        guard alnum(chars[0]) else { return false }
        while i < chars.count {
            if alnum(chars[i]) {
                i += 1
                continue
            }
            // Separator: '.', '_', '__' or one or more '-'; must be followed by alnum.
            var j = i
            if chars[i] == UInt8(ascii: ".") {
                j += 1
            } else if chars[i] == UInt8(ascii: "_") {
                j += 1
                if j < chars.count && chars[j] == UInt8(ascii: "_") { j += 1 }
            } else if chars[i] == UInt8(ascii: "-") {
                while j < chars.count && chars[j] == UInt8(ascii: "-") { j += 1 }
            } else {
                return false
            }
            guard j < chars.count, alnum(chars[j]) else { return false }
            i = j
        }
        return true
    }

    static func isValidRegistry(_ host: String) -> Bool {
        var hostPart = Substring(host)
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(port), value > 0, value < 65536 else { return false }
            hostPart = host[..<colon]
        }
        guard !hostPart.isEmpty else { return false }
        if hostPart.hasPrefix("[") { return hostPart.hasSuffix("]") }
        let labels = hostPart.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            return first.isASCII && (first.isLetter || first.isNumber) && last.isASCII && (last.isLetter || last.isNumber)
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }
}

/// A content digest `algorithm:hex` (sha256 or sha512).
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable, Comparable {
    public let algorithm: String
    public let hex: String

    public init(parsing string: String) throws(ImageError) {
        guard let colon = string.firstIndex(of: ":") else { throw .invalidDigest(string) }
        let algorithm = String(string[..<colon])
        let hex = String(string[string.index(after: colon)...])
        let expected: Int
        switch algorithm {
        case "sha256": expected = 64
        case "sha512": expected = 128
        default: throw .invalidDigest(string)
        }
        guard hex.utf8.count == expected, hex.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw .invalidDigest(string)
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    init(algorithm: String, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    public var description: String { "\(algorithm):\(hex)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Digest(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
