import CNftnl
import Foundation

/// A partial sync's message the kernel refused: the whole batch was rolled back (one batch is one transaction).
public struct NFTNetlinkError: Error, CustomStringConvertible, Sendable {
    /// The kernel's errno (positive).
    public var errno: Int32
    /// What the refused message did, in nft words (`add rule ip minikubelet service-... numgen ...`).
    public var object: String

    public var description: String { "nftables netlink: \(object): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// A failure of the netlink socket itself (open, send, receive), or a reply that makes no sense.
public struct NFTNetlinkSocketError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32

    public var description: String { "nftables netlink: \(operation): \(String(cString: strerror(errno)))" }
}

/// Builds one nf_tables transaction (BATCH_BEGIN, messages, BATCH_END) with libnftnl and sends it over a
/// NETLINK_NETFILTER socket with libmnl. Unlike `nft -f` (nft 1.0.6 dumps every chain, set and object of the
/// kernel before each transaction, ~200 ms at 10,000 services) nothing is read first. Every message asks for an
/// ACK, so a refused one is reported with what it was.
struct NFTNetlinkBatch {
    let table: String
    private(set) var bytes: [UInt8] = []
    /// What each message did, by sequence number (for error reports).
    private(set) var objects: [UInt32: String] = [:]
    /// The first message that could not be built completely (libnftnl allocation failure).
    private(set) var unbuilt: String?
    private var seq: UInt32 = 1
    private var setID: UInt32 = 1
    /// libnftnl writes messages without bounds checks: each is built here first, never bigger than this.
    private var scratch = [UInt8](repeating: 0, count: 1 << 18)
    /// Bytes of elements per NEWSETELEM message. The element list is one nested attribute, whose length is 16 bits:
    /// past 64 KiB it wraps and the kernel silently reads only the first elements (seen with 1,000 elements).
    static let elementBytesPerMessage = 32768
    /// A NEWSETELEM's largest possible size: its element list must stay below the 16-bit attribute length.
    static let largestElementMessage = 65000

    init(table: String) {
        self.table = table
        scratch.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            _ = nftnl_batch_begin(base.assumingMemoryBound(to: CChar.self), 0)
        }
        appendScratch()
    }

