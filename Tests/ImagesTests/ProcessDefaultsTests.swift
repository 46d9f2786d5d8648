import Foundation
import Testing

@testable import Images

@Suite struct ProcessDefaultsTests {
    static let image = ImageConfig(
        User: "app", Env: ["PATH=/usr/bin:/bin", "FROM_IMAGE=1", "SHARED=image"], Entrypoint: ["/entry"], Cmd: ["--default"], WorkingDir: "/srv")

    /// Kubernetes: command replaces Entrypoint (and drops Cmd); args replace Cmd.
    @Test(arguments: [
        ([String](), [String](), ["/entry", "--default"]),
        ([], ["--pod-arg"], ["/entry", "--pod-arg"]),
        (["/bin/sh"], [], ["/bin/sh"]),
        (["/bin/sh"], ["-c", "true"], ["/bin/sh", "-c", "true"]),
    ])
    func commandAndArgs(command: [String], args: [String], expected: [String]) throws {
        try withRootfs { root in
            let process = try Self.image.processDefaults(for: ContainerProcessSpec(command: command, args: args), rootfs: root)
            #expect(process.args == expected)
        }
    }

    @Test func envMergedUnderPodEnv() throws {
        try withRootfs { root in
            let spec = ContainerProcessSpec(env: [("SHARED", "pod"), ("POD_ONLY", "x")])
            let process = try Self.image.processDefaults(for: spec, rootfs: root)
            #expect(process.env == ["PATH=/usr/bin:/bin", "FROM_IMAGE=1", "SHARED=pod", "POD_ONLY=x"])
            #expect(process.workingDir == "/srv")
            let overridden = try Self.image.processDefaults(for: ContainerProcessSpec(workingDir: "/tmp"), rootfs: root)
            #expect(overridden.workingDir == "/tmp")
        }
    }

    @Test(arguments: [
        ("", UInt32(0), UInt32(0), [UInt32]()),
        ("app", 1000, 1000, [100]),
        ("app:users", 1000, 100, []),
        ("1000", 1000, 1000, [100]),
        ("1000:5", 1000, 5, [100]),
        ("4242", 4242, 0, []),
        ("daemon:tty", 1, 5, []),
    ])
    func resolvesUsers(user: String, uid: UInt32, gid: UInt32, groups: [UInt32]) throws {
        try withRootfs { root in
            var config = Self.image
            config.User = user
            let process = try config.processDefaults(for: ContainerProcessSpec(), rootfs: root)
            #expect(process.uid == uid)
            #expect(process.gid == gid)
            #expect(process.additionalGids == groups)
        }
    }

    @Test func runAsUserOverridesImageUser() throws {
        try withRootfs { root in
            let process = try Self.image.processDefaults(for: ContainerProcessSpec(runAsUser: 1, runAsGroup: 7), rootfs: root)
            #expect(process.uid == 1 && process.gid == 7)
        }
    }

    @Test(arguments: [("nobody-here", ProcessConfigError.unknownUser("nobody-here")), ("app:nogroup-here", .unknownGroup("nogroup-here"))])
    func unknownNamesFail(user: String, expected: ProcessConfigError) throws {
        try withRootfs { root in
            var config = Self.image
            config.User = user
            #expect(throws: expected) { try config.processDefaults(for: ContainerProcessSpec(), rootfs: root) }
        }
    }

    @Test func noCommandFails() throws {
        try withRootfs { root in
            #expect(throws: ProcessConfigError.noCommand) { try ImageConfig().processDefaults(for: ContainerProcessSpec(), rootfs: root) }
        }
    }

    /// /etc/passwd as a symlink pointing outside the rootfs is read inside it, never from the host.
    @Test func passwdSymlinkStaysInsideRootfs() throws {
        try withRootfs { root in
            try FileManager.default.removeItem(atPath: root + "/etc/passwd")
            try FileManager.default.createSymbolicLink(atPath: root + "/etc/passwd", withDestinationPath: "../../../../../../etc/passwd-inside")
            try "inside:x:77:77::/:/bin/sh\n".write(toFile: root + "/etc/passwd-inside", atomically: true, encoding: .utf8)
            var config = Self.image
            config.User = "inside"
            #expect(try config.processDefaults(for: ContainerProcessSpec(), rootfs: root).uid == 77)
            config.User = "root"
            #expect(throws: ProcessConfigError.unknownUser("root")) { try config.processDefaults(for: ContainerProcessSpec(), rootfs: root) }
        }
    }

    func withRootfs(_ body: (String) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try """
        root:x:0:0:root:/root:/bin/sh
        daemon:x:1:1:daemon:/usr/sbin:/bin/false
        app:x:1000:1000:app:/home:/bin/sh
        """.write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try """
        root:x:0:
        daemon:x:1:
        tty:x:5:
        users:x:100:app
        app:x:1000:
        """.write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        try body(root)
    }
}
