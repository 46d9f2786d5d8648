import Testing

@testable import KubeAPI

struct QuantityTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let input: String
        let milli: Int64
        let value: Int64
        let canonical: String
        var testDescription: String { input }
    }

    static let valid: [Case] = [
        Case(input: "100m", milli: 100, value: 1, canonical: "100m"),
        Case(input: "64Mi", milli: 67_108_864_000, value: 67_108_864, canonical: "64Mi"),
        Case(input: "1.5Gi", milli: 1_610_612_736_000, value: 1_610_612_736, canonical: "1536Mi"),
        Case(input: "1e3", milli: 1_000_000, value: 1000, canonical: "1e3"),
        Case(input: "2k", milli: 2_000_000, value: 2000, canonical: "2k"),
        Case(input: "1", milli: 1000, value: 1, canonical: "1"),
        Case(input: "0.5", milli: 500, value: 1, canonical: "500m"),
        Case(input: "1.5", milli: 1500, value: 2, canonical: "1500m"),
        Case(input: "1000", milli: 1_000_000, value: 1000, canonical: "1k"),
        Case(input: "1500", milli: 1_500_000, value: 1500, canonical: "1500"),
        Case(input: "250m", milli: 250, value: 1, canonical: "250m"),
        Case(input: "0.1m", milli: 1, value: 1, canonical: "100u"),
        Case(input: "1Ki", milli: 1_024_000, value: 1024, canonical: "1Ki"),
        Case(input: "512Ki", milli: 524_288_000, value: 524_288, canonical: "512Ki"),
        Case(input: "1024Ki", milli: 1_048_576_000, value: 1_048_576, canonical: "1Mi"),
        Case(input: "0.5Ki", milli: 512_000, value: 512, canonical: "512"),
        Case(input: "128974848", milli: 128_974_848_000, value: 128_974_848, canonical: "128974848"),
        Case(input: "129e6", milli: 129_000_000_000, value: 129_000_000, canonical: "129e6"),
        Case(input: "129M", milli: 129_000_000_000, value: 129_000_000, canonical: "129M"),
        Case(input: "123Mi", milli: 128_974_848_000, value: 128_974_848, canonical: "123Mi"),
        Case(input: "1G", milli: 1_000_000_000_000, value: 1_000_000_000, canonical: "1G"),
        Case(input: "1E", milli: Int64.max, value: 1_000_000_000_000_000_000, canonical: "1E"),
        Case(input: "-1", milli: -1000, value: -1, canonical: "-1"),
        Case(input: "+2", milli: 2000, value: 2, canonical: "2"),
        Case(input: "0", milli: 0, value: 0, canonical: "0"),
        Case(input: "1n", milli: 1, value: 1, canonical: "1n"),
        Case(input: "1.", milli: 1000, value: 1, canonical: "1"),
        Case(input: ".5", milli: 500, value: 1, canonical: "500m"),
        Case(input: "1E-3", milli: 1, value: 1, canonical: "1e-3"),
        Case(input: " 2 ", milli: 2000, value: 2, canonical: "2"),
        Case(input: "0.12345678901234567890123456789012345678901234567890", milli: 124, value: 1, canonical: "123456790n"),
        Case(input: "1e-9223372036854775808", milli: 1, value: 1, canonical: "1e-9"),
        Case(input: "1.5e-9223372036854775808", milli: 1, value: 1, canonical: "1e-9"),
        Case(input: "100000000000000000000.000000000000000000000001", milli: Int64.max, value: Int64.max, canonical: "100000000000000000000000000001n"),
    ]

    @Test(arguments: valid)
    func parses(_ c: Case) throws {
        let quantity = try Quantity(parsing: c.input)
        #expect(quantity.milliValue == c.milli)
        #expect(quantity.value == c.value)
        #expect(quantity.description == c.canonical)
    }

    static let invalid: [(String, String)] = [
        ("", Quantity.formatMessage),
        ("abc", Quantity.formatMessage),
        ("1.2.3", Quantity.formatMessage),
        ("Mi", Quantity.formatMessage),
        ("1 Mi", Quantity.formatMessage),
        ("1Kb", Quantity.formatMessage),
        ("1mi", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("1ki", "unable to parse quantity's suffix"),
        ("--1", Quantity.formatMessage),
        ("1e100", "quantity is too large"),
        ("1e9223372036854775807", "quantity is too large"),
        ("1e99999999999999999999", "unable to parse quantity's suffix"),
        ("1000000000000000000000", "quantity is too large"),
    ]

    @Test(arguments: invalid)
    func rejects(_ input: String, _ message: String) {
        #expect(throws: Quantity.ParseError(input: input, description: message)) { try Quantity(parsing: input) }
    }

    @Test func comparesByValue() throws {
        #expect(try Quantity(parsing: "1Gi") == Quantity(parsing: "1024Mi"))
        #expect(try Quantity(parsing: "1") == Quantity(parsing: "1000m"))
        #expect(try Quantity(parsing: "500m") < Quantity(parsing: "1"))
    }

    @Test func invalidQuantityInManifestNamesFieldAndRegex() {
        let file = ManifestDecoder().decode(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: c
                image: nginx
                resources:
                  limits: {cpu: "x"}
            """, fileName: "q.yaml")
        #expect(
            file.errorMessages == [
                "q.yaml: spec.containers[0].resources.limits[cpu]: Invalid value: \"x\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            ])
    }

    @Test func numericYAMLQuantities() throws {
        let file = ManifestDecoder().decode(
            """
            apiVersion: v1
            kind: Pod
            metadata: {name: p}
            spec:
              containers:
              - name: c
                image: nginx
                resources:
                  requests: {cpu: 0.5, memory: 1e3}
                  limits: {cpu: 1}
            """, fileName: "q.yaml")
        guard case .pod(let pod) = try #require(file.objects.first) else { return }
        let resources = try #require(pod.spec.containers.first?.resources)
        #expect(resources.requests?["cpu"]?.milliValue == 500)
        #expect(resources.requests?["memory"]?.value == 1000)
        #expect(resources.limits?["cpu"]?.milliValue == 1000)
    }
}
