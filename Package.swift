// swift-tools-version: 6.1
// minikubelet: a single-node Kubernetes agent in Swift, with its own OCI runtime (minirun).
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "minikubelet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "minirun", targets: ["minirun"]),
        .executable(name: "minirun-shim", targets: ["minirun-shim"]),
        .executable(name: "minirun-selftest", targets: ["minirun-selftest"]),
        .library(name: "Runtime", targets: ["Runtime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C: the pre-exec container init stage and the few syscalls Swift cannot import.
        .target(name: "CShims", path: "CShims"),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CLibcap", path: "Sources/CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // OCI runtime-spec types (config.json, state.json), Codable.
        .target(name: "OCISpec", swiftSettings: strict),
        // cgroup v1 / v2 / hybrid managers: limits, stats, OOM, removal.
        .target(name: "Cgroups", swiftSettings: strict),
        // Capabilities and seccomp (libseccomp compile to BPF), default profiles.
        .target(name: "Security", dependencies: ["OCISpec", "CSeccomp", "CLibcap"], swiftSettings: strict),
        // Container lifecycle: create/start/state/kill/delete/exec over a state directory.
        .target(name: "Runtime", dependencies: ["OCISpec", "Cgroups", "Security", "CShims"], swiftSettings: strict),
        .executableTarget(name: "minirun", dependencies: ["Runtime"], swiftSettings: strict),
        // The per-container shim (conmon role). C for footprint: a Swift process cannot stay under 2 MiB RSS.
        .executableTarget(
            name: "minirun-shim", path: "Sources/minirun-shim",
            // A static C executable: otherwise swiftc links libswiftCore and libstdc++ (+1.4 MiB RSS).
            // -nostartfiles drops swiftc's Swift start-up object; the shim does no NSS lookups.
            linkerSettings: [.unsafeFlags(["-static-executable", "-nostartfiles"])]),
        // Runs the cgroup and runtime checks inside the cgroup v2 VM (vm/).
        .executableTarget(name: "minirun-selftest", dependencies: ["Cgroups", "Runtime"], swiftSettings: strict),
        // Kubernetes object model (Pod, ...) and manifest decoding/validation with Kubernetes defaults and messages.
        .target(name: "KubeAPI", dependencies: [.product(name: "Yams", package: "Yams")], swiftSettings: strict),
        // Shared test helpers: busybox rootfs, bundles, running processes.
        .target(name: "TestSupport", dependencies: ["OCISpec"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec"], swiftSettings: strict),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "SecurityTests", dependencies: ["Security", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "KubeAPITests", dependencies: ["KubeAPI"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["Runtime", "TestSupport"], swiftSettings: strict),
    ]
)
