import Testing

@Test func placeholderSecurityTests() { #expect(Bool(true)) }