    private mutating func appendScratch() {
        scratch.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            let length = Int(base.assumingMemoryBound(to: nlmsghdr.self).pointee.nlmsg_len)
            let aligned = (length + 3) & ~3
            bytes += raw[0..<aligned]
        }
    }

    /// Builds one message into `scratch` (header by libnftnl, payload by `payload`) and appends it; returns its length.
    @discardableResult
    /// `payload` returns false when libnftnl could not allocate an object: the message is then incomplete and the
    /// batch is not sent (`unbuilt`).
    private mutating func message(_ type: Int32, flags: Int32, object: String, _ payload: (UnsafeMutablePointer<nlmsghdr>) -> Bool) -> Int {
        let current = seq
        let length = scratch.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            let header = nftnl_nlmsg_build_hdr(
                base.assumingMemoryBound(to: CChar.self), UInt16(type), UInt16(NFPROTO_IPV4), UInt16(flags | NLM_F_ACK), current)
            guard let header else { return 0 }
            return payload(header) ? Int(header.pointee.nlmsg_len) : -1
        }
        if length < 0 && unbuilt == nil { unbuilt = object }
        appendScratch()
        objects[current] = object
        seq += 1
        return length
    }

    typealias EncodedElement = (key: [UInt8], keyEnd: [UInt8]?, verdict: (goto: Bool, chain: String)?, data: [UInt8]?)

    /// Index ranges of `elements` that each fit one NEWSETELEM (an upper bound per element: its nests, key and chain).
    static func messageRanges(_ elements: [EncodedElement]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        var bytes = 0
        for (index, element) in elements.enumerated() {
            let size = 64 + element.key.count + (element.keyEnd?.count ?? 0) + (element.data?.count ?? 0) + (element.verdict?.chain.utf8.count ?? 0)
            if bytes + size > elementBytesPerMessage && index > start {
                ranges.append(start..<index)
                start = index
                bytes = 0
            }
            bytes += size
        }
        if start < elements.count { ranges.append(start..<elements.count) }
        return ranges
    }

    mutating func finish() {
        let current = seq
        scratch.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            _ = nftnl_batch_end(base.assumingMemoryBound(to: CChar.self), current)
        }
        appendScratch()
    }

    // MARK: chains

    mutating func addChain(_ name: String) {
        chainMessage(NFT_MSG_NEWCHAIN, flags: NLM_F_CREATE, name: name, object: "add chain ip \(table) \(name)")
    }

    mutating func deleteChain(_ name: String) {
        chainMessage(NFT_MSG_DELCHAIN, flags: 0, name: name, object: "delete chain ip \(table) \(name)")
    }

    private mutating func chainMessage(_ type: nf_tables_msg_types, flags: Int32, name: String, object: String) {
        let table = self.table
        message(Int32(type.rawValue), flags: flags, object: object) { header in
            guard let chain = nftnl_chain_alloc() else { return false }
            defer { nftnl_chain_free(chain) }
            nftnl_chain_set_u32(chain, UInt16(NFTNL_CHAIN_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_chain_set_str(chain, UInt16(NFTNL_CHAIN_TABLE.rawValue), table)
            nftnl_chain_set_str(chain, UInt16(NFTNL_CHAIN_NAME.rawValue), name)
            nftnl_chain_nlmsg_build_payload(header, chain)
            return true
        }
    }

    /// `flush chain`: DELRULE naming only the chain deletes all its rules.
    mutating func flushChain(_ name: String) {
        let table = self.table
        message(Int32(NFT_MSG_DELRULE.rawValue), flags: 0, object: "flush chain ip \(table) \(name)") { header in
            guard let rule = nftnl_rule_alloc() else { return false }
            defer { nftnl_rule_free(rule) }
            nftnl_rule_set_u32(rule, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_rule_set_str(rule, UInt16(NFTNL_RULE_TABLE.rawValue), table)
            nftnl_rule_set_str(rule, UInt16(NFTNL_RULE_CHAIN.rawValue), name)
            nftnl_rule_nlmsg_build_payload(header, rule)
            return true
        }
    }

    // MARK: sets

    /// A session-affinity set (`type ipv4_addr ; flags dynamic,timeout ; timeout Ns`).
    mutating func addAffinitySet(_ set: NFTAffinitySet) {
        let table = self.table
        let id = nextSetID()
        message(Int32(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE, object: "add set ip \(table) \(set.text)") { header in
            guard let s = nftnl_set_alloc() else { return false }
            defer { nftnl_set_free(s) }
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table)
            nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), set.name)
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_FLAGS.rawValue), UInt32(NFT_SET_TIMEOUT.rawValue | NFT_SET_EVAL.rawValue))
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_TYPE.rawValue), NFTDataType.ipv4Address)
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_LEN.rawValue), 4)
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), id)
            nftnl_set_set_u64(s, UInt16(NFTNL_SET_TIMEOUT.rawValue), UInt64(set.timeoutSeconds) * 1000)
            // nft's set user data: the key's byte order (TLV NFTNL_UDATA_SET_KEYBYTEORDER = 0, u32 2 = big endian).
            let userdata: [UInt8] = [0, 4] + withUnsafeBytes(of: UInt32(2)) { Array($0) }
            userdata.withUnsafeBytes { raw in
                _ = nftnl_set_set_data(s, UInt16(NFTNL_SET_USERDATA.rawValue), raw.baseAddress, UInt32(raw.count))
            }
            nftnl_set_nlmsg_build_payload(header, s)
            return true
        }
    }

    mutating func deleteSet(_ name: String) {
        let table = self.table
        message(Int32(NFT_MSG_DELSET.rawValue), flags: 0, object: "delete set ip \(table) \(name)") { header in
            guard let s = nftnl_set_alloc() else { return false }
            defer { nftnl_set_free(s) }
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table)
            nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), name)
            nftnl_set_nlmsg_build_payload(header, s)
            return true
        }
    }

    private mutating func nextSetID() -> UInt32 {
        defer { setID += 1 }
        return setID
    }

    /// Elements of a named set or verdict map, in as many messages as their size needs.
    mutating func elements(add: Bool, map: String, _ elements: [NFTElement]) throws {
        let verb = add ? "add" : "delete"
        let encoded: [EncodedElement] = try elements.map { element in
            let key = try NFTEncoding.elementKeyRange(element.key, slot: NFTRules.randomSlotMaps.contains(map))
            let value = try element.value.map(NFTEncoding.elementValue)
            return (key: key.start, keyEnd: key.end, verdict: value?.verdict, data: value?.data)
        }
        for range in Self.messageRanges(encoded) {
            let object = "\(verb) element ip \(table) \(map) { " + elements[range].map(\.text).joined(separator: ", ") + " }"
            try elementMessage(add: add, set: map, setID: nil, object: object, Array(encoded[range]))
        }
    }

    private mutating func elementMessage(add: Bool, set name: String, setID: UInt32?, object: String, _ elements: [EncodedElement]) throws {
        let table = self.table
        let type = add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM
        let length = message(Int32(type.rawValue), flags: add ? NLM_F_CREATE : 0, object: object) { header in
            guard let s = nftnl_set_alloc() else { return false }
            defer { nftnl_set_free(s) }
            nftnl_set_set_u32(s, UInt16(NFTNL_SET_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table)
            nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), name)
            if let setID { nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), setID) }
            for element in elements {
                guard let e = nftnl_set_elem_alloc() else { return false }
                element.key.withUnsafeBytes { raw in
                    _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_KEY), raw.baseAddress, UInt32(raw.count))
                }
                if let keyEnd = element.keyEnd {
                    keyEnd.withUnsafeBytes { raw in
                        _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_KEY_END), raw.baseAddress, UInt32(raw.count))
                    }
                }
                if let data = element.data {
                    data.withUnsafeBytes { raw in
                        _ = nftnl_set_elem_set(e, UInt16(NFTNL_SET_ELEM_DATA), raw.baseAddress, UInt32(raw.count))
                    }
                }
                if let verdict = element.verdict {
                    nftnl_set_elem_set_u32(e, UInt16(NFTNL_SET_ELEM_VERDICT), UInt32(bitPattern: verdict.goto ? NFT_GOTO.rawValue : NFT_JUMP.rawValue))
                    nftnl_set_elem_set_str(e, UInt16(NFTNL_SET_ELEM_CHAIN), verdict.chain)
                }
                nftnl_set_elem_add(s, e)
            }
            nftnl_set_elems_nlmsg_build_payload(header, s)
            return true
        }
        // Never send a list whose length wrapped: the kernel would take a prefix of it and report success.
        guard length <= Self.largestElementMessage else { throw NFTNetlinkSocketError(operation: "building \(object.prefix(200))", errno: EMSGSIZE) }
    }

    // MARK: rules

    /// Appends a rule (NLM_F_APPEND: after the chain's last rule, like `add rule`). A `randomGoto` rule first
    /// creates its anonymous constant verdict map (`__map%d`, named by the kernel, found by the batch's set id).
    mutating func addRule(chain: String, _ rule: NFTRule) throws {
        let table = self.table
        var anonymousSet: UInt32?
        if case .randomGoto(let chains) = rule.action {
            let id = nextSetID()
            anonymousSet = id
            let object = "add rule ip \(table) \(chain) \(rule.text) (its verdict map)"
            message(Int32(NFT_MSG_NEWSET.rawValue), flags: NLM_F_CREATE, object: object) { header in
                guard let s = nftnl_set_alloc() else { return false }
                defer { nftnl_set_free(s) }
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
                nftnl_set_set_str(s, UInt16(NFTNL_SET_TABLE.rawValue), table)
                nftnl_set_set_str(s, UInt16(NFTNL_SET_NAME.rawValue), "__map%d")
                nftnl_set_set_u32(
                    s, UInt16(NFTNL_SET_FLAGS.rawValue), UInt32(NFT_SET_ANONYMOUS.rawValue | NFT_SET_CONSTANT.rawValue | NFT_SET_MAP.rawValue))
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_TYPE.rawValue), NFTDataType.integer)
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_KEY_LEN.rawValue), 4)
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_DATA_TYPE.rawValue), NFT_DATA_VERDICT.rawValue)
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_DATA_LEN.rawValue), 0)
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_ID.rawValue), id)
                nftnl_set_set_u32(s, UInt16(NFTNL_SET_DESC_SIZE.rawValue), UInt32(chains.count))
                NFTDataType.anonymousVerdictMapUserdata.withUnsafeBytes { raw in
                    _ = nftnl_set_set_data(s, UInt16(NFTNL_SET_USERDATA.rawValue), raw.baseAddress, UInt32(raw.count))
                }
                nftnl_set_nlmsg_build_payload(header, s)
                return true
            }
            // Keys are numgen's values: host byte order u32. A service with thousands of endpoints needs several
            // messages (all in this batch: a constant set only takes elements in the transaction that creates it).
            let elements: [EncodedElement] = chains.enumerated().map {
                (key: withUnsafeBytes(of: UInt32($0.offset)) { Array($0) }, keyEnd: nil, verdict: (goto: true, chain: $0.element), data: nil)
            }
            for range in Self.messageRanges(elements) {
                try elementMessage(add: true, set: "__map%d", setID: id, object: object, Array(elements[range]))
            }
        }
        let expressions = try NFTExpressions.build(rule, anonymousSetID: anonymousSet)
        let comment = try rule.comment.map(NFTEncoding.ruleComment)
        message(Int32(NFT_MSG_NEWRULE.rawValue), flags: NLM_F_CREATE | NLM_F_APPEND, object: "add rule ip \(table) \(chain) \(rule.text)") { header in
            guard let r = nftnl_rule_alloc() else { return false }
            defer { nftnl_rule_free(r) }
            nftnl_rule_set_u32(r, UInt16(NFTNL_RULE_FAMILY.rawValue), UInt32(NFPROTO_IPV4))
            nftnl_rule_set_str(r, UInt16(NFTNL_RULE_TABLE.rawValue), table)
            nftnl_rule_set_str(r, UInt16(NFTNL_RULE_CHAIN.rawValue), chain)
            for expression in expressions {
                guard let e = expression.make() else { return false }
                nftnl_rule_add_expr(r, e)  // the rule owns and frees it
            }
            if let comment {
                comment.withUnsafeBytes { raw in
                    _ = nftnl_rule_set_data(r, UInt16(NFTNL_RULE_USERDATA.rawValue), raw.baseAddress, UInt32(raw.count))
                }
            }
            nftnl_rule_nlmsg_build_payload(header, r)
            return true
        }
    }

    // MARK: sending

    /// Sends the batch and checks the kernel's answer to every message. Throws `NFTNetlinkError` naming the first
    /// refused message (the kernel then applied nothing).
    func send(socket: NFTNetlinkSocket) throws {
        if let unbuilt { throw NFTNetlinkSocketError(operation: "building \(unbuilt.prefix(200))", errno: ENOMEM) }
        try socket.transact(bytes, expecting: objects)
    }
}

