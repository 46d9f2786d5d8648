import Testing

@testable import KubeAPI

struct PreScanTests {
    static func depth(_ yaml: String) -> Int {
        // The smallest limit the text stays within.
        var limit = 0
        while PreScan.firstLineDeeperThan(limit, in: Array(yaml.utf8)) != nil { limit += 1 }
        return limit
    }

    static let cases: [(String, Int)] = [
        ("a: 1\n", 1),
        ("a:\n  b:\n    c: 1\n", 3),
        ("a:\n- x\n- y\n", 2),
        ("a: [1, [2, [3]]]\n", 4),
        ("a: {b: {c: 1}}\n", 3),
        ("- - - x\n", 4),
        ("a: \"[[[[[[\"\n", 1),
        ("a: '[[[['\n", 1),
        ("a: 'it''s [[['\n", 1),
        ("a: rock 'n [[[ roll\n", 1),
        ("a: x # [[[[[\n", 1),
        ("script: |\n  if [ -f x ]; then\n      [[[[[[[\n  fi\nb: 1\n", 1),
        ("a: \"multi\n  [[[[ line\"\nb: 1\n", 1),
        ("a: [1,\n  [2,\n   [3]]]\n", 4),
    ]

    @Test(arguments: cases)
    func estimate(_ yaml: String, _ expected: Int) {
        #expect(Self.depth(yaml) == expected)
    }

    @Test(arguments: [
        // Shell in quotes with `&&`, globs and `${X}:` is not an anchor, alias or collection key.
        "command: [\"sh\", \"-c\", \"cp /a/* /b && echo ${HOST}: done\"]\nx: &a 1\n",
        "command: [sh, -c, 'ls *: x && y']\nx: &a 1\n",
        "# *a: b\nx: &a 1\n",
        "script: |\n  echo *a: b\n  [x]: y\nx: &a 1\n",
        "k: *a: v\n",  // no anchor defined anywhere: Yams reports the undefined alias itself
    ])
    func noFalseAliasKeys(_ yaml: String) {
        #expect(PreScan.scan(Array(yaml.utf8), depthLimit: 100).aliasKey == nil)
    }

    @Test func realisticManifestIsShallow() {
        let yaml = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: web
              labels: {app: web}
            spec:
              containers:
              - name: app
                image: nginx
                command: ["sh", "-c", "echo '[x]' && [ -f /x ] || exit 1"]
                args:
                - |
                  while true; do
                    if [ -f /tmp/x ]; then
                      echo "{{{{"
                    fi
                  done
                livenessProbe:
                  httpGet: {path: /healthz, port: 8080, httpHeaders: [{name: X, value: "]]]"}]}
            """
        #expect(Self.depth(yaml) <= 8)
    }
}

struct ScalarResolutionTests {
    static let cases: [(String, String)] = [
        ("", "null"), ("~", "null"), ("null", "null"), ("NULL", "null"), ("yes", "bool"), ("No", "bool"), ("on", "bool"), ("y", "bool"),
        ("TRUE", "bool"), ("8080", "int"), ("-1", "int"), ("+2", "int"), ("0x1F", "int"), ("0o17", "int"), ("017", "int"), ("0b101", "int"),
        ("1_000", "int"), ("1.5", "float"), (".5", "float"), ("1e3", "float"), ("1.", "float"), (".inf", "float"), (".nan", "float"),
        ("1:30", "string"), ("2024-01-02", "string"), ("nginx", "string"), ("100m", "string"), ("64Mi", "string"), ("++5", "string"),
        ("1e", "string"), (".", "string"), ("-", "string"), ("0xZZ", "string"), ("<<", "string"),
    ]

    @Test(arguments: cases)
    func resolves(_ text: String, _ expected: String) {
        #expect("\(ScalarType.resolvePlain(text))" == expected)
    }

    @Test func quotedScalarsAreStrings() {
        let file = decode(podYAML(container: "env:\n- {name: A, value: \"8080\"}\n- {name: B, value: 'yes'}\n- name: C\n  value: |\n    8080"))
        #expect(file.errorMessages.isEmpty, "\(file.errorMessages)")
    }

    @Test func explicitTags() {
        let file = decode(podYAML(container: "ports: [{containerPort: !!int \"80\"}]\nenv: [{name: A, value: !!str 8080}]"))
        #expect(file.errorMessages.isEmpty, "\(file.errorMessages)")
    }
}
