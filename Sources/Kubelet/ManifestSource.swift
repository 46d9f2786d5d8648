import Crypto
import Foundation
import KubeAPI
import Synchronization

/// A pod wanted by the manifest directory. Its UID is derived from the content (kubelet's static pod
/// rule), so editing a file yields a new UID: the old pod is removed and the new one created.
struct DesiredPod: Sendable {
    var uid: String
    var pod: Pod
    var file: String
    var manifest: Data
}

/// A problem found while reading the directory, reported as an event and a log line.
struct ManifestProblem: Sendable, Hashable {
    var file: String
    var type: String
    var reason: String
    var message: String
    /// `namespace/name` of the object the document defines, when known (lets `diagnose` find it).
    var objectKey: String? = nil
}

/// The file source: which names are read, how they decode, and duplicate handling.
///
/// Names read: `*.yaml`, `*.yml`, `*.json` in the directory itself (no recursion). Skipped: dotfiles
/// (editors' swap files `.x.swp`, atomic-write temporaries `.x.tmp`), editor leftovers `x~`, `#x#`, `x.swp`,
/// and anything that is not a regular file (a symlink is followed only if it stays inside the directory).
struct ManifestSource: Sendable {
    let directory: String
    let nodeName: String
    let decoder = ManifestDecoder()
    /// Decoded files by path: a re-read parses only files that changed (100 manifests would otherwise cost a
    /// full YAML parse each on every inotify event and every periodic re-read).
    let cache = DecodedFileCache()

    static func isCandidate(_ name: String) -> Bool {
        if name.hasPrefix(".") || name.hasSuffix("~") || name.hasSuffix(".swp") || (name.hasPrefix("#") && name.hasSuffix("#")) { return false }
        return ManifestDecoder.isManifestFileName(name)
    }

    /// Reads every manifest; the first file (in name order) defining a `namespace/name` wins.
    func scan() -> (pods: [DesiredPod], problems: [ManifestProblem]) {
        var pods: [DesiredPod] = []
        var problems: [ManifestProblem] = []
        var owners: [String: String] = [:]
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(Self.isCandidate).sorted()
        cache.retain(paths: Set(names.map { directory + "/" + $0 }))
        let realDirectory = (directory as NSString).resolvingSymlinksInPath
        for name in names {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let target = (path as NSString).resolvingSymlinksInPath
                guard target.hasPrefix(realDirectory + "/") else {
                    problems.append(
                        ManifestProblem(
                            file: name, type: "Warning", reason: "InvalidManifest",
                            message: "\(name): symbolic link to \(target) points outside the manifest directory; ignored"))
                    continue
                }
                guard stat(path, &st) == 0 else { continue }
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let file = cache.file(atPath: path, stat: st) { decoder.decodeFile(atPath: path, displayName: name) }
            // errorMessages is the file-level error (if any) then each document's errors in order; pair them up
            // so each problem knows which object it is about.
            var errors = file.errorMessages[...]
            if file.fileError != nil, let first = errors.first {
                problems.append(ManifestProblem(file: name, type: "Warning", reason: "InvalidManifest", message: first))
                errors = errors.dropFirst()
            }
            var warnings = file.warningMessages[...]
            for document in file.documents {
                for message in errors.prefix(document.errors.count) {
                    problems.append(ManifestProblem(file: name, type: "Warning", reason: "InvalidManifest", message: message, objectKey: document.key))
                }
                errors = errors.dropFirst(document.errors.count)
                for message in warnings.prefix(document.warnings.count) {
                    problems.append(ManifestProblem(file: name, type: "Warning", reason: "ManifestWarning", message: message, objectKey: document.key))
                }
                warnings = warnings.dropFirst(document.warnings.count)
            }
            for object in file.objects {
                guard case .pod(var pod) = object else { continue }
                let key = pod.key
                if let owner = owners[key] {
                    problems.append(
                        ManifestProblem(
                            file: name, type: "Warning", reason: "DuplicatePod",
                            message: "\(name): pod \"\(key)\" is already defined in \(owner); this definition is ignored", objectKey: key))
                    continue
                }
                owners[key] = name
                pod.status = nil
                pod.spec.nodeName = pod.spec.nodeName ?? nodeName
                let manifest = (try? SpecHash.canonicalJSON(pod)) ?? Data()
                let uid = pod.metadata.uid.flatMap { $0.isEmpty ? nil : $0 } ?? Self.uid(manifest: manifest, nodeName: nodeName, path: path)
                pod.metadata.uid = uid
                pods.append(DesiredPod(uid: uid, pod: pod, file: name, manifest: manifest))
            }
        }
        return (pods, problems)
    }

    /// kubelet: hex(md5(pod + "host:" + node + "file:" + path)).
    static func uid(manifest: Data, nodeName: String, path: String) -> String {
        var md5 = Insecure.MD5()
        md5.update(data: manifest)
        md5.update(data: Data("host:\(nodeName)".utf8))
        md5.update(data: Data("file:\(path)".utf8))
        return md5.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// Decoded manifest files, valid while the file's identity and times are unchanged (device, inode, size,
/// mtime and ctime in nanoseconds: a rewrite, rename over, or chmod changes at least one).
final class DecodedFileCache: Sendable {
    private struct Entry {
        var identity: [Int]
        var file: ManifestFile
    }
    private let entries = Mutex<[String: Entry]>([:])

    func file(atPath path: String, stat st: stat, decode: () -> ManifestFile) -> ManifestFile {
        let identity = [
            Int(st.st_dev), Int(st.st_ino), Int(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec,
        ]
        if let hit = entries.withLock({ $0[path] }), hit.identity == identity { return hit.file }
        let file = decode()
        entries.withLock { $0[path] = Entry(identity: identity, file: file) }
        return file
    }

    /// Drops entries of files no longer present.
    func retain(paths: Set<String>) {
        entries.withLock { entries in entries = entries.filter { paths.contains($0.key) } }
    }
}

/// inotify on the manifest directory. Any relevant event calls `onChange` (the caller re-reads the whole
/// directory: level-triggered, so a missed or coalesced event costs nothing but latency).
final class DirectoryWatcher: Sendable {
    let directory: String
    private let fd: Int32

    init?(directory: String) {
        let fd = inotify_init1(Int32(IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_CREATE | IN_ATTRIB)
        guard inotify_add_watch(fd, directory, mask) >= 0 else {
            close(fd)
            return nil
        }
        self.directory = directory
        self.fd = fd
    }

    /// Reads events on a dedicated thread (a blocking read must not sit on the concurrency pool).
    func start(onChange: @escaping @Sendable () -> Void) {
        let fd = self.fd
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                var offset = 0
                var relevant = false
                while offset + 16 <= n {
                    let length = Int(buffer[offset + 12]) | Int(buffer[offset + 13]) << 8 | Int(buffer[offset + 14]) << 16 | Int(buffer[offset + 15]) << 24
                    let nameBytes = buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }
                    let name = String(decoding: nameBytes, as: UTF8.self)
                    // IN_CREATE alone is a file just opened for writing; wait for its close.
                    let mask =
                        UInt32(buffer[offset + 4]) | UInt32(buffer[offset + 5]) << 8 | UInt32(buffer[offset + 6]) << 16 | UInt32(buffer[offset + 7]) << 24
                    if ManifestSource.isCandidate(name) && mask & UInt32(IN_CREATE) == 0 { relevant = true }
                    offset += 16 + length
                }
                if relevant { onChange() }
            }
        }
        thread.name = "manifest-watch"
        thread.start()
    }
}