/// nft's data type numbers (`enum datatypes` in nftables' datatype.h) as set key types.
enum NFTDataType {
    static let integer: UInt32 = 4
    static let ipv4Address: UInt32 = 7
    /// User data nft 1.0.6 gives `numgen ... vmap { ... }`'s anonymous map (copied from `nft --debug=mnl`): key
    /// byte order host (TLV 0 = 1), data byte order (TLV 1 = 0), data typeof verdict (TLV 4), data interval (TLV 6 = 0).
    /// `nft list` reads it back to print the map, so it must be the same bytes.
    static let anonymousVerdictMapUserdata: [UInt8] = [0, 4, 1, 0, 0, 0, 1, 4, 0, 0, 0, 0, 4, 8, 0, 4, 1, 0, 0, 0, 1, 0, 6, 4, 0, 0, 0, 0]
}

/// One expression of a rule, as plain values (built into a libnftnl object only while the message is written).
struct NFTExpression: Equatable {
    enum Value: Equatable {
        case u32(UInt32)
        case u64(UInt64)
        case string(String)
        case bytes([UInt8])
    }

    var name: String
    /// libnftnl attribute → value.
    var attributes: [(UInt16, Value)]

    static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.attributes.map(\.0) == b.attributes.map(\.0) && a.attributes.map(\.1) == b.attributes.map(\.1)
    }

    func make() -> OpaquePointer? {
        guard let e = nftnl_expr_alloc(name) else { return nil }
        for (attribute, value) in attributes {
            switch value {
            case .u32(let v): nftnl_expr_set_u32(e, attribute, v)
            case .u64(let v): nftnl_expr_set_u64(e, attribute, v)
            case .string(let v): nftnl_expr_set_str(e, attribute, v)
            case .bytes(let v): v.withUnsafeBytes { raw in _ = nftnl_expr_set(e, attribute, raw.baseAddress, UInt32(raw.count)) }
            }
        }
        return e
    }
}

