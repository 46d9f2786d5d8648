import CArchive
import Foundation

/// How a layer tar is applied.
enum UnpackMode: Sendable {
    /// Into an empty directory that becomes an overlayfs lower layer: OCI whiteouts (`.wh.NAME`,
    /// `.wh..wh..opq`) become overlay whiteouts (0:0 character devices, `trusted.overlay.opaque=y`).
    case overlay
    /// On top of an existing tree (copy fallback, `unpack-rootfs`): whiteouts delete lower content.
    case flatten
    /// No whiteout interpretation and no ownership (image archives being imported).
    case plain
}

/// Extracts a (possibly compressed) tar with libarchive, enforcing path safety itself.
///
/// Why our own checks on top of libarchive's `ARCHIVE_EXTRACT_SECURE_*` flags:
/// - `SECURE_NOABSOLUTEPATHS`/`SECURE_NODOTDOT` only look at the entry's name; they say nothing about a
///   hard-link *target*, and we must rewrite names to absolute paths under the destination anyway
///   (libarchive extracts relative to the process cwd, and `chdir` is process-wide, unusable in a
///   concurrent agent), which disables the absolute-path check.
/// - `SECURE_SYMLINKS` refuses any symlink in the path, but real images legitimately write through
///   symlinked directories created by earlier entries (`lib -> usr/lib`). Rather than fail such images
///   or follow the link to wherever it points (possibly `/etc` on the host), we resolve every parent
///   component inside the destination, clamping `..` and absolute symlink targets at its root, like
///   containerd's scoped path resolution. The resolved path contains no symlinks, so libarchive's
///   `SECURE_SYMLINKS` would only repeat the check at the cost of one `openat` per path component per
///   entry (a third of the unpack time on large images); it is off, `SECURE_NODOTDOT` stays on.
///   Resolved parents are cached per layer and the cache is dropped whenever an entry could change
///   the directory structure (symlinks, whiteouts, a directory replaced by something else).
/// - Whiteouts are not tar semantics at all: libarchive would write `.wh.*` files verbatim.
struct LayerUnpacker {
    /// For messages: the layer digest or archive name.
    let layer: String
    let mode: UnpackMode
    /// `.overlay` only: the unpacked layers below this one, top-most first. Directories the tar
    /// creates implicitly (entries without their parent's own entry) take the attributes of the same
    /// directory in the lower layers, as they would when applied on the merged view.
    var lowers: [String] = []

    init(layer: String, mode: UnpackMode, lowers: [String] = []) {
        self.layer = layer
        self.mode = mode
        self.lowers = lowers
    }

    /// Whether the layer was applied, or needs the merged view of its lower layers (it writes through
    /// a symlink or hard-links a file that only a lower layer has); the caller then applies it through
    /// an overlay mount instead.
    enum Outcome: Equatable {
        case done
        case needsMergedView(String)
    }

    private struct MergedViewNeeded: Error {
        var reason: String
    }

    static let whiteoutPrefix = ".wh."
    static let opaqueMarker = ".wh..wh..opq"

    /// Unpacks `archivePath` into `destination` (which must exist).
    @discardableResult
    func unpack(archivePath: String, into destination: String) throws(ImageError) -> Outcome {
        do { try unpackChecked(archivePath: archivePath, into: destination) } catch {
            switch error {
            case .imageError(let failure): throw failure
            case .mergedView(let reason): return .needsMergedView(reason)
            }
        }
        return .done
    }

    private enum Failure: Error {
        case imageError(ImageError)
        case mergedView(String)
    }

    private func unpackChecked(archivePath: String, into destination: String) throws(Failure) {
        do throws(ImageError) {
            try unpackEntries(archivePath: archivePath, into: destination)
        } catch {
            if case .archive(_, _, let message) = error, message.hasPrefix(Self.mergedViewMarker) {
                throw .mergedView(String(message.dropFirst(Self.mergedViewMarker.count)))
            }
            throw .imageError(error)
        }
    }

