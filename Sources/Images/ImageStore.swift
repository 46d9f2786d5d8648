import Dispatch
import Foundation
import Synchronization

/// Where blobs come from during a pull or an import.
protocol BlobSource: Sendable {
    /// Writes the blob to `path` (a new file), verifying size and digest.
    func fetch(_ descriptor: Descriptor, to path: String, progress: (@Sendable (LayerProgress) -> Void)?) async throws
}

extension RegistryClient: BlobSource {
    func fetch(_ descriptor: Descriptor, to path: String, progress: (@Sendable (LayerProgress) -> Void)?) async throws {
        try await fetchBlob(descriptor, to: path, progress: progress)
    }
}

/// The content store and image service (containerd's image-service role).
///
/// Layout under `root` (default `/var/lib/minikubelet`):
/// - `images/blobs/sha256/HEX`: verified blobs (manifests, configs, compressed layers);
/// - `images/layers/sha256/KEY`: each layer unpacked once, in overlay form, keyed by its chain (`ImageRecord.layerChain`);
/// - `images/records/HEX.json`: image metadata, keyed by image ID;
/// - `images/tmp/`: partial downloads and unpacks.
///
/// Crash safety: blobs are written to `tmp`, verified, then renamed into `blobs`; layers are unpacked into
/// `tmp` and renamed into `layers` when complete; the image record is written (atomically) last, so an
/// interrupted pull leaves only `tmp` garbage and unreferenced content, never an image that looks complete.
public final class ImageStore: Sendable {
    public let root: String
    public let options: RegistryOptions
    let imagesDir: String

    /// The default state directory.
    public static let defaultRoot = "/var/lib/minikubelet"

    public init(root: String = ImageStore.defaultRoot, options: RegistryOptions = RegistryOptions()) throws(ImageError) {
        self.root = root
        self.options = options
        self.imagesDir = root + "/images"
        for dir in [blobsDir, layersDir, recordsDir, tmpDir] { try FileIO.makeDirectories(dir, mode: 0o700) }
    }

    var blobsDir: String { imagesDir + "/blobs/sha256" }
    var layersDir: String { imagesDir + "/layers/sha256" }
    var recordsDir: String { imagesDir + "/records" }
    var tmpDir: String { imagesDir + "/tmp" }

    func blobPath(_ digest: Digest) -> String { blobsDir + "/" + digest.hex }
    /// The unpacked (overlay-form) directory of a layer.
    public func layerPath(_ digest: Digest) -> String { layersDir + "/" + digest.hex }
    func tempPath(_ hint: String) -> String { tmpDir + "/\(hint)-\(FileIO.randomSuffix())" }

    // MARK: - Pull

    /// Pulls `reference` according to `policy`. Throws `ImageError` (reason `ErrImagePull`,
    /// `ErrImageNeverPull` or `InvalidImageName`) with a message saying what failed.
    @discardableResult
    public func pull(
        _ reference: String, policy: PullPolicy? = nil, credentials: RegistryCredentials = .none,
        progress: (@Sendable (LayerProgress) -> Void)? = nil
    ) async throws(ImageError) -> ImageRecord {
        let ref = try ImageReference(parsing: reference)
        let policy = policy ?? PullPolicy.defaultPolicy(for: reference)
        if policy != .always, let existing = try find(ref.description) {
            return try touch(existing)
        }
        if policy == .never { throw .neverPull(image: ref.description) }
        do {
            return try await pullFromRegistry(ref, credentials: credentials, progress: progress)
        } catch let error as ImageError {
            throw error
        } catch {
            throw .registryUnreachable(registry: ref.registry, detail: String(describing: error))
        }
    }

