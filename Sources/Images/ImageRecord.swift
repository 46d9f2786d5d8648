import Foundation

/// Metadata of one image in the store (kubelet's view of an image).
public struct ImageRecord: Codable, Sendable, Equatable {
    /// The image ID: the digest of its config blob.
    public var id: Digest
    /// Digest of the image manifest (the platform-specific one).
    public var manifestDigest: Digest
    public var manifestMediaType: String
    /// Digest of the index / manifest list the tag pointed to, for multi-platform images.
    public var indexDigest: Digest?
    /// Normalised `name:tag` references.
    public var repoTags: [String]
    /// `name@digest` references (the digest the registry resolved the tag to).
    public var repoDigests: [String]
    public var config: Descriptor
    public var layers: [Descriptor]
    /// Sum of config and layer blob sizes (as stored, compressed).
    public var size: Int64
    /// The process defaults from the image config.
    public var imageConfig: ImageConfig
    public var created: Date
    public var lastUsed: Date

    /// Every blob digest this image needs.
    var blobDigests: Set<Digest> {
        var set: Set<Digest> = [id, manifestDigest, config.digest]
        if let indexDigest { set.insert(indexDigest) }
        for layer in layers { set.insert(layer.digest) }
        return set
    }

    /// Keys of the unpacked layer directories, bottom first: `key(n) = sha256(key(n-1) + " " + blob(n))`.
    /// An unpacked layer depends on the layers below it (it is applied on top of them), so it is keyed
    /// by its chain, as containerd keys snapshots by chain ID.
    public var layerChain: [Digest] { Self.chain(layers.map(\.digest)) }

    static func chain(_ digests: [Digest]) -> [Digest] {
        var keys: [Digest] = []
        for digest in digests {
            let text = keys.last.map { "\($0) \(digest)" } ?? digest.description
            keys.append(keys.isEmpty ? digest : Digest.sha256(Data(text.utf8)))
        }
        return keys
    }

    /// Whether `query` (a reference, an ID or an unambiguous ID prefix) names this image.
    func matches(_ query: String) -> Bool {
        if query == id.description || query == id.hex { return true }
        if query.count >= 12, query.allSatisfy({ $0.isHexDigit }), id.hex.hasPrefix(query) { return true }
        if repoTags.contains(query) || repoDigests.contains(query) { return true }
        if let ref = try? ImageReference(parsing: query) {
            if let digest = ref.digest {
                return digest == manifestDigest || digest == indexDigest || repoDigests.contains(ref.withDigest(digest).description)
            }
            return repoTags.contains(ref.description)
        }
        return false
    }
}

/// Pull policy, with Kubernetes' defaulting.
public enum PullPolicy: String, Sendable, Codable, CaseIterable {
    case always = "Always"
    case ifNotPresent = "IfNotPresent"
    case never = "Never"

    /// `Always` for `:latest` or no tag (and no digest), otherwise `IfNotPresent`.
    public static func defaultPolicy(for image: String) -> PullPolicy {
        guard let ref = try? ImageReference(parsing: image) else { return .ifNotPresent }
        return ref.tag == "latest" && ref.digest == nil ? .always : .ifNotPresent
    }
}

/// Kubelet's image pull back-off: 10 s after the first failure, doubling up to 300 s; reset after a
/// success or after twice the maximum without failures.
public struct PullBackoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    private var entries: [String: Entry] = [:]

    private struct Entry: Sendable {
        var delay: Duration
        var lastFailure: ContinuousClock.Instant
        var message: String
    }

    public init(initial: Duration = .seconds(10), maximum: Duration = .seconds(300)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Throws `ImagePullBackOff` if `image` failed recently and its back-off has not expired.
    public func check(_ image: String, now: ContinuousClock.Instant = .now) throws(ImageError) {
        guard let entry = entries[image] else { return }
        let until = entry.lastFailure + entry.delay
        if now < until {
            let remaining = until - now
            throw .backOff(image: image, retryAfterSeconds: Int(remaining.components.seconds) + 1, lastError: entry.message)
        }
    }

    /// Current delay for `image`, if it is backing off.
    public func delay(for image: String) -> Duration? { entries[image]?.delay }

    public mutating func recordFailure(_ image: String, error: ImageError, now: ContinuousClock.Instant = .now) {
        if var entry = entries[image], now - entry.lastFailure <= maximum * 2 {
            entry.delay = min(entry.delay * 2, maximum)
            entry.lastFailure = now
            entry.message = error.description
            entries[image] = entry
        } else {
            entries[image] = Entry(delay: initial, lastFailure: now, message: error.description)
        }
    }

    public mutating func recordSuccess(_ image: String) { entries[image] = nil }
}
