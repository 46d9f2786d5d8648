import Foundation

/// Blobs read from a directory (an OCI layout or an unpacked `docker save` archive), copied into the
/// store with their size and digest verified.
struct DirectoryBlobSource: BlobSource {
    let image: String
    /// Digest → file, confined to the directory (see `ImageStore.confinedFile`).
    let files: [Digest: String]

    func fetch(_ descriptor: Descriptor, to path: String, progress: (@Sendable (LayerProgress) -> Void)?) async throws {
        guard let source = files[descriptor.digest] else {
            throw ImageError.notFound(image: image, what: "blob \(descriptor.digest) missing from the archive")
        }
        let image = self.image
        try await Blocking.run { () throws(ImageError) in
            let fd = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw ImageError.errno(source, "open") }
            defer { close(fd) }
            let writer: BlobWriter
            do { writer = try BlobWriter(path: path, expected: descriptor, image: image) } catch let error as ImageError { throw error } catch {
                throw ImageError.io(path: path, message: "\(error)")
            }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            do {
                while true {
                    let n = read(fd, buffer.baseAddress, buffer.count)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw ImageError.errno(source, "read")
                    }
                    if n == 0 { break }
                    try writer.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                }
                try writer.finish()
            } catch let error as ImageError {
                writer.abandon()
                throw error
            } catch {
                writer.abandon()
                throw ImageError.io(path: source, message: "\(error)")
            }
        }
    }
}

