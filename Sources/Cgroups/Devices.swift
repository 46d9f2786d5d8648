// Device cgroup rules (OCI `linux.resources.devices`) and their emulation.
//
// Both cgroup versions go through `DeviceEmulator`, which models what the v1 devices controller does with a
// sequence of allow/deny writes: a default policy (allow-all "blacklist" or deny-all "whitelist") plus
// exceptions keyed by (type, major, minor). v1 writes the minimal transition from the cgroup's current
// `devices.list` to the target; v2 compiles the target's exceptions to an eBPF program (DeviceFilter.swift).
// Using one model for both means a rule list means the same thing on both versions, as in runc.

/// Device type of a rule: `a` (all), `b` (block) or `c` (char).
public enum DeviceRuleType: Character, Sendable, Hashable, Comparable {
    case all = "a"
    case block = "b"
    case char = "c"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A set of device accesses (`r` read, `w` write, `m` mknod).
public struct DeviceAccess: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = DeviceAccess(rawValue: 1)
    public static let write = DeviceAccess(rawValue: 2)
    public static let mknod = DeviceAccess(rawValue: 4)
    public static let all: DeviceAccess = [.read, .write, .mknod]

    /// Parses "rwm" and any subset in any order; nil for other letters or an empty string.
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        var access: DeviceAccess = []
        for letter in text {
            switch letter {
            case "r": access.insert(.read)
            case "w": access.insert(.write)
            case "m": access.insert(.mknod)
            default: return nil
            }
        }
        self = access
    }

    /// Always in "rwm" order, as the kernel prints it.
    public var description: String {
        (contains(.read) ? "r" : "") + (contains(.write) ? "w" : "") + (contains(.mknod) ? "m" : "")
    }
}

/// One OCI device cgroup rule. `nil` major/minor is the wildcard `*`.
public struct DeviceRule: Sendable, Hashable, CustomStringConvertible {
    public var allow: Bool
    public var type: DeviceRuleType
    public var major: Int64?
    public var minor: Int64?
    public var access: DeviceAccess

