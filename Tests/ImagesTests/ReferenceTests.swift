import Foundation
import Testing

@testable import Images

@Suite struct ReferenceTests {
    @Test(arguments: [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
        ("team/app", "docker.io/team/app:latest"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("registry.example:5000/team/app:v2.1-rc_1", "registry.example:5000/team/app:v2.1-rc_1"),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest"),
        ("quay.io/org/my-app__x.y", "quay.io/org/my-app__x.y:latest"),
        (
            "registry.example:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example:5000/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ),
        (
            "nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "docker.io/library/nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ),
    ])
    func normalises(input: String, expected: String) throws {
        #expect(try ImageReference(parsing: input).description == expected)
    }

    @Test(arguments: [
        "", "Nginx", "nginx:", ":tag", "nginx::1", "nginx@sha256:short", "nginx@md5:0123", "-nginx", "nginx-", "a//b", "a/b/", "nginx:-bad",
        "nginx:" + String(repeating: "t", count: 129), "host:99999/app", "host:port/app", "with space", "app/Upper", "a..b", "a___b",
        String(repeating: "a", count: 256),
    ])
    func rejectsInvalidNames(input: String) {
        let error = #expect(throws: ImageError.self) { try ImageReference(parsing: input) }
        #expect(error?.reason == .invalidImageName)
    }

    @Test(arguments: [
        ("nginx", PullPolicy.always), ("nginx:latest", .always), ("nginx:1.27", .ifNotPresent),
        ("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", .ifNotPresent),
        ("host:5000/app", .always), ("host:5000/app:v1", .ifNotPresent),
    ])
    func defaultPullPolicy(image: String, expected: PullPolicy) {
        #expect(PullPolicy.defaultPolicy(for: image) == expected)
    }

    @Test func backoffDoublesToFiveMinutes() throws {
        var backoff = PullBackoff()
        let failure = ImageError.notFound(image: "x", what: "manifest")
        var now = ContinuousClock.now
        var delays: [Int64] = []
        for _ in 0..<8 {
            backoff.recordFailure("x", error: failure, now: now)
            delays.append(backoff.delay(for: "x")?.components.seconds ?? -1)
            let error = #expect(throws: ImageError.self) { try backoff.check("x", now: now + .seconds(1)) }
            #expect(error?.reason == .imagePullBackOff)
            now += backoff.delay(for: "x") ?? .zero
        }
        #expect(delays == [10, 20, 40, 80, 160, 300, 300, 300])
        try backoff.check("x", now: now + .seconds(1))
        backoff.recordSuccess("x")
        #expect(backoff.delay(for: "x") == nil)
        backoff.recordFailure("y", error: failure, now: now)
        backoff.recordFailure("y", error: failure, now: now + .seconds(601))
        #expect(backoff.delay(for: "y") == .seconds(10), "reset after twice the maximum without failures")
    }

    @Test(arguments: [
        (
            #"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#, "bearer",
            ["realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull,push"]
        ),
        (#"Basic realm="minikubelet-test""#, "basic", ["realm": "minikubelet-test"]),
        (#"Bearer realm=https://x/token, error="insufficient_scope""#, "bearer", ["realm": "https://x/token", "error": "insufficient_scope"]),
    ])
    func parsesChallenges(header: String, scheme: String, parameters: [String: String]) {
        #expect(AuthChallenge.parse(header) == AuthChallenge(scheme: scheme, parameters: parameters))
    }

    @Test func readsDockerConfig() throws {
        let json = """
            {"auths": {
              "https://index.docker.io/v1/": {"auth": "\(Data("u1:p:1".utf8).base64EncodedString())"},
              "127.0.0.1:5000": {"username": "alice", "password": "secret"},
              "http://reg.example:8080/v2/": {"auth": "\(Data("bob:pw".utf8).base64EncodedString())"}
            }}
            """
        let credentials = try RegistryCredentials.parse(Data(json.utf8), path: "test")
        #expect(credentials.credential(for: "docker.io") == RegistryCredential(username: "u1", password: "p:1"))
        #expect(credentials.credential(for: "127.0.0.1:5000") == RegistryCredential(username: "alice", password: "secret"))
        #expect(credentials.credential(for: "reg.example:8080") == RegistryCredential(username: "bob", password: "pw"))
        #expect(credentials.credential(for: "other.example") == nil)
        #expect(throws: ImageError.self) { try RegistryCredentials.parse(Data("{not json".utf8), path: "bad") }
        #expect(try RegistryCredentials.load(dockerConfig: "/nonexistent/config.json") == .none)
    }

    @Test func selectsLinuxAMD64FromIndex() throws {
        func descriptor(_ arch: String, _ hexDigit: Character) throws -> Descriptor {
            Descriptor(
                mediaType: MediaType.ociManifest, digest: try Digest(parsing: "sha256:" + String(repeating: hexDigit, count: 64)), size: 10,
                platform: Platform(architecture: arch, os: "linux", variant: nil))
        }
        let index = ManifestIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [try descriptor("arm64", "a"), try descriptor("amd64", "b")])
        #expect(index.select(.linuxAMD64)?.digest.hex.first == "b")
        let none = ManifestIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [try descriptor("arm64", "a")])
        #expect(none.select(.linuxAMD64) == nil)
    }
}

@Suite struct FileIOTests {
    @Test(arguments: [("a/b/c", "a/b"), ("/a", "/"), ("a", ""), ("/a/b/", "/a"), ("r", ""), ("/", "/")])
    func parentPaths(path: String, parent: String) {
        #expect(FileIO.parent(of: path) == parent)
    }
}

@Suite struct ImageManagerTests {
    /// ErrImagePull first, then ImagePullBackOff without contacting the registry until the delay passes.
    @Test func failedPullBacksOff() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("im-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let manager = ImageManager(store: try ImageStore(root: root, options: RegistryOptions(connectTimeoutSeconds: 2)))
        let image = "127.0.0.1:1/unreachable/app:v1"
        let start = ContinuousClock.now
        let first = await #expect(throws: ImageError.self) { try await manager.ensureImage(image, now: start) }
        #expect(first?.reason == .errImagePull)
        #expect(first?.description.contains("unreachable") == true)
        let second = await #expect(throws: ImageError.self) { try await manager.ensureImage(image, now: start + .seconds(5)) }
        #expect(second?.reason == .imagePullBackOff)
        #expect(second?.description.contains("Back-off pulling image") == true)
        let third = await #expect(throws: ImageError.self) { try await manager.ensureImage(image, now: start + .seconds(11)) }
        #expect(third?.reason == .errImagePull)
        #expect(await manager.backoffDelay(for: image) == .seconds(20))
        let never = await #expect(throws: ImageError.self) { try await manager.ensureImage(image, policy: .never) }
        #expect(never?.reason == .errImageNeverPull)
    }
}
