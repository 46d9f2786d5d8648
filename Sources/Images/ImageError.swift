import Foundation

/// The reason strings kubelet reports in a container's `waiting` state for image problems.
public enum KubeletImageReason: String, Sendable, Codable {
    case errImagePull = "ErrImagePull"
    case imagePullBackOff = "ImagePullBackOff"
    case errImageNeverPull = "ErrImageNeverPull"
    case invalidImageName = "InvalidImageName"
}

/// Every failure of the image service. `reason` is the kubelet reason, `description` a human message
/// that says which image, layer or file was involved and what went wrong.
public enum ImageError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidReference(String, String)
    case invalidDigest(String)
    /// The registry says the manifest or blob does not exist.
    case notFound(image: String, what: String)
    /// Missing or rejected credentials.
    case unauthorized(image: String, registry: String, detail: String)
    /// Connection refused, DNS failure, TLS failure, timeout.
    case registryUnreachable(registry: String, detail: String)
    /// Any other HTTP error from the registry.
    case registryError(image: String, status: Int, detail: String)
    case digestMismatch(image: String, what: String, expected: String, actual: String)
    case sizeMismatch(image: String, what: String, expected: Int64, actual: Int64)
    case unsupportedMediaType(image: String, mediaType: String)
    case manifestTooLarge(image: String, size: Int64, limit: Int64)
    case noMatchingPlatform(image: String, platform: String)
    case invalidManifest(image: String, detail: String)
    /// An archive entry that would escape the destination (`..`, absolute path, symlinked parent).
    case unsafeArchiveEntry(layer: String, path: String, why: String)
    case archive(layer: String, path: String?, message: String)
    case io(path: String, message: String)
    /// Pull policy `Never` and the image is not present.
    case neverPull(image: String)
    /// A previous pull failed and the back-off window has not passed.
    case backOff(image: String, retryAfterSeconds: Int, lastError: String)
    /// No such image in the local store.
    case imageNotKnown(String)
    case imageInUse(String)
    case invalidImageLayout(path: String, detail: String)
    case mountFailed(path: String, message: String)

    /// The kubelet reason for this failure.
    public var reason: KubeletImageReason {
        switch self {
        case .invalidReference, .invalidDigest: return .invalidImageName
        case .neverPull: return .errImageNeverPull
        case .backOff: return .imagePullBackOff
        default: return .errImagePull
        }
    }

    public var description: String {
        switch self {
        case .invalidReference(let ref, let why): return "invalid image name \"\(ref)\": \(why)"
        case .invalidDigest(let text): return "invalid digest \"\(text)\""
        case .notFound(let image, let what): return "image \(image): not found: \(what)"
        case .unauthorized(let image, let registry, let detail):
            return "image \(image): unauthorized: registry \(registry) refused access (\(detail))"
        case .registryUnreachable(let registry, let detail): return "registry \(registry) unreachable: \(detail)"
        case .registryError(let image, let status, let detail): return "image \(image): registry error HTTP \(status): \(detail)"
        case .digestMismatch(let image, let what, let expected, let actual):
            return "image \(image): digest mismatch for \(what): expected \(expected), got \(actual)"
        case .sizeMismatch(let image, let what, let expected, let actual):
            return "image \(image): size mismatch for \(what): expected \(expected) bytes, got \(actual)"
        case .unsupportedMediaType(let image, let mediaType): return "image \(image): unsupported media type \(mediaType)"
        case .manifestTooLarge(let image, let size, let limit):
            return "image \(image): manifest too large (\(size) bytes, limit \(limit))"
        case .noMatchingPlatform(let image, let platform): return "image \(image): no manifest for platform \(platform)"
        case .invalidManifest(let image, let detail): return "image \(image): invalid manifest: \(detail)"
        case .unsafeArchiveEntry(let layer, let path, let why): return "layer \(layer): unsafe entry \"\(path)\": \(why)"
        case .archive(let layer, let path, let message):
            return "layer \(layer): \(path.map { "entry \"\($0)\": " } ?? "")\(message)"
        case .io(let path, let message): return "\(path): \(message)"
        case .neverPull(let image): return "image \(image) is not present with pull policy Never"
        case .backOff(let image, let seconds, let lastError):
            return "Back-off pulling image \"\(image)\" (retry in \(seconds)s): \(lastError)"
        case .imageNotKnown(let image): return "image \(image) not found in the local store"
        case .imageInUse(let image): return "image \(image) is in use by a container"
        case .invalidImageLayout(let path, let detail): return "cannot load \(path): \(detail)"
        case .mountFailed(let path, let message): return "mount \(path): \(message)"
        }
    }

    static func errno(_ path: String, _ op: String, _ code: Int32 = Glibc.errno) -> ImageError {
        .io(path: path, message: "\(op): \(String(cString: strerror(code)))")
    }
}
