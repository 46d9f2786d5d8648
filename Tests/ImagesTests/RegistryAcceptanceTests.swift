import Foundation
import Synchronization
import Testing

@testable import Images

/// Acceptance tests against a real Debian `docker-registry` on a loopback port, with images built by
/// umoci and pushed by skopeo. Every test uses its own temp store root and stops its registry.
@Suite(.serialized, .enabled(if: Fixtures.registryToolsAvailable, "needs root, docker-registry, skopeo, umoci, htpasswd"))
struct RegistryAcceptanceTests {
    /// 1. Pull by tag and by digest; the multi-layer image (whiteouts, opaque dir, hard link, device,
    /// xattr, owners) gives exactly `umoci unpack`'s tree, both flattened and through the overlay.
    @Test func pullByTagAndDigestMatchesUmoci() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            try await Fixtures.withRegistry(dir) { registry in
                try registry.push(layout, tag: "multi", as: "test/multi:v1")
                let store = try ImageStore(root: dir + "/root")
                let events = Events()
                let record = try await store.pull("\(registry.host)/test/multi:v1", credentials: .none, progress: { events.add($0) })
                #expect(record.layers.count == 4)
                #expect(record.repoTags == ["\(registry.host)/test/multi:v1"])
                #expect(record.repoDigests == ["\(registry.host)/test/multi@\(record.manifestDigest)"])
                #expect(events.phases.contains(.done))
                #expect(try FileIO.listDirectory(store.layersDir).count == 4)
                #expect(try FileIO.listDirectory(store.tmpDir).isEmpty)

                // By digest: same image, nothing downloaded again.
                let byDigest = try await store.pull("\(registry.host)/test/multi@\(record.manifestDigest)", policy: .always)
                #expect(byDigest.id == record.id)
                #expect(try store.list().count == 1)

                try Fixtures.sh("umoci unpack --image '\(layout):multi' '\(dir)/umoci' >/dev/null")
                let expected = try Fixtures.listing(dir + "/umoci/rootfs")
                #expect(expected.contains { $0.hasPrefix("opaque/new/file ") })
                #expect(!expected.contains { $0.hasPrefix("opaque/old") || $0.hasPrefix("data/gone") || $0.hasPrefix("srv/fifo ") })

                try await store.unpackRootfs(record, into: dir + "/flat")
                #expect(try Fixtures.listing(dir + "/flat") == expected)

                let rootfs = try RootfsManager(store: store)
                let merged = try await rootfs.prepare(containerID: "c1", image: record)
                #expect(try Fixtures.sh("grep ' \(merged) ' /proc/mounts").contains("overlay"))
                #expect(try Fixtures.listing(merged) == expected)
                try rootfs.release(containerID: "c1")
            }
        }
    }

    /// 2. Basic auth (htpasswd): unauthorized without or with wrong credentials, works with them.
    @Test func basicAuthRegistry() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            try await Fixtures.withRegistry(dir, auth: "alice:s3cret") { registry in
                try registry.push(layout, tag: "busybox", as: "private/busybox:v1", creds: "alice:s3cret")
                let store = try ImageStore(root: dir + "/root")
                let image = "\(registry.host)/private/busybox:v1"
                let anonymous = await #expect(throws: ImageError.self) { try await store.pull(image) }
                #expect(anonymous?.reason == .errImagePull)
                #expect(anonymous?.description.contains("unauthorized") == true)
                #expect(anonymous?.description.contains(image) == true)

                let config = dir + "/config.json"
                func writeConfig(_ userPass: String) throws {
                    let auth = Data(userPass.utf8).base64EncodedString()
                    try #"{"auths": {"\#(registry.host)": {"auth": "\#(auth)"}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
                }
                try writeConfig("alice:wrong")
                let wrong = await #expect(throws: ImageError.self) {
                    try await store.pull(image, credentials: try RegistryCredentials.load(dockerConfig: config))
                }
                #expect(wrong?.description.contains("unauthorized") == true)

                try writeConfig("alice:s3cret")
                let record = try await store.pull(image, credentials: try RegistryCredentials.load(dockerConfig: config))
                #expect(record.imageConfig.Cmd == ["/bin/sh"])
                #expect(record.imageConfig.User == "app")
            }
        }
    }

    /// HTTPS with a self-signed certificate: loopback registries are insecure (no verification), so the
    /// pull falls back from plain HTTP (refused with 400) to HTTPS.
    @Test func httpsRegistry() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            try await Fixtures.withRegistry(dir, tls: true) { registry in
                try registry.push(layout, tag: "busybox", as: "tls/busybox:v1")
                let store = try ImageStore(root: dir + "/root")
                let record = try await store.pull("\(registry.host)/tls/busybox:v1")
                #expect(record.layers.count == 1)
            }
        }
    }

    /// 3. `load` of an oci-archive and of a docker-save archive gives a runnable image.
    @Test(arguments: ["oci-archive", "docker-archive"])
    func loadArchiveGivesRunnableImage(transport: String) async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            let archive = dir + "/image.tar"
            try Fixtures.sh("skopeo copy -q oci:'\(layout)':multi \(transport):'\(archive)':example.test/loaded/app:v9")
            let store = try ImageStore(root: dir + "/root")
            let records = try await store.load(path: archive)
            #expect(records.count == 1)
            let record = try store.inspect("example.test/loaded/app:v9")
            #expect(record.id == records.first?.id)
            let rootfs = try RootfsManager(store: store)
            let merged = try await rootfs.prepare(containerID: "run1", image: record)
            // The image has Cmd ["/bin/sh"] and no Entrypoint: args alone would replace Cmd, so give a command.
            let spec = ContainerProcessSpec(command: ["/bin/sh"], args: ["-c", "cat /srv/hello.txt; id -u"])
            let process = try record.imageConfig.processDefaults(for: spec, rootfs: merged)
            #expect(process.args == ["/bin/sh", "-c", "cat /srv/hello.txt; id -u"])
            #expect(process.uid == 1000 && process.workingDir == "/home")
            let quoted = process.args.map { "'\($0)'" }.joined(separator: " ")
            let output = try Fixtures.sh("chroot --userspec=\(process.uid):\(process.gid) '\(merged)' \(quoted)")
            #expect(output == "hello\n1000\n")
            try rootfs.release(containerID: "run1")
        }
    }

    /// 4. A corrupted blob on the registry is detected; the image is not recorded and nothing of it is used.
    @Test func corruptedBlobIsRejected() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            try await Fixtures.withRegistry(dir) { registry in
                try registry.push(layout, tag: "busybox", as: "test/corrupt:v1")
                // The biggest blob is the busybox layer; flip bytes in the middle, keep the size.
                let blob = try Fixtures.sh("find '\(registry.dir)/data' -path '*/blobs/*' -name data -printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                try Fixtures.sh("printf 'CORRUPT' | dd of='\(blob)' bs=1 seek=5000 conv=notrunc status=none")
                let store = try ImageStore(root: dir + "/root")
                let error = await #expect(throws: ImageError.self) { try await store.pull("\(registry.host)/test/corrupt:v1") }
                #expect(error?.description.contains("digest mismatch") == true)
                #expect(error?.reason == .errImagePull)
                #expect(try store.list().isEmpty)
                #expect(try FileIO.listDirectory(store.layersDir).isEmpty)
                #expect(try FileIO.listDirectory(store.tmpDir).isEmpty)
                // The blob that failed verification was never renamed into the store.
                #expect(try !FileIO.listDirectory(store.blobsDir).contains { blob.contains($0) })

                let missing = await #expect(throws: ImageError.self) { try await store.pull("\(registry.host)/test/absent:v1") }
                #expect(missing?.description.contains("not found") == true)
            }
        }
    }

    /// 5. Two containers share the image layers, each with its own overlay; removal leaves nothing.
    @Test func twoContainersShareLayers() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            let store = try ImageStore(root: dir + "/root")
            let record = try #require(try await store.load(path: layout, name: "example.test/multi:v1", refName: "multi").first)
            let rootfs = try RootfsManager(store: store)
            let layersBefore = try Fixtures.sh("cd '\(store.layersDir)' && find . -printf '%p %i %s\\n' | sort")
            let a = try await rootfs.prepare(containerID: "a", image: record)
            let b = try await rootfs.prepare(containerID: "b", image: record)
            let mounts = try Fixtures.sh("grep ' \(dir)' /proc/mounts")
            #expect(mounts.split(separator: "\n").count == 2)
            let lowerA = try Fixtures.sh("grep ' \(a) ' /proc/mounts | grep -o 'lowerdir=[^,]*'")
            let lowerB = try Fixtures.sh("grep ' \(b) ' /proc/mounts | grep -o 'lowerdir=[^,]*'")
            #expect(lowerA == lowerB, "same layer directories")
            try "only a".write(toFile: a + "/srv/hello.txt", atomically: false, encoding: .utf8)
            try FileManager.default.removeItem(atPath: a + "/data")
            #expect(try String(contentsOfFile: b + "/srv/hello.txt", encoding: .utf8) == "hello\n")
            #expect(FileManager.default.fileExists(atPath: b + "/data/keep/file"))
            await #expect(throws: ImageError.imageInUse("example.test/multi:v1")) { try await store.remove("example.test/multi:v1") }

            try rootfs.release(containerID: "a")
            try rootfs.release(containerID: "b")
            #expect((try? Fixtures.sh("grep ' \(dir)' /proc/mounts")) == nil, "no mounts left")
            #expect(try FileIO.listDirectory(dir + "/root/rootfs").isEmpty)
            #expect(try Fixtures.sh("cd '\(store.layersDir)' && find . -printf '%p %i %s\\n' | sort") == layersBefore, "layers untouched")

            try await store.remove("example.test/multi:v1")
            #expect(try store.list().isEmpty)
            #expect(try FileIO.listDirectory(store.layersDir).isEmpty)
            #expect(try FileIO.listDirectory(store.blobsDir).isEmpty)
        }
    }

    /// Layers that write through a lower layer's symlink and hard-link a lower layer's file are applied
    /// on the merged view; the result matches `umoci unpack`, through the overlay and flattened.
    @Test func layersNeedingTheMergedView() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            let store = try ImageStore(root: dir + "/root")
            let record = try #require(try await store.load(path: layout, name: "example.test/symlinked:v1", refName: "symlinked").first)
            try Fixtures.sh("umoci unpack --image '\(layout):symlinked' '\(dir)/umoci' >/dev/null")
            let expected = try Fixtures.listing(dir + "/umoci/rootfs")
            #expect(expected.contains { $0.hasPrefix("usr/lib/x ") })
            #expect(expected.contains { $0.hasPrefix("lib ") && $0.contains("usr/lib") })
            let rootfs = try RootfsManager(store: store)
            let merged = try await rootfs.prepare(containerID: "s", image: record)
            #expect(try Fixtures.listing(merged) == expected)
            try rootfs.release(containerID: "s")
            try await store.unpackRootfs(record, into: dir + "/flat")
            #expect(try Fixtures.listing(dir + "/flat") == expected)
        }
    }

    /// Copy fallback gives the same tree as the overlay.
    @Test func copyFallbackMatchesOverlay() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            let store = try ImageStore(root: dir + "/root")
            let record = try #require(try await store.load(path: layout, name: "example.test/multi:v1", refName: "multi").first)
            let rootfs = try RootfsManager(store: store)
            let overlay = try await rootfs.prepare(containerID: "o", image: record, mode: .overlay)
            let copy = try await rootfs.prepare(containerID: "c", image: record, mode: .copy)
            #expect(try Fixtures.listing(copy) == Fixtures.listing(overlay))
            try rootfs.release(containerID: "o")
            try rootfs.release(containerID: "c")
            #expect(try FileIO.listDirectory(dir + "/root/rootfs").isEmpty)
        }
    }

    /// Pull policies and kubelet reasons; GC with kubelet's thresholds.
    @Test func policiesAndGarbageCollection() async throws {
        try await Fixtures.withTempDir { dir in
            let layout = try Fixtures.makeImages(dir)
            let store = try ImageStore(root: dir + "/root", options: RegistryOptions(connectTimeoutSeconds: 2))
            let never = await #expect(throws: ImageError.self) { try await store.pull("127.0.0.1:1/none:v1", policy: .never) }
            #expect(never?.reason == .errImageNeverPull)
            let unreachable = await #expect(throws: ImageError.self) { try await store.pull("127.0.0.1:1/none:v1") }
            #expect(unreachable?.description.contains("unreachable") == true)
            let invalid = await #expect(throws: ImageError.self) { try await store.pull("Bad/Name") }
            #expect(invalid?.reason == .invalidImageName)

            _ = try await store.load(path: layout, name: "example.test/busy:v1", refName: "busybox")
            let multi = try #require(try await store.load(path: layout, name: "example.test/multi:v1", refName: "multi").first)
            #expect(try store.list().count == 2)
            // IfNotPresent / Never use the local image without a registry.
            #expect(try await store.pull("example.test/busy:v1", policy: .never).repoTags == ["example.test/busy:v1"])

            // Below the high threshold nothing goes.
            let calm = try await store.garbageCollect(usage: .init(capacity: 100_000_000, used: 84_000_000))
            #expect(calm.removedImages.isEmpty)
            // Above it, unused images go (LRU first) until the low threshold would be reached; in-use ones stay.
            let busy = try await store.garbageCollect(inUse: ["example.test/multi:v1"], usage: .init(capacity: 100_000_000, used: 90_000_000))
            #expect(busy.removedImages.map(\.repoTags) == [["example.test/busy:v1"]])
            #expect(try store.list().map(\.id) == [multi.id])
            let all = try await store.garbageCollect(all: true)
            #expect(all.removedImages.count == 1)
            #expect(try FileIO.listDirectory(store.blobsDir).isEmpty && FileIO.listDirectory(store.layersDir).isEmpty)
        }
    }
}

final class Events: Sendable {
    private let state = Mutex<[LayerProgress]>([])
    func add(_ event: LayerProgress) { state.withLock { $0.append(event) } }
    var phases: Set<LayerProgress.Phase> { state.withLock { Set($0.map(\.phase)) } }
}
