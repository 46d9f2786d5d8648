import Foundation

/// One rule of the nftables proxier in structured form: rendered to nft text for `nft -f` (full syncs, the
/// benchmark's floor) and to netlink expressions for partial syncs (`NFTNetlinkBatch`). Only the shapes
/// `NFTRules.service` and the fingerprint chain produce exist.
public struct NFTRule: Hashable, Sendable {
    public enum Match: Hashable, Sendable {
        /// `ip saddr ADDR` or `ip saddr CIDR`.
        case sourceAddress(String)
        /// `ip saddr != CIDR`.
        case sourceAddressNot(String)
        /// `ip daddr ADDR`.
        case destinationAddress(String)
        /// `ip saddr @SET`.
        case sourceAddressInSet(String)
        /// `meta l4proto tcp|udp|sctp`.
        case l4proto(String)
        /// `fib saddr type local`.
        case sourceIsLocal
    }

    public enum Action: Hashable, Sendable {
        case jump(String)
        case goto(String)
        /// `update @SET { ip saddr }`: session affinity's record of the client.
        case updateSourceSet(String)
        /// `dnat to IP:PORT`.
        case dnat(ip: String, port: Int)
        /// `numgen random mod N vmap { 0 : goto C0 , ... }`: an anonymous constant verdict map.
        case randomGoto([String])
        /// `counter`: the fingerprint chain's only rule (its comment carries the state's fingerprint).
        case counter
    }

    public var matches: [Match]
    public var action: Action
    public var comment: String?

    public init(_ matches: [Match], _ action: Action, comment: String? = nil) {
        self.matches = matches
        self.action = action
        self.comment = comment
    }

    public init(_ action: Action, comment: String? = nil) { self.init([], action, comment: comment) }

    /// The rule as nft writes it (and as it was written before the structured form existed: the full sync text
    /// and therefore the benchmark's floor stay byte-identical).
    public var text: String {
        var parts: [String] = matches.map { match in
            switch match {
            case .sourceAddress(let address): "ip saddr \(address)"
            case .sourceAddressNot(let cidr): "ip saddr != \(cidr)"
            case .destinationAddress(let address): "ip daddr \(address)"
            case .sourceAddressInSet(let set): "ip saddr @\(set)"
            case .l4proto(let proto): "meta l4proto \(proto)"
            case .sourceIsLocal: "fib saddr type local"
            }
        }
        switch action {
        case .jump(let chain): parts.append("jump \(chain)")
        case .goto(let chain): parts.append("goto \(chain)")
        case .updateSourceSet(let set): parts.append("update @\(set) { ip saddr }")
        case .dnat(let ip, let port): parts.append("dnat to \(ip):\(port)")
        case .randomGoto(let chains):
            let arms = chains.enumerated().map { "\($0.offset) : goto \($0.element)" }.joined(separator: " , ")
            parts.append("numgen random mod \(chains.count) vmap { \(arms) }")
        case .counter: parts.append("counter")
        }
        if let comment { parts.append("comment \"\(comment)\"") }
        return parts.joined(separator: " ")
    }
}

/// A regular (non-base) chain of the proxier's table with its rules.
public struct NFTChain: Hashable, Sendable {
    public var name: String
    public var rules: [NFTRule]

    public init(_ name: String, _ rules: [NFTRule]) {
        self.name = name
        self.rules = rules
    }

    /// The rules as nft text.
    public var ruleTexts: [String] { rules.map(\.text) }
}

/// A session-affinity set: client addresses that expire `timeout` seconds after their last packet.
public struct NFTAffinitySet: Hashable, Sendable {
    public var name: String
    public var timeoutSeconds: Int

    public var text: String { "\(name) { type ipv4_addr ; flags dynamic,timeout ; timeout \(timeoutSeconds)s ; }" }
}

/// Binary forms of nft values, as nft 1.0.6 encodes them (checked against `nft --debug=netlink,mnl`).
public enum NFTEncoding {
    public struct InvalidValue: Error, CustomStringConvertible, Sendable {
        public var value: String
        public var expected: String
        public var description: String { "nftables: \(String(reflecting: value)) is not \(expected)" }
    }

    /// An IPv4 address in network byte order.
    public static func ipv4(_ text: String) throws -> [UInt8] {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { throw InvalidValue(value: text, expected: "an IPv4 address") }
        return withUnsafeBytes(of: address.s_addr) { Array($0) }
    }

    /// `ADDR/LEN` or a bare address (= /32).
    public static func ipv4Prefix(_ text: String) throws -> (address: [UInt8], length: Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let address = try ipv4(String(parts[0]))
        guard parts.count <= 2 else { throw InvalidValue(value: text, expected: "an IPv4 CIDR") }
        guard parts.count == 2 else { return (address, 32) }
        guard let length = Int(parts[1]), (1...32).contains(length) else { throw InvalidValue(value: text, expected: "an IPv4 CIDR") }
        return (address, length)
    }

    /// IP protocol numbers of the names the proxier writes.
    public static func inetProto(_ name: String) throws -> UInt8 {
        switch name {
        case "tcp": 6
        case "udp": 17
        case "sctp": 132
        default: throw InvalidValue(value: name, expected: "tcp, udp or sctp")
        }
    }