    public init(allow: Bool, type: DeviceRuleType, major: Int64? = nil, minor: Int64? = nil, access: DeviceAccess) {
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`, `c 136:* rwm`, `a *:* rwm`.
    public var cgroupLine: String {
        "\(type.rawValue) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") \(access)"
    }

    public var description: String { (allow ? "allow " : "deny ") + cgroupLine }
}

/// Which devices an exception covers.
struct DeviceKey: Hashable, Comparable {
    var type: DeviceRuleType
    var major: Int64?
    var minor: Int64?

    /// runc's order (major, minor, type) with the wildcard first, so v1 writes are deterministic.
    static func < (lhs: Self, rhs: Self) -> Bool {
        let l = (lhs.major ?? -1, lhs.minor ?? -1, lhs.type.rawValue)
        let r = (rhs.major ?? -1, rhs.minor ?? -1, rhs.type.rawValue)
        return l < r
    }

    func rule(allow: Bool, access: DeviceAccess) -> DeviceRule {
        DeviceRule(allow: allow, type: type, major: major, minor: minor, access: access)
    }
}

/// A model of one v1 devices cgroup: default policy plus exceptions (the kernel's `dev_cgroup`).
struct DeviceEmulator: Equatable {
    /// true: everything allowed except the exceptions ("a *:* rwm" in devices.list); false: only the exceptions.
    var defaultAllow: Bool
    var exceptions: [DeviceKey: DeviceAccess]

    /// A fresh deny-all model (what a rule list is applied to: it starts with nothing allowed, as runc's).
    init(defaultAllow: Bool = false, exceptions: [DeviceKey: DeviceAccess] = [:]) {
        self.defaultAllow = defaultAllow
        self.exceptions = exceptions
    }

    /// The model after applying `rules` in order to a deny-all start.
    init(rules: [DeviceRule]) throws(CgroupError) {
        self.init()
        for rule in rules { try apply(rule) }
    }

    /// Parses `devices.list`: either `a *:* rwm` (allow all) or the allowed exceptions, one per line.
    init(devicesList text: String, path: String) throws(CgroupError) {
        self.init()
        for line in text.split(separator: "\n") where !line.allSatisfy(\.isWhitespace) {
            guard let rule = Self.parseLine(String(line), allow: true) else {
                throw CgroupError(operation: "read", path: path, detail: "unparsable devices.list line '\(line)'")
            }
            try apply(rule)
        }
    }

    /// `<type> <major|*>:<minor|*> <access>`.
    static func parseLine(_ line: String, allow: Bool) -> DeviceRule? {
        let fields = line.split(separator: " ")
        guard fields.count == 3, fields[0].count == 1, let typeLetter = fields[0].first,
            let type = DeviceRuleType(rawValue: typeLetter), let access = DeviceAccess(String(fields[2]))
        else { return nil }
        let numbers = fields[1].split(separator: ":", omittingEmptySubsequences: false)
        guard numbers.count == 2 else { return nil }
        func number(_ text: Substring) -> Int64?? {
            if text == "*" { return .some(nil) }
            guard let value = Int64(text), value >= 0 else { return nil }
            return .some(value)
        }
        guard let major = number(numbers[0]), let minor = number(numbers[1]) else { return nil }
        return DeviceRule(allow: allow, type: type, major: major, minor: minor, access: access)
    }

    /// True when the model is allow-all with deny exceptions.
    var isBlacklist: Bool { defaultAllow }

    /// One allow/deny write. A rule of type `a` resets the model to allow-all or deny-all, as in the kernel.
    mutating func apply(_ rule: DeviceRule) throws(CgroupError) {
        if rule.type == .all {
            self = DeviceEmulator(defaultAllow: rule.allow)
            return
        }
        let key = DeviceKey(type: rule.type, major: rule.major, minor: rule.minor)
        // An allow on a blacklist removes a deny exception; a deny on a whitelist removes an allow exception.
        if rule.allow == defaultAllow {
            try remove(key, rule.access)
        } else {
            exceptions[key, default: []].formUnion(rule.access)
        }
    }

    /// Removes `access` from the exception `key`. The kernel silently ignores a removal that only a wider
    /// (wildcard) exception covers, which would leave access the caller believes is gone; refused instead (runc
    /// does the same).
    private mutating func remove(_ key: DeviceKey, _ access: DeviceAccess) throws(CgroupError) {
        let wider = [
            DeviceKey(type: key.type, major: nil, minor: key.minor), DeviceKey(type: key.type, major: key.major, minor: nil),
            DeviceKey(type: key.type, major: nil, minor: nil),
        ]
        for candidate in wider where candidate != key {
            if let held = exceptions[candidate], !held.intersection(access).isEmpty {
                let rule = key.rule(allow: !defaultAllow, access: access)
                throw CgroupError(
                    operation: "apply", path: "linux.resources.devices",
                    detail: "rule '\(rule)' cannot punch a hole in the wildcard rule '\(candidate.rule(allow: !defaultAllow, access: held).cgroupLine)'")
            }
        }
        let left = (exceptions[key] ?? []).subtracting(access)
        exceptions[key] = left.isEmpty ? nil : left
    }

    /// The exceptions in runc's deterministic order, as rules with the non-default action.
    var orderedRules: [DeviceRule] {
        exceptions.keys.sorted().compactMap { key in
            exceptions[key].map { key.rule(allow: !defaultAllow, access: $0) }
        }
    }

    /// The writes that take a cgroup from `self` to `target` (runc's devices emulator `Transition`).
    ///
    /// `devices.list` of a blacklist does not show its deny exceptions, so from a blacklist (and whenever the
    /// default differs) the transition starts with the disruptive `a` rule that resets the cgroup to the target's
    /// default; then exceptions the target lacks are revoked and missing ones granted.
    func transition(to target: DeviceEmulator) -> [DeviceRule] {
        var rules: [DeviceRule] = []
        var current = exceptions
        if isBlacklist || defaultAllow != target.defaultAllow {
            rules.append(DeviceRule(allow: target.defaultAllow, type: .all, access: .all))
            current = [:]
        }
        for key in current.keys.sorted() {
            let held = current[key] ?? []
            let lost = held.subtracting(target.exceptions[key] ?? [])
            // Undo the exception: the default action, for the permissions the target does not keep.
            if !lost.isEmpty { rules.append(key.rule(allow: target.defaultAllow, access: lost)) }
        }
        for key in target.exceptions.keys.sorted() {
            let gained = (target.exceptions[key] ?? []).subtracting(current[key] ?? [])
            if !gained.isEmpty { rules.append(key.rule(allow: !target.defaultAllow, access: gained)) }
        }
        return rules
    }
}