    static let mergedViewMarker = "needs merged view: "

    private func needsMergedView(_ entry: String, _ why: String) -> ImageError {
        .archive(layer: layer, path: entry, message: Self.mergedViewMarker + why)
    }

    /// Creates missing parent directories of an entry (overlay mode with lowers), copying owner, mode
    /// and xattrs from the directory the lower layers show at that path.
    private func ensureParents(_ parent: [String], root: String, entry: String) throws(ImageError) {
        var prefix: [String] = []
        var fromLowers = true
        for component in parent {
            prefix.append(component)
            let path = join(root, prefix)
            var st = stat()
            if lstat(path, &st) == 0 { continue }
            if fromLowers, let source = try lowerDirectory(prefix, entry: entry) {
                guard mkdir(path, 0o700) == 0 else { throw ImageError.errno(path, "mkdir") }
                guard lchown(path, source.st.st_uid, source.st.st_gid) == 0, chmod(path, source.st.st_mode & 0o7777) == 0 else {
                    throw ImageError.errno(path, "chown/chmod")
                }
                try copyXattrs(from: source.path, to: path)
            } else {
                fromLowers = false
                guard mkdir(path, 0o755) == 0 else { throw ImageError.errno(path, "mkdir") }
            }
        }
    }

    /// The directory the merged lower layers show at `components`, if any.
    private func lowerDirectory(_ components: [String], entry: String) throws(ImageError) -> (path: String, st: stat)? {
        for lower in lowers {
            var hiddenBelow = false
            for depth in 1...components.count {
                let path = join(lower, Array(components[..<depth]))
                var st = stat()
                guard lstat(path, &st) == 0 else { break }
                let type = st.st_mode & S_IFMT
                if type == S_IFLNK { throw needsMergedView(entry, "parent \(components[..<depth].joined(separator: "/")) is a symlink in a lower layer") }
                if type == S_IFCHR && st.st_rdev == 0 { return nil }  // whited out
                guard type == S_IFDIR else { return nil }
                if depth == components.count { return (path, st) }
                if getxattr(path, "trusted.overlay.opaque", nil, 0) > 0 { hiddenBelow = true }
            }
            if hiddenBelow { return nil }
        }
        return nil
    }

    private func copyXattrs(from source: String, to target: String) throws(ImageError) {
        let size = llistxattr(source, nil, 0)
        guard size > 0 else { return }
        var names = [CChar](repeating: 0, count: size)
        let got = llistxattr(source, &names, size)
        guard got > 0 else { return }
        for nameBytes in names[0..<got].split(separator: 0) {
            let name = String(decoding: nameBytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name.hasPrefix("trusted.overlay.") { continue }
            let length = lgetxattr(source, name, nil, 0)
            guard length >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: length)
            let read = lgetxattr(source, name, &value, length)
            guard read >= 0 else { continue }
            guard lsetxattr(target, name, value, read, 0) == 0 else { throw ImageError.errno(target, "setxattr \(name)") }
        }
    }

