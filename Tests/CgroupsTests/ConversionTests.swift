import Testing

@Test func placeholderCgroupsTests() { #expect(Bool(true)) }
