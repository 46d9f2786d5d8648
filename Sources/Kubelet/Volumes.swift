import Foundation
import KubeAPI

/// A volume that cannot be set up (kubelet: Warning `FailedMount`, the pod stays ContainerCreating).
struct VolumeError: Error, Sendable, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// What a pod worker remembers about its volumes between passes.
struct VolumeState: Sendable {
    /// The ConfigObjectStore generation the projected volumes were last written from.
    var generation: Int?
    /// The last FailedMount message (events are recorded once per distinct failure).
    var lastFailure: String?
    /// Set once the pod is evicted (emptyDir over its sizeLimit): the message.
    var eviction: String?
    var lastSizeCheck: Date = .distantPast
}

/// One file of a projected volume: bytes and mode, at a relative path.
struct VolumeFile: Equatable, Sendable {
    var data: Data
    var mode: Int32
}

/// Sets up a pod's volumes under `<pod>/volumes/<name>` (kubelet's volume plugins, reduced to the local ones).
struct VolumeManager: Sendable {
    let pod: Pod
    let podDirectory: String
    let objects: ConfigObjectStore
    /// For downward API items: field and resource values as the environment computes them.
    let builder: BundleBuilder?
    var namespace: String { pod.metadata.namespace ?? "default" }

    /// The host directory (or file) a volume's mounts bind; nil for a volume the agent does not have.
    func path(of volumeName: String) -> String? {
        guard let volume = pod.spec.volumes?.first(where: { $0.name == volumeName }) else { return nil }
        if let hostPath = volume.hostPath { return hostPath.path }
        if let claim = volume.persistentVolumeClaim { return objects.claim(namespace: namespace, name: claim.claimName)?.path }
        if volume.emptyDir != nil || volume.configMap != nil || volume.secret != nil || volume.downwardAPI != nil || volume.projected != nil {
            return podDirectory + "/volumes/" + volumeName
        }
        return nil
    }

    /// Sets up every volume; the first failure as (volume, message).
    func setUpAll() -> (volume: String, message: String)? {
        for volume in pod.spec.volumes ?? [] {
            do { try setUp(volume) } catch { return (volume.name, error.message) }
        }
        return nil
    }

    func setUp(_ volume: Volume) throws(VolumeError) {
        let directory = podDirectory + "/volumes/" + volume.name
        if let emptyDir = volume.emptyDir {
            try makeDirectory(directory, mode: 0o777)
            if emptyDir.medium == "Memory" {
                // A tmpfs per volume, sized by sizeLimit (kubelet; unlimited means half of RAM, tmpfs' default).
                var options = "mode=1777"
                if let limit = emptyDir.sizeLimit, limit.value > 0 { options += ",size=\(limit.value)" }
                try mountTmpfs(directory, options: options)
            }
        } else if let hostPath = volume.hostPath {
            try Self.checkHostPath(hostPath.path, type: hostPath.type ?? "")
        } else if let source = volume.persistentVolumeClaim {
            // kubelet's desired-state populator wording for a missing or unbound claim.
            guard let binding = objects.claim(namespace: namespace, name: source.claimName) else {
                throw VolumeError(message: "persistentvolumeclaim \(goQuote(source.claimName)) not found")
            }
            guard let path = binding.path, binding.claim.status?.phase == "Bound" else {
                throw VolumeError(
                    message: "PVC \(namespace)/\(source.claimName) has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\"): "
                        + VolumeBinder.pendingReason(binding.claim))
            }
            if binding.hostPathType == "DirectoryOrCreate" {
                // local-path: the provisioner's directory, writable by any user (k3s makes it 0777).
                try Self.checkHostPath(path, type: "DirectoryOrCreate")
                chmod(path, 0o777)
            } else {
                try Self.checkHostPath(path, type: binding.hostPathType ?? "Directory")
            }
        } else if let source = volume.configMap {
            try makeDirectory(directory, mode: 0o755)
            try AtomicWriter(directory: directory).write(try configMapFiles(source))
        } else if let source = volume.secret {
            // Secrets live in memory only (kubelet mounts a tmpfs per secret volume).
            try makeDirectory(directory, mode: 0o755)
            try mountTmpfs(directory, options: "mode=0755")
            try AtomicWriter(directory: directory).write(try secretFiles(source))
        } else if let source = volume.downwardAPI {
            try makeDirectory(directory, mode: 0o755)
            try AtomicWriter(directory: directory).write(try downwardFiles(source.items ?? [], defaultMode: source.defaultMode))
        } else if let source = volume.projected {
            // kubelet's projected volumes are memory-backed too (they may carry secrets and tokens).
            try makeDirectory(directory, mode: 0o755)
            try mountTmpfs(directory, options: "mode=0755")
            try AtomicWriter(directory: directory).write(try projectedFiles(source))
        }
    }

