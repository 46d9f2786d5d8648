import Testing

@Test func placeholderOCISpecTests() { #expect(Bool(true)) }
