import Foundation

/// `iptables-save` output parsed into tables → chains → rules, and a normal form for rules, so desired and actual
/// rules compare structurally: iptables-save reorders options (`-p tcp` before matches), adds `/32`, prints
/// `--or-mark` as `--set-xmark`, rounds probabilities, adds `--mask`/`--rsource` and `--reject-with` defaults.
public struct IPTablesDump: Hashable, Sendable {
    /// table → chain → rules (text after `-A <chain> `), chains in listed order.
    public var tables: [String: [String: [String]]]
    public var chainOrder: [String: [String]]

    public init(tables: [String: [String: [String]]] = [:], chainOrder: [String: [String]] = [:]) {
        self.tables = tables
        self.chainOrder = chainOrder
    }

    public static func parse(_ text: String) -> IPTablesDump {
        var dump = IPTablesDump()
        var table = ""
        text.enumerateLines { raw, _ in
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("*") {
                table = String(line.dropFirst())
                dump.tables[table] = dump.tables[table] ?? [:]
            } else if line.hasPrefix(":") {
                let name = String(line.dropFirst().prefix { $0 != " " })
                if dump.tables[table]?[name] == nil {
                    dump.tables[table, default: [:]][name] = []
                    dump.chainOrder[table, default: []].append(name)
                }
            } else if line.hasPrefix("-A ") {
                let rest = line.dropFirst(3)
                let chain = String(rest.prefix { $0 != " " })
                let rule = String(rest.dropFirst(chain.count).drop { $0 == " " })
                dump.tables[table, default: [:]][chain, default: []].append(rule)
            }
        }
        return dump
    }

    public func chains(_ table: String) -> [String: [String]] { tables[table] ?? [:] }

    /// Number of rules (`-A` lines) in every table: what the iptables-wrapper compares between backends.
    public var ruleCount: Int { tables.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } } }
}

public enum IPTablesNormalizer {
    /// Splits a rule like a shell would (double quotes, backslash escapes inside them).
    public static func tokenize(_ rule: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inToken = false
        var quoted = false
        var iterator = rule.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\\", let next = iterator.next() {
                    current.append(next)
                } else if c == "\"" {
                    quoted = false
                } else {
                    current.append(c)
                }
            } else if c == "\"" {
                quoted = true
                inToken = true
            } else if c == " " || c == "\t" {
                if inToken { tokens.append(current) }
                current = ""
                inToken = false
            } else {
                current.append(c)
                inToken = true
            }
        }
        if inToken { tokens.append(current) }
        return tokens
    }

    static let generic: [String: String] = [
        "-s": "s", "--source": "s", "-d": "d", "--destination": "d", "-i": "i", "--in-interface": "i", "-o": "o", "--out-interface": "o", "-p": "p",
        "--protocol": "p",
    ]

    static func hex(_ text: String) -> String {
        // 0x00004000 → 0x4000; a mark/mask pair per part.
        text.split(separator: "/", omittingEmptySubsequences: false).map { part -> String in
            guard part.hasPrefix("0x"), let value = UInt64(part.dropFirst(2), radix: 16) else { return String(part) }
            return "0x" + String(value, radix: 16)
        }.joined(separator: "/")
    }

    /// A canonical string for a rule: generic options first (fixed order), then each match module with its options
    /// sorted, then the target with its options, with iptables-save's rewrites undone.
    public static func normalize(_ rule: String) -> String {
        let tokens = tokenize(rule)
        var genericParts: [String: String] = [:]
        var modules: [(String, [[String]])] = []
        var target: (String, [[String]])?
        var index = 0
        var negate = false
        while index < tokens.count {
            let token = tokens[index]
            if token == "!" {
                negate = true
                index += 1
                continue
            }
            if let key = generic[token], index + 1 < tokens.count {
                var value = tokens[index + 1]
                if key == "s" || key == "d", !value.contains("/") { value += "/32" }
                genericParts[key] = (negate ? "! " : "") + "-\(key) " + value
                negate = false
                index += 2
                continue
            }
            if token == "-m" || token == "--match", index + 1 < tokens.count {
                modules.append((tokens[index + 1], []))
                index += 2
                continue
            }
            if token == "-j" || token == "--jump" || token == "-g", index + 1 < tokens.count {
                target = (tokens[index + 1], [])
                index += 2
                continue
            }
            // An option of the current module or target, with its values up to the next option.
            var group = [(negate ? "! " : "") + token]
            negate = false
            index += 1
            while index < tokens.count, !tokens[index].hasPrefix("-") || Double(tokens[index]) != nil, tokens[index] != "!" {
                group.append(tokens[index])
                index += 1
            }
            if target != nil {
                target?.1.append(group)
            } else if !modules.isEmpty {
                modules[modules.count - 1].1.append(group)
            } else {
                modules.append(("", [group]))
            }
        }
        var out: [String] = ["s", "d", "i", "o", "p"].compactMap { genericParts[$0] }
        for (name, groups) in modules {
            let cleaned = groups.compactMap { normalizeOption(module: name, $0) }.sorted()
            out.append(([name.isEmpty ? "" : "-m \(name)"] + cleaned).filter { !$0.isEmpty }.joined(separator: " "))
        }
        if let (name, groups) = target {
            var options = groups.compactMap { normalizeOption(module: name, $0) }
            if name == "MARK" {
                options = options.map { option in
                    if option.hasPrefix("--or-mark ") {
                        let mark = String(option.dropFirst("--or-mark ".count))
                        return "--set-xmark \(mark)/\(mark)"
                    }
                    if option.hasPrefix("--xor-mark ") { return "--set-xmark \(option.dropFirst("--xor-mark ".count))/0x0" }
                    return option
                }
            }
            out.append((["-j \(name)"] + options.sorted()).joined(separator: " "))
        }
        return out.joined(separator: " ")
    }

    static func normalizeOption(module: String, _ group: [String]) -> String? {
        let flag = group[0]
        var values = Array(group.dropFirst())
        switch (module, flag) {
        case ("recent", "--mask"): if values == ["255.255.255.255"] { return nil }
        case ("recent", "--rsource"): return nil
        case ("REJECT", "--reject-with"): if values == ["icmp-port-unreachable"] { return nil }
        case ("statistic", "--probability"):
            if let value = values.first.flatMap(Double.init) { values = [String(format: "%.5f", value)] }
        default: break
        }
        values = values.map { $0.hasPrefix("0x") ? hex($0) : $0 }
        return ([flag] + values).joined(separator: " ")
    }
}
