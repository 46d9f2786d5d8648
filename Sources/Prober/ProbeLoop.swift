import NIOCore
import NIOPosix

/// The one event loop all probing runs on: the probe manager's actor executor, its tick timers and the probes' own
/// connections and timers. With everything on one thread a probe costs no thread hand-offs besides the status
/// look-up in the agent's pod worker (and an exec probe's child watcher); each hand-off is a thread wake-up, and
/// those, not the probing itself, were most of the agent's CPU at 300 probes per second.
public enum ProbeLoop {
    public static let shared: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
}

/// An event loop as a task executor. The runtime resumes every continuation through the generic executor and only
/// then hops to the actor: without a preference that is a global-pool thread woken for each resumption (each timer
/// tick, each finished connection or child process). Tasks that prefer this executor take that detour on the loop.
final class LoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop
    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension EventLoopFuture where Value: Sendable {
    /// `get()` that resumes on the caller's executor. NIO's `get()` is a plain nonisolated async function: called
    /// from the probe loop it hops to the global executor and back, two thread wake-ups per await.
    nonisolated(nonsending) func value() async throws -> Value {
        try await withUnsafeThrowingContinuation { continuation in
            whenComplete { continuation.resume(with: $0) }
        }
    }
}
