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
///   `SECURE_SYMLINKS` stays on as a second line of defence.
/// - Whiteouts are not tar semantics at all: libarchive would write `.wh.*` files verbatim.
struct LayerUnpacker {
    /// For messages: the layer digest or archive name.
    let layer: String
    let mode: UnpackMode

    static let whiteoutPrefix = ".wh."
    static let opaqueMarker = ".wh..wh..opq"

    /// Unpacks `archivePath` into `destination` (which must exist).
    func unpack(archivePath: String, into destination: String) throws(ImageError) {
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
        var flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_UNLINK
        if mode != .plain { flags |= ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL }
        archive_write_disk_set_options(writer, flags)
        // No archive_write_disk_set_standard_lookup: owners stay numeric, never mapped through the host's passwd.

        var writtenInLayer = Set<String>()
        var opaqueDirs: [String] = []
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
                let parent = try resolveParent(Array(components.dropLast()), root: root, entry: rawName)
                let parentPath = join(root, parent)
                if baseName == Self.opaqueMarker {
                    switch mode {
                    case .overlay:
                        try FileIO.makeDirectories(parentPath)
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
                        try FileIO.makeDirectories(parentPath)
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
                resolved = try resolveParent(Array(components.dropLast()), root: root, entry: rawName) + [baseName]
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
                    throw ImageError.archive(layer: layer, path: rawName, message: "hard link target \"\(linkName)\" does not exist in this layer")
                }
                guard (st.st_mode & S_IFMT) != S_IFDIR else {
                    throw ImageError.unsafeArchiveEntry(layer: layer, path: rawName, why: "hard link to a directory")
                }
                archive_entry_set_hardlink(entry, linkTarget)
            }

            let fileType = archive_entry_filetype(entry)
            if fileType != S_IFDIR, !resolved.isEmpty, FileIO.isDirectory(target) {
                var st = stat()
                // A non-directory replaces a directory (a real directory, not a symlink to one).
                if lstat(target, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { try FileIO.removeTree(target) }
            }
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