extension ImageStore {
    /// Imports images for offline use from an OCI image layout directory, an `oci-archive` tar, or a
    /// `docker save` tar. `name` tags the image (instead of the names in the archive); `refName` picks one
    /// entry of an OCI layout by its `org.opencontainers.image.ref.name` (umoci and skopeo tags).
    /// Returns the imported images.
    public func load(path: String, name: String? = nil, refName: String? = nil) async throws(ImageError) -> [ImageRecord] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ImageError.errno(path, "stat") }
        let lock = try await GCLock.shared(imagesDir)
        defer { lock.release() }
        if (st.st_mode & S_IFMT) == S_IFDIR { return try await loadDirectory(path, origin: path, name: name, refName: refName) }
        let temp = tempPath("load")
        defer { try? FileIO.removeTree(temp) }
        try FileIO.makeDirectories(temp)
        _ = try await Blocking.run { () throws(ImageError) in
            try LayerUnpacker(layer: String(path.split(separator: "/").last ?? Substring(path)), mode: .plain).unpack(archivePath: path, into: temp)
        }
        return try await loadDirectory(temp, origin: path, name: name, refName: refName)
    }

    private func loadDirectory(_ dir: String, origin: String, name: String?, refName: String?) async throws(ImageError) -> [ImageRecord] {
        do {
            if let manifestFile = confinedFile("manifest.json", in: dir) {
                return try await loadDockerSave(dir, manifestFile: manifestFile, origin: origin, name: name)
            }
            if confinedFile("index.json", in: dir) != nil { return try await loadOCILayout(dir, origin: origin, name: name, refName: refName) }
        } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError.invalidImageLayout(path: origin, detail: "\(error)")
        }
        throw ImageError.invalidImageLayout(path: origin, detail: "neither an OCI layout (index.json) nor a docker save archive (manifest.json)")
    }

    /// A regular file at `relative` inside `dir`, with symlinks confined to `dir`; `nil` if absent.
    func confinedFile(_ relative: String, in dir: String) -> String? {
        let parts = relative.split(separator: "/").map(String.init)
        guard !relative.hasPrefix("/"), !parts.contains(".."),
            let resolved = try? ScopedPath.resolve(parts, root: dir, followFinal: true)
        else { return nil }
        let full = dir + "/" + resolved.joined(separator: "/")
        var st = stat()
        guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return full
    }

    private func readSmall(_ path: String, origin: String) throws -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ImageError.errno(path, "stat") }
        guard Int(st.st_size) <= options.maxManifestBytes else {
            throw ImageError.manifestTooLarge(image: origin, size: Int64(st.st_size), limit: Int64(options.maxManifestBytes))
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ImageError.errno(path, "read") }
        return data
    }

    private func loadOCILayout(_ dir: String, origin: String, name: String?, refName: String?) async throws -> [ImageRecord] {
        guard let indexPath = confinedFile("index.json", in: dir) else { throw ImageError.invalidImageLayout(path: origin, detail: "no index.json") }
        let index: ManifestIndex
        do { index = try JSONDecoder().decode(ManifestIndex.self, from: try readSmall(indexPath, origin: origin)) } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError.invalidImageLayout(path: origin, detail: "bad index.json: \(error)")
        }
        var files: [Digest: String] = [:]
        func blobFile(_ digest: Digest) throws -> String {
            guard let file = confinedFile("blobs/\(digest.algorithm)/\(digest.hex)", in: dir) else {
                throw ImageError.notFound(image: origin, what: "blob \(digest) missing from the layout")
            }
            files[digest] = file
            return file
        }
        var entries = index.manifests
        if let refName {
            entries = entries.filter { $0.annotations?["org.opencontainers.image.ref.name"] == refName }
            guard !entries.isEmpty else { throw ImageError.notFound(image: origin, what: "no image with ref.name \(refName) in the layout") }
        }
        if name != nil && entries.count > 1 {
            throw ImageError.invalidImageLayout(path: origin, detail: "\(entries.count) images in the layout and one name: select one by its ref.name")
        }
        var records: [ImageRecord] = []
        for entry in entries {
            var descriptor = entry
            var indexData: Data?
            var indexDigest: Digest?
            var data = try readSmall(try blobFile(descriptor.digest), origin: origin)
            guard Digest.sha256(data) == descriptor.digest else {
                throw ImageError.digestMismatch(
                    image: origin, what: "manifest", expected: descriptor.digest.description, actual: Digest.sha256(data).description)
            }
            if MediaType.indexes.contains(descriptor.mediaType) {
                indexData = data
                indexDigest = descriptor.digest
                descriptor = try selectFromIndex(data, image: origin)
                data = try readSmall(try blobFile(descriptor.digest), origin: origin)
                guard Digest.sha256(data) == descriptor.digest else {
                    throw ImageError.digestMismatch(
                        image: origin, what: "manifest", expected: descriptor.digest.description, actual: Digest.sha256(data).description)
                }
            }
            let manifest: Manifest
            do { manifest = try JSONDecoder().decode(Manifest.self, from: data) } catch {
                throw ImageError.invalidManifest(image: origin, detail: "manifest \(descriptor.digest): \(error)")
            }
            _ = try blobFile(manifest.config.digest)
            for layer in manifest.layers { _ = try blobFile(layer.digest) }
            let tags = Self.names(annotations: entry.annotations, explicit: name)
            let record = try await materialize(
                image: tags.first ?? origin, manifestData: data, manifestDigest: descriptor.digest, mediaType: descriptor.mediaType, indexData: indexData,
                indexDigest: indexDigest, source: DirectoryBlobSource(image: origin, files: files), tags: tags, repoDigests: [], progress: nil)
            records.append(record)
        }
        guard !records.isEmpty else { throw ImageError.invalidImageLayout(path: origin, detail: "index.json lists no manifests") }
        return records
    }

    /// Image names from layout annotations: containerd's full name, or `ref.name` when it is a full
    /// reference; a bare tag in `ref.name` is combined with `explicit` if given.
    static func names(annotations: [String: String]?, explicit: String?) -> [String] {
        if let explicit, let ref = try? ImageReference(parsing: explicit) {
            return [ref.description]
        }
        if let full = annotations?["io.containerd.image.name"], let ref = try? ImageReference(parsing: full) { return [ref.description] }
        if let refName = annotations?["org.opencontainers.image.ref.name"], refName.contains(":") || refName.contains("/"),
            let ref = try? ImageReference(parsing: refName)
        {
            return [ref.description]
        }
        return []
    }

    private func loadDockerSave(_ dir: String, manifestFile: String, origin: String, name: String?) async throws -> [ImageRecord] {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let entries: [Entry]
        do { entries = try JSONDecoder().decode([Entry].self, from: try readSmall(manifestFile, origin: origin)) } catch let error as ImageError {
            throw error
        } catch {
            throw ImageError.invalidImageLayout(path: origin, detail: "bad manifest.json: \(error)")
        }
        var records: [ImageRecord] = []
        for entry in entries {
            var files: [Digest: String] = [:]
            func describe(_ relative: String, mediaType: String) throws -> Descriptor {
                guard let file = confinedFile(relative, in: dir) else {
                    throw ImageError.invalidImageLayout(path: origin, detail: "\(relative) is missing or not a regular file inside the archive")
                }
                let (digest, size) = try Digest.sha256(file: file)
                files[digest] = file
                return Descriptor(mediaType: mediaType, digest: digest, size: size)
            }
            let config = try describe(entry.Config, mediaType: MediaType.dockerConfig)
            var layers: [Descriptor] = []
            for layer in entry.Layers {
                let compressed = (try? Self.isGzip(confinedFile(layer, in: dir) ?? "")) ?? false
                layers.append(try describe(layer, mediaType: compressed ? MediaType.dockerLayerGzip : MediaType.dockerLayer))
            }
            let manifest = Manifest(schemaVersion: 2, mediaType: MediaType.dockerManifest, config: config, layers: layers, annotations: nil)
            let data: Data
            do { data = try JSONEncoder().encode(manifest) } catch { throw ImageError.io(path: origin, message: "encode manifest: \(error)") }
            var tags = (entry.RepoTags ?? []).compactMap { try? ImageReference(parsing: $0).description }
            if let name, let ref = try? ImageReference(parsing: name) { tags = [ref.description] }
            let record = try await materialize(
                image: tags.first ?? origin, manifestData: data, manifestDigest: Digest.sha256(data), mediaType: MediaType.dockerManifest, indexData: nil,
                indexDigest: nil, source: DirectoryBlobSource(image: origin, files: files), tags: tags, repoDigests: [], progress: nil)
            records.append(record)
        }
        guard !records.isEmpty else { throw ImageError.invalidImageLayout(path: origin, detail: "manifest.json lists no images") }
        return records
    }

    static func isGzip(_ path: String) throws -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic: [UInt8] = [0, 0]
        return read(fd, &magic, 2) == 2 && magic == [0x1f, 0x8b]
    }
}
