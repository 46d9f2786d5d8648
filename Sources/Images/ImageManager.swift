import Foundation

/// Kubelet's image manager: applies the pull policy and the pull back-off around `ImageStore.pull`.
/// A failed pull reports `ErrImagePull`; asking again before the back-off expires reports
/// `ImagePullBackOff` (10 s, doubling to 300 s) without contacting the registry.
public actor ImageManager {
    public let store: ImageStore
    private var backoff: PullBackoff

    public init(store: ImageStore, backoff: PullBackoff = PullBackoff()) {
        self.store = store
        self.backoff = backoff
    }

    /// Makes sure `image` is present according to `policy` (Kubernetes' default if `nil`).
    public func ensureImage(
        _ image: String, policy: PullPolicy? = nil, credentials: RegistryCredentials = .none,
        progress: (@Sendable (LayerProgress) -> Void)? = nil, now: ContinuousClock.Instant = .now
    ) async throws(ImageError) -> ImageRecord {
        let ref = try ImageReference(parsing: image)
        let policy = policy ?? PullPolicy.defaultPolicy(for: image)
        if policy != .always, let present = try store.find(ref.description) { return try store.touch(present) }
        if policy == .never { throw .neverPull(image: ref.description) }
        try backoff.check(ref.description, now: now)
        do throws(ImageError) {
            let record = try await store.pull(ref.description, policy: .always, credentials: credentials, progress: progress)
            backoff.recordSuccess(ref.description)
            return record
        } catch {
            backoff.recordFailure(ref.description, error: error, now: now)
            throw error
        }
    }

    /// The current back-off delay for `image`, if its last pull failed.
    public func backoffDelay(for image: String) -> Duration? {
        guard let ref = try? ImageReference(parsing: image) else { return nil }
        return backoff.delay(for: ref.description)
    }
}
