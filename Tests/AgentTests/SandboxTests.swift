// The pod sandbox's C helper called directly, many at once: what the agent does when pods start together.
import CShims
import Dispatch
import Foundation
import Glibc
import Synchronization
import Testing

@Suite(.enabled(if: getuid() == 0, "needs root"))
struct SandboxCreationTests {
    /// Creations on several threads at once finish, and each pins namespaces of its own. A sandbox child copies
    /// every descriptor of the agent; before it closed them, two children could each hold the other's release
    /// pipe and wait for each other forever (seen with 100 pods in bench/probes.sh).
    @Test func concurrentCreationsFinishWithDistinctNamespaces() throws {
        let directory = "/tmp/mk-sandbox-test-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let threads = 4
        let perThread = 15
        var pins: [[String]] = []
        for index in 0..<(threads * perThread) {
            let paths = ["net", "ipc", "uts"].map { "\(directory)/\(index)-\($0)" }
            for path in paths { #expect(FileManager.default.createFile(atPath: path, contents: nil)) }
            pins.append(paths)
        }
        defer {
            for path in pins.flatMap({ $0 }) { _ = umount2(path, Int32(MNT_DETACH)) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        let sandboxes = pins
        for thread in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for index in stride(from: thread, to: sandboxes.count, by: threads) {
                    var message = [CChar](repeating: 0, count: 512)
                    let paths = sandboxes[index]
                    if mk_sandbox_create("pod-\(index)", paths[0], paths[1], paths[2], &message, message.count) != 0 {
                        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        failures.withLock { $0.append("sandbox \(index): \(text)") }
                    }
                }
            }
        }
        let finished = group.wait(timeout: .now() + 120) == .success
        try #require(finished, "sandbox creations did not finish within 120 s (children waiting on each other)")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        // Every pinned network namespace is a different one (its nsfs inode), and none is ours.
        func inode(_ path: String) -> UInt64? {
            var info = stat()
            return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
        }
        let netInodes = sandboxes.compactMap { inode($0[0]) }
        #expect(Set(netInodes).count == sandboxes.count)
        #expect(inode("/proc/self/ns/net").map { !netInodes.contains($0) } == true)
    }
}
