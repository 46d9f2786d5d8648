import Foundation

/// Media types the image service understands.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

    static let manifests: Set<String> = [ociManifest, dockerManifest]
    static let indexes: Set<String> = [ociIndex, dockerManifestList]
    static let configs: Set<String> = [ociConfig, dockerConfig]
    static let layers: Set<String> = [
        ociLayer, ociLayerGzip, ociLayerZstd, ociLayerNondistributableGzip, dockerLayer, dockerLayerGzip, dockerForeignLayerGzip,
    ]
    /// The Accept header for manifest requests.
    static let acceptManifests = [ociIndex, dockerManifestList, ociManifest, dockerManifest].joined(separator: ", ")
}

/// An OCI content descriptor.
public struct Descriptor: Codable, Sendable, Hashable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?
    public var urls: [String]?

    public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }
}

public struct Platform: Codable, Sendable, Hashable {
    public var architecture: String
    public var os: String
    public var variant: String?

    /// The platform this agent runs images for.
    public static let linuxAMD64 = Platform(architecture: "amd64", os: "linux", variant: nil)

    public init(architecture: String, os: String, variant: String?) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
    }

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
    }
}

/// An image manifest (OCI or Docker schema 2).
public struct Manifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?
}

/// An OCI index or Docker manifest list.
public struct ManifestIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    /// The linux/amd64 entry (image manifests only; attestation manifests are skipped).
    func select(_ platform: Platform) -> Descriptor? {
        let candidates = manifests.filter { MediaType.manifests.contains($0.mediaType) || MediaType.indexes.contains($0.mediaType) }
        if let exact = candidates.first(where: { $0.platform?.os == platform.os && $0.platform?.architecture == platform.architecture }) {
            return exact
        }
        // Single-platform layouts (umoci, skopeo oci:) often carry no platform field at all.
        let unlabelled = candidates.filter { $0.platform == nil }
        return unlabelled.count == 1 ? unlabelled.first : nil
    }
}

/// The image configuration blob (only the fields the agent uses are decoded; the blob is kept verbatim).
public struct ImageConfigFile: Codable, Sendable {
    public var architecture: String?
    public var os: String?
    public var config: ImageConfig?
    public var rootfs: RootFS?
    public var created: String?

    public struct RootFS: Codable, Sendable {
        public var type: String
        public var diff_ids: [Digest]
    }
}

/// The `config` section of an image configuration: the defaults for the container process.
public struct ImageConfig: Codable, Sendable, Equatable {
    public var User: String?
    public var Env: [String]?
    public var Entrypoint: [String]?
    public var Cmd: [String]?
    public var WorkingDir: String?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var ExposedPorts: [String: EmptyObject]?
    public var Volumes: [String: EmptyObject]?

    public init(
        User: String? = nil, Env: [String]? = nil, Entrypoint: [String]? = nil, Cmd: [String]? = nil, WorkingDir: String? = nil
    ) {
        self.User = User
        self.Env = Env
        self.Entrypoint = Entrypoint
        self.Cmd = Cmd
        self.WorkingDir = WorkingDir
    }
}

public struct EmptyObject: Codable, Sendable, Equatable {}

/// Peeks at `mediaType`/`schemaVersion`/`manifests` to tell an index from a manifest.
struct ManifestProbe: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [Descriptor]?
    var config: Descriptor?
}

extension ManifestProbe {
    /// The effective media type: the declared one, or inferred from the shape for layouts that omit it.
    func effectiveMediaType(header: String?) -> String? {
        if let mediaType, !mediaType.isEmpty { return mediaType }
        if let header, MediaType.manifests.contains(header) || MediaType.indexes.contains(header) { return header }
        if manifests != nil { return MediaType.ociIndex }
        if config != nil { return MediaType.ociManifest }
        return nil
    }
}
