import Foundation
import Testing

@testable import Images

/// Hostile archives: nothing may be written outside the destination, and each gives a clear error.
@Suite struct UnpackSafetyTests {
    /// Builds a tar with Python's tarfile (which writes whatever names it is given).
    /// `entries`: (name, kind, payload): kind `f` file (payload = content), `d` dir, `l` symlink (payload = target),
    /// `h` hard link (payload = target).
    static func makeTar(_ path: String, _ entries: [(String, Character, String)], compression: String = "") throws {
        let spec = entries.map { "[\($0.0.debugDescription), \"\($0.1)\", \($0.2.debugDescription)]" }.joined(separator: ",")
        let script = """
            import io, sys, tarfile
            t = tarfile.open(sys.argv[1], "w\(compression.isEmpty ? "" : ":" + compression)", format=tarfile.PAX_FORMAT)
            for name, kind, payload in [\(spec)]:
                i = tarfile.TarInfo(name)
                if kind == "f":
                    data = payload.encode(); i.size = len(data); t.addfile(i, io.BytesIO(data))
                elif kind == "d":
                    i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
                elif kind == "l":
                    i.type = tarfile.SYMTYPE; i.linkname = payload; t.addfile(i)
                elif kind == "h":
                    i.type = tarfile.LNKTYPE; i.linkname = payload; t.addfile(i)
            t.close()
            """
        try script.write(toFile: path + ".py", atomically: true, encoding: .utf8)
        try Fixtures.sh("python3 '\(path).py' '\(path)'")
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var entries: [(String, Character, String)]
        var expectError: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "dotdot", entries: [("../../etc/x", "f", "pwned")], expectError: true),
        Case(name: "dotdot inside", entries: [("a/../../x", "f", "pwned")], expectError: true),
        Case(name: "absolute", entries: [("/etc/x", "f", "pwned")], expectError: true),
        Case(name: "symlink escape then write", entries: [("evil", "l", "../../../../../../.."), ("evil/x", "f", "pwned")], expectError: false),
        Case(name: "absolute symlink then write", entries: [("evil", "l", "/"), ("evil/x", "f", "pwned")], expectError: false),
        Case(
            name: "nested symlink escape", entries: [("d", "d", ""), ("d/up", "l", "../.."), ("d/up/up2", "l", "../.."), ("d/up/up2/x", "f", "pwned")],
            expectError: false),
        Case(name: "hard link outside", entries: [("h", "h", "../../outside/secret")], expectError: true),
        Case(name: "hard link via symlink", entries: [("evil", "l", "/"), ("h", "h", "evil/outside/secret")], expectError: true),
        Case(name: "whiteout escape", entries: [("../.wh.outside", "f", "")], expectError: true),
    ]

    @Test(arguments: cases, [UnpackMode.flatten, .overlay])
    func hostileArchivesStayInside(testCase: Case, mode: UnpackMode) async throws {
        try await Fixtures.withTempDir { dir in
            let outside = dir + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try "secret".write(toFile: outside + "/secret", atomically: true, encoding: .utf8)
            let dest = dir + "/a/b/c/dest"
            try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
            let tar = dir + "/layer.tar"
            try Self.makeTar(tar, testCase.entries)
            let before = try Fixtures.sh("find '\(dir)' -path '\(dest)' -prune -o -print | sort")
            do throws(ImageError) {
                try LayerUnpacker(layer: "test", mode: mode).unpack(archivePath: tar, into: dest)
                #expect(!testCase.expectError, "expected an error for \(testCase.name)")
            } catch {
                #expect(testCase.expectError, "unexpected error \(error)")
                #expect(error.description.contains("test"), "error names the layer: \(error)")
            }
            let after = try Fixtures.sh("find '\(dir)' -path '\(dest)' -prune -o -print | sort")
            #expect(before == after, "nothing written outside the destination")
            #expect(try String(contentsOfFile: outside + "/secret", encoding: .utf8) == "secret")
            if !testCase.expectError {
                // The write through the escaping symlink landed inside the destination.
                #expect(try Fixtures.sh("find '\(dest)' -name x -type f").contains(dest))
            }
        }
    }

    @Test(arguments: ["", "gz"])
    func truncatedArchiveFails(compression: String) async throws {
        try await Fixtures.withTempDir { dir in
            let tar = dir + "/layer.tar"
            try Self.makeTar(tar, [("big", "f", String(repeating: "x", count: 300_000)), ("after", "f", "y")], compression: compression)
            let size = try FileManager.default.attributesOfItem(atPath: tar)[.size] as? Int ?? 0
            try Fixtures.sh("truncate -s \(size / 2) '\(tar)'")
            try FileManager.default.createDirectory(atPath: dir + "/dest", withIntermediateDirectories: true)
            let error = #expect(throws: ImageError.self) {
                try LayerUnpacker(layer: "sha256:trunc", mode: .flatten).unpack(archivePath: tar, into: dir + "/dest")
            }
            #expect(error?.description.contains("sha256:trunc") == true)
        }
    }

    /// gzip, zstd (libarchive's, when built with it; Debian's is) and plain tar layers all unpack.
    @Test(arguments: ["", "gzip", "zstd"])
    func compressedLayers(compressor: String) async throws {
        try await Fixtures.withTempDir { dir in
            let tar = dir + "/layer.tar"
            try Self.makeTar(tar, [("etc", "d", ""), ("etc/hello", "f", "hi")])
            var path = tar
            if !compressor.isEmpty {
                try Fixtures.sh("\(compressor) -q -k '\(tar)'")
                path = tar + (compressor == "gzip" ? ".gz" : ".zst")
            }
            try FileManager.default.createDirectory(atPath: dir + "/dest", withIntermediateDirectories: true)
            try LayerUnpacker(layer: compressor, mode: .flatten).unpack(archivePath: path, into: dir + "/dest")
            #expect(try String(contentsOfFile: dir + "/dest/etc/hello", encoding: .utf8) == "hi")
        }
    }

    @Test func whiteoutsAndOpaqueInFlattenMode() async throws {
        try await Fixtures.withTempDir { dir in
            let dest = dir + "/dest"
            try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
            let lower = dir + "/lower.tar"
            try Self.makeTar(lower, [("a", "d", ""), ("a/old", "f", "1"), ("b", "f", "2"), ("c", "d", ""), ("c/keep", "f", "3")])
            let upper = dir + "/upper.tar"
            try Self.makeTar(upper, [("a", "d", ""), ("a/new", "f", "4"), ("a/.wh..wh..opq", "f", ""), (".wh.b", "f", ""), ("c/.wh.nothing", "f", "")])
            try LayerUnpacker(layer: "lower", mode: .flatten).unpack(archivePath: lower, into: dest)
            try LayerUnpacker(layer: "upper", mode: .flatten).unpack(archivePath: upper, into: dest)
            let files = try Fixtures.sh("cd '\(dest)' && find . | sort").split(separator: "\n")
            #expect(files == [".", "./a", "./a/new", "./c", "./c/keep"])
        }
    }
}

extension UnpackMode: CustomTestStringConvertible {
    public var testDescription: String { "\(self)" }
}