    // MARK: Payloads (kubelet's MakePayload per plugin)

    func configMapFiles(_ source: ConfigMapVolumeSource) throws(VolumeError) -> [String: VolumeFile] {
        let name = source.name ?? ""
        guard let data = objects.configMapData(namespace: namespace, name: name) else {
            if source.optional == true { return [:] }
            throw VolumeError(message: "configmap \"\(name)\" not found")
        }
        return try Self.payload(
            data, items: source.items, defaultMode: source.defaultMode, optional: source.optional == true,
            missingKey: "configmap references non-existent config key")
    }

    func secretFiles(_ source: SecretVolumeSource) throws(VolumeError) -> [String: VolumeFile] {
        let name = source.secretName ?? ""
        guard let data = objects.secretData(namespace: namespace, name: name) else {
            if source.optional == true { return [:] }
            throw VolumeError(message: "secret \"\(name)\" not found")
        }
        return try Self.payload(
            data, items: source.items, defaultMode: source.defaultMode, optional: source.optional == true, missingKey: "references non-existent secret key")
    }

    static func payload(
        _ data: [String: Data], items: [KeyToPath]?, defaultMode: Int32?, optional: Bool, missingKey: String
    ) throws(VolumeError) -> [String: VolumeFile] {
        let mode = defaultMode ?? Defaults.volumeFileMode
        guard let items, !items.isEmpty else {
            return data.mapValues { VolumeFile(data: $0, mode: mode) }
        }
        var files: [String: VolumeFile] = [:]
        for item in items {
            guard let bytes = data[item.key] else {
                if optional { continue }
                throw VolumeError(message: "\(missingKey): \(item.key)")
            }
            files[item.path] = VolumeFile(data: bytes, mode: item.mode ?? mode)
        }
        return files
    }

    func downwardFiles(_ items: [DownwardAPIVolumeFile], defaultMode: Int32?) throws(VolumeError) -> [String: VolumeFile] {
        var files: [String: VolumeFile] = [:]
        for item in items {
            var text = ""
            if let fieldRef = item.fieldRef {
                switch fieldRef.fieldPath {
                // Whole maps only in volumes: sorted `key="value"` lines, as fieldpath.FormatMap.
                case "metadata.labels": text = Self.formatMap(pod.metadata.labels ?? [:])
                case "metadata.annotations": text = Self.formatMap(pod.metadata.annotations ?? [:])
                default:
                    do { text = try builder?.fieldValue(fieldRef.fieldPath) ?? "" } catch { throw VolumeError(message: error.message) }
                }
            } else if let resourceRef = item.resourceFieldRef {
                do { text = try builder?.resourceValue(resourceRef) ?? "" } catch { throw VolumeError(message: error.message) }
            }
            files[item.path] = VolumeFile(data: Data(text.utf8), mode: item.mode ?? defaultMode ?? Defaults.volumeFileMode)
        }
        return files
    }

    static func formatMap(_ map: [String: String]) -> String {
        map.sorted { $0.key < $1.key }.map { "\($0.key)=\(goQuote($0.value))" }.joined(separator: "\n")
    }