    /// A port in network byte order.
    public static func inetService(_ text: String) throws -> [UInt8] {
        guard let port = UInt16(text) else { throw InvalidValue(value: text, expected: "a port number") }
        return [UInt8(port >> 8), UInt8(port & 0xff)]
    }

    /// A concatenated set key (`a . b . c`): each field padded to a multiple of 4 bytes (nft's register
    /// layout), fields told apart by their form (dotted quad, protocol name, port number).
    public static func elementKey(_ key: String) throws -> [UInt8] {
        let (start, end) = try elementKeyRange(key)
        guard end == nil else { throw InvalidValue(value: key, expected: "a key without a slot range") }
        return start
    }

    /// A key that may hold a random-slot range (`10.96.0.1 . tcp . 80 . 0-32767`): its first and last key (nft's
    /// KEY and KEY_END of an interval map element; the slot as a big-endian u32, as nft converts numgen's value
    /// for interval lookups), or the key and nil without a range.
    /// With `slot`, a last field that is a plain number is an exact random slot: numgen's host-endian u32 (exact
    /// lookups are not converted).
    public static func elementKeyRange(_ key: String, slot: Bool = false) throws -> (start: [UInt8], end: [UInt8]?) {
        var start: [UInt8] = []
        var end: [UInt8] = []
        var isRange = false
        let fields = key.components(separatedBy: " . ")
        for (index, field) in fields.enumerated() {
            var first: [UInt8]
            var last: [UInt8]?
            if slot && index == fields.count - 1, let value = UInt32(field) {
                first = withUnsafeBytes(of: value) { Array($0) }
            } else if field.contains(".") {
                first = try ipv4(field)
            } else if let scalar = field.unicodeScalars.first, CharacterSet.letters.contains(scalar) {
                first = [try inetProto(field)]
            } else if field.contains("-") {
                let bounds = field.split(separator: "-", omittingEmptySubsequences: false).map { UInt32($0) }
                guard bounds.count == 2, let low = bounds[0], let high = bounds[1], low <= high, high < UInt32(NFTRules.slotCount) else {
                    throw InvalidValue(value: field, expected: "a slot range")
                }
                first = withUnsafeBytes(of: low.bigEndian) { Array($0) }
                last = withUnsafeBytes(of: high.bigEndian) { Array($0) }
                isRange = true
            } else {
                first = try inetService(field)
            }
            while first.count % 4 != 0 { first.append(0) }
            start += first
            end += last ?? first
        }
        return (start, isRange ? end : nil)
    }

    /// A map element's value: a `goto`/`jump` verdict, or data (`IP . PORT`, encoded like a key).
    public static func elementValue(_ text: String) throws -> (verdict: (goto: Bool, chain: String)?, data: [UInt8]?) {
        if text.hasPrefix("goto ") || text.hasPrefix("jump ") { return (try verdict(text), nil) }
        return (nil, try elementKey(text))
    }

    /// A `goto CHAIN` / `jump CHAIN` map value.
    public static func verdict(_ text: String) throws -> (goto: Bool, chain: String) {
        if text.hasPrefix("goto ") { return (true, String(text.dropFirst(5))) }
        if text.hasPrefix("jump ") { return (false, String(text.dropFirst(5))) }
        throw InvalidValue(value: text, expected: "a goto or jump verdict")
    }

    /// A rule's user data as nft writes a comment: one TLV (type NFTNL_UDATA_RULE_COMMENT = 0, length, the
    /// NUL-terminated text).
    public static func ruleComment(_ comment: String) throws -> [UInt8] {
        let text = Array(comment.utf8) + [0]
        guard text.count <= 128 else { throw InvalidValue(value: comment, expected: "a comment of at most 127 bytes") }
        return [0, UInt8(text.count)] + text
    }
}

/// One step of a partial sync, in order. Rendered as one `nft -f` transaction (`text`) or one netlink batch.
enum NFTOperation: Hashable, Sendable {
    case addSet(NFTAffinitySet)
    case addChain(String)
    case flushChain(String)
    case addRule(chain: String, NFTRule)
    case addElements(map: String, [NFTElement])
    case deleteElements(map: String, [NFTElement])
    case deleteChain(String)
    case deleteSet(String)

    func text(table t: String) -> String {
        switch self {
        case .addSet(let set): "add set \(t) \(set.text)\n"
        case .addChain(let chain): "add chain \(t) \(chain)\n"
        case .flushChain(let chain): "flush chain \(t) \(chain)\n"
        case .addRule(let chain, let rule): "add rule \(t) \(chain) \(rule.text)\n"
        case .addElements(let map, let elements): "add element \(t) \(map) { " + elements.map(\.text).joined(separator: ", ") + " }\n"
        case .deleteElements(let map, let elements): "delete element \(t) \(map) { " + elements.map(\.text).joined(separator: ", ") + " }\n"
        case .deleteChain(let chain): "delete chain \(t) \(chain)\n"
        case .deleteSet(let set): "delete set \(t) \(set)\n"
        }
    }
}
