import Foundation
import Glibc
import Testing

@testable import PodSecurity

@Suite struct VolumeOwnershipTests {
    static func mode(_ path: String) -> (mode: mode_t, gid: UInt32) {
        var st = stat()
        lstat(path, &st)
        return (st.st_mode & 0o7777, st.st_gid)
    }

    @Test(.enabled(if: getuid() == 0, "chown to another group needs root"))
    func fsGroupOwnershipAndSetgid() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("podsec-vol-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        chmod(root, 0o755)
        chmod(root + "/sub", 0o700)
        try "x".write(toFile: root + "/sub/file", atomically: true, encoding: .utf8)
        chmod(root + "/sub/file", 0o600)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "/etc/passwd")
        let passwdBefore = Self.mode("/etc/passwd")

        #expect(try VolumeOwnership.apply(fsGroup: 2000, to: root))
        #expect(Self.mode(root) == (0o2775, 2000))
        #expect(Self.mode(root + "/sub") == (0o2770, 2000))
        #expect(Self.mode(root + "/sub/file") == (0o660, 2000))
        #expect(Self.mode("/etc/passwd") == passwdBefore)  // symlinks are not followed

        #expect(try VolumeOwnership.apply(fsGroup: 2000, to: root, changePolicy: "OnRootMismatch") == false)
        #expect(try VolumeOwnership.apply(fsGroup: 3000, to: root, changePolicy: "OnRootMismatch"))
        #expect(Self.mode(root + "/sub/file").gid == 3000)
        #expect(throws: VolumeOwnership.Failure.self) { try VolumeOwnership.apply(fsGroup: 1, to: root + "/missing") }
    }
}