/// The expressions nft 1.0.6 generates for each rule shape (`nft --debug=netlink`).
enum NFTExpressions {
    static let reg1 = UInt32(NFT_REG_1.rawValue)
    static let reg2 = UInt32(NFT_REG_2.rawValue)

    static func a(_ attribute: Int) -> UInt16 { UInt16(attribute) }

    static func payload(offset: UInt32, length: UInt32) -> NFTExpression {
        NFTExpression(
            name: "payload",
            attributes: [
                (a(NFTNL_EXPR_PAYLOAD_DREG), .u32(reg1)), (a(NFTNL_EXPR_PAYLOAD_BASE), .u32(NFT_PAYLOAD_NETWORK_HEADER.rawValue)),
                (a(NFTNL_EXPR_PAYLOAD_OFFSET), .u32(offset)), (a(NFTNL_EXPR_PAYLOAD_LEN), .u32(length)),
            ])
    }

    static func cmp(_ op: nft_cmp_ops, _ data: [UInt8]) -> NFTExpression {
        NFTExpression(
            name: "cmp", attributes: [(a(NFTNL_EXPR_CMP_SREG), .u32(reg1)), (a(NFTNL_EXPR_CMP_OP), .u32(op.rawValue)), (a(NFTNL_EXPR_CMP_DATA), .bytes(data))])
    }

