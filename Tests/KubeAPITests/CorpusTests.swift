import Foundation
import Testing

@testable import KubeAPI

/// Bad manifests: each must produce a clear, located message and never crash or hang.
struct CorpusTests {
    static let goodPod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\nspec:\n  containers:\n  - name: c\n    image: nginx\n"

    @Test func syntaxErrorHasLineAndColumn() {
        let file = decode("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {a: b\nspec: {}\n", name: "bad.yaml")
        #expect(file.documents.isEmpty)
        let message = file.errorMessages.first ?? ""
        #expect(message.hasPrefix("bad.yaml: YAML syntax error at line 6, column"), "\(message)")
    }

    @Test func badIndentation() {
        let file = decode("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n    bad: x\n", name: "bad.yaml")
        #expect(
            file.errorMessages.first?.hasPrefix("bad.yaml: YAML syntax error at line 5, column 8: mapping values are not allowed in this context") == true,
            "\(file.errorMessages)")
    }

    @Test func duplicateKey() {
        let file = decode("apiVersion: v1\nkind: Pod\nkind: Pod\n", name: "dup.yaml")
        #expect(file.errorMessages.count == 1)
        #expect(file.errorMessages.first?.contains("mapping key \"kind\" already defined") == true, "\(file.errorMessages)")
    }

    struct TypeCase: Sendable, CustomTestStringConvertible {
        let yaml: String
        let error: String
        var testDescription: String { error }
    }

    static let typeCases: [TypeCase] = [
        TypeCase(
            yaml: podYAML(container: "ports: [{containerPort: abc}]"),
            error: "my-pod.yaml: spec.containers[0].ports[0].containerPort: Invalid value: \"abc\": expected integer"),
        TypeCase(
            yaml: podYAML(container: "ports: [{containerPort: \"80\"}]"),
            error: "my-pod.yaml: spec.containers[0].ports[0].containerPort: Invalid value: \"80\": expected integer"),
        TypeCase(
            yaml: podYAML(container: "ports: [{containerPort: 80.5}]"),
            error: "my-pod.yaml: spec.containers[0].ports[0].containerPort: Invalid value: 80.5: expected integer"),
        TypeCase(
            yaml: podYAML(container: "ports: [{containerPort: 99999999999}]"),
            error: "my-pod.yaml: spec.containers[0].ports[0].containerPort: Invalid value: 99999999999: expected a 32-bit integer"),
        TypeCase(
            yaml: podYAML(container: "env: [{name: PORT, value: 8080}]"),
            error: "my-pod.yaml: spec.containers[0].env[0].value: Invalid value: 8080: expected a string, got a number (quote it: \"8080\")"),
        TypeCase(
            yaml: podYAML(container: "command: sh"),
            error: "my-pod.yaml: spec.containers[0].command: Invalid value: \"sh\": expected a list, got a string"),
        TypeCase(
            yaml: podYAML(container: "tty: maybe"),
            error: "my-pod.yaml: spec.containers[0].tty: Invalid value: \"maybe\": expected true or false"),
        TypeCase(
            yaml: podYAML(container: "livenessProbe: {httpGet: {port: [80]}}"),
            error: "my-pod.yaml: spec.containers[0].livenessProbe.httpGet.port: Invalid value: list: expected an integer or a string, got a list"),
        TypeCase(
            yaml: podYAML(container: "securityContext: true"),
            error: "my-pod.yaml: spec.containers[0].securityContext: Invalid value: true: expected a map (object), got a boolean"),
        TypeCase(
            yaml: podYAML(metadata: "labels: {version: 1}"),
            error: "my-pod.yaml: metadata.labels[version]: Invalid value: 1: expected a string, got a number (quote it: \"1\")"),
        TypeCase(
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: nginx\n",
            error: "my-pod.yaml: spec.containers: Invalid value: \"nginx\": expected a list, got a string"),
        TypeCase(yaml: "- a\n- b\n", error: "my-pod.yaml: Invalid value: list: expected a map (object), got a list"),
        TypeCase(yaml: "just a string\n", error: "my-pod.yaml: Invalid value: \"just a string\": expected a map (object), got a string"),
        TypeCase(
            yaml: podYAML(container: "args: [a, null]"),
            error: "my-pod.yaml: spec.containers[0].args[1]: Invalid value: null: list items may not be null"),
    ]

    @Test(arguments: typeCases)
    func wrongTypes(_ c: TypeCase) {
        let file = decode(c.yaml)
        #expect(file.errorMessages.first == c.error, "\(file.errorMessages)")
        #expect(file.objects.isEmpty)
    }

    @Test func missingKindAndApiVersion() {
        #expect(
            decode("metadata: {name: p}\n").errorMessages == [
                "my-pod.yaml: kind: Required value: every manifest document needs a kind, e.g. `kind: Pod`",
                "my-pod.yaml: apiVersion: Required value",
            ])
        #expect(
            decode("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n").errorMessages == [
                "my-pod.yaml: apiVersion: Required value"
            ])
        #expect(decode("apiVersion: v1\nkind: 5\n").errorMessages == ["my-pod.yaml: kind: Invalid value: 5: expected a string, got a number (quote it: \"5\")"])
        #expect(
            decode("apiVersion: apps/v1\nkind: Pod\n").errorMessages == [
                "my-pod.yaml: apiVersion: Unsupported value: \"apps/v1\": supported values: \"v1\""
            ])
    }

    @Test func unknownKindIsAWarning() {
        let file = decode("apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: f}\n", name: "f.yaml")
        #expect(file.errorMessages.isEmpty)
        #expect(file.warningMessages == ["f.yaml: unknown kind \"Frobnicator\" (apiVersion \"example.com/v1\"); document ignored"])
        #expect(file.documents.first?.kind == "Frobnicator")
        #expect(file.documents.first?.key == "default/f")
    }

    @Test(arguments: ManifestDecoder.plannedKinds)
    func plannedKindIsAWarning(kind: String) {
        let file = decode("apiVersion: v1\nkind: \(kind)\nmetadata: {name: x}\n", name: "k.yaml")
        #expect(file.errorMessages.isEmpty)
        #expect(file.warningMessages == ["k.yaml: kind \"\(kind)\" is not supported yet; document ignored"])
    }

    @Test func unknownFieldsAreWarnings() throws {
        let file = decode(podYAML(container: "imagePullPolcy: Always", spec: "priorityClassName: high\nfoo: 1") + "extra: x\n")
        #expect(file.errorMessages.isEmpty)
        #expect(file.objects.count == 1)
        #expect(
            Set(file.warningMessages) == [
                "my-pod.yaml: unknown field \"spec.containers[0].imagePullPolcy\"",
                "my-pod.yaml: unknown field \"spec.foo\"",
                "my-pod.yaml: unknown field \"extra\"",
                "my-pod.yaml: spec.priorityClassName: field is ignored: pod priority and preemption do not apply on a single node",
            ])
    }

    @Test func unsupportedVolumeSourceIsAWarning() {
        let file = decode(podYAML(spec: "volumes: [{name: share, nfs: {server: s, path: /x}}]"))
        #expect(file.errorMessages.isEmpty)
        #expect(
            file.warningMessages == [
                "my-pod.yaml: spec.volumes[0].nfs: field is ignored: volume source \"nfs\" is not supported; volume \"share\" will not be mounted"
            ])
    }

    @Test func fileOver10MiBIsRefusedBeforeParsing() throws {
        let size = 11 * 1024 * 1024
        var data = Data(Self.goodPod.utf8)
        data.append(Data(repeating: UInt8(ascii: "#"), count: size - data.count))
        let clock = ContinuousClock()
        let start = clock.now
        let file = ManifestDecoder().decode(data, fileName: "big.yaml")
        #expect(clock.now - start < .seconds(2))
        #expect(file.errorMessages == ["big.yaml: file is 11534336 bytes, larger than the limit of 10485760 bytes (10 MiB) for a manifest; not parsed"])

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeapi-big-\(UUID().uuidString).yaml").path
        #expect(FileManager.default.createFile(atPath: path, contents: data))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromDisk = ManifestDecoder().decodeFile(atPath: path, displayName: "big.yaml")
        #expect(fromDisk.errorMessages == file.errorMessages)
    }

    @Test func decodeFileReadsAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kubeapi-\(UUID().uuidString).yml").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.goodPod.utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = ManifestDecoder().decodeFile(atPath: path)
        #expect(file.objects.count == 1)
        #expect(file.fileName == (path as NSString).lastPathComponent)
        let missing = ManifestDecoder().decodeFile(atPath: path + ".missing")
        #expect(missing.errorMessages.first?.contains("cannot read file") == true)
    }

    static let tooDeep = "YAML nesting deeper than 100 levels; refusing to parse (manifests nest about 15 levels)"

    @Test func deepFlowNestingIsRefused() {
        let depth = 10_000
        let yaml =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: " + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}\n"
        let file = decode(yaml, name: "deep.yaml")
        #expect(file.errorMessages == ["deep.yaml: line 4: \(Self.tooDeep)"])
    }

    @Test func deepBlockNestingIsRefused() {
        let compact = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  " + String(repeating: "- ", count: 10_000) + "x\n"
        #expect(decode(compact, name: "deep.yaml").errorMessages == ["deep.yaml: line 6: \(Self.tooDeep)"])
        var indented = "apiVersion: v1\nkind: Pod\n"
        for level in 0..<150 { indented += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(decode(indented, name: "deep.yaml").errorMessages == ["deep.yaml: line 103: \(Self.tooDeep)"])
    }

    @Test func libyamlNestingLimitIsTheBackstop() {
        // With the pre-scan disabled (a huge limit), libyaml's own limit of 1000 levels still refuses the file.
        let depth = 10_000
        let yaml = "a: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        let file = ManifestDecoder(limits: DecodeLimits(maxDepth: 1_000_000)).decode(yaml, fileName: "deep.yaml")
        #expect(file.errorMessages.first?.contains("Maximum nesting level reached") == true, "\(file.errorMessages)")
    }

    @Test func moderatelyDeepNestingInAWalkedFieldIsATypeError() {
        let yaml = podYAML(container: "args: " + String(repeating: "[", count: 90) + String(repeating: "]", count: 90))
        let file = decode(yaml)
        #expect(file.errorMessages == ["my-pod.yaml: spec.containers[0].args[0]: Invalid value: list: expected a string, got a list"])
    }

    static func billionLaughs(target: String) -> String {
        var yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\n"
        yaml += "l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        for level in 1...9 {
            yaml += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        return yaml + target
    }

    @Test(arguments: ["spec: {containers: *l9}\n", "spec: {containers: [{name: c, image: i, args: *l9}]}\n", "spec: {nodeSelector: {a: *l9}}\n"])
    func billionLaughsFinishesQuickly(target: String) {
        let clock = ContinuousClock()
        let start = clock.now
        let file = decode(Self.billionLaughs(target: target), name: "lol.yaml")
        #expect(clock.now - start < .seconds(5))
        #expect(!file.errorMessages.isEmpty)
        #expect(file.objects.isEmpty)
    }

    @Test func aliasExpansionBeyondTheNodeBudgetIsRefused() {
        // 1000 containers × 1000 env entries = a million nodes from a 30 KB file.
        let env = "env: &env [" + Array(repeating: "{name: A, value: v}", count: 1000).joined(separator: ", ") + "]\n"
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nx: {name: c, image: i, " + env.dropLast() + "}\n"
        let fixed = yaml.replacingOccurrences(of: "x: {name: c", with: "x: &c {name: c")
        let bomb = fixed + "spec:\n  containers: [" + Array(repeating: "*c", count: 1000).joined(separator: ", ") + "]\n"
        let clock = ContinuousClock()
        let start = clock.now
        let file = decode(bomb, name: "bomb.yaml")
        #expect(clock.now - start < .seconds(10))
        #expect(
            file.errorMessages.contains {
                $0.contains("Forbidden: document has more than 200000 nodes after expanding YAML aliases; refusing to read further")
            }, "\(file.errorMessages.prefix(3))")
        #expect(file.objects.isEmpty)
        #expect(file.errorMessages.count <= 202)
    }

    @Test(arguments: ["spec: {*k : 1}\n", "*k : x\n", "? *k\n: x\n", "[*k, *k]: x\n"])
    func aliasesAsKeysAreRefused(_ tail: String) {
        let yaml = "apiVersion: v1\nkind: Pod\nk: &k [a, b]\n" + tail
        let file = decode(yaml, name: "keys.yaml")
        #expect(file.errorMessages.count == 1)
        #expect(file.errorMessages.first?.contains("not supported in manifests") == true, "\(file.errorMessages)")
    }

    @Test func anchorsAndMergeKeysWork() throws {
        let pod = try decodePod(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: merged}
            x-defaults: &defaults {image: nginx:1.25, imagePullPolicy: Never}
            spec:
              containers:
              - <<: *defaults
                name: a
              - <<: *defaults
                name: b
                image: busybox
            """.replacingOccurrences(of: "x-defaults", with: "spec2"))
        #expect(pod.spec.containers.map(\.image) == ["nginx:1.25", "busybox"])
        #expect(pod.spec.containers.map(\.imagePullPolicy) == ["Never", "Never"])
    }

    @Test func randomBinaryIsNotUTF8() {
        var generator = SplitMix64(seed: 42)
        let bytes = (0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let file = ManifestDecoder().decode(Data(bytes), fileName: "junk.yaml")
        #expect(file.documents.isEmpty)
        #expect(file.errorMessages.count == 1)
        #expect(
            file.errorMessages.first?.hasPrefix("junk.yaml: not a text manifest: invalid UTF-8 at byte offset") == true, "\(file.errorMessages)")
    }

    @Test func controlCharactersAreASyntaxError() {
        let file = ManifestDecoder().decode(Data("apiVersion: v1\nkind: \u{1}Pod\n".utf8), fileName: "ctl.yaml")
        #expect(file.errorMessages.first?.contains("control characters are not allowed") == true, "\(file.errorMessages)")
    }

    @Test func multiDocumentWithOneBadDocument() {
        let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: c\n"
        let yaml = Self.goodPod + "---\n" + bad + "---\n" + Self.goodPod.replacingOccurrences(of: "name: ok", with: "name: ok2")
        let file = decode(yaml, name: "pods.yaml")
        #expect(file.objects.map(\.key) == ["default/ok", "default/ok2"])
        #expect(file.errorMessages == ["pods.yaml: document 2 (line 10): spec.containers[0].image: Required value"])
        #expect(file.documents[1].key == "default/bad")
    }

    @Test func multiDocumentWithSyntaxErrorKeepsEarlierDocuments() {
        let yaml = Self.goodPod + "---\nkind: [\n"
        let file = decode(yaml, name: "pods.yaml")
        #expect(file.objects.map(\.key) == ["default/ok"])
        #expect(file.errorMessages.count == 1)
        #expect(file.errorMessages.first?.hasPrefix("pods.yaml: YAML syntax error at line") == true, "\(file.errorMessages)")
    }

    @Test func emptyDocumentsAreSkipped() {
        #expect(decode("").documents.isEmpty)
        #expect(decode("# nothing here\n").errorMessages.isEmpty)
        #expect(decode("---\n---\n" + Self.goodPod).objects.count == 1)
    }

    @Test func jsonManifest() throws {
        let json = """
            {
            \t"apiVersion": "v1",
            \t"kind": "Pod",
            \t"metadata": {"name": "json-pod", "labels": {"app": "web"}},
            \t"spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}
            }
            """
        let pod = try decodePod(json)
        #expect(pod.metadata.name == "json-pod")
        #expect(pod.spec.containers[0].ports?[0].containerPort == 80)
    }

    @Test(arguments: [
        ("pod.yaml", true), ("pod.yml", true), ("pod.json", true), ("POD.YAML", true), (".pod.yaml", false), ("pod.yaml.swp", false),
        ("pod.txt", false), ("pod", false),
    ])
    func manifestFileNames(name: String, accepted: Bool) {
        #expect(ManifestDecoder.isManifestFileName(name) == accepted)
    }

    @Test func identityKeyUsesNamespace() throws {
        let file = decode("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: kube-system}\nspec: {containers: [{name: c, image: i}]}\n")
        #expect(file.objects.first?.key == "kube-system/a")
    }
}

/// Deterministic bytes for the binary-junk test.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The agent may decode on a thread with a small stack; nesting up to libyaml's limit must fit.
struct StackTests {
    @Test func deepNestingFitsOnA512KiBStack() async {
        let yaml =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: " + String(repeating: "[", count: 95)
            + String(repeating: "]", count: 95) + "}\n"
        let messages: [String] = await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: decode(yaml, name: "deep.yaml").errorMessages)
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
        #expect(messages == ["deep.yaml: spec.containers[0]: Invalid value: list: expected a map (object), got a list"])
    }
}

struct DuplicateTests {
    @Test func duplicateKeysAcrossFiles() {
        let a = decode(CorpusTests.goodPod, name: "a.yaml")
        let b = decode(CorpusTests.goodPod + "---\n" + CorpusTests.goodPod.replacingOccurrences(of: "name: ok", with: "name: other"), name: "b.yaml")
        let c = decode(CorpusTests.goodPod.replacingOccurrences(of: "name: ok\n", with: "name: ok\n  namespace: prod\n"), name: "c.yaml")
        #expect(ManifestFile.duplicateKeys(in: [a, b, c]) == ["Pod default/ok": ["a.yaml", "b.yaml"]])
    }

    @Test func largeValidFileDecodesInReasonableTime() {
        // 1 MiB of small pods (about 10,000): decoding cost is linear, so the 10 MiB limit bounds the work.
        // The bound is loose (debug build, shared CI machine); it catches quadratic behaviour, not slowness.
        var yaml = ""
        var index = 0
        while yaml.utf8.count < 1024 * 1024 {
            yaml += CorpusTests.goodPod.replacingOccurrences(of: "name: ok", with: "name: pod-\(index)") + "---\n"
            index += 1
        }
        let clock = ContinuousClock()
        let start = clock.now
        let file = decode(yaml, name: "many.yaml")
        let elapsed = clock.now - start
        #expect(file.errorMessages.isEmpty)
        #expect(file.objects.count == index)
        #expect(elapsed < .seconds(120), "\(elapsed)")
        print("decoded \(index) pods (\(yaml.utf8.count) bytes) in \(elapsed)")
    }
}

struct FileTests {
    @Test func nonRegularFilesAreRefusedWithoutOpening() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubeapi-dir-\(UUID().uuidString).yaml").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(ManifestDecoder().decodeFile(atPath: directory).errorMessages.first?.hasSuffix("is not a regular file") == true)
        let fifo = directory + "/pipe.yaml"
        #expect(mkfifo(fifo, 0o600) == 0)
        // Would block forever if opened for reading with no writer.
        #expect(ManifestDecoder().decodeFile(atPath: fifo).errorMessages.first?.hasSuffix("is not a regular file") == true)
        let missing = ManifestDecoder().decodeFile(atPath: directory + "/missing.yaml")
        #expect(missing.errorMessages.first?.contains("No such file or directory") == true, "\(missing.errorMessages)")
    }
}
