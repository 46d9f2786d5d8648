// Parsers for /proc/self/cgroup and /proc/self/mountinfo (pure functions, fixture-tested).

/// One line of /proc/<pid>/cgroup: `hierarchy-id:controller,list:/path`.
struct ProcCgroupEntry: Equatable, Sendable {
    var hierarchyID: Int
    /// Empty for the v2 line (`0::/path`); `name=systemd` style entries are kept verbatim.
    var controllers: [String]
    var path: String
}

func parseProcCgroup(_ text: String) -> [ProcCgroupEntry] {
    // Over UTF-8 bytes: String's Character-level split (grapheme breaking) was a visible part of `create`.
    Array(text.utf8).split(separator: UInt8(ascii: "\n")).compactMap { line in
        // The path may itself contain ':', so split only on the first two.
        let parts = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let id = Int(utf8String(parts[0])) else { return nil }
        let controllers = parts[1].split(separator: UInt8(ascii: ",")).map(utf8String)
        return ProcCgroupEntry(hierarchyID: id, controllers: controllers, path: utf8String(parts[2]))
    }
}

func utf8String(_ bytes: ArraySlice<UInt8>) -> String {
    String(decoding: bytes, as: UTF8.self)
}

extension [ProcCgroupEntry] {
    /// The process's own v1 cgroup for `controller` (e.g. "memory", "name=systemd").
    func v1Path(for controller: String) -> String? {
        first { $0.hierarchyID != 0 && $0.controllers.contains(controller) }?.path
    }

    /// The process's own v2 cgroup (the `0::` line).
    var v2Path: String? {
        first { $0.hierarchyID == 0 && $0.controllers.isEmpty }?.path
    }
}

/// The fields of one /proc/self/mountinfo line this module needs.
struct MountInfoEntry: Equatable, Sendable {
    /// The directory of the mounted filesystem that is shown at `mountPoint` (field 4).
    var root: String
    var mountPoint: String
    var fsType: String
    /// Per-superblock options (after the source); for cgroup v1 these name the controllers.
    var superOptions: [String]
}

func parseMountInfo(_ text: String) -> [MountInfoEntry] {
    Array(text.utf8).split(separator: UInt8(ascii: "\n")).compactMap { line in
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        // id parent maj:min root mountpoint options [optional...] - fstype source superoptions
        guard fields.count >= 10, let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }), dash >= 6,
            dash + 3 < fields.count
        else { return nil }
        return MountInfoEntry(
            root: unescapeMountField(fields[3]),
            mountPoint: unescapeMountField(fields[4]),
            fsType: utf8String(fields[dash + 1]),
            superOptions: fields[dash + 3].split(separator: UInt8(ascii: ",")).map(utf8String)
        )
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
func unescapeMountField(_ field: ArraySlice<UInt8>) -> String {
    guard field.contains(UInt8(ascii: "\\")) else { return utf8String(field) }
    let utf8 = Array(field)
    var bytes: [UInt8] = []
    var i = 0
    while i < utf8.count {
        if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count, let byte = octalByte(utf8[(i + 1)...(i + 3)]) {
            bytes.append(byte)
            i += 4
        } else {
            bytes.append(utf8[i])
            i += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func octalByte(_ digits: ArraySlice<UInt8>) -> UInt8? {
    var value = 0
    for digit in digits {
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "7") else { return nil }
        value = value * 8 + Int(digit - UInt8(ascii: "0"))
    }
    return value < 256 ? UInt8(value) : nil
}

extension [MountInfoEntry] {
    /// The v1 hierarchy mount carrying `controller` (co-mounted controllers share one entry).
    func v1Mount(for controller: String) -> MountInfoEntry? {
        first { $0.fsType == "cgroup" && $0.superOptions.contains(controller) }
    }

    /// The cgroup2 mount, preferring `preferred` when several exist (containers may show more than one).
    func v2Mount(preferred: String) -> MountInfoEntry? {
        first { $0.fsType == "cgroup2" && $0.mountPoint == preferred } ?? first { $0.fsType == "cgroup2" }
    }
}

/// Parses "key value" lines (cpu.stat, memory.events, memory.oom_control, cpuacct.stat).
func parseFlatKeyed(_ text: String) -> [String: UInt64] {
    var result: [String: UInt64] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let value = UInt64(parts[1]) { result[String(parts[0])] = value }
    }
    return result
}