    func projectedFiles(_ source: ProjectedVolumeSource) throws(VolumeError) -> [String: VolumeFile] {
        var files: [String: VolumeFile] = [:]
        let mode = source.defaultMode ?? Defaults.volumeFileMode
        for projection in source.sources ?? [] {
            if let ref = projection.configMap {
                let name = ref.name ?? ""
                if let data = objects.configMapData(namespace: namespace, name: name) {
                    let part = try Self.payload(
                        data, items: ref.items, defaultMode: mode, optional: ref.optional == true, missingKey: "configmap references non-existent config key")
                    files.merge(part) { _, new in new }
                } else if ref.optional != true {
                    throw VolumeError(message: "configmap \"\(name)\" not found")
                }
            }
            if let ref = projection.secret {
                let name = ref.name ?? ""
                if let data = objects.secretData(namespace: namespace, name: name) {
                    let part = try Self.payload(
                        data, items: ref.items, defaultMode: mode, optional: ref.optional == true, missingKey: "references non-existent secret key")
                    files.merge(part) { _, new in new }
                } else if ref.optional != true {
                    throw VolumeError(message: "secret \"\(name)\" not found")
                }
            }
            if let downward = projection.downwardAPI {
                files.merge(try downwardFiles(downward.items ?? [], defaultMode: mode)) { _, new in new }
            }
            if projection.serviceAccountToken != nil {
                throw VolumeError(message: "serviceAccountToken projections need an API server; not supported by this agent")
            }
        }
        return files
    }

    // MARK: hostPath

