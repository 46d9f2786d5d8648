import Foundation
import Testing

@testable import KubeAPI

struct QoSTests {
    static func pod(
        _ containers: [(requests: [String: String], limits: [String: String])], initContainers: [(requests: [String: String], limits: [String: String])] = []
    )
        throws -> Pod
    {
        func make(_ specs: [(requests: [String: String], limits: [String: String])], prefix: String) throws -> [Container] {
            try specs.enumerated().map { index, spec in
                var container = Container(name: "\(prefix)\(index)", image: "i")
                let requests = try spec.requests.mapValues { try Quantity(parsing: $0) }
                let limits = try spec.limits.mapValues { try Quantity(parsing: $0) }
                if !requests.isEmpty || !limits.isEmpty {
                    container.resources = ResourceRequirements(limits: limits.isEmpty ? nil : limits, requests: requests.isEmpty ? nil : requests)
                }
                return container
            }
        }
        var spec = PodSpec(containers: try make(containers, prefix: "c"))
        if !initContainers.isEmpty { spec.initContainers = try make(initContainers, prefix: "i") }
        return Pod(metadata: ObjectMeta(name: "p"), spec: spec)
    }

    static let cases: [(String, [(requests: [String: String], limits: [String: String])], QOSClass)] = [
        ("nothing", [([:], [:])], .bestEffort),
        ("cpu request only", [(["cpu": "100m"], [:])], .burstable),
        ("limits only (requests default to limits)", [([:], ["cpu": "1", "memory": "1Gi"])], .guaranteed),
        ("requests equal limits", [(["cpu": "1", "memory": "1Gi"], ["cpu": "1000m", "memory": "1024Mi"])], .guaranteed),
        ("request below limit", [(["cpu": "500m", "memory": "1Gi"], ["cpu": "1", "memory": "1Gi"])], .burstable),
        ("cpu limit only", [([:], ["cpu": "1"])], .burstable),
        ("one guaranteed, one best effort", [([:], ["cpu": "1", "memory": "1Gi"]), ([:], [:])], .burstable),
        ("two guaranteed", [([:], ["cpu": "1", "memory": "1Gi"]), ([:], ["cpu": "2", "memory": "2Gi"])], .guaranteed),
        ("ephemeral-storage does not count", [(["ephemeral-storage": "1Gi"], ["ephemeral-storage": "1Gi"])], .bestEffort),
        ("zero quantities do not count", [(["cpu": "0"], [:])], .bestEffort),
    ]

    @Test(arguments: cases)
    func qos(_ name: String, _ containers: [(requests: [String: String], limits: [String: String])], _ expected: QOSClass) throws {
        #expect(QOSClass(pod: try Self.pod(containers)) == expected, "\(name)")
    }

    @Test func initContainersCount() throws {
        #expect(QOSClass(pod: try Self.pod([([:], [:])], initContainers: [(["memory": "64Mi"], [:])])) == .burstable)
        #expect(QOSClass(pod: try Self.pod([([:], ["cpu": "1", "memory": "1Gi"])], initContainers: [([:], [:])])) == .burstable)
    }

    @Test func decodedPodQoS() throws {
        let pod = try decodePod(podYAML(container: "resources: {limits: {cpu: 500m, memory: 128Mi}}"))
        #expect(QOSClass(pod: pod) == .guaranteed)
        #expect(QOSClass(pod: pod).rawValue == "Guaranteed")
    }
}

struct SpecHashTests {
    @Test(arguments: [("", 0xcbf2_9ce4_8422_2325 as UInt64), ("a", 0xaf63_dc4c_8601_ec8c), ("foobar", 0x8594_4171_f739_67e8)])
    func fnvVectors(_ input: String, _ expected: UInt64) {
        #expect(SpecHash.fnv1a64(Array(input.utf8)) == expected)
    }