    private func unpackEntries(archivePath: String, into destination: String) throws(ImageError) {
        guard let rootC = realpath(destination, nil) else { throw ImageError.errno(destination, "realpath") }
        let root = String(cString: rootC)
        free(rootC)

        guard let reader = archive_read_new() else { throw ImageError.archive(layer: layer, path: nil, message: "archive_read_new failed") }
        defer { archive_read_free(reader) }
        archive_read_support_filter_all(reader)
        archive_read_support_format_tar(reader)
        guard archive_read_open_filename(reader, archivePath, 1 << 20) == ARCHIVE_OK else {
            throw ImageError.archive(layer: layer, path: nil, message: "cannot open: \(Self.message(reader))")
        }
        guard let writer = archive_write_disk_new() else { throw ImageError.archive(layer: layer, path: nil, message: "archive_write_disk_new failed") }
        defer { archive_write_free(writer) }
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK
        if mode != .plain { flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL }
        archive_write_disk_set_options(writer, flags)
        // No archive_write_disk_set_standard_lookup: owners stay numeric, never mapped through the host's passwd.

        var writtenInLayer = Set<String>()
        var opaqueDirs: [String] = []
        var parentCache: [[String]: [String]] = [:]
        func parentOf(_ components: [String], entry: String) throws(ImageError) -> [String] {
            let parent = Array(components.dropLast())
            if let cached = parentCache[parent] { return cached }
            let resolved = try resolveParent(parent, root: root, entry: entry)
            parentCache[parent] = resolved
            return resolved
        }
        var entryCount = 0
        while true {
            var entryPtr: OpaquePointer?
            let status = archive_read_next_header(reader, &entryPtr)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry = entryPtr else {
                throw ImageError.archive(layer: layer, path: nil, message: "corrupt archive after \(entryCount) entries: \(Self.message(reader))")
            }
            entryCount += 1
            let rawName = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            let components = try sanitize(rawName)
            let baseName = components.last ?? ""

            // Whiteouts.
            if mode != .plain, baseName.hasPrefix(Self.whiteoutPrefix) {
                let parent = try parentOf(components, entry: rawName)
                parentCache.removeAll(keepingCapacity: true)
                let parentPath = join(root, parent)
                if baseName == Self.opaqueMarker {
                    switch mode {
                    case .overlay:
                        try ensureParents(parent, root: root, entry: rawName)
                        opaqueDirs.append(parentPath)
                    case .flatten:
                        let prefix = parent.joined(separator: "/")
                        if FileIO.isDirectory(parentPath) {
                            for child in try FileIO.listDirectory(parentPath) {
                                let rel = prefix.isEmpty ? child : prefix + "/" + child
                                if !writtenInLayer.contains(rel) { try FileIO.removeTree(parentPath + "/" + child) }
                            }
                        }
                    case .plain: break
                    }
                } else {
                    let target = String(baseName.dropFirst(Self.whiteoutPrefix.count))
                    guard !target.isEmpty, target != ".", target != ".." else {
                        throw ImageError.unsafeArchiveEntry(layer: layer, path: rawName, why: "invalid whiteout name")
                    }
                    let targetPath = parentPath + "/" + target
                    switch mode {
                    case .overlay:
                        try ensureParents(parent, root: root, entry: rawName)
                        try FileIO.removeTree(targetPath)
                        guard mknod(targetPath, S_IFCHR, 0) == 0 else { throw ImageError.errno(targetPath, "mknod whiteout") }
                    case .flatten:
                        let rel = (parent + [target]).joined(separator: "/")
                        if !writtenInLayer.contains(rel) { try FileIO.removeTree(targetPath) }
                    case .plain: break
                    }
                }
                try skipData(reader, entry: rawName)
                continue
            }

            // The root directory entry itself ("./"): apply its metadata to the destination.
            let resolved: [String]
            if components.isEmpty {
                resolved = []
            } else {
                let parent = try parentOf(components, entry: rawName)
                if mode == .overlay && !lowers.isEmpty { try ensureParents(parent, root: root, entry: rawName) }
                resolved = parent + [baseName]
            }
            let target = join(root, resolved)
            archive_entry_set_pathname(entry, target)
            writtenInLayer.insert(resolved.joined(separator: "/"))

            if let linkC = archive_entry_hardlink(entry) {
                let linkName = String(cString: linkC)
                let linkComponents = try sanitize(linkName)
                guard let last = linkComponents.last else {
                    throw ImageError.unsafeArchiveEntry(layer: layer, path: rawName, why: "hard link to the root directory")
                }
                let linkResolved = try resolveParent(Array(linkComponents.dropLast()), root: root, entry: rawName) + [last]
                let linkTarget = join(root, linkResolved)
                var st = stat()
                guard lstat(linkTarget, &st) == 0 else {
                    if mode == .overlay && lowers.contains(where: { FileIO.exists(join($0, linkResolved)) }) {
                        throw needsMergedView(rawName, "hard link to \(linkName) in a lower layer")
                    }
                    throw ImageError.archive(layer: layer, path: rawName, message: "hard link target \"\(linkName)\" does not exist in this layer")
                }
                guard (st.st_mode & S_IFMT) != S_IFDIR else {
                    throw ImageError.unsafeArchiveEntry(layer: layer, path: rawName, why: "hard link to a directory")
                }
                archive_entry_set_hardlink(entry, linkTarget)
            }

            let fileType = archive_entry_filetype(entry)
            var existing = stat()
            if !resolved.isEmpty, lstat(target, &existing) == 0 {
                let existingType = existing.st_mode & S_IFMT
                if fileType != S_IFDIR && existingType == S_IFDIR {
                    // A non-directory replaces a directory.
                    try FileIO.removeTree(target)
                    parentCache.removeAll(keepingCapacity: true)
                } else if existingType == S_IFLNK {
                    // Replacing a symlink changes how paths below it resolve.
                    parentCache.removeAll(keepingCapacity: true)
                }
            }
            if fileType == S_IFLNK { parentCache.removeAll(keepingCapacity: true) }
            if mode == .overlay { dropOverlayXattrs(entry) }

            let headerStatus = archive_write_header(writer, entry)
            if headerStatus < ARCHIVE_WARN {
                throw ImageError.archive(layer: layer, path: rawName, message: Self.message(writer))
            }
            if archive_entry_size(entry) > 0 && headerStatus >= ARCHIVE_WARN {
                try copyData(reader, writer, entry: rawName)
            }
            let finish = archive_write_finish_entry(writer)
            if finish < ARCHIVE_WARN {
                throw ImageError.archive(layer: layer, path: rawName, message: Self.message(writer))
            }
        }
        // Directory modes and times are fixed up on close.
        guard archive_write_close(writer) >= ARCHIVE_WARN else {
            throw ImageError.archive(layer: layer, path: nil, message: Self.message(writer))
        }
        for dir in opaqueDirs {
            guard setxattr(dir, "trusted.overlay.opaque", "y", 1, 0) == 0 else { throw ImageError.errno(dir, "setxattr trusted.overlay.opaque") }
        }
    }

