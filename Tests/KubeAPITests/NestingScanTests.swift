import Testing

@testable import KubeAPI

struct NestingScanTests {
    static func depth(_ yaml: String) -> Int {
        // The smallest limit the text stays within.
        var limit = 0
        while NestingScan.firstLineDeeperThan(limit, in: Array(yaml.utf8)) != nil { limit += 1 }
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