    /// kubelet's hostpath checkTypeInternal, with its messages.
    static func checkHostPath(_ path: String, type: String) throws(VolumeError) {
        var info = stat()
        let exists = stat(path, &info) == 0
        let format = info.st_mode & S_IFMT
        switch type {
        case "":
            return
        case "DirectoryOrCreate", "Directory":
            if type == "DirectoryOrCreate" && !exists {
                do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755]) } catch {
                    throw VolumeError(message: "hostPath type check failed: cannot create directory \(path): \(error.localizedDescription)")
                }
                return
            }
            if !exists || format != S_IFDIR { throw VolumeError(message: "hostPath type check failed: \(path) is not a directory") }
        case "FileOrCreate", "File":
            if type == "FileOrCreate" && !exists {
                let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else {
                    throw VolumeError(message: "hostPath type check failed: cannot create file \(path): \(String(cString: strerror(errno)))")
                }
                close(fd)
                return
            }
            if !exists || format != S_IFREG { throw VolumeError(message: "hostPath type check failed: \(path) is not a file") }
        case "Socket":
            if !exists || format != S_IFSOCK { throw VolumeError(message: "hostPath type check failed: \(path) is not a socket file") }
        case "CharDevice":
            if !exists || format != S_IFCHR { throw VolumeError(message: "hostPath type check failed: \(path) is not a character device") }
        case "BlockDevice":
            if !exists || format != S_IFBLK { throw VolumeError(message: "hostPath type check failed: \(path) is not a block device") }
        default:
            throw VolumeError(message: "\(type) is an invalid volume type")
        }
    }

    // MARK: Helpers

    func makeDirectory(_ path: String, mode: mode_t) throws(VolumeError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw VolumeError(message: "cannot create \(path): \(error.localizedDescription)")
        }
        chmod(path, mode)
    }

    func mountTmpfs(_ path: String, options: String) throws(VolumeError) {
        guard !MountTable.isMountPoint(path) else { return }
        guard mount("tmpfs", path, "tmpfs", UInt(MS_NOSUID | MS_NODEV), options) == 0 else {
            throw VolumeError(message: "mounting tmpfs at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Bytes used below `path` (kubelet's du-based fsquota fallback). Nil when du fails.
    static func usage(of path: String) async -> Int64? {
        // Command.run does not search PATH. A file vanishing mid-walk makes du exit 1 with a usable total.
        guard let result = try? await Command.run(["/usr/bin/du", "-s", "-B1", "-x", path], timeout: .seconds(30)) else { return nil }
        return result.stdout.split(whereSeparator: { $0 == "\t" || $0 == " " }).first.flatMap { Int64($0) }
    }
}

/// kubelet's AtomicWriter: files live in a `..<timestamp>` directory, `..data` is a symlink to the current one,
/// and each top-level name is a symlink through `..data`, so a reader sees the old or the new set, never a mix.
struct AtomicWriter {
    let directory: String
    static let dataLink = "..data"

    /// kubelet's version directory stamp, `yyyy_MM_dd_HH_mm_ss.` in UTC, from gmtime_r (a DateFormatter would
    /// bring in ICU for a fixed numeric format).
    static func versionTimestamp(_ now: time_t = time(nil)) -> String {
        var parts = tm()
        var seconds = now
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)_\(two(parts.tm_mon + 1))_\(two(parts.tm_mday))_\(two(parts.tm_hour))_\(two(parts.tm_min))_\(two(parts.tm_sec))."
    }

    func write(_ files: [String: VolumeFile]) throws(VolumeError) {
        for path in files.keys {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(".."), !parts.contains(""), !path.hasPrefix("..") else {
                throw VolumeError(message: "invalid path \(goQuote(path)) in volume")
            }
        }
        let fm = FileManager.default
        let current = try? fm.destinationOfSymbolicLink(atPath: directory + "/" + Self.dataLink)
        if let current, matches(files, in: directory + "/" + current) { return }
        let versionName = ".." + Self.versionTimestamp() + String(UInt32.random(in: 0...UInt32.max))
        let version = directory + "/" + versionName
        do {
            try fm.createDirectory(atPath: version, withIntermediateDirectories: false)
            chmod(version, 0o755)
            for (path, file) in files {
                let target = version + "/" + path
                let parent = (target as NSString).deletingLastPathComponent
                try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
                guard fm.createFile(atPath: target, contents: file.data) else { throw VolumeError(message: "cannot write \(target)") }
                chmod(target, mode_t(file.mode & 0o7777))
            }
            // Swap `..data` in one rename.
            let temporary = directory + "/" + Self.dataLink + "_tmp"
            try? fm.removeItem(atPath: temporary)
            try fm.createSymbolicLink(atPath: temporary, withDestinationPath: versionName)
            guard rename(temporary, directory + "/" + Self.dataLink) == 0 else {
                throw VolumeError(message: "cannot replace \(Self.dataLink) in \(directory): \(String(cString: strerror(errno)))")
            }
            let names = Set(files.keys.compactMap { $0.split(separator: "/").first.map(String.init) })
            for name in names where (try? fm.destinationOfSymbolicLink(atPath: directory + "/" + name)) == nil {
                try fm.createSymbolicLink(atPath: directory + "/" + name, withDestinationPath: Self.dataLink + "/" + name)
            }
            // Stale user-visible links and old versions.
            for entry in try fm.contentsOfDirectory(atPath: directory) where entry != Self.dataLink && entry != versionName {
                if entry.hasPrefix("..") || !names.contains(entry) { try fm.removeItem(atPath: directory + "/" + entry) }
            }
        } catch let error as VolumeError {
            throw error
        } catch {
            throw VolumeError(message: "writing volume files in \(directory): \(error.localizedDescription)")
        }
    }

    /// True when the version directory holds exactly these files with these modes.
    private func matches(_ files: [String: VolumeFile], in version: String) -> Bool {
        var found = 0
        guard let enumerator = FileManager.default.enumerator(atPath: version) else { return false }
        while let entry = enumerator.nextObject() as? String {
            var info = stat()
            guard lstat(version + "/" + entry, &info) == 0 else { return false }
            if info.st_mode & S_IFMT == S_IFDIR { continue }
            guard let file = files[entry], Int32(info.st_mode & 0o7777) == file.mode & 0o7777,
                FileManager.default.contents(atPath: version + "/" + entry) == file.data
            else { return false }
            found += 1
        }
        return found == files.count
    }
}

/// Where a volumeMount's bind comes from: the volume, or a path inside it for `subPath`/`subPathExpr`
/// (kubelet makeMounts: absolute paths and `..` refused, the result must stay inside the volume).
enum SubPath {
    static func source(
        _ mount: VolumeMount, container: String, volumePath: String, env: () throws(ContainerConfigError) -> [String: String]
    ) throws(ContainerConfigError) -> String {
        var subPath = mount.subPath ?? ""
        if let expression = mount.subPathExpr, !expression.isEmpty {
            subPath = BundleBuilder.expand(expression, try env())
        }
        guard !subPath.isEmpty else { return volumePath }
        if subPath.hasPrefix("/") { throw ContainerConfigError(message: "error SubPath `\(subPath)` must not be an absolute path") }
        if subPath.split(separator: "/").contains("..") {
            throw ContainerConfigError(message: "unable to provision SubPath `\(subPath)`: must not contain '..'")
        }
        let root = (volumePath as NSString).resolvingSymlinksInPath
        let candidate = volumePath + "/" + subPath
        var info = stat()
        if lstat(candidate, &info) != 0 {
            do { try FileManager.default.createDirectory(atPath: candidate, withIntermediateDirectories: true) } catch {
                throw ContainerConfigError(
                    message: "failed to create subPath directory for volumeMount \(goQuote(mount.name)) of container \(goQuote(container))")
            }
        }
        // Symlinks (a configMap key is one, through ..data) are resolved here; the target must stay inside.
        let resolved = (candidate as NSString).resolvingSymlinksInPath
        guard resolved == root || resolved.hasPrefix(root + "/") else {
            throw ContainerConfigError(message: "subpath \(goQuote(resolved)) not within volume path \(goQuote(root))")
        }
        return resolved
    }
}

extension PodWorker {
    nonisolated var volumes: VolumeManager {
        let builder = pod.spec.containers.first.map { container in
            BundleBuilder(
                pod: pod, container: container, podUID: uid, podDirectory: podDirectory, sandbox: Sandbox(podDirectory: podDirectory), cgroupsPath: "",
                nodeName: context.config.nodeName, memoryCapacity: context.memoryCapacity, objects: context.objects)
        }
        return VolumeManager(pod: pod, podDirectory: podDirectory, objects: context.objects, builder: builder)
    }

    /// kubelet's volume manager step of syncPod: volumes are set up (and projected ones refreshed when
    /// ConfigMaps/Secrets change) before containers start. Returns a hold when containers must not start.
    func syncVolumes() async -> Duration? {
        if volumeState.eviction != nil { return .seconds(30) }
        if await evictIfOverLimit() { return .milliseconds(500) }
        let generation = context.objects.generation
        if volumeState.generation == generation && volumeState.lastFailure == nil { return nil }
        if let failure = volumes.setUpAll() {
            let message = "MountVolume.SetUp failed for volume \(goQuote(failure.volume)) : \(failure.message)"
            if volumeState.lastFailure != message {
                context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "FailedMount", message)
            }
            volumeState.lastFailure = message
            // Once the pod has run, a failed refresh keeps the old files (as kubelet) and holds nothing.
            return volumeState.generation == nil ? .seconds(2) : nil
        }
        volumeState.lastFailure = nil
        volumeState.generation = generation
        return nil
    }

    /// Local storage eviction for disk emptyDirs over their sizeLimit (kubelet's eviction manager, every 10 s
    /// there; every 5 s here). The pod ends Failed/Evicted and its containers are killed at once.
    private func evictIfOverLimit() async -> Bool {
        guard Date().timeIntervalSince(volumeState.lastSizeCheck) >= 5 else { return false }
        volumeState.lastSizeCheck = Date()
        for volume in pod.spec.volumes ?? [] {
            guard let emptyDir = volume.emptyDir, emptyDir.medium != "Memory", let limit = emptyDir.sizeLimit, limit.value > 0 else { continue }
            guard let used = await VolumeManager.usage(of: podDirectory + "/volumes/" + volume.name), used > limit.value else { continue }
            let message = "Usage of EmptyDir volume \(goQuote(volume.name)) exceeds the limit \(goQuote(limit.description)). "
            volumeState.eviction = message
            Log.warning("pod \(podDescription): evicted: \(message)")
            context.events.pod(uid: uid, namespace: namespace, name: name, "Warning", "Evicted", message)
            for id in context.runtime.list() where id.hasPrefix("\(uid.prefix(12))-") {
                try? await context.runtime.kill(id: id, signal: "KILL")
            }
            return true
        }
        return false
    }

    /// ConfigMaps or Secrets changed: containers waiting for one retry now, and volumes are rewritten.
    func objectsChanged() async {
        for (container, hold) in waiting where hold.reason == "CreateContainerConfigError" { retryAt[container] = nil }
        wake()
    }
}
