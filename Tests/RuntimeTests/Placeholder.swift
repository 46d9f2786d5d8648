import Testing

@Test func placeholderRuntimeTests() { #expect(Bool(true)) }
