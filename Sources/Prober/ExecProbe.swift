import KubeAPI
import NIOCore
import Synchronization

/// What the agent's exec function returns (it runs `minirun exec` in the container's namespaces and cgroup).
public struct ExecOutput: Sendable, Hashable {
    public var exitCode: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public init(exitCode: Int32, stdout: [UInt8] = [], stderr: [UInt8] = []) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Errors of the agent's exec function.
public enum ExecError: Error, Sendable, Hashable {
    /// The command ran past the timeout (kubelet ≥ 1.20, ExecProbeTimeout: a Failure).
    case timedOut
    /// The command could not be run (kubelet: Unknown + err, retried).
    case failed(String)
}

/// Runs `command` in the target's container (`target.containerID`) with a timeout; the agent passes one over `minirun exec`.
/// It runs on the caller's executor (the probe loop), so awaiting it costs no hop to the global executor and back;
/// `sleeper` waits on the loop's timers (for checks of the process it started).
public typealias ExecFunction =
    nonisolated(nonsending) @Sendable (_ target: ProbeTarget, _ command: [String], _ timeout: Duration, _ sleeper: ProbeSleeper) async throws(ExecError)
    -> ExecOutput

/// Sleeps on the probe loop's timer grid: an exec function checks the process it started between these, and no
/// thread but the loop's is woken for it.
public struct ProbeSleeper: Sendable {
    let timers: LoopTimers
    init(timers: LoopTimers) { self.timers = timers }
    /// Timers of their own on `loop` (an exec prober passes its own).
    public init(loop: any EventLoop = ProbeLoop.shared) { timers = LoopTimers(loop: loop) }
    public nonisolated(nonsending) func sleep(for delay: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            timers.schedule(in: delay) { continuation.resume() }
        }
    }
}

/// kubelet's exec probe (pkg/probe/exec + prober.go): `$(VAR)` from the container's static env, stdout then stderr,
/// 10 KiB cap; exit 0 → Success, other → Failure with the output, timeout → Failure `command "<cmd>" timed out`.
public struct ExecProber: Sendable {
    public var exec: ExecFunction
    /// Where the deadline timer and the exec function's task run.
    public var loop: any EventLoop
    let taskExecutor: LoopTaskExecutor
    let timers: LoopTimers
    public init(exec: @escaping ExecFunction, loop: any EventLoop = ProbeLoop.shared) {
        self.exec = exec
        self.loop = loop
        taskExecutor = LoopTaskExecutor(loop)
        timers = LoopTimers(loop: loop)
    }

    public nonisolated(nonsending) func probe(_ action: ExecAction, target: ProbeTarget, timeout: Duration) async throws(ProberError) -> ProbeOutcome {
        let command = (action.command ?? []).map { expandStatic($0, env: target.container.env ?? []) }
        let run = exec
        let sleeper = ProbeSleeper(timers: timers)
        // The exec function enforces the timeout; the probe is bounded anyway should it not.
        let result = await withDeadline(timeout + .seconds(1), on: taskExecutor, timers: timers) { () async -> Result<ExecOutput, ExecError> in
            do throws(ExecError) {
                return .success(try await run(target, command, timeout, sleeper))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .none, .some(.failure(.timedOut)):
            return ProbeOutcome(.failure, "command \(goQuote(command.joined(separator: " "))) timed out")
        case .some(.failure(.failed(let text))):
            throw .execFailed(text)
        case .some(.success(let output)):
            let text = cappedString(output.stdout + output.stderr)
            return ProbeOutcome(output.exitCode == 0 ? .success : .failure, text)
        }
    }
}

/// Go's %q for the plain strings commands are made of.
func goQuote(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

/// kubelet's `ExpandContainerCommandOnlyStatic`: `$(VAR)` from static `env` values, `$$` escapes, unknown kept.
func expandStatic(_ input: String, env: [EnvVar]) -> String {
    var values: [String: String] = [:]
    for variable in env where variable.valueFrom == nil { values[variable.name] = variable.value ?? "" }
    var out = ""
    var i = input.startIndex
    while i < input.endIndex {
        let ch = input[i]
        let next = input.index(after: i)
        if ch == "$", next < input.endIndex {
            if input[next] == "$" {
                out.append("$")
                i = input.index(after: next)
                continue
            }
            if input[next] == "(", let close = input[next...].firstIndex(of: ")") {
                let name = String(input[input.index(after: next)..<close])
                out += values[name] ?? "$(\(name))"
                i = input.index(after: close)
                continue
            }
        }
        out.append(ch)
        i = next
    }
    return out
}

/// Runs `body` in a new task and returns its value, or nil once `limit` passes — without waiting for a body
/// that ignores cancellation (it is cancelled and left to finish on its own). The task and the timer run on the
/// probe loop: no thread wake-ups besides the body's own.
func withDeadline<T: Sendable>(
    _ limit: Duration, on executor: LoopTaskExecutor, timers: LoopTimers, isolation: isolated (any Actor)? = #isolation,
    _ body: nonisolated(nonsending) @escaping @Sendable () async -> T
) async -> T? {
    let state = DeadlineState<T>()
    return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        state.lock.withLock { $0.continuation = continuation }
        let work = Task(executorPreference: executor) {
            _ = isolation
            let value = await body()
            let (resumed, timer) = state.finish()
            if let timer { timers.cancel(timer) }
            resumed?.resume(returning: value)
        }
        let timer = timers.schedule(in: limit) {
            guard let resumed = state.finish().continuation else { return }
            work.cancel()
            resumed.resume(returning: nil)
        }
        let finished = state.lock.withLock { s in
            s.timer = timer
            return s.finished
        }
        if finished { timers.cancel(timer) }
    }
}

/// The continuation and the timer shared by the body's task and the timer of `withDeadline`.
final class DeadlineState<T: Sendable>: Sendable {
    struct State {
        var continuation: CheckedContinuation<T?, Never>?
        var timer: UInt64?
        var finished = false
    }
    let lock = Mutex(State())

    /// The continuation (the first time only) and the timer.
    func finish() -> (continuation: CheckedContinuation<T?, Never>?, timer: UInt64?) {
        lock.withLock { s in
            defer {
                s.continuation = nil
                s.finished = true
            }
            return (s.continuation, s.timer)
        }
    }
}