    private func pullFromRegistry(
        _ ref: ImageReference, credentials: RegistryCredentials, progress: (@Sendable (LayerProgress) -> Void)?
    ) async throws -> ImageRecord {
        let client = RegistryClient(reference: ref, options: options, credentials: credentials)
        do {
            let lock = try await GCLock.shared(imagesDir)
            defer { lock.release() }
            try await client.ping()
            var (data, mediaType, digest) = try await client.fetchManifest(ref.manifestReference, expected: ref.digest)
            var indexDigest: Digest?
            var indexData: Data?
            if MediaType.indexes.contains(mediaType) {
                let selected = try selectFromIndex(data, image: ref.description)
                indexDigest = digest
                indexData = data
                (data, mediaType, digest) = try await client.fetchManifest(selected.digest.description, expected: selected.digest)
                if MediaType.indexes.contains(mediaType) {
                    throw ImageError.invalidManifest(image: ref.description, detail: "nested index \(selected.digest) is not supported")
                }
            }
            let repoDigest = ref.withDigest(indexDigest ?? digest).description
            let tag = ref.tag.map { ImageReference(registry: ref.registry, repository: ref.repository, tag: $0, digest: nil).description }
            let record = try await materialize(
                image: ref.description, manifestData: data, manifestDigest: digest, mediaType: mediaType, indexData: indexData, indexDigest: indexDigest,
                source: client, tags: tag.map { [$0] } ?? [], repoDigests: [repoDigest], progress: progress)
            await client.shutdown()
            return record
        } catch {
            await client.shutdown()
            throw error
        }
    }

    func selectFromIndex(_ data: Data, image: String) throws -> Descriptor {
        let index: ManifestIndex
        do { index = try JSONDecoder().decode(ManifestIndex.self, from: data) } catch {
            throw ImageError.invalidManifest(image: image, detail: "cannot decode index: \(error)")
        }
        guard let selected = index.select(options.platform) else {
            throw ImageError.noMatchingPlatform(image: image, platform: "\(options.platform.os)/\(options.platform.architecture)")
        }
        return selected
    }

    /// Fetches config and layers (concurrently), unpacks layers, and writes the record last.
    func materialize(
        image: String, manifestData: Data, manifestDigest: Digest, mediaType: String, indexData: Data?, indexDigest: Digest?, source: any BlobSource,
        tags: [String], repoDigests: [String], progress: (@Sendable (LayerProgress) -> Void)?
    ) async throws -> ImageRecord {
        guard MediaType.manifests.contains(mediaType) else { throw ImageError.unsupportedMediaType(image: image, mediaType: mediaType) }
        let manifest: Manifest
        do { manifest = try JSONDecoder().decode(Manifest.self, from: manifestData) } catch {
            throw ImageError.invalidManifest(image: image, detail: "cannot decode manifest \(manifestDigest): \(error)")
        }
        guard manifest.schemaVersion == 2 else {
            throw ImageError.invalidManifest(image: image, detail: "schemaVersion \(manifest.schemaVersion) (only 2 is supported)")
        }
        guard MediaType.configs.contains(manifest.config.mediaType) else {
            throw ImageError.unsupportedMediaType(image: image, mediaType: manifest.config.mediaType)
        }
        for layer in manifest.layers where !MediaType.layers.contains(layer.mediaType) {
            throw ImageError.unsupportedMediaType(image: image, mediaType: "\(layer.mediaType) (layer \(layer.digest))")
        }
        guard manifest.config.size <= options.maxManifestBytes else {
            throw ImageError.manifestTooLarge(image: image, size: manifest.config.size, limit: Int64(options.maxManifestBytes))
        }
        // Manifest and index are stored verbatim (already verified).
        try storeBlob(manifestData, digest: manifestDigest)
        if let indexData, let indexDigest { try storeBlob(indexData, digest: indexDigest) }
        try await ensureBlob(manifest.config, image: image, source: source, progress: nil)
        let configData: Data
        do { configData = try Data(contentsOf: URL(fileURLWithPath: blobPath(manifest.config.digest))) } catch {
            throw ImageError.io(path: blobPath(manifest.config.digest), message: "cannot read config: \(error.localizedDescription)")
        }
        let configFile: ImageConfigFile
        do { configFile = try JSONDecoder().decode(ImageConfigFile.self, from: configData) } catch {
            throw ImageError.invalidManifest(image: image, detail: "cannot decode image config \(manifest.config.digest): \(error)")
        }
        if let diffIDs = configFile.rootfs?.diff_ids, diffIDs.count != manifest.layers.count {
            throw ImageError.invalidManifest(image: image, detail: "config lists \(diffIDs.count) layers, manifest \(manifest.layers.count)")
        }

        // Layers: blobs download concurrently; each layer is unpacked (in order) as soon as its blob and
        // the layers below it are ready.
        var unique: [Descriptor] = []
        var seen = Set<Digest>()
        for layer in manifest.layers where seen.insert(layer.digest).inserted { unique.append(layer) }
        let chain = ImageRecord.chain(manifest.layers.map(\.digest))
        let gate = AsyncGate(limit: max(1, options.maxConcurrentDownloads))
        var downloads: [Digest: Task<Void, any Error>] = [:]
        for layer in unique {
            let needed = manifest.layers.indices.contains { manifest.layers[$0].digest == layer.digest && !FileIO.isDirectory(layerPath(chain[$0])) }
            guard needed else {
                progress?(LayerProgress(digest: layer.digest, phase: .alreadyExists, bytes: layer.size, total: layer.size))
                continue
            }
            progress?(LayerProgress(digest: layer.digest, phase: .waiting, bytes: 0, total: layer.size))
            downloads[layer.digest] = Task {
                try await gate.withPermit { try await self.ensureBlob(layer, image: image, source: source, progress: progress) }
            }
        }
        do {
            for (index, layer) in manifest.layers.enumerated() where !FileIO.isDirectory(layerPath(chain[index])) {
                try await downloads[layer.digest]?.value
                progress?(LayerProgress(digest: layer.digest, phase: .extracting, bytes: layer.size, total: layer.size))
                try await unpackLayer(layer, key: chain[index], lowerKeys: Array(chain[..<index]))
                progress?(LayerProgress(digest: layer.digest, phase: .done, bytes: layer.size, total: layer.size))
            }
        } catch {
            for task in downloads.values { task.cancel() }
            for task in downloads.values { _ = try? await task.value }
            throw error
        }

        let now = Date()
        var record = ImageRecord(
            id: manifest.config.digest, manifestDigest: manifestDigest, manifestMediaType: mediaType, indexDigest: indexDigest, repoTags: tags,
            repoDigests: repoDigests, config: manifest.config, layers: manifest.layers,
            size: manifest.config.size + unique.reduce(0) { $0 + $1.size }, imageConfig: configFile.config ?? ImageConfig(), created: now, lastUsed: now)
        record = try saveRecord(record)
        return record
    }