    /// `ip saddr|daddr [!=] ADDR[/LEN]`: a byte-aligned prefix loads only its bytes; others load 4 and mask.
    static func address(offset: UInt32, _ text: String, equal: Bool) throws -> [NFTExpression] {
        let (address, length) = try NFTEncoding.ipv4Prefix(text)
        let op = equal ? NFT_CMP_EQ : NFT_CMP_NEQ
        if length % 8 == 0 {
            let bytes = length / 8
            return [payload(offset: offset, length: UInt32(bytes)), cmp(op, Array(address[0..<bytes]))]
        }
        var mask = [UInt8](repeating: 0, count: 4)
        for bit in 0..<length { mask[bit / 8] |= 0x80 >> UInt8(bit % 8) }
        let network = zip(address, mask).map { $0 & $1 }
        let bitwise = NFTExpression(
            name: "bitwise",
            attributes: [
                (a(NFTNL_EXPR_BITWISE_SREG), .u32(reg1)), (a(NFTNL_EXPR_BITWISE_DREG), .u32(reg1)), (a(NFTNL_EXPR_BITWISE_LEN), .u32(4)),
                (a(NFTNL_EXPR_BITWISE_MASK), .bytes(mask)), (a(NFTNL_EXPR_BITWISE_XOR), .bytes([0, 0, 0, 0])),
            ])
        return [payload(offset: offset, length: 4), bitwise, cmp(op, network)]
    }

    static func immediateVerdict(_ verdict: nft_verdicts, _ chain: String) -> NFTExpression {
        NFTExpression(
            name: "immediate",
            attributes: [
                (a(NFTNL_EXPR_IMM_DREG), .u32(UInt32(NFT_REG_VERDICT.rawValue))), (a(NFTNL_EXPR_IMM_VERDICT), .u32(UInt32(bitPattern: verdict.rawValue))),
                (a(NFTNL_EXPR_IMM_CHAIN), .string(chain)),
            ])
    }

