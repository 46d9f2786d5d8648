import CArchive
import Foundation

/// Prepares and removes container root filesystems: an overlay of the image's unpacked layers plus a
/// private upper/work directory, or a plain copy where overlayfs is unavailable.
///
/// Layout: `ROOT/rootfs/ID/{merged,upper,work}` plus `image` (the image ID, which protects the image
/// from removal and GC) and `mode` (`overlay` or `copy`).
public final class RootfsManager: Sendable {
    public enum Mode: String, Sendable {
        case overlay, copy
    }

    public let store: ImageStore
    let baseDir: String

    public init(store: ImageStore) throws(ImageError) {
        self.store = store
        self.baseDir = store.root + "/rootfs"
        try FileIO.makeDirectories(baseDir, mode: 0o711)
    }

    func containerDir(_ id: String) throws(ImageError) -> String {
        let allowed = id.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
        }
        guard !id.isEmpty, id.count <= 128, allowed, !id.hasPrefix(".") else {
            throw ImageError.io(path: id, message: "invalid container ID (allowed: letters, digits, - _ ., up to 128)")
        }
        return baseDir + "/" + id
    }

    /// The root filesystem path of a prepared container.
    public func rootfsPath(containerID: String) throws(ImageError) -> String { try containerDir(containerID) + "/merged" }

    /// Mounts (or copies) `image` for `containerID`; returns the rootfs path. Idempotent.
    @discardableResult
    public func prepare(containerID: String, image: ImageRecord, mode requested: Mode? = nil) async throws(ImageError) -> String {
        let dir = try containerDir(containerID)
        let merged = dir + "/merged"
        if let current = try? String(contentsOfFile: dir + "/mode", encoding: .utf8), !current.isEmpty {
            return merged
        }
        for key in image.layerChain where !FileIO.isDirectory(store.layerPath(key)) {
            throw ImageError.io(path: store.layerPath(key), message: "layer of image \(image.id) is not unpacked; pull the image again")
        }
        try FileIO.makeDirectories(merged)
        try FileIO.writeAtomically(Data(image.id.description.utf8), to: dir + "/image")
        var mode = requested ?? .overlay
        if mode == .overlay {
            do throws(ImageError) {
                try mountOverlay(dir: dir, image: image)
            } catch {
                guard requested == nil else {
                    try? cleanup(dir)
                    throw error
                }
                mode = .copy
            }
        }
        if mode == .copy {
            do throws(ImageError) {
                try await copyLayers(image: image, into: merged)
            } catch {
                try? cleanup(dir)
                throw error
            }
        }
        try FileIO.writeAtomically(Data(mode.rawValue.utf8), to: dir + "/mode")
        _ = try? store.touch(image)
        return merged
    }

    private func mountOverlay(dir: String, image: ImageRecord) throws(ImageError) {
        let upper = dir + "/upper"
        let work = dir + "/work"
        try FileIO.makeDirectories(upper)
        try FileIO.makeDirectories(work)
        // Overlay lists lower directories top-most first.
        var lowers = image.layerChain.reversed().map { store.layerPath($0) }
        if lowers.isEmpty {
            let empty = dir + "/empty"
            try FileIO.makeDirectories(empty)
            lowers = [empty]
        }
        try Overlay.mount(lowers: lowers, upper: upper, work: work, at: dir + "/merged")
    }

    /// Copy fallback: applies each layer blob in order onto one tree (whiteouts delete).
    private func copyLayers(image: ImageRecord, into merged: String) async throws(ImageError) {
        let store = self.store
        try await Blocking.run { () throws(ImageError) in
            for layer in image.layers {
                try LayerUnpacker(layer: layer.digest.description, mode: .flatten).unpack(archivePath: store.blobPath(layer.digest), into: merged)
            }
        }
    }

    /// Unmounts and removes the container's rootfs, upper and work directories. Idempotent.
    public func release(containerID: String) throws(ImageError) {
        let dir = try containerDir(containerID)
        guard FileIO.exists(dir) else { return }
        try cleanup(dir)
    }

    private func cleanup(_ dir: String) throws(ImageError) {
        let merged = dir + "/merged"
        if Overlay.isMountPoint(merged) {
            if umount2(merged, 0) != 0 {
                guard errno == EBUSY, umount2(merged, Int32(MNT_DETACH)) == 0 else { throw ImageError.errno(merged, "umount") }
            }
        }
        // removeTree refuses to cross a mount point, so a failed unmount can never delete image layers.
        try FileIO.removeTree(dir)
    }

    /// Container IDs with a prepared rootfs.
    public func containers() -> [String] { (try? FileIO.listDirectory(baseDir)) ?? [] }

}

extension ImageStore {
    /// Builds the flattened root filesystem of `image` in `destination` (an empty or new directory), as
    /// `umoci unpack` would: layers applied in order, whiteouts removing lower content.
    public func unpackRootfs(_ image: ImageRecord, into destination: String) async throws(ImageError) {
        try FileIO.makeDirectories(destination)
        let layers = image.layers
        try await Blocking.run { () throws(ImageError) in
            for layer in layers {
                // Each blob applied in order onto one tree; whiteouts delete what lower layers wrote.
                try LayerUnpacker(layer: layer.digest.description, mode: .flatten).unpack(archivePath: self.blobPath(layer.digest), into: destination)
            }
        }
    }
}

/// overlayfs mount helpers.
enum Overlay {
    /// Mounts `lowers` (top-most first) with `upper`/`work` at `target`.
    static func mount(lowers: [String], upper: String, work: String, at target: String) throws(ImageError) {
        let options = "lowerdir=\(lowers.joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
        guard options.utf8.count < 4000 else { throw ImageError.mountFailed(path: target, message: "overlay options too long (\(lowers.count) layers)") }
        guard Glibc.mount("overlay", target, "overlay", 0, options) == 0 else {
            throw ImageError.mountFailed(path: target, message: "overlay: \(String(cString: strerror(errno)))")
        }
    }

    /// Unmounts `target`, lazily if busy. Failures leave the mount; `FileIO.removeTree` will not cross it.
    static func unmount(_ target: String) {
        if umount2(target, 0) != 0 && errno == EBUSY { _ = umount2(target, Int32(MNT_DETACH)) }
    }

    static func isMountPoint(_ path: String) -> Bool {
        var st = stat()
        var parent = stat()
        guard lstat(path, &st) == 0, lstat(path + "/..", &parent) == 0 else { return false }
        return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino
    }
}
