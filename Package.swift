// swift-tools-version: 6.1
// minikubelet: a single-node Kubernetes agent in Swift, with its own OCI runtime (minirun).
import PackageDescription

// Warnings are errors in every target of ours (the guide's rule); dependencies are not affected. Release code is
// emitted one section per function so that the linker can drop unused functions and order the used ones (below).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6), .unsafeFlags(["-warnings-as-errors"]), .unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release)),
]

// The agent's release link: every function that runs in a typical workload laid out together (lld
// --symbol-ordering-file; scripts/gen-order-file.sh records the list under valgrind), so the code the kernel maps
// in 64 KiB fault-around chunks is the code in use: 17 → 11 MiB of resident text at idle. Not exporting every
// symbol to the dynamic table (the toolchain's default -export-dynamic) drops a 5 MiB .dynsym/.dynstr whose pages
// the dynamic loader touched at start. Symbols gone from the list since it was made are skipped, not errors.
let agentReleaseLink: [String] = [
    "-Xlinker", "--no-export-dynamic", "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/minikubelet.order", "-Xlinker",
    "--no-warn-symbol-ordering",
]

let package = Package(
    name: "minikubelet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "minirun", targets: ["minirun"]),
        .executable(name: "minirun-shim", targets: ["minirun-shim"]),
        .executable(name: "minirun-selftest", targets: ["minirun-selftest"]),
        .library(name: "Runtime", targets: ["Runtime"]),
        .library(name: "Images", targets: ["Images"]),
        .executable(name: "imagectl", targets: ["imagectl"]),
        .executable(name: "minikubelet", targets: ["minikubelet"]),
        .executable(name: "agentctl", targets: ["agentctl"]),
        .executable(name: "testserver", targets: ["testserver"]),
        .library(name: "ServiceProxy", targets: ["ServiceProxy"]),
        .executable(name: "proxyctl", targets: ["proxyctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    ],
    targets: [
        // C: the pre-exec container init stage and the few syscalls Swift cannot import.
        .target(name: "CShims", path: "CShims"),
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CLibcap", path: "Sources/CLibcap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // OCI runtime-spec types (config.json, state.json), Codable.
        .target(name: "OCISpec", swiftSettings: strict),
        // cgroup v1 / v2 / hybrid managers: limits, device rules (v2: an eBPF program, loaded through CShims), stats, OOM, removal.
        .target(name: "Cgroups", dependencies: ["CShims"], swiftSettings: strict),
        // Capabilities and seccomp (libseccomp compile to BPF), default profiles.
        .target(name: "RuntimeSecurity", dependencies: ["OCISpec", "CSeccomp", "CLibcap"], swiftSettings: strict),
        // Container lifecycle: create/start/state/kill/delete/exec over a state directory.
        .target(name: "Runtime", dependencies: ["OCISpec", "Cgroups", "RuntimeSecurity", "CShims"], swiftSettings: strict),
        // Static Swift stdlib: minirun is exec'd several times per container start; loading the dynamic Swift
        // runtime libraries costs more than half of its own start-up (start-latency target, issue 2).
        // libstdc++ static too (scripts/static-libstdcxx: a linker script named libstdc++.so): the dynamic loader's
        // symbol lookups for libstdc++.so were ~0.5 ms of CPU per minirun process.
        .executableTarget(
            name: "minirun", dependencies: ["Runtime"], swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags([
                    "-L\(Context.packageDirectory)/scripts/static-libstdcxx",
                    "-static-stdlib", "-Xlinker", "-l_FoundationCShims", "-Xlinker", "-l_FoundationCollections", "-Xlinker",
                    "-lswiftSynchronization",
                ])
            ]),
        // The per-container shim (conmon role). C for footprint: a Swift process cannot stay under 2 MiB RSS.
        .executableTarget(
            name: "minirun-shim", path: "Sources/minirun-shim",
            // A static C executable: otherwise swiftc links libswiftCore and libstdc++ (+1.4 MiB RSS).
            // -nostartfiles drops swiftc's Swift start-up object; the shim does no NSS lookups.
            linkerSettings: [.unsafeFlags(["-static-executable", "-nostartfiles"])]),
        // Runs the cgroup and runtime checks inside the cgroup v2 VM (vm/).
        .executableTarget(name: "minirun-selftest", dependencies: ["Cgroups"], swiftSettings: strict),
        // CNI client (libcni's role): conflists, plugin invocation, results and errors.
        .target(name: "CNI", swiftSettings: strict),
        // Kubernetes object model (Pod, ...) and manifest decoding/validation with Kubernetes defaults and messages.
        .target(name: "KubeAPI", dependencies: [.product(name: "Yams", package: "Yams")], swiftSettings: strict),
        // Image service (containerd image-service role): references, registry pulls, content store, rootfs.
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .target(
            name: "Images",
            dependencies: [
                "CArchive",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "imagectl", dependencies: ["Images", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: strict),
        // The node agent: store (SQLite), local API (HTTP over a unix socket), pod workers, daemon, CLI.
        .target(name: "AgentStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift")], swiftSettings: strict),
        .target(
            name: "AgentAPI",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .target(
            name: "Kubelet",
            dependencies: [
                "KubeAPI", "Images", "OCISpec", "Cgroups", "RuntimeSecurity", "PodSecurity", "AgentStore", "AgentAPI", "Prober", "CNI",
                "ServiceProxy", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "minikubelet", dependencies: ["Kubelet", "ServiceProxy", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict,
            // Still a PIE (ASLR for a root daemon), but with its ~150,000 relative relocations packed (DT_RELR,
            // glibc 2.36+; lld, as gold cannot write them): the 3.5 MiB RELA table stayed resident after start.
            linkerSettings: [
                .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"]),
                .unsafeFlags(agentReleaseLink, .when(configuration: .release)),
            ]),
        .executableTarget(
            name: "agentctl",
            dependencies: [
                "AgentAPI", "KubeAPI", "Prober", "ServiceProxy", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        .target(name: "PodSecurity", dependencies: ["KubeAPI", "OCISpec", "RuntimeSecurity"], swiftSettings: strict),
        // Probe handlers (httpGet, tcpSocket, exec, grpc) run by the agent, and kubelet's probe workers.
        .target(
            name: "Prober",
            dependencies: [
                "KubeAPI", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ], swiftSettings: strict),
        // The test server image's program (agnhost's role): HTTP probe targets, a flippable gRPC health service.
        // Static Swift stdlib: the image carries only the libc libraries `ldd` lists (examples/make-testserver-image.sh).
        .executableTarget(
            name: "testserver",
            dependencies: [
                "Prober", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strict,
            linkerSettings: [
                .unsafeFlags(
                    ["-static-stdlib"]
                        + ["CoreFoundation", "_FoundationICU", "_FoundationCShims", "_FoundationCollections", "swiftSynchronization", "stdc++"].flatMap {
                            ["-Xlinker", "-l\($0)"]
                        })
            ]),
        // The Service proxy (kube-proxy role): allocation, endpoints, iptables and nftables proxiers. Not yet wired into the agent.
        // libnftnl + libmnl: the nftables proxier's partial syncs go to the kernel over netlink (nft 1.0.6 dumps the whole
        // ruleset before every `nft -f`, 200 ms at 10,000 services).
        .systemLibrary(name: "CNftnl", path: "Sources/CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev", "libmnl-dev"])]),
        .target(
            name: "ServiceProxy", dependencies: ["KubeAPI", "CNftnl", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        // Applies a ServiceProxy state in the current network namespace: the library's integration tests and benchmark.
        .executableTarget(name: "proxyctl", dependencies: ["ServiceProxy"], swiftSettings: strict),
        // Shared test helpers: busybox rootfs, bundles, running processes.
        .target(name: "TestSupport", dependencies: ["OCISpec"], path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec"], swiftSettings: strict),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RuntimeSecurityTests", dependencies: ["RuntimeSecurity", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "CNITests", dependencies: ["CNI"], swiftSettings: strict),
        .testTarget(name: "KubeAPITests", dependencies: ["KubeAPI"], swiftSettings: strict),
        .testTarget(name: "ImagesTests", dependencies: ["Images"], swiftSettings: strict),
        .testTarget(name: "AgentTests", dependencies: ["AgentStore", "KubeAPI", "Kubelet", "TestSupport", "CShims"], swiftSettings: strict),
        .testTarget(
            name: "ProberTests",
            dependencies: [
                "Prober", "KubeAPI", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ], swiftSettings: strict),
        .testTarget(name: "PodSecurityTests", dependencies: ["PodSecurity", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ServiceProxyTests", dependencies: ["ServiceProxy", "KubeAPI", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", dependencies: ["Runtime", "TestSupport"], swiftSettings: strict),
    ]
)