    static func build(_ rule: NFTRule, anonymousSetID: UInt32?) throws -> [NFTExpression] {
        // IPv4 header offsets of the source and destination addresses.
        let saddr: UInt32 = 12
        let daddr: UInt32 = 16
        var out: [NFTExpression] = []
        for match in rule.matches {
            switch match {
            case .sourceAddress(let text): out += try address(offset: saddr, text, equal: true)
            case .sourceAddressNot(let text): out += try address(offset: saddr, text, equal: false)
            case .destinationAddress(let text): out += try address(offset: daddr, text, equal: true)
            case .sourceAddressInSet(let set):
                out.append(payload(offset: saddr, length: 4))
                out.append(NFTExpression(name: "lookup", attributes: [(a(NFTNL_EXPR_LOOKUP_SREG), .u32(reg1)), (a(NFTNL_EXPR_LOOKUP_SET), .string(set))]))
            case .l4proto(let name):
                out.append(
                    NFTExpression(name: "meta", attributes: [(a(NFTNL_EXPR_META_KEY), .u32(NFT_META_L4PROTO.rawValue)), (a(NFTNL_EXPR_META_DREG), .u32(reg1))]))
                out.append(cmp(NFT_CMP_EQ, [try NFTEncoding.inetProto(name)]))
            case .sourceIsLocal:
                out.append(
                    NFTExpression(
                        name: "fib",
                        attributes: [
                            (a(NFTNL_EXPR_FIB_DREG), .u32(reg1)), (a(NFTNL_EXPR_FIB_RESULT), .u32(NFT_FIB_RESULT_ADDRTYPE.rawValue)),
                            (a(NFTNL_EXPR_FIB_FLAGS), .u32(NFTA_FIB_F_SADDR.rawValue)),
                        ]))
                // RTN_LOCAL, as the u32 the fib expression stores.
                out.append(cmp(NFT_CMP_EQ, withUnsafeBytes(of: UInt32(RTN_LOCAL)) { Array($0) }))
            }
        }
        switch rule.action {
        case .jump(let chain): out.append(immediateVerdict(NFT_JUMP, chain))
        case .goto(let chain): out.append(immediateVerdict(NFT_GOTO, chain))
        case .updateSourceSet(let set):
            out.append(payload(offset: saddr, length: 4))
            out.append(
                NFTExpression(
                    name: "dynset",
                    attributes: [
                        (a(NFTNL_EXPR_DYNSET_SREG_KEY), .u32(reg1)), (a(NFTNL_EXPR_DYNSET_OP), .u32(UInt32(NFT_DYNSET_OP_UPDATE.rawValue))),
                        (a(NFTNL_EXPR_DYNSET_SET_NAME), .string(set)),
                    ]))
        case .dnat(let ip, let port):
            guard let portValue = UInt16(exactly: port) else { throw NFTEncoding.InvalidValue(value: String(port), expected: "a port number") }
            out.append(
                NFTExpression(
                    name: "immediate", attributes: [(a(NFTNL_EXPR_IMM_DREG), .u32(reg1)), (a(NFTNL_EXPR_IMM_DATA), .bytes(try NFTEncoding.ipv4(ip)))]))
            out.append(
                NFTExpression(
                    name: "immediate",
                    attributes: [(a(NFTNL_EXPR_IMM_DREG), .u32(reg2)), (a(NFTNL_EXPR_IMM_DATA), .bytes([UInt8(portValue >> 8), UInt8(portValue & 0xff)]))]))
            out.append(
                NFTExpression(
                    name: "nat",
                    attributes: [
                        (a(NFTNL_EXPR_NAT_TYPE), .u32(NFT_NAT_DNAT.rawValue)), (a(NFTNL_EXPR_NAT_FAMILY), .u32(UInt32(NFPROTO_IPV4))),
                        (a(NFTNL_EXPR_NAT_REG_ADDR_MIN), .u32(reg1)), (a(NFTNL_EXPR_NAT_REG_PROTO_MIN), .u32(reg2)),
                        (a(NFTNL_EXPR_NAT_FLAGS), .u32(UInt32(NF_NAT_RANGE_PROTO_SPECIFIED))),
                    ]))
        case .randomGoto(let chains):
            guard let anonymousSetID else { throw NFTEncoding.InvalidValue(value: rule.text, expected: "a rule with its verdict map") }
            out.append(
                NFTExpression(
                    name: "numgen",
                    attributes: [
                        (a(NFTNL_EXPR_NG_DREG), .u32(reg1)), (a(NFTNL_EXPR_NG_MODULUS), .u32(UInt32(chains.count))),
                        (a(NFTNL_EXPR_NG_TYPE), .u32(NFT_NG_RANDOM.rawValue)),
                    ]))
            out.append(
                NFTExpression(
                    name: "lookup",
                    attributes: [
                        (a(NFTNL_EXPR_LOOKUP_SREG), .u32(reg1)), (a(NFTNL_EXPR_LOOKUP_DREG), .u32(UInt32(NFT_REG_VERDICT.rawValue))),
                        (a(NFTNL_EXPR_LOOKUP_SET), .string("__map%d")), (a(NFTNL_EXPR_LOOKUP_SET_ID), .u32(anonymousSetID)),
                    ]))
        case .counter:
            out.append(NFTExpression(name: "counter", attributes: [(a(NFTNL_EXPR_CTR_PACKETS), .u64(0)), (a(NFTNL_EXPR_CTR_BYTES), .u64(0))]))
        }
        return out
    }
}

