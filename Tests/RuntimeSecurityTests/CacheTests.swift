import Glibc
import OCISpec
import RuntimeSecurity
import Testing

func makeTempDirectory(_ label: String) -> String {
    var template = Array("/tmp/minikubelet-security-\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { buf in buf.baseAddress.flatMap { mkdtemp($0) } }
    guard let made else { return "/tmp/minikubelet-security-\(label)-\(getpid())" }
    return String(cString: made)
}

func removeTree(_ path: String) {
    // Cleanup of a directory the test created under /tmp.
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = (["/bin/rm", "-rf", path] as [String]).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    if posix_spawn(&pid, "/bin/rm", nil, nil, argv, environ) == 0 {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

struct CacheTests {
    static let profile = DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities)

    /// The runtime's cache is `<state root>/.cache/seccomp`, and nothing else creates `.cache`.
    @Test func cacheDirectoryParentIsCreated() throws {
        let root = makeTempDirectory("cache-parent")
        defer { removeTree(root) }
        let dir = root + "/.cache/seccomp"
        let first = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(first.cacheNote == nil)
        #expect(try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true).cacheHit)
        var st = stat()
        #expect(stat(root + "/.cache", &st) == 0 && st.st_mode & 0o777 == 0o700)
    }

    @Test func cacheHitReturnsIdenticalBytes() throws {
        let parent = makeTempDirectory("cache")
        let dir = parent + "/nested"  // created by compile
        defer { removeTree(parent) }
        let direct = try Seccomp.compile(Self.profile, ignoringUnknownSyscalls: true)
        let first = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(!first.cacheHit)
        #expect(first.cacheNote == nil)
        let second = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(second.cacheHit)
        #expect(second.filter == first.filter)
        #expect(second.filter == direct.filter)
        #expect(second.flags == first.flags)
        #expect(second.instructionCount == first.instructionCount)
    }

    @Test func differentProfilesDoNotShareEntries() throws {
        let dir = makeTempDirectory("cache2")
        defer { removeTree(dir) }
        let other = DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities + ["CAP_SYS_ADMIN"])
        _ = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        let a = try Seccomp.compile(other, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(!a.cacheHit)
        let b = try Seccomp.compile(other, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(b.cacheHit)
        #expect(b.filter == (try Seccomp.compile(other, ignoringUnknownSyscalls: true)).filter)
        // The unknown-syscall mode is part of the key.
        let strict = allowList(["read", "write"])
        let c = try Seccomp.compile(strict, cacheDirectory: dir)
        let d = try Seccomp.compile(strict, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(!c.cacheHit && !d.cacheHit)
    }

    @Test func corruptEntryIsRecompiled() throws {
        let dir = makeTempDirectory("cache3")
        defer { removeTree(dir) }
        let first = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        // Truncate every cache file in the directory.
        let d = try #require(opendir(dir))
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".bpf") { #expect(truncate(dir + "/" + name, 30) == 0) }
        }
        closedir(d)
        let again = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        #expect(!again.cacheHit)
        #expect(again.filter == first.filter)
    }

    @Test func unwritableCacheIsANoteNotAnError() throws {
        let program = try Seccomp.compile(allowList(["read"]), cacheDirectory: "/proc/minikubelet-no-such-dir")
        #expect(!program.cacheHit)
        #expect(program.cacheNote?.contains("seccomp cache") == true)
        #expect(!program.filter.isEmpty)
    }

    /// Prints compile times for the RuntimeDefault profile (cold, and from the cache).
    @Test func timing() throws {
        let dir = makeTempDirectory("timing")
        defer { removeTree(dir) }
        let clock = ContinuousClock()
        let rounds = 20
        var program = try Seccomp.compile(Self.profile, ignoringUnknownSyscalls: true)
        let cold = clock.measure {
            for _ in 0..<rounds { program = (try? Seccomp.compile(Self.profile, ignoringUnknownSyscalls: true)) ?? program }
        }
        _ = try Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true)
        var hits = 0
        let cached = clock.measure {
            for _ in 0..<rounds {
                if (try? Seccomp.compile(Self.profile, cacheDirectory: dir, ignoringUnknownSyscalls: true))?.cacheHit == true { hits += 1 }
            }
        }
        let build = clock.measure { for _ in 0..<rounds { _ = DefaultProfiles.seccomp(capabilities: DefaultProfiles.capabilities) } }
        #expect(hits == rounds)
        print(
            "seccomp timing (RuntimeDefault, \(program.instructionCount) instructions, \(program.skippedSyscalls.count) names skipped): "
                + "compile \(cold / rounds), cached \(cached / rounds), profile build \(build / rounds)")
        print("skipped by libseccomp \(Seccomp.libraryVersion): \(program.skippedSyscalls.map { $0.split(separator: " ").last.map(String.init) ?? $0 })")
    }
}