    /// Splits an entry name into components; rejects absolute paths and `..`.
    func sanitize(_ name: String) throws(ImageError) -> [String] {
        guard !name.hasPrefix("/") else { throw ImageError.unsafeArchiveEntry(layer: layer, path: name, why: "absolute path") }
        var components: [String] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            guard part != ".." else { throw ImageError.unsafeArchiveEntry(layer: layer, path: name, why: "path contains \"..\"") }
            components.append(String(part))
        }
        return components
    }

    func resolveParent(_ components: [String], root: String, entry: String) throws(ImageError) -> [String] {
        do { return try ScopedPath.resolve(components, root: root, followFinal: true) } catch let failure {
            switch failure {
            case .tooManyLinks: throw ImageError.unsafeArchiveEntry(layer: layer, path: entry, why: "too many symlinks in path")
            case .notADirectory(let rel): throw ImageError.archive(layer: layer, path: entry, message: "parent \"\(rel)\" is not a directory")
            case .io(let error): throw error
            }
        }
    }

    private func join(_ root: String, _ components: [String]) -> String {
        components.isEmpty ? root : root + "/" + components.joined(separator: "/")
    }

    /// A layer must not smuggle in overlay metadata (e.g. a fake `trusted.overlay.redirect`).
    private func dropOverlayXattrs(_ entry: OpaquePointer) {
        guard archive_entry_xattr_reset(entry) > 0 else { return }
        var kept: [(String, [UInt8])] = []
        var dropped = false
        var namePtr: UnsafePointer<CChar>?
        var valuePtr: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &namePtr, &valuePtr, &size) == ARCHIVE_OK {
            guard let namePtr else { continue }
            let name = String(cString: namePtr)
            if name.hasPrefix("trusted.overlay.") {
                dropped = true
                continue
            }
            let bytes = valuePtr.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            kept.append((name, bytes))
        }
        guard dropped else { return }
        archive_entry_xattr_clear(entry)
        for (name, bytes) in kept { bytes.withUnsafeBytes { archive_entry_xattr_add_entry(entry, name, $0.baseAddress, $0.count) } }
    }

    private func copyData(_ reader: OpaquePointer, _ writer: OpaquePointer, entry: String) throws(ImageError) {
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let status = archive_read_data_block(reader, &buffer, &size, &offset)
            if status == ARCHIVE_EOF { return }
            guard status >= ARCHIVE_WARN else {
                throw ImageError.archive(layer: layer, path: entry, message: "truncated or corrupt data: \(Self.message(reader))")
            }
            guard archive_write_data_block(writer, buffer, size, offset) >= ARCHIVE_WARN else {
                throw ImageError.archive(layer: layer, path: entry, message: Self.message(writer))
            }
        }
    }

    private func skipData(_ reader: OpaquePointer, entry: String) throws(ImageError) {
        guard archive_read_data_skip(reader) >= ARCHIVE_WARN else {
            throw ImageError.archive(layer: layer, path: entry, message: "truncated or corrupt data: \(Self.message(reader))")
        }
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "libarchive error \(archive_errno(archive))"
    }
}

