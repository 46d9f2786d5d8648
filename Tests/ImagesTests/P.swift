import Testing
@testable import Images
@Test func placeholder() {}
