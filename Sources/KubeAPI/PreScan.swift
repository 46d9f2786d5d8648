/// One pass over a manifest's bytes before Yams parses it, refusing the two inputs Yams cannot be trusted with:
///
/// - Deep nesting. Yams composes recursively and libyaml only stops at 1000 levels, which is too deep for a
///   small thread stack; Kubernetes manifests nest about 15 levels.
/// - Aliases used as mapping keys. Yams checks keys for duplicates by hashing whole nodes, so a key that is an
///   alias of an alias-expanded structure costs exponential time before the reader's node budget can act.
///   Such keys have no use in a manifest; they are refused only in files that define an anchor (`&name`).
///
/// The scan follows the parts of YAML syntax that matter: indentation, compact `- - x` sequences, flow brackets,
/// quoted scalars (contents ignored), comments and block scalars (`|`, `>`, content skipped). Contrived files can
/// make it over- or under-estimate; libyaml's nesting limit and the node budget stay as backstops.
enum PreScan {
    struct Deep: Equatable {
        var depth: Int
        var line: Int
    }

    struct Result: Equatable {
        /// The first line nesting deeper than the limit.
        var tooDeep: Deep?
        /// A key that is (or may contain) an alias, with its line, in a file that defines anchors.
        var aliasKey: String?
    }

    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")

    static func isAnchorNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x5F || b >= 0x80
    }

    /// Scans until the first line deeper than `depthLimit` (then stops) or the end.
    static func scan(_ bytes: [UInt8], depthLimit: Int) -> Result {
        let newline = UInt8(ascii: "\n")
        var result = Result()
        var anchorSeen = false
        var firstKeyProblem: String?
        var indents: [Int] = []
        var flowDepth = 0
        var quote: UInt8?  // open quote character, carried across lines
        var blockScalarParentIndent: Int?
        var blockDepth = 0  // block nesting where the current flow collection (or quoted scalar) began
        var lineNumber = 0
        var lineStart = 0

        /// True when a `:` value indicator follows position `j` on this line (after spaces).
        func valueIndicatorFollows(_ start: Int, _ lineEnd: Int) -> Bool {
            var j = start
            while j < lineEnd && (bytes[j] == space || bytes[j] == tab) { j += 1 }
            guard j < lineEnd, bytes[j] == UInt8(ascii: ":") else { return false }
            let next = j + 1 < lineEnd ? bytes[j + 1] : space
            return next == space || next == tab || next == UInt8(ascii: ",") || next == UInt8(ascii: "\r")
        }

        while lineStart < bytes.count {
            lineNumber += 1
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != newline { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var i = lineStart
            while i < lineEnd && bytes[i] == space { i += 1 }
            let indent = i - lineStart
            let blank = i == lineEnd || bytes[i] == UInt8(ascii: "#") || bytes[i] == UInt8(ascii: "\r")
            if let parent = blockScalarParentIndent {
                if blank || indent > parent { continue }
                blockScalarParentIndent = nil
            }
            if blank && quote == nil { continue }
            if quote == nil && flowDepth == 0 {
                // Block context: indentation levels, then compact sequence dashes on this line.
                while let last = indents.last, last > indent { indents.removeLast() }
                if indents.last != indent { indents.append(indent) }
                blockDepth = indents.count
                while i + 1 < lineEnd && bytes[i] == UInt8(ascii: "-") && (bytes[i + 1] == space || bytes[i + 1] == tab) {
                    blockDepth += 1
                    i += 2
                    while i < lineEnd && bytes[i] == space { i += 1 }
                }
            }
            var maxDepth = blockDepth + flowDepth
            var previous: UInt8 = space
            while i < lineEnd {
                let byte = bytes[i]
                if let open = quote {
                    if byte == UInt8(ascii: "\\") && open == UInt8(ascii: "\"") {
                        i += 2
                        continue
                    }
                    if byte == open {
                        if open == UInt8(ascii: "'") && i + 1 < lineEnd && bytes[i + 1] == open {
                            i += 2
                            continue
                        }
                        quote = nil
                    }
                    previous = byte
                    i += 1
                    continue
                }
                let atNodeStart = previous == space || previous == tab || "[{,:-?".utf8.contains(previous)
                switch byte {
                case UInt8(ascii: "#") where previous == space || previous == tab:
                    i = lineEnd
                    continue
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    if atNodeStart { quote = byte }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    if atNodeStart || flowDepth > 0 {
                        flowDepth += 1
                        maxDepth = max(maxDepth, blockDepth + flowDepth)
                    }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if flowDepth > 0 {
                        flowDepth -= 1
                        if firstKeyProblem == nil && valueIndicatorFollows(i + 1, lineEnd) {
                            firstKeyProblem = "line \(lineNumber): a list or map used as a mapping key is not supported in manifests that use anchors"
                        }
                    }
                case UInt8(ascii: "|"), UInt8(ascii: ">"):
                    // A block scalar header: the following more-indented lines are text, not structure.
                    if atNodeStart && flowDepth == 0 { blockScalarParentIndent = indent }
                case UInt8(ascii: "&"):
                    if atNodeStart && i + 1 < lineEnd && isAnchorNameByte(bytes[i + 1]) { anchorSeen = true }
                case UInt8(ascii: "*"):
                    var j = i + 1
                    while j < lineEnd && isAnchorNameByte(bytes[j]) { j += 1 }
                    if atNodeStart && j > i + 1 && firstKeyProblem == nil && valueIndicatorFollows(j, lineEnd) {
                        firstKeyProblem = "line \(lineNumber): a YAML alias used as a mapping key is not supported in manifests"
                    }
                case UInt8(ascii: "?"):
                    let next = i + 1 < lineEnd ? bytes[i + 1] : space
                    if atNodeStart && (next == space || next == tab) && firstKeyProblem == nil {
                        firstKeyProblem = "line \(lineNumber): explicit YAML mapping keys (`? key`) are not supported in manifests that use anchors"
                    }
                default:
                    break
                }
                previous = byte
                i += 1
            }
            if maxDepth > depthLimit {
                result.tooDeep = Deep(depth: maxDepth, line: lineNumber)
                return result
            }
        }
        if anchorSeen { result.aliasKey = firstKeyProblem }
        return result
    }

    /// The first line whose nesting exceeds `limit`, or nil.
    static func firstLineDeeperThan(_ limit: Int, in bytes: [UInt8]) -> Deep? {
        scan(bytes, depthLimit: limit).tooDeep
    }
}