/// Path resolution confined to a root directory, like containerd's scoped resolution / securejoin.
enum ScopedPath {
    enum Failure: Error {
        case tooManyLinks
        case notADirectory(String)
        case io(ImageError)
    }

    /// Resolves `components` inside `root`: symlinks are followed but confined to `root` (absolute
    /// targets restart at `root`, `..` stops at `root`). Returns symlink-free components relative to
    /// `root`; components that do not exist yet are kept lexically. With `followFinal` false the last
    /// component is not dereferenced.
    static func resolve(_ components: [String], root: String, followFinal: Bool) throws(Failure) -> [String] {
        var resolved: [String] = []
        var pending = Array(components.reversed())
        var hops = 0
        var missing = false
        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            if missing || (!followFinal && pending.isEmpty) {
                resolved.append(component)
                continue
            }
            let candidate = root + "/" + (resolved + [component]).joined(separator: "/")
            var st = stat()
            guard lstat(candidate, &st) == 0 else {
                guard errno == ENOENT else { throw .io(ImageError.errno(candidate, "lstat")) }
                // Not there yet: nothing below it can be a symlink.
                missing = true
                resolved.append(component)
                continue
            }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                hops += 1
                guard hops <= 40 else { throw .tooManyLinks }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(candidate, &buffer, Int(PATH_MAX))
                guard n >= 0 else { throw .io(ImageError.errno(candidate, "readlink")) }
                let linkTarget = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if linkTarget.hasPrefix("/") { resolved = [] }
                pending.append(contentsOf: linkTarget.split(separator: "/").map(String.init).reversed())
            case S_IFDIR:
                resolved.append(component)
            default:
                // A regular file etc. is fine as the final component only.
                guard pending.isEmpty else { throw .notADirectory((resolved + [component]).joined(separator: "/")) }
                resolved.append(component)
            }
        }
        return resolved
    }

    /// Reads a file at `path` (absolute inside the image) under `root` without escaping it.
    static func readFile(_ path: String, root: String, limit: Int = 4 << 20) -> Data? {
        let components = path.split(separator: "/").map(String.init)
        guard let resolved = try? resolve(components, root: root, followFinal: true) else { return nil }
        let full = root + "/" + resolved.joined(separator: "/")
        let fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while data.count < limit {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
        }
        return data
    }
}