    @Test func stableAcrossKeyOrder() throws {
        let a = try decodePod(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: p, labels: {a: "1", b: "2"}}
            spec:
              nodeSelector: {x: "1", y: "2"}
              containers:
              - name: c
                image: nginx:1.25
                resources: {limits: {memory: 1Gi, cpu: "1"}}
                env: [{name: A, value: "1"}]
            """)
        let b = try decodePod(
            """
            kind: Pod
            spec:
              containers:
              - env: [{value: "1", name: A}]
                resources: {limits: {cpu: 1000m, memory: 1024Mi}}
                image: nginx:1.25
                name: c
              nodeSelector: {y: "2", x: "1"}
            metadata: {labels: {b: "2", a: "1"}, name: p}
            apiVersion: v1
            """)
        #expect(try SpecHash.podSpec(a.spec) == SpecHash.podSpec(b.spec))
        #expect(try SpecHash.container(a.spec.containers[0]) == SpecHash.container(b.spec.containers[0]))
        #expect(try SpecHash.podSpec(a.spec).count == 16)
        var changed = a.spec
        changed.containers[0].image = "nginx:1.26"
        #expect(try SpecHash.podSpec(changed) != SpecHash.podSpec(a.spec))
    }

    @Test func canonicalJSONSortsKeys() throws {
        let json = String(decoding: try SpecHash.canonicalJSON(["b": 1, "a": 2]), as: UTF8.self)
        #expect(json == #"{"a":2,"b":1}"#)
    }
}

struct HumanDurationTests {
    static let cases: [(Double, String)] = [
        (-3, "<invalid>"), (-2, "<invalid>"), (-1.5, "0s"), (-1, "0s"), (0, "0s"), (1, "1s"), (70, "70s"), (119, "119s"), (119.9, "119s"),
        (120, "2m"), (150, "2m30s"), (540, "9m"), (599, "9m59s"), (600, "10m"), (630, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"),
        (3 * 3600 + 30 * 60, "3h30m"), (7 * 3600 + 59 * 60, "7h59m"), (8 * 3600, "8h"), (8 * 3600 + 59 * 60, "8h"), (47 * 3600, "47h"),
        (48 * 3600, "2d"), (49 * 3600, "2d1h"), (7 * 86400, "7d"), (7 * 86400 + 23 * 3600, "7d23h"), (8 * 86400, "8d"),
        (8 * 86400 + 23 * 3600, "8d"), (729 * 86400, "729d"), (730 * 86400, "2y"), (740 * 86400, "2y10d"), (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400, "20y"),
    ]

    @Test(arguments: cases)
    func format(_ seconds: Double, _ expected: String) {
        #expect(HumanDuration.format(seconds: seconds) == expected)
    }

    @Test func durationOverload() {
        #expect(HumanDuration.format(.seconds(150)) == "2m30s")
        #expect(HumanDuration.format(.milliseconds(1500)) == "1s")
        #expect(HumanDuration.format(seconds: .nan) == "<invalid>")
        #expect(HumanDuration.format(seconds: -.infinity) == "<invalid>")
        #expect(HumanDuration.format(seconds: .infinity) == "31709791y")
    }
}

struct PodTableTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    static func waiting(_ reason: String) -> ContainerState { ContainerState(waiting: ContainerStateWaiting(reason: reason)) }
    static var running: ContainerState { ContainerState(running: ContainerStateRunning(startedAt: now)) }
    static func terminated(_ code: Int32, _ reason: String? = nil, signal: Int32? = nil) -> ContainerState {
        ContainerState(terminated: ContainerStateTerminated(exitCode: code, reason: reason, signal: signal))
    }
    static func status(_ name: String, _ state: ContainerState?, ready: Bool = false, restarts: Int32 = 0, started: Bool? = nil) -> ContainerStatus {
        var status = ContainerStatus(name: name)
        status.state = state
        status.ready = ready
        status.restartCount = restarts
        status.started = started
        return status
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var phase = "Pending"
        var reason: String?
        var containers = ["app"]
        var initContainers: [String] = []
        var sidecars: Set<String> = []
        var statuses: [ContainerStatus] = []
        var initStatuses: [ContainerStatus] = []
        var conditions: [PodCondition] = []
        var deleting = false
        var expectedStatus: String
        var expectedReady: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "no status yet", expectedStatus: "Pending", expectedReady: "0/1"),
        Case(name: "creating", statuses: [status("app", waiting("ContainerCreating"))], expectedStatus: "ContainerCreating", expectedReady: "0/1"),
        Case(name: "running", phase: "Running", statuses: [status("app", running, ready: true)], expectedStatus: "Running", expectedReady: "1/1"),
        Case(name: "running not ready", phase: "Running", statuses: [status("app", running)], expectedStatus: "Running", expectedReady: "0/1"),
        Case(name: "completed", phase: "Succeeded", statuses: [status("app", terminated(0, "Completed"))], expectedStatus: "Completed", expectedReady: "0/1"),
        Case(name: "error", phase: "Failed", statuses: [status("app", terminated(1, "Error"))], expectedStatus: "Error", expectedReady: "0/1"),
        Case(name: "oom", phase: "Running", statuses: [status("app", terminated(137, "OOMKilled"))], expectedStatus: "OOMKilled", expectedReady: "0/1"),
        Case(
            name: "crash loop", phase: "Running", statuses: [status("app", waiting("CrashLoopBackOff"), restarts: 5)], expectedStatus: "CrashLoopBackOff",
            expectedReady: "0/1"),
        Case(name: "exit code without reason", phase: "Running", statuses: [status("app", terminated(2))], expectedStatus: "ExitCode:2", expectedReady: "0/1"),
        Case(
            name: "signal without reason", phase: "Running", statuses: [status("app", terminated(137, signal: 9))], expectedStatus: "Signal:9",
            expectedReady: "0/1"),
        Case(
            name: "first init running", initContainers: ["i1", "i2"], statuses: [status("app", waiting("PodInitializing"))],
            initStatuses: [status("i1", running), status("i2", waiting("PodInitializing"))], expectedStatus: "Init:0/2", expectedReady: "0/1"),
        Case(
            name: "second init running", initContainers: ["i1", "i2"], statuses: [status("app", waiting("PodInitializing"))],
            initStatuses: [status("i1", terminated(0, "Completed")), status("i2", running)], expectedStatus: "Init:1/2", expectedReady: "0/1"),
        Case(
            name: "init error", initContainers: ["i1"], initStatuses: [status("i1", terminated(1, "Error"))], expectedStatus: "Init:Error",
            expectedReady: "0/1"),
        Case(
            name: "init crash loop", initContainers: ["i1"], initStatuses: [status("i1", waiting("CrashLoopBackOff"))],
            expectedStatus: "Init:CrashLoopBackOff", expectedReady: "0/1"),
        Case(
            name: "init exit code", initContainers: ["i1"], initStatuses: [status("i1", terminated(3))], expectedStatus: "Init:ExitCode:3", expectedReady: "0/1"
        ),
        Case(
            name: "init signal", initContainers: ["i1"], initStatuses: [status("i1", terminated(137, signal: 9))], expectedStatus: "Init:Signal:9",
            expectedReady: "0/1"),
        Case(
            name: "init pull error", initContainers: ["i1"], initStatuses: [status("i1", waiting("ErrImagePull"))], expectedStatus: "Init:ErrImagePull",
            expectedReady: "0/1"),
        Case(
            // kubectl still reads the app containers (READY 1/1), but only waiting/terminated ones replace the reason.
            name: "initialized condition reads app containers", phase: "Running", initContainers: ["i1"], statuses: [status("app", running, ready: true)],
            initStatuses: [status("i1", terminated(1, "Error"))], conditions: [PodCondition(type: "Initialized", status: "True")],
            expectedStatus: "Init:Error", expectedReady: "1/1"),
        Case(
            name: "initialized condition, app crashing", phase: "Running", initContainers: ["i1"], statuses: [status("app", waiting("CrashLoopBackOff"))],
            initStatuses: [status("i1", terminated(1, "Error"))], conditions: [PodCondition(type: "Initialized", status: "True")],
            expectedStatus: "CrashLoopBackOff", expectedReady: "0/1"),
        Case(
            name: "sidecar started counts", phase: "Running", initContainers: ["side"], sidecars: ["side"],
            statuses: [status("app", running, ready: true)], initStatuses: [status("side", running, ready: true, started: true)],
            expectedStatus: "Running", expectedReady: "2/2"),
        Case(
            name: "terminating", phase: "Running", statuses: [status("app", running, ready: true)], deleting: true, expectedStatus: "Terminating",
            expectedReady: "1/1"),
        Case(
            name: "deleted after completion", phase: "Succeeded", statuses: [status("app", terminated(0, "Completed"))], deleting: true,
            expectedStatus: "Completed", expectedReady: "0/1"),
        Case(name: "node lost", phase: "Running", reason: "NodeLost", deleting: true, expectedStatus: "Unknown", expectedReady: "0/1"),
        Case(name: "admission rejected", phase: "Failed", reason: "OutOfcpu", expectedStatus: "OutOfcpu", expectedReady: "0/1"),
        Case(
            name: "completed next to running, ready", phase: "Running", containers: ["a", "b"],
            statuses: [status("a", terminated(0, "Completed")), status("b", running, ready: true)],
            conditions: [PodCondition(type: "Ready", status: "True")], expectedStatus: "Running", expectedReady: "1/2"),
        Case(
            name: "completed next to running, not ready", phase: "Running", containers: ["a", "b"],
            statuses: [status("a", terminated(0, "Completed")), status("b", running, ready: true)], expectedStatus: "NotReady", expectedReady: "1/2"),
        Case(
            name: "first container in status order wins", phase: "Pending", containers: ["a", "b"],
            statuses: [status("a", waiting("ErrImagePull")), status("b", waiting("CreateContainerConfigError"))], expectedStatus: "ErrImagePull",
            expectedReady: "0/2"),
        Case(
            name: "scheduling gated", conditions: [PodCondition(type: "PodScheduled", status: "False", reason: "SchedulingGated")],
            expectedStatus: "SchedulingGated", expectedReady: "0/1"),
    ]

    static func pod(_ c: Case) -> Pod {
        var spec = PodSpec(containers: c.containers.map { Container(name: $0, image: "i") })
        if !c.initContainers.isEmpty {
            spec.initContainers = c.initContainers.map { name in
                var container = Container(name: name, image: "i")
                if c.sidecars.contains(name) { container.restartPolicy = "Always" }
                return container
            }
        }
        var status = PodStatus(phase: c.phase)
        status.reason = c.reason
        status.containerStatuses = c.statuses.isEmpty ? nil : c.statuses
        status.initContainerStatuses = c.initStatuses.isEmpty ? nil : c.initStatuses
        status.conditions = c.conditions.isEmpty ? nil : c.conditions
        var meta = ObjectMeta(name: "p")
        meta.creationTimestamp = now.addingTimeInterval(-3725)
        if c.deleting { meta.deletionTimestamp = now }
        return Pod(metadata: meta, spec: spec, status: status)
    }

    @Test(arguments: cases)
    func statusColumn(_ c: Case) {
        let row = PodTableRow(pod: Self.pod(c), now: Self.now)
        #expect(row.status == c.expectedStatus)
        #expect(row.ready == c.expectedReady)
        #expect(row.age == "62m")
        #expect(row.name == "p")
    }

    @Test func restartsShowLastTerminationAge() {
        var c = Case(name: "restarts", phase: "Running", expectedStatus: "CrashLoopBackOff", expectedReady: "0/1")
        var status = Self.status("app", Self.waiting("CrashLoopBackOff"), restarts: 3)
        var last = ContainerStateTerminated(exitCode: 1, reason: "Error")
        last.finishedAt = Self.now.addingTimeInterval(-42)
        status.lastState = ContainerState(terminated: last)
        c.statuses = [status]
        let row = PodTableRow(pod: Self.pod(c), now: Self.now)
        #expect(row.restarts == "3 (42s ago)")
        #expect(row.status == "CrashLoopBackOff")
    }

    @Test func unknownAge() {
        let row = PodTableRow(pod: Pod(metadata: ObjectMeta(name: "x")), now: Self.now)
        #expect(row.age == "<unknown>")
        #expect(row.restarts == "0")
    }
}

struct EncodingTests {
    @Test func podEncodesWithKubernetesNamesAndOmitsNil() throws {
        var pod = try decodePod(
            podYAML(container: "ports: [{containerPort: 80, name: http}]\nreadinessProbe: {httpGet: {port: http}}\nresources: {limits: {memory: 1.5Gi}}"))
        var status = PodStatus(phase: "Pending")
        var containerStatus = ContainerStatus(name: "c", image: "nginx:1.25")
        containerStatus.state = ContainerState(waiting: ContainerStateWaiting(reason: "ContainerCreating"))
        status.containerStatuses = [containerStatus]
        status.qosClass = QOSClass(pod: pod).rawValue
        pod.status = status
        let data = try KubeJSON.encoder(pretty: false).encode(pod)
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.hasPrefix(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"}"#), "\(json)")
        #expect(!json.contains("null"))
        #expect(json.contains(#""port":"http""#))
        #expect(json.contains(#""containerPort":80"#))
        #expect(json.contains(#""memory":"1536Mi""#))
        #expect(json.contains(#""state":{"waiting":{"reason":"ContainerCreating"}}"#))
        // Only a memory limit: Burstable (Guaranteed needs cpu and memory limits).
        #expect(json.contains(#""qosClass":"Burstable""#))
        #expect(json.contains(#""terminationMessagePath":"/dev/termination-log""#))
        let back = try KubeJSON.decoder().decode(Pod.self, from: data)
        #expect(back == pod)
    }

    @Test func timesAreRFC3339() throws {
        var status = ContainerStateRunning()
        status.startedAt = Date(timeIntervalSince1970: 1_700_000_000)
        let json = String(decoding: try KubeJSON.encoder(pretty: false).encode(status), as: UTF8.self)
        #expect(json == #"{"startedAt":"2023-11-14T22:13:20Z"}"#)
    }
}

struct YAMLOutputTests {
    @Test func podPrintsAsYAMLAndReadsBack() throws {
        var pod = try decodePod(podYAML(container: "env: [{name: A, value: \"1\"}, {name: B, value: \"yes\"}]", metadata: "labels: {version: \"2\"}"))
        var status = PodStatus(phase: "Running")
        status.startTime = Date(timeIntervalSince1970: 1_700_000_000)
        pod.status = status
        let yaml = try KubeYAML.encode(pod)
        #expect(yaml.hasPrefix("apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    version: '2'\n  name: p\n  namespace: default\nspec:\n"), "\(yaml)")
        #expect(yaml.contains("startTime: 2023-11-14T22:13:20Z"))
        // What agentctl prints can be dropped back into the manifest directory (status is ignored there).
        let file = decode(yaml)
        #expect(file.errorMessages.isEmpty, "\(file.errorMessages)")
        guard case .pod(let back) = try #require(file.objects.first) else { return }
        #expect(back.spec == pod.spec)
        #expect(file.warningMessages == ["my-pod.yaml: status: field is ignored: status is set by the agent"])
    }
}
