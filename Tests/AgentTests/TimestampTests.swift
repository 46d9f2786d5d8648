// The agent's own time formats (no ICU formatters): volume version directories and the shim's RFC 3339 times.
import Foundation
import Testing

@testable import Kubelet

@Suite struct TimestampTests {
    @Test(arguments: [
        (0, "1970_01_01_00_00_00."),
        (1_796_078_799, "2026_11_30_22_46_39."),
        (951_782_400, "2000_02_29_00_00_00."),
    ])
    func volumeVersionStamp(seconds: Int, expected: String) {
        #expect(AtomicWriter.versionTimestamp(time_t(seconds)) == expected)
    }

    @Test(arguments: [
        ("2026-11-29T22:46:39Z", 1_795_992_399.0),
        ("2026-11-29T22:46:39.5Z", 1_795_992_399.5),
        ("2026-11-29T22:46:39.123456789Z", 1_795_992_399.123456789),
    ])
    func shimTimes(text: String, epoch: Double) throws {
        let date = try #require(RFC3339.parse(text))
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_001)
    }

    @Test func garbageIsNotATime() {
        #expect(RFC3339.parse("yesterday") == nil)
    }
}
