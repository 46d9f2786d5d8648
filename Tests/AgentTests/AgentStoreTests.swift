// AgentStore on its own: identity of pods, container runs, back-off, event folding, survival across reopen.
import AgentStore
import Foundation
import Testing

struct AgentStoreTests {
    func withStore(_ body: (AgentStore, String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("agentstore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer {
            do { try FileManager.default.removeItem(atPath: dir) } catch { print("cleanup: rm \(dir): \(error)") }
        }
        try body(try AgentStore(path: dir + "/agent.db"), dir)
    }

    @Test func podsContainersBackoffAndEventsSurviveReopen() throws {
        try withStore { store, dir in
            let pod = PodRecord(uid: "u1", namespace: "default", name: "web", file: "web.yaml", manifest: Data("{}".utf8), createdAt: Date())
            try store.insertPod(pod)
            // Inserting the same UID again keeps the first (a pod's identity is its UID).
            var changed = pod
            changed.file = "other.yaml"
            try store.insertPod(changed)
            #expect(try store.pods().map(\.file) == ["web.yaml"])

            var run = ContainerRecord(id: "u1-app-0", podUID: "u1", name: "app", isInit: false, attempt: 0, image: "busybox", imageID: "sha256:x")
            try store.saveContainer(run)
            run.state = .exited
            run.exitCode = 1
            try store.saveContainer(run)
            try store.saveBackoff(BackoffRecord(podUID: "u1", name: "app", seconds: 20, lastUpdate: Date()))
            let event = EventRecord(
                podUID: "u1", namespace: "default", objectKind: "Pod", objectName: "web", fieldPath: nil, type: "Warning", reason: "BackOff",
                message: "Back-off restarting failed container app", at: Date())
            try store.recordEvent(event)
            try store.recordEvent(event)

            let reopened = try AgentStore(path: dir + "/agent.db")
            #expect(try reopened.containers(podUID: "u1").map(\.state) == [.exited])
            #expect(try reopened.containers(podUID: "u1").first?.exitCode == 1)
            #expect(try reopened.backoff(podUID: "u1", name: "app")?.seconds == 20)
            let events = try reopened.events(podUID: "u1")
            #expect(events.count == 1 && events.first?.count == 2, "identical events fold into one with a count")

            try reopened.deletePod(uid: "u1")
            #expect(try reopened.pods().isEmpty)
            #expect(try reopened.containers(podUID: "u1").isEmpty)
            #expect(try reopened.backoff(podUID: "u1", name: "app") == nil)
            #expect(try reopened.events(podUID: "u1").count == 1, "events outlive the pod")
        }
    }

    @Test func pruneKeepsTheLastTwoRuns() throws {
        try withStore { store, _ in
            for attempt in 0..<4 {
                var run = ContainerRecord(
                    id: "u2-app-\(attempt)", podUID: "u2", name: "app", isInit: false, attempt: attempt, image: "busybox", imageID: "sha256:x")
                run.state = .exited
                run.removed = true
                try store.saveContainer(run)
            }
            try store.pruneContainers(podUID: "u2", name: "app", keepFromAttempt: 2)
            #expect(try store.containers(podUID: "u2").map(\.attempt) == [2, 3])
        }
    }
}
