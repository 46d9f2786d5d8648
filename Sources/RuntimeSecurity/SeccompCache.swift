import FoundationEssentials
import Glibc
import OCISpec

// On-disk cache of compiled filters (crun does the same): compiling the ~440-name default profile costs
// milliseconds on every container start; reading a cached program costs one small file read.
//
// Key: FNV-1a 64 over the canonical encoding of the profile (JSONEncoder with sorted keys) plus the cache format
// version, the libseccomp version (its output may change between versions) and the unknown-syscall mode.
// FNV-1a and not SHA-256: swift-crypto is not a dependency of this module and the cache needs no collision
// resistance, because each file stores the full key and a hit requires the stored key to match byte for byte; a
// collision only costs a recompile. The cache directory must be writable by root only (the runtime's state
// directory): whoever can write it can choose the filter.
//
// File layout: "MKSECBPF" magic, u32 version, u32 flags, u32 key length, u32 filter length, key bytes, filter bytes
// (host byte order). Written to a temporary file in the same directory and renamed, so readers never see a
// partial file.

extension Seccomp {
    static let cacheFormatVersion: UInt32 = 1
    static let cacheMagic: [UInt8] = Array("MKSECBPF".utf8)

    /// `compile(_:ignoringUnknownSyscalls:)` with an on-disk cache in `cacheDirectory` (created with mode 0700 if
    /// missing). A cache hit returns the stored program (`cacheHit == true`). A cache that cannot be read or written
    /// never fails the compile: the problem is reported in `SeccompProgram.cacheNote`.
    public static func compile(
        _ profile: OCI.Seccomp, cacheDirectory: String, ignoringUnknownSyscalls: Bool = false
    ) throws(SecurityError) -> SeccompProgram {
        let key: [UInt8]
        do {
            key = try cacheKey(profile, ignoringUnknownSyscalls: ignoringUnknownSyscalls)
        } catch {
            var program = try compile(profile, ignoringUnknownSyscalls: ignoringUnknownSyscalls)
            program.cacheNote = "seccomp cache: cannot encode the profile: \(error)"
            return program
        }
        let path = cacheDirectory + "/" + hex(fnv1a64(key)) + ".bpf"
        if let cached = readCache(path: path, key: key) {
            return cached
        }
        var program = try compile(profile, ignoringUnknownSyscalls: ignoringUnknownSyscalls)
        program.cacheNote = writeCache(program, key: key, directory: cacheDirectory, path: path)
        return program
    }

    /// The bytes hashed and stored as the cache key.
    static func cacheKey(_ profile: OCI.Seccomp, ignoringUnknownSyscalls: Bool) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = "minikubelet-seccomp-v\(cacheFormatVersion) libseccomp-\(libraryVersion) unknown-\(ignoringUnknownSyscalls ? "skip" : "fail")\n"
        return Array(header.utf8) + Array(try encoder.encode(profile))
    }

    /// FNV-1a, 64 bit.
    static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func readCache(path: String, key: [UInt8]) -> SeccompProgram? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 24, st.st_size < 1 << 24 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress.map { $0 + done }, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        func u32(_ o: Int) -> UInt32 {
            UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        }
        guard Array(bytes[0..<8]) == cacheMagic, u32(8) == cacheFormatVersion else { return nil }
        let flags = u32(12)
        let keyLength = Int(u32(16))
        let filterLength = Int(u32(20))
        guard 24 + keyLength + filterLength == bytes.count, filterLength > 0, filterLength % 8 == 0 else { return nil }
        guard keyLength == key.count, bytes[24..<(24 + keyLength)].elementsEqual(key) else { return nil }
        let filter = Array(bytes[(24 + keyLength)...])
        return SeccompProgram(filter: filter, flags: flags, instructionCount: filter.count / 8, cacheHit: true)
    }

    /// Writes the cache file atomically; returns a note on failure.
    static func writeCache(_ program: SeccompProgram, key: [UInt8], directory: String, path: String) -> String? {
        // The parent too (`<state root>/.cache`): without it no program was ever cached.
        var made = mkdir(directory, 0o700) == 0 || errno == EEXIST
        if !made && errno == ENOENT, let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            let parent = String(directory[..<slash])
            made = (mkdir(parent, 0o700) == 0 || errno == EEXIST) && (mkdir(directory, 0o700) == 0 || errno == EEXIST)
        }
        if !made {
            return "seccomp cache: mkdir \(directory): \(errorText(-errno))"
        }
        var bytes = cacheMagic
        func put32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        put32(cacheFormatVersion)
        put32(program.flags)
        put32(UInt32(key.count))
        put32(UInt32(program.filter.count))
        bytes += key
        bytes += program.filter

        // O_EXCL with a random name instead of mkostemp (not exported by Swift's Glibc module); O_CLOEXEC so that a
        // concurrent fork in the runtime does not inherit it.
        let tempPath = "\(path).tmp.\(getpid()).\(hex(UInt64.random(in: 0...UInt64.max)))"
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "seccomp cache: create \(tempPath): \(errorText(-errno))" }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + done }, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let note = "seccomp cache: write \(tempPath): \(errorText(-errno))"
                close(fd)
                unlink(tempPath)
                return note
            }
            done += n
        }
        close(fd)
        guard rename(tempPath, path) == 0 else {
            let note = "seccomp cache: rename to \(path): \(errorText(-errno))"
            unlink(tempPath)
            return note
        }
        return nil
    }
}
