// ConfigMaps, Secrets and volumes end to end: a real agent, real containers, files read inside them.
import Foundation
import Glibc
import KubeAPI
import TestSupport
import Testing

/// A unique, greppable secret value (never logged, never stored in clear).
let secretPassword = "s3cr3t-\(UInt32.random(in: 100_000..<UInt32.max))-value"

extension AgentHarness {
    /// `agentctl exec` output of a command in the pod's container.
    func exec(_ pod: String, container: String? = nil, _ command: [String]) throws -> CommandResult {
        try agentctl(["exec", pod] + (container.map { ["-c", $0] } ?? []) + ["--"] + command)
    }
}

@Suite(.serialized, .enabled(if: getuid() == 0, "needs root"))
struct ConfigE2ETests {
    /// Acceptance 1 and 5: env, envFrom and volumes from a ConfigMap and a Secret; a ConfigMap edit reaches
    /// the volume (not subPath) and not the env; the secret's value is in none of log, events, state DB.
    @Test func configMapAndSecretByEnvEnvFromAndVolume() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let example = try String(contentsOfFile: repoRoot() + "/examples/config-and-secret.yaml", encoding: .utf8)
            .replacingOccurrences(of: "password: change-me", with: "password: \(secretPassword)")
        try agent.write("example.yaml", example)
        let running = try agent.waitForPod("configured", isRunningAndReady)
        #expect(running != nil, "status: \(String(describing: try? agent.pod("configured")?.status)); log:\n\(agent.log())")

