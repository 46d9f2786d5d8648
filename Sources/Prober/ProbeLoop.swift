import NIOCore
import NIOPosix
import Synchronization

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
public final class LoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop
    public init(_ loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
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

/// Timers on an event loop behind one NIO scheduled task. NIO keeps scheduled tasks in a heap whose cancellation is a
/// linear search over copies of every pending task; with a timer per waiting worker (hundreds) and one per exec
/// probe, those searches and copies were a visible share of the probe loop's CPU. Here the pending timers are an
/// array sorted by deadline (the next one last) and NIO holds a single task, for the earliest. The state is confined
/// to the loop; calls from elsewhere are forwarded to it.
final class LoopTimers: @unchecked Sendable {
    private struct Entry {
        var deadline: NIODeadline
        var id: UInt64
        var action: @Sendable () -> Void
    }

    let loop: any EventLoop
    private let ids = Atomic<UInt64>(0)
    /// Loop-confined.
    private var entries: [Entry] = []
    private var armed: (deadline: NIODeadline, callback: NIOScheduledCallback)?

    init(loop: any EventLoop) { self.loop = loop }

    /// Deadlines are rounded up to a multiple of this on the monotonic clock, in every instance alike: the timers of
    /// all probe workers and probes due within the same 10 ms then run in one wake-up of the loop, instead of one each
    /// (300 probes a second: ticks, connection checks, deadlines). A wake-up of the loop thread (a context switch, on a
    /// VM also a timer exit) costs more than the work most timers do. bench/probes.sh: 4 ms → 10 ms took the loop from
    /// ~420 to ~340 wake-ups a second and the agent from 8.2-8.7 % to 7.4-8.4 % of a core; the price is latency (a
    /// tick up to 10 ms late, httpGet p50 2.7 → 8.7 ms, the response being checked at the next slot), nothing next to
    /// probe periods and timeouts of seconds.
    static let gridNanoseconds: UInt64 = 10_000_000

    /// Runs `action` on the loop at `deadline` rounded up to the grid (or up to a millisecond early, with the timers
    /// due then); returns an ID for `cancel`.
    @discardableResult
    func schedule(at deadline: NIODeadline, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        let id = ids.add(1, ordering: .relaxed).newValue
        let grid = Self.gridNanoseconds
        let raw = deadline.uptimeNanoseconds
        let aligned = raw > UInt64.max - grid ? deadline : NIODeadline.uptimeNanoseconds((raw / grid + 1) * grid)
        let entry = Entry(deadline: aligned, id: id, action: action)
        if loop.inEventLoop {
            insert(entry)
        } else {
            loop.execute { self.insert(entry) }
        }
        return id
    }

    @discardableResult
    func schedule(in delay: Duration, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        schedule(at: .now() + .nanoseconds(delay.nanosecondsClamped), action)
    }

    /// Drops a pending timer (a fired or unknown ID is ignored).
    func cancel(_ id: UInt64) {
        if loop.inEventLoop {
            remove(id)
        } else {
            loop.execute { self.remove(id) }
        }
    }

    private func insert(_ entry: Entry) {
        // Binary search in the descending order: the first index whose deadline is earlier than the new one.
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].deadline >= entry.deadline { low = mid + 1 } else { high = mid }
        }
        entries.insert(entry, at: low)
        arm()
    }

    private func remove(_ id: UInt64) {
        // Not re-armed: an early NIO task finds nothing due and arms the next one.
        if let index = entries.lastIndex(where: { $0.id == id }) { entries.remove(at: index) }
    }

    private func arm() {
        guard let next = entries.last?.deadline else { return }
        if let armed, armed.deadline <= next { return }
        armed?.callback.cancel()
        // A scheduled callback, not scheduleTask: no promise and future per arming (one per wake-up of the loop).
        do {
            armed = (next, try loop.scheduleCallback(at: next, handler: Fire(timers: self)))
        } catch {
            // Only a loop that is shutting down refuses; nothing runs on it any more (the agent is exiting).
            armed = nil
        }
    }

    private struct Fire: NIOScheduledCallbackHandler, Sendable {
        let timers: LoopTimers
        func handleScheduledCallback(eventLoop: some EventLoop) { timers.fire() }
    }

    fileprivate func fire() {
        armed = nil
        let now = NIODeadline.now() + .milliseconds(1)
        while let last = entries.last, last.deadline <= now {
            entries.removeLast()
            last.action()
        }
        arm()
    }
}