    /// Stores small in-memory content (already digest-checked by the caller).
    func storeBlob(_ data: Data, digest: Digest) throws(ImageError) {
        let path = blobPath(digest)
        if FileIO.exists(path) { return }
        guard Digest.sha256(data) == digest else {
            throw ImageError.digestMismatch(image: "-", what: "content", expected: digest.description, actual: Digest.sha256(data).description)
        }
        try FileIO.writeAtomically(data, to: path)
    }

    /// Makes sure the blob is in `blobs/` (downloaded to tmp, verified, renamed).
    func ensureBlob(_ descriptor: Descriptor, image: String, source: any BlobSource, progress: (@Sendable (LayerProgress) -> Void)?) async throws {
        let path = blobPath(descriptor.digest)
        if FileIO.exists(path) { return }
        let temp = tempPath("blob-" + descriptor.digest.hex.prefix(12))
        do {
            try await source.fetch(descriptor, to: temp, progress: progress)
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else {
            let code = errno
            unlink(temp)
            throw ImageError.errno(path, "rename", code)
        }
        FileIO.syncDirectory(of: path)
    }

    /// Unpacks one layer into `layers/KEY` in overlay form. The first layer is extracted directly. An
    /// upper layer is extracted directly too, with OCI whiteouts converted to overlay ones and implicit
    /// parent directories taking their attributes from the lower layers; if it writes through a symlink
    /// or hard-links a file of a lower layer, it is instead applied through a temporary overlay mount of
    /// the layers below it with a fresh upper directory (containerd's approach), so that it behaves
    /// exactly as in the container's merged view. Where overlayfs is unavailable the overlay form is
    /// approximate (rootfs falls back to copying, which replays the blobs).
    func unpackLayer(_ layer: Descriptor, key: Digest, lowerKeys: [Digest]) async throws(ImageError) {
        let target = layerPath(key)
        let blob = blobPath(layer.digest)
        let temp = tempPath("layer-" + key.hex.prefix(12))
        let layerName = layer.digest.description
        let lowers = lowerKeys.reversed().map { layerPath($0) }
        @Sendable func finish(_ upper: String) throws(ImageError) {
            guard rename(upper, target) == 0 else {
                let code = errno
                // Someone else finished the same layer first: theirs is as good as ours.
                if (code == ENOTEMPTY || code == EEXIST) && FileIO.isDirectory(target) {
                    try FileIO.removeTree(temp)
                    return
                }
                throw ImageError.errno(target, "rename", code)
            }
            FileIO.syncDirectory(of: target)
            try FileIO.removeTree(temp)
        }
        try await Blocking.run { () throws(ImageError) in
            do throws(ImageError) {
                let upper = temp + "/upper"
                try FileIO.makeDirectories(upper)
                if lowers.isEmpty {
                    try LayerUnpacker(layer: layerName, mode: .flatten).unpack(archivePath: blob, into: upper)
                } else if case .done = try LayerUnpacker(layer: layerName, mode: .overlay, lowers: lowers).unpack(archivePath: blob, into: upper) {
                    // Fast path: unpacked straight into the layer directory, whiteouts converted.
                    try finish(upper)
                    return
                } else {
                    try FileIO.removeTree(upper)
                    try FileIO.makeDirectories(upper)
                    let work = temp + "/work"
                    let merged = temp + "/merged"
                    try FileIO.makeDirectories(work)
                    try FileIO.makeDirectories(merged)
                    do throws(ImageError) {
                        try Overlay.mount(lowers: lowers, upper: upper, work: work, at: merged)
                    } catch {
                        // No overlayfs here: convert whiteouts without seeing the lower layers. Container
                        // root filesystems then come from the copy fallback, which replays the blobs.
                        try LayerUnpacker(layer: layerName, mode: .overlay).unpack(archivePath: blob, into: upper)
                        try finish(upper)
                        return
                    }
                    do throws(ImageError) {
                        try LayerUnpacker(layer: layerName, mode: .flatten).unpack(archivePath: blob, into: merged)
                    } catch {
                        Overlay.unmount(merged)
                        throw error
                    }
                    Overlay.unmount(merged)
                }
                try finish(upper)
            } catch {
                try? FileIO.removeTree(temp)
                throw error
            }
        }
    }

    // MARK: - Records

    /// All images, newest first.
    public func list() throws(ImageError) -> [ImageRecord] {
        var records: [ImageRecord] = []
        for name in try FileIO.listDirectory(recordsDir) where name.hasSuffix(".json") {
            let path = recordsDir + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do { records.append(try JSONDecoder.store.decode(ImageRecord.self, from: data)) } catch {
                throw ImageError.io(path: path, message: "corrupt image record: \(error)")
            }
        }
        return records.sorted { $0.created > $1.created }
    }

    /// The image named by a reference, an image ID, or an ID prefix; `nil` if absent.
    public func find(_ query: String) throws(ImageError) -> ImageRecord? {
        try list().first { $0.matches(query) }
    }

    /// Like `find`, but throws `imageNotKnown`.
    public func inspect(_ query: String) throws(ImageError) -> ImageRecord {
        guard let record = try find(query) else { throw .imageNotKnown(query) }
        return record
    }

    /// Records that the image was used now (for garbage collection's LRU order).
    @discardableResult
    public func touch(_ record: ImageRecord) throws(ImageError) -> ImageRecord {
        var updated = record
        updated.lastUsed = Date()
        try writeRecord(updated)
        return updated
    }

    private func recordPath(_ id: Digest) -> String { recordsDir + "/" + id.hex + ".json" }

    func writeRecord(_ record: ImageRecord) throws(ImageError) {
        let data: Data
        do { data = try JSONEncoder.store.encode(record) } catch { throw ImageError.io(path: recordPath(record.id), message: "encode: \(error)") }
        try FileIO.writeAtomically(data, to: recordPath(record.id))
    }

    /// Merges with an existing record of the same ID and moves tags away from other images.
    func saveRecord(_ record: ImageRecord) throws(ImageError) -> ImageRecord {
        try withFileLock(imagesDir + "/records.lock") { () throws(ImageError) -> ImageRecord in
            var merged = record
            for other in try list() {
                if other.id == record.id {
                    merged.repoTags = Array(Set(other.repoTags + record.repoTags)).sorted()
                    merged.repoDigests = Array(Set(other.repoDigests + record.repoDigests)).sorted()
                    merged.created = other.created
                    continue
                }
                let stolen = other.repoTags.filter { record.repoTags.contains($0) }
                if !stolen.isEmpty {
                    var untagged = other
                    untagged.repoTags.removeAll { stolen.contains($0) }
                    try writeRecord(untagged)
                }
            }
            try writeRecord(merged)
            return merged
        }
    }

    /// Removes an image (by reference or ID) and the content no other image uses.
    /// Throws `imageInUse` if a container's rootfs uses it.
    public func remove(_ query: String) async throws(ImageError) {
        let record = try inspect(query)
        if imagesInUseByRootfs().contains(record.id) { throw .imageInUse(record.repoTags.first ?? record.id.description) }
        try withFileLock(imagesDir + "/records.lock") { () throws(ImageError) in
            guard unlink(recordPath(record.id)) == 0 || errno == ENOENT else { throw ImageError.errno(recordPath(record.id), "unlink") }
        }
        _ = try await pruneContent()
    }

    /// Image IDs referenced by prepared container root filesystems (see `RootfsManager`).
    func imagesInUseByRootfs() -> Set<Digest> {
        let dir = root + "/rootfs"
        guard let names = try? FileIO.listDirectory(dir) else { return [] }
        var ids = Set<Digest>()
        for name in names {
            if let data = FileManager.default.contents(atPath: dir + "/" + name + "/image"),
                let id = try? Digest(parsing: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            {
                ids.insert(id)
            }
        }
        return ids
    }

    // MARK: - Garbage collection

    /// Kubelet's image GC thresholds (percent of the filesystem holding the store).
    public struct GCPolicy: Sendable {
        public var highThresholdPercent: Int
        public var lowThresholdPercent: Int
        public init(highThresholdPercent: Int = 85, lowThresholdPercent: Int = 80) {
            self.highThresholdPercent = highThresholdPercent
            self.lowThresholdPercent = lowThresholdPercent
        }
    }

    /// Filesystem usage, as `statvfs` reports it (injectable for tests).
    public struct DiskUsage: Sendable {
        public var capacity: Int64
        public var used: Int64
        public init(capacity: Int64, used: Int64) {
            self.capacity = capacity
            self.used = used
        }
    }

    public struct GCResult: Sendable {
        public var removedImages: [ImageRecord] = []
        public var removedBlobs = 0
        public var removedLayers = 0
        public var freedBytes: Int64 = 0
    }

    /// Current usage of the filesystem holding the store.
    public func diskUsage() throws(ImageError) -> DiskUsage {
        var st = statvfs()
        guard statvfs(imagesDir, &st) == 0 else { throw ImageError.errno(imagesDir, "statvfs") }
        let capacity = Int64(st.f_blocks) * Int64(st.f_frsize)
        let free = Int64(st.f_bfree) * Int64(st.f_frsize)
        return DiskUsage(capacity: capacity, used: capacity - free)
    }

    /// Kubelet-style image GC: if usage is at or above the high threshold, removes images no container
    /// uses (least recently used first) until usage would drop to the low threshold. With `all`, removes
    /// every unused image regardless of usage. Unreferenced blobs and layers are always pruned.
    public func garbageCollect(
        inUse: Set<String> = [], policy: GCPolicy = GCPolicy(), usage measured: DiskUsage? = nil, all: Bool = false
    ) async throws(ImageError) -> GCResult {
        let usage: DiskUsage
        if let given = measured { usage = given } else { usage = try diskUsage() }
        let protected = imagesInUseByRootfs()
        var candidates = try list().filter { record in
            !protected.contains(record.id) && !inUse.contains(where: { record.matches($0) })
        }
        candidates.sort { $0.lastUsed < $1.lastUsed }
        var result = GCResult()
        let percent = usage.capacity > 0 ? Int(usage.used * 100 / usage.capacity) : 0
        var toFree: Int64 = all ? Int64.max : 0
        if !all && percent >= policy.highThresholdPercent {
            toFree = usage.used - usage.capacity * Int64(policy.lowThresholdPercent) / 100
        }
        var estimated: Int64 = 0
        for record in candidates where estimated < toFree {
            try withFileLock(imagesDir + "/records.lock") { () throws(ImageError) in
                guard unlink(recordPath(record.id)) == 0 || errno == ENOENT else { throw ImageError.errno(recordPath(record.id), "unlink") }
            }
            result.removedImages.append(record)
            estimated += record.size
        }
        let pruned = try await pruneContent()
        result.removedBlobs = pruned.blobs
        result.removedLayers = pruned.layers
        result.freedBytes = pruned.bytes
        return result
    }

    /// Deletes blobs and layers no record references, and stale temp files. Waits for running pulls.
    func pruneContent() async throws(ImageError) -> (blobs: Int, layers: Int, bytes: Int64) {
        let lock = try await GCLock.exclusive(imagesDir)
        defer { lock.release() }
        var referenced = Set<String>()
        var referencedLayers = Set<String>()
        for record in try list() {
            for digest in record.blobDigests { referenced.insert(digest.hex) }
            for key in record.layerChain { referencedLayers.insert(key.hex) }
        }
        var blobs = 0
        var layers = 0
        var bytes: Int64 = 0
        for name in try FileIO.listDirectory(blobsDir) where !referenced.contains(name) {
            bytes += FileIO.diskUsage(blobsDir + "/" + name)
            try FileIO.removeTree(blobsDir + "/" + name)
            blobs += 1
        }
        for name in try FileIO.listDirectory(layersDir) where !referencedLayers.contains(name) {
            bytes += FileIO.diskUsage(layersDir + "/" + name)
            try FileIO.removeTree(layersDir + "/" + name)
            layers += 1
        }
        // Nothing is pulling (we hold the exclusive lock), so everything in tmp is garbage.
        for name in try FileIO.listDirectory(tmpDir) { try FileIO.removeTree(tmpDir + "/" + name) }
        return (blobs, layers, bytes)
    }

    // MARK: - Locks

    func withFileLock<T>(_ path: String, _ body: () throws(ImageError) -> T) throws(ImageError) -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ImageError.errno(path, "open lock") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw ImageError.errno(path, "flock") }
        return try body()
    }
}