        let env = try agent.exec("configured", ["env"]).stdout
        for line in ["COLOR=blue", "CFG_color=blue", "CFG_size=large", "USER_NAME=admin", "SEC_password=\(secretPassword)", "GREETING=color is blue"] {
            #expect(env.split(separator: "\n").contains(Substring(line)), "missing \(line) in env:\n\(env)")
        }
        let args = try agent.exec("configured", ["cat", "/tmp/args"]).stdout
        #expect(args == "blue\n", "args: \(args)")
        #expect(try agent.exec("configured", ["cat", "/etc/config/color"]).stdout == "blue")
        #expect(try agent.exec("configured", ["cat", "/etc/picked/the-size"]).stdout == "large")
        #expect(try agent.exec("configured", ["cat", "/etc/creds/password"]).stdout == secretPassword)
        #expect(try agent.exec("configured", ["cat", "/etc/color-only"]).stdout == "blue")
        #expect(try agent.exec("configured", ["cat", "/etc/pod/name"]).stdout == "configured")
        #expect(try agent.exec("configured", ["cat", "/etc/all/color", "/etc/all/username", "/etc/all/podname"]).stdout == "blueadminconfigured")
        // Kubelet's layout: ..data symlink, keys through it; modes from defaultMode/mode.
        let layout = try agent.exec(
            "configured", ["sh", "-c", "readlink /etc/config/color; readlink /etc/config/..data; stat -L -c %a /etc/creds/password /etc/picked/the-size"]
        ).stdout
        let lines = layout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines[0] == "..data/color" && lines[1].hasPrefix("..2") && lines[2] == "400" && lines[3] == "600", "layout: \(layout)")
        // Secrets in memory: the secret volume is a tmpfs.
        let mounts = try agent.exec("configured", ["cat", "/proc/mounts"]).stdout
        #expect(mounts.split(separator: "\n").contains { $0.contains(" /etc/creds ") && $0.hasPrefix("tmpfs ") }, "mounts:\n\(mounts)")
        // Read-only: configMap volumes cannot be written.
        #expect(try agent.exec("configured", ["sh", "-c", "echo x > /etc/config/new"]).succeeded == false)

        // Same file, same pod document: only the ConfigMap changes, so the pod keeps its UID and keeps running.
        try agent.write("example.yaml", example.replacingOccurrences(of: "color: blue", with: "color: green"))
        let updated = waitUntil(timeout: .seconds(10), interval: .milliseconds(200)) {
            (try? agent.exec("configured", ["cat", "/etc/config/color"]).stdout) == "green"
        }
        #expect(updated, "the volume did not follow the ConfigMap; log:\n\(agent.log())")
        #expect(try agent.exec("configured", ["cat", "/etc/all/color"]).stdout == "green")
        #expect(try agent.pod("configured")?.metadata.uid == running?.metadata.uid)
        // Env and subPath mounts keep what the container started with.
        #expect(try agent.exec("configured", ["sh", "-c", "echo $COLOR"]).stdout == "blue\n")
        #expect(try agent.exec("configured", ["cat", "/etc/color-only"]).stdout == "blue")

        // Acceptance 5: the secret's value is nowhere in clear text outside the pod.
        let events = try agent.events()
        #expect(!events.contains(secretPassword))
        #expect(!agent.log().contains(secretPassword))
        for file in ["agent.db", "agent.db-wal"] {
            let data = FileManager.default.contents(atPath: agent.root + "/" + file) ?? Data()
            #expect(data.range(of: Data(secretPassword.utf8)) == nil, "\(file) holds the secret in clear text")
            #expect(data.range(of: Data(Data(secretPassword.utf8).base64EncodedString().utf8)) == nil, "\(file) holds the secret in base64")
        }
        // `get secret -o yaml` shows base64 like kubectl; `get cm` a kubectl table.
        let yaml = try agent.agentctl(["get", "secret", "creds", "-o", "yaml"]).check().stdout
        #expect(yaml.contains("password: \(Data(secretPassword.utf8).base64EncodedString())") && !yaml.contains(secretPassword), "yaml:\n\(yaml)")
        let table = try agent.agentctl(["get", "cm"]).check().stdout
        #expect(
            table.hasPrefix("NAME") && table.contains("settings") && table.split(separator: "\n").last?.split(separator: " ").dropFirst().first == "2",
            "\(table)")
        var info = stat()
        #expect(stat(agent.root + "/node.key", &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    /// Acceptance 2: a missing ConfigMap is CreateContainerConfigError with kubelet's message; creating it
    /// starts the pod without touching the pod's file.
    @Test func missingConfigMapWaitsThenStarts() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "pod.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: waits
            spec:
              terminationGracePeriodSeconds: 2
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
                env:
                - name: MODE
                  valueFrom: {configMapKeyRef: {name: late, key: mode}}
                - name: MAYBE
                  valueFrom: {secretKeyRef: {name: absent, key: k, optional: true}}
            """)
        let waiting = try agent.waitForPod("waits") { $0.status?.containerStatuses?.first?.state?.waiting?.reason == "CreateContainerConfigError" }
        #expect(waiting?.status?.containerStatuses?.first?.state?.waiting?.message == "configmap \"late\" not found")
        #expect(waiting?.status?.phase == "Pending")
        #expect(try agent.events().contains("Error: configmap \"late\" not found"))

        // The key missing: kubelet's other message.
        try agent.write("late.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {other: x}\n")
        let noKey = try agent.waitForPod("waits", timeout: .seconds(30)) {
            $0.status?.containerStatuses?.first?.state?.waiting?.message == "couldn't find key mode in ConfigMap default/late"
        }
        #expect(noKey != nil, "status: \(String(describing: try? agent.pod("waits")?.status))")

        try agent.write("late.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late}\ndata: {mode: fast}\n")
        let running = try agent.waitForPod("waits", timeout: .seconds(30), isRunningAndReady)
        #expect(running != nil, "status: \(String(describing: try? agent.pod("waits")?.status)); log:\n\(agent.log())")
        #expect(try agent.exec("waits", ["sh", "-c", "echo $MODE ${MAYBE-unset}"]).stdout == "fast unset\n")
    }

    /// Acceptance 4: an emptyDir shared by two containers; Memory medium is a tmpfs; exceeding sizeLimit evicts.
    @Test func emptyDirSharingMemoryMediumAndSizeLimitEviction() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        try agent.write(
            "shared.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: shared
            spec:
              terminationGracePeriodSeconds: 2
              volumes:
              - name: scratch
                emptyDir: {}
              - name: fast
                emptyDir: {medium: Memory, sizeLimit: 8Mi}
              containers:
              - name: writer
                image: \(testImage)
                command: ["sh", "-c", "echo from-writer > /shared/note; trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: scratch, mountPath: /shared}, {name: fast, mountPath: /fast}]
              - name: reader
                image: \(testImage)
                command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: scratch, mountPath: /from-writer, readOnly: true}]
            """)
        #expect(try agent.waitForPod("shared", isRunningAndReady) != nil, "log:\n\(agent.log())")
        let shared = waitUntil(timeout: .seconds(10), interval: .milliseconds(200)) {
            (try? agent.exec("shared", container: "reader", ["cat", "/from-writer/note"]).stdout) == "from-writer\n"
        }
        #expect(shared)
        #expect(try agent.exec("shared", container: "reader", ["sh", "-c", "echo x > /from-writer/other"]).succeeded == false, "readOnly mount is writable")
        let mounts = try agent.exec("shared", container: "writer", ["cat", "/proc/mounts"]).stdout
        let fast = mounts.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first == "/fast" }.map(String.init) ?? ""
        #expect(fast.hasPrefix("tmpfs /fast tmpfs") && fast.contains("size=8192k"), "mounts:\n\(mounts)")

        try agent.write(
            "hog.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: hog
            spec:
              terminationGracePeriodSeconds: 2
              volumes:
              - name: cache
                emptyDir: {sizeLimit: 1Mi}
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "dd if=/dev/zero of=/cache/blob bs=1M count=3; trap 'exit 0' TERM; while true; do sleep 1; done"]
                volumeMounts: [{name: cache, mountPath: /cache}]
            """)
        let evicted = try agent.waitForPod("hog", timeout: .seconds(60)) { $0.status?.phase == "Failed" }
        #expect(evicted?.status?.reason == "Evicted", "status: \(String(describing: try? agent.pod("hog")?.status))")
        #expect(evicted?.status?.message == "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". ")
        let stopped = try agent.waitForPod("hog", timeout: .seconds(30)) { $0.status?.containerStatuses?.first?.state?.terminated != nil }
        #expect(stopped != nil, "the evicted pod's container still runs")
        #expect(try agent.events().contains("Evicted"))
        // The eviction outlives an agent restart (not turned into an admission rejection).
        try agent.killAgent()
        try agent.start()
        let adopted = try agent.waitForPod("hog", timeout: .seconds(30)) { $0.status?.reason == "Evicted" }
        #expect(
            adopted?.status?.message == "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". ",
            "after restart: \(String(describing: adopted?.status))")
    }

    /// hostPath type checks: a FailedMount event with kubelet's message, the pod stays ContainerCreating.
    @Test func hostPathTypeMismatchIsFailedMount() throws {
        let agent = try AgentHarness(extraArgs: ["--pod-security=privileged"])  // hostPath volumes are a baseline violation
        defer { agent.cleanUp() }
        let file = agent.dir + "/a-file"
        try "x".write(toFile: file, atomically: false, encoding: .utf8)
        try agent.write(
            "hp.yaml",
            """
            apiVersion: v1
            kind: Pod
            metadata:
              name: hp
            spec:
              volumes:
              - name: host
                hostPath: {path: \(file), type: Directory}
              containers:
              - name: main
                image: \(testImage)
                command: ["sleep", "600"]
                volumeMounts: [{name: host, mountPath: /host}]
            """)
        let message = "MountVolume.SetUp failed for volume \"host\" : hostPath type check failed: \(file) is not a directory"
        #expect(waitUntil(timeout: .seconds(30)) { (try? agent.events())?.contains(message) == true }, "events: \((try? agent.events()) ?? "")")
        let pod = try agent.pod("hp")
        #expect(pod?.status?.phase == "Pending")
        #expect(pod?.status?.containerStatuses?.first?.state?.waiting?.reason == "ContainerCreating")
    }

    /// Acceptance 3: a local-path claim binds; data written by one pod is seen by the next; Delete reclaim
    /// removes the directory once the claim (and its last pod) is gone. Static binding and Pending claims too.
    @Test func localPathClaimKeepsDataAndDeleteReclaims() throws {
        let agent = try AgentHarness()
        defer { agent.cleanUp() }
        let staticPath = agent.dir + "/static-pv"
        try FileManager.default.createDirectory(atPath: staticPath, withIntermediateDirectories: true)
        try agent.write(
            "claims.yaml",
            """
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: data}
            spec:
              storageClassName: local-path
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 64Mi}}
            ---
            apiVersion: v1
            kind: PersistentVolume
            metadata: {name: static-pv}
            spec:
              storageClassName: manual
              capacity: {storage: 1Gi}
              accessModes: [ReadWriteOnce, ReadOnlyMany]
              hostPath: {path: \(staticPath), type: Directory}
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: manual}
            spec:
              storageClassName: manual
              accessModes: [ReadOnlyMany]
              resources: {requests: {storage: 100Mi}}
            ---
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata: {name: nowhere}
            spec:
              storageClassName: fast
              accessModes: [ReadWriteOnce]
              resources: {requests: {storage: 1Gi}}
            """)
        func claimPod(_ name: String, _ script: String, claim: String = "data") -> String {
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: \(name)}
            spec:
              terminationGracePeriodSeconds: 2
              volumes:
              - name: storage
                persistentVolumeClaim: {claimName: \(claim)}
              containers:
              - name: main
                image: \(testImage)
                command: ["sh", "-c", "\(script)"]
                volumeMounts: [{name: storage, mountPath: /data}]
            """
        }
        try agent.write("writer.yaml", claimPod("writer", "echo kept > /data/file; trap 'exit 0' TERM; while true; do sleep 1; done"))
        #expect(try agent.waitForPod("writer", isRunningAndReady) != nil, "log:\n\(agent.log())")
        let pvc = try agent.agentctl(["get", "pvc"]).check().stdout
        let rows = pvc.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.contains { $0.starts(with: ["data", "Bound", "pvc-default-data", "64Mi", "RWO", "local-path"]) }, "\(pvc)")
        #expect(rows.contains { $0.starts(with: ["manual", "Bound", "static-pv", "1Gi", "RWO,ROX", "manual"]) }, "\(pvc)")
        #expect(rows.contains { $0.starts(with: ["nowhere", "Pending"]) }, "\(pvc)")
        let pv = try agent.agentctl(["get", "pv"]).check().stdout
        #expect(pv.contains("pvc-default-data") && pv.contains("Delete") && pv.contains("static-pv"), "\(pv)")

        try agent.remove("writer.yaml")
        #expect(waitUntil(timeout: .seconds(60), interval: .milliseconds(200)) { (try? agent.pod("writer")) == nil })
        let directory = agent.root + "/storage/pvc-default-data_default_data"
        #expect(FileManager.default.contents(atPath: directory + "/file") == Data("kept\n".utf8))
        try agent.write("reader.yaml", claimPod("reader", "trap 'exit 0' TERM; while true; do sleep 1; done"))
        #expect(try agent.waitForPod("reader", isRunningAndReady) != nil)
        #expect(try agent.exec("reader", ["cat", "/data/file"]).stdout == "kept\n")

        // A pod whose claim does not exist, and one whose claim cannot bind, stay Pending with FailedMount.
        try agent.write("orphan.yaml", claimPod("orphan", "sleep 600", claim: "missing"))
        try agent.write("unbound.yaml", claimPod("unbound", "sleep 600", claim: "nowhere"))
        let missing = "MountVolume.SetUp failed for volume \"storage\" : persistentvolumeclaim \"missing\" not found"
        let unbound =
            "MountVolume.SetUp failed for volume \"storage\" : PVC default/nowhere has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\"): storageclass.storage.k8s.io \"fast\" not found"
        #expect(waitUntil(timeout: .seconds(30)) { ((try? agent.events()) ?? "").contains(missing) && ((try? agent.events()) ?? "").contains(unbound) })
        #expect(try agent.pod("orphan")?.status?.phase == "Pending")
        #expect(try agent.pod("unbound")?.status?.phase == "Pending")

        // Delete reclaim: the directory outlives the claim while a pod uses it, then goes.
        try agent.remove("claims.yaml")
        try agent.remove("reader.yaml")
        let reclaimed = waitUntil(timeout: .seconds(90), interval: .milliseconds(500)) { !FileManager.default.fileExists(atPath: directory) }
        #expect(reclaimed, "\(directory) still exists; log:\n\(agent.log())")
        #expect(FileManager.default.fileExists(atPath: staticPath), "a static Retain volume must stay")
    }
}
