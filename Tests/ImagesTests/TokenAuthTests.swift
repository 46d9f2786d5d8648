import Foundation
import Testing

@testable import Images

/// Bearer-token auth (`WWW-Authenticate: Bearer realm=…`), anonymous and with credentials, against a
/// small token-auth registry on loopback (scripts/registry/token-registry.py serving an OCI layout).
@Suite(.serialized, .enabled(if: Fixtures.registryToolsAvailable, "needs root, umoci, python3"))
struct TokenAuthTests {
    func withTokenRegistry(_ dir: String, _ body: (String) async throws -> Void) async throws {
        let layout = try Fixtures.makeImages(dir)
        let portFile = dir + "/token-port"
        try Fixtures.sh("python3 '\(Fixtures.scripts)/token-registry.py' '\(layout)' '\(portFile)' alice:pw >'\(dir)/token.log' 2>&1 &")
        // The server writes its own pid: `$!` may name a wrapper (pyenv shim) rather than Python.
        defer { _ = try? Fixtures.sh("[ -s '\(portFile).pid' ] && kill $(cat '\(portFile).pid')") }
        try Fixtures.sh("for i in $(seq 1 100); do [ -s '\(portFile)' ] && exit 0; sleep 0.1; done; cat '\(dir)/token.log'; exit 1")
        let port = try String(contentsOfFile: portFile, encoding: .utf8)
        try await body("127.0.0.1:\(port)")
    }

    @Test func anonymousAndAuthenticatedTokens() async throws {
        try await Fixtures.withTempDir { dir in
            try await withTokenRegistry(dir) { host in
                let store = try ImageStore(root: dir + "/root")
                // Anonymous token for a public repository.
                let record = try await store.pull("\(host)/public/busybox:busybox")
                #expect(record.layers.count == 1)

                // A private repository: no token without credentials.
                let refused = await #expect(throws: ImageError.self) { try await store.pull("\(host)/private/multi:multi") }
                #expect(refused?.description.contains("unauthorized") == true)
                let wrong = RegistryCredentials([host: RegistryCredential(username: "alice", password: "nope")])
                let rejected = await #expect(throws: ImageError.self) { try await store.pull("\(host)/private/multi:multi", credentials: wrong) }
                #expect(rejected?.description.contains("credentials rejected") == true)

                let good = RegistryCredentials([host: RegistryCredential(username: "alice", password: "pw")])
                let multi = try await store.pull("\(host)/private/multi:multi", credentials: good)
                #expect(multi.layers.count == 4)
                let missing = await #expect(throws: ImageError.self) { try await store.pull("\(host)/private/multi:nope", credentials: good) }
                #expect(missing?.description.contains("not found") == true)
            }
        }
    }
}