/// Pulls hold the GC lock shared; pruning takes it exclusive, so content of a pull in flight (not yet
/// referenced by a record) is never pruned, also across processes.
struct GCLock: Sendable {
    let fd: Int32

    static func shared(_ dir: String) async throws(ImageError) -> GCLock { try await take(dir, LOCK_SH) }
    static func exclusive(_ dir: String) async throws(ImageError) -> GCLock { try await take(dir, LOCK_EX) }

    private static func take(_ dir: String, _ operation: Int32) async throws(ImageError) -> GCLock {
        let path = dir + "/gc.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ImageError.errno(path, "open lock") }
        if flock(fd, operation | LOCK_NB) == 0 { return GCLock(fd: fd) }
        do throws(ImageError) {
            try await Blocking.run { () throws(ImageError) in
                guard flock(fd, operation) == 0 else { throw ImageError.errno(path, "flock") }
            }
        } catch {
            close(fd)
            throw error
        }
        return GCLock(fd: fd)
    }

    func release() { close(fd) }
}

/// Limits how many downloads run at once.
actor AsyncGate {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { available = limit }

    func withPermit<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if available > 0 {
            available -= 1
        } else {
            await withCheckedContinuation { waiters.append($0) }
        }
        defer { release() }
        try Task.checkCancellation()
        return try await body()
    }

    private func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Runs blocking work (libarchive, flock) off the cooperative thread pool.
enum Blocking {
    static let queue = DispatchQueue(label: "minikubelet.images.blocking", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(ImageError) -> T) async throws(ImageError) -> T {
        let result: Result<T, ImageError> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(ImageError) { continuation.resume(returning: .success(try body())) } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}

extension JSONDecoder {
    static var store: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension JSONEncoder {
    static var store: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }
}
