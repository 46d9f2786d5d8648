import ArgumentParser
import Foundation
import Images
import Synchronization

@main
struct Imagectl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagectl", abstract: "minikubelet image service: pull, load and manage container images.",
        subcommands: [Pull.self, Load.self, List.self, Inspect.self, Remove.self, GC.self, UnpackRootfs.self, MountRootfs.self, UmountRootfs.self])
}

struct StoreOptions: ParsableArguments {
    @Option(help: "State directory (images live in ROOT/images).") var root: String = ImageStore.defaultRoot
    @Option(name: .customLong("insecure"), help: "Registry host[:port] to reach without TLS verification / over HTTP (repeatable).")
    var insecure: [String] = []

    func store() throws -> ImageStore {
        try ImageStore(root: root, options: RegistryOptions(insecureHosts: Set(insecure)))
    }
}

/// Reports an `ImageError` with its kubelet reason and exits 1.
func reportImageErrors(_ body: () async throws -> Void) async throws {
    do { try await body() } catch let error as ImageError {
        FileHandle.standardError.write(Data("\(error.reason.rawValue): \(error.description)\n".utf8))
        throw ExitCode(1)
    }
}

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pull an image from a registry.")
    @OptionGroup var store: StoreOptions
    @Option(help: "Pull policy: Always, IfNotPresent, Never (default: Kubernetes' default for the tag).") var policy: String?
    @Option(help: "Docker config.json with registry credentials.") var dockerConfig: String = RegistryCredentials.defaultConfigPath
    @Flag(help: "No progress output.") var quiet = false
    @Argument(help: "Image reference, e.g. nginx:1.27 or 127.0.0.1:5000/app@sha256:...") var image: String

    func run() async throws {
        try await reportingImageErrors {
            let policy = try self.policy.map { text in
                guard let value = PullPolicy(rawValue: text) else { throw ValidationError("unknown pull policy \(text)") }
                return value
            }
            let credentials = try RegistryCredentials.load(dockerConfig: dockerConfig)
            let renderer = ProgressRenderer(enabled: !quiet)
            let started = ContinuousClock.now
            let record = try await store.store().pull(image, policy: policy, credentials: credentials, progress: { renderer.update($0) })
            renderer.finish()
            let elapsed = ContinuousClock.now - started
            print(
                "\(record.repoTags.first ?? image) \(record.id) (\(ProgressRenderer.bytes(record.size)), \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))))"
            )
        }
    }
}

struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import an OCI layout directory, oci-archive tar or docker save tar.")
    @OptionGroup var store: StoreOptions
    @Option(help: "Tag the imported image with this reference.") var name: String?
    @Option(help: "Import only the OCI layout entry with this org.opencontainers.image.ref.name.") var refName: String?
    @Argument var path: String

    func run() async throws {
        try await reportingImageErrors {
            for record in try await store.store().load(path: path, name: name, refName: refName) {
                print("loaded \(record.repoTags.first ?? "<untagged>") \(record.id)")
            }
        }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List images.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Only image IDs.") var quiet = false

    func run() async throws {
        try await reportingImageErrors {
            let records = try store.store().list()
            if quiet {
                for record in records { print(record.id) }
                return
            }
            print("IMAGE".padding(toLength: 60, withPad: " ", startingAt: 0) + " ID            SIZE")
            for record in records {
                let names = record.repoTags.isEmpty ? ["<none>"] : record.repoTags
                for name in names {
                    print(name.padding(toLength: 60, withPad: " ", startingAt: 0) + " " + record.id.hex.prefix(12) + "  " + ProgressRenderer.bytes(record.size))
                }
            }
        }
    }
}

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an image's metadata as JSON.")
    @OptionGroup var store: StoreOptions
    @Argument var image: String

    func run() async throws {
        try await reportingImageErrors {
            let record = try store.store().inspect(image)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(record), as: UTF8.self))
        }
    }
}

struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images.")
    @OptionGroup var store: StoreOptions
    @Argument var images: [String]

    func run() async throws {
        try await reportingImageErrors {
            let store = try store.store()
            for image in images {
                try await store.remove(image)
                print("removed \(image)")
            }
        }
    }
}

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Garbage-collect images no container uses (85% / 80% thresholds).")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Remove every unused image, regardless of disk usage.") var all = false
    @Option(help: "High threshold, percent.") var high: Int = 85
    @Option(help: "Low threshold, percent.") var low: Int = 80
    @Option(help: "Image in use (repeatable).") var inUse: [String] = []

    func run() async throws {
        try await reportingImageErrors {
            let result = try await store.store().garbageCollect(
                inUse: Set(inUse), policy: .init(highThresholdPercent: high, lowThresholdPercent: low), all: all)
            for record in result.removedImages { print("removed \(record.repoTags.first ?? record.id.description)") }
            print("freed \(ProgressRenderer.bytes(result.freedBytes)) (\(result.removedBlobs) blobs, \(result.removedLayers) layers)")
        }
    }
}

struct UnpackRootfs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unpack-rootfs", abstract: "Write an image's flattened root filesystem to DEST.")
    @OptionGroup var store: StoreOptions
    @Argument var image: String
    @Argument var destination: String

    func run() async throws {
        try await reportingImageErrors {
            let store = try store.store()
            try await store.unpackRootfs(try store.inspect(image), into: destination)
        }
    }
}

struct MountRootfs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mount-rootfs", abstract: "Prepare a container rootfs (overlay, or copy) and print its path.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Copy instead of overlay.") var copy = false
    @Argument var containerID: String
    @Argument var image: String

    func run() async throws {
        try await reportingImageErrors {
            let store = try store.store()
            let manager = try RootfsManager(store: store)
            print(try await manager.prepare(containerID: containerID, image: try store.inspect(image), mode: copy ? .copy : nil))
        }
    }
}

struct UmountRootfs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "umount-rootfs", abstract: "Unmount and remove a container rootfs.")
    @OptionGroup var store: StoreOptions
    @Argument var containerID: String

    func run() async throws {
        try await reportingImageErrors {
            try RootfsManager(store: try store.store()).release(containerID: containerID)
        }
    }
}

/// Named apart from `run` because each command has its own `run()`.
func reportingImageErrors(_ body: () async throws -> Void) async throws { try await reportImageErrors(body) }

/// Per-layer progress: redrawn in place on a terminal, one line per finished layer otherwise.
final class ProgressRenderer: Sendable {
    private struct Line {
        var progress: LayerProgress
        var started = ContinuousClock.now
    }
    private struct State {
        var order: [Digest] = []
        var lines: [Digest: Line] = [:]
        var drawn = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
    }
    private let state = Mutex(State())
    private let enabled: Bool
    private let tty: Bool

    init(enabled: Bool) {
        self.enabled = enabled
        self.tty = isatty(STDERR_FILENO) == 1
    }

    func update(_ progress: LayerProgress) {
        guard enabled else { return }
        state.withLock { state in
            let previous = state.lines[progress.digest]
            if previous == nil { state.order.append(progress.digest) }
            var line = previous ?? Line(progress: progress)
            if previous?.progress.phase != .downloading && progress.phase == .downloading { line.started = .now }
            line.progress = progress
            state.lines[progress.digest] = line
            if tty {
                if ContinuousClock.now - state.lastDraw > .milliseconds(100) || progress.phase == .done { draw(&state) }
            } else if previous?.progress.phase != progress.phase, [.done, .alreadyExists].contains(progress.phase) {
                FileHandle.standardError.write(Data((Self.describe(line) + "\n").utf8))
            }
        }
    }

    func finish() {
        guard enabled, tty else { return }
        state.withLock { draw(&$0) }
    }

    private func draw(_ state: inout State) {
        var text = state.drawn > 0 ? "\u{1B}[\(state.drawn)A" : ""
        for digest in state.order {
            if let line = state.lines[digest] { text += "\u{1B}[2K" + Self.describe(line) + "\n" }
        }
        state.drawn = state.order.count
        state.lastDraw = .now
        FileHandle.standardError.write(Data(text.utf8))
    }

    private static func describe(_ line: Line) -> String {
        let p = line.progress
        let elapsed = ContinuousClock.now - line.started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0.05 && p.phase == .downloading ? "  \(bytes(Int64(Double(p.bytes) / seconds)))/s" : ""
        return "\(p.digest.hex.prefix(12))  \(p.phase.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(bytes(p.bytes)) / \(bytes(p.total))\(rate)"
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}