/// A NETLINK_NETFILTER socket (libmnl), opened per partial sync: cheap, and it keeps the proxier a plain value.
final class NFTNetlinkSocket {
    private let socket: OpaquePointer

    init() throws {
        guard let socket = mnl_socket_open(NETLINK_NETFILTER) else { throw NFTNetlinkSocketError(operation: "opening the netlink socket", errno: errno) }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = errno
            mnl_socket_close(socket)
            throw NFTNetlinkSocketError(operation: "binding the netlink socket", errno: code)
        }
        self.socket = socket
    }

    deinit { mnl_socket_close(socket) }

    /// Sends one batch and reads every reply. The kernel handles the whole batch inside `sendto`, so all replies
    /// are queued when it returns: read until the socket is empty.
    func transact(_ bytes: [UInt8], expecting objects: [UInt32: String]) throws {
        let fd = mnl_socket_get_fd(socket)
        // Error replies without a copy of the refused message (only its header, which has the sequence number): a
        // refused 1,000-element message would otherwise come back whole.
        var on: Int32 = 1
        _ = setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        // Room for the batch, and for an ACK per message (each a socket buffer of under 1 KiB as the kernel counts
        // them): the ~200 KiB defaults hold about 300 ACKs and a ~200 KiB batch. The *FORCE options (CAP_NET_ADMIN,
        // which writing nftables needs anyway) go past net.core.[rw]mem_max, like nft does. If they fail, the send
        // fails (EMSGSIZE) or replies are lost (ENOBUFS), and both are reported below.
        var send = Int32(clamping: bytes.count + 65536)
        var receive = Int32(clamping: objects.count * 1024 + 65536)
        if bytes.count > 100_000 { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &send, socklen_t(MemoryLayout<Int32>.size)) }
        if objects.count > 100 { _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive, socklen_t(MemoryLayout<Int32>.size)) }
        let sent = bytes.withUnsafeBytes { mnl_socket_sendto(socket, $0.baseAddress, $0.count) }
        guard sent == bytes.count else { throw NFTNetlinkSocketError(operation: "sending \(bytes.count) bytes", errno: sent < 0 ? errno : EMSGSIZE) }
        var acknowledged = 0
        var firstError: NFTNetlinkError?
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { break }
                throw NFTNetlinkSocketError(operation: "reading the kernel's replies", errno: errno)
            }
            if n == 0 { break }
            for reply in Self.replies(buffer[0..<n]) {
                acknowledged += 1
                if reply.error != 0 && firstError == nil {
                    firstError = NFTNetlinkError(errno: -reply.error, object: objects[reply.seq] ?? "message \(reply.seq) of the batch")
                }
            }
        }
        if let firstError { throw firstError }
        guard acknowledged >= objects.count else {
            throw NFTNetlinkSocketError(operation: "\(objects.count - acknowledged) of \(objects.count) messages unacknowledged", errno: EPROTO)
        }
    }

    /// The NLMSG_ERROR replies in a buffer: (sequence number of the message answered, 0 or -errno).
    static func replies(_ data: ArraySlice<UInt8>) -> [(seq: UInt32, error: Int32)] {
        var out: [(UInt32, Int32)] = []
        var offset = data.startIndex
        func u32(_ at: Int) -> UInt32 { data[at..<at + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        while offset + 16 <= data.endIndex {
            let length = Int(u32(offset))
            let type = UInt16(truncatingIfNeeded: u32(offset + 4))
            guard length >= 16, offset + length <= data.endIndex else { break }
            // nlmsgerr: the error, then the header of the message it answers (its seq at +8).
            if type == UInt16(NLMSG_ERROR) && length >= 16 + 4 + 16 {
                out.append((u32(offset + 16 + 4 + 8), Int32(bitPattern: u32(offset + 16))))
            }
            offset += (length + 3) & ~3
        }
        return out
    }
}
