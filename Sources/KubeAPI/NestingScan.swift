/// A pre-parse estimate of how deeply a YAML text nests, so that hostile files are refused before Yams builds
/// its tree. Yams composes recursively (one stack frame chain per level) and libyaml only stops at 1000 levels,
/// which is too deep for a small thread stack; Kubernetes manifests nest about 15 levels.
///
/// The scan follows the parts of YAML syntax that change nesting: indentation, compact `- - x` sequences, flow
/// brackets, quoted scalars (so brackets inside strings do not count), comments and block scalars (`|`, `>`),
/// whose content is skipped. It can only over- or under-estimate in contrived files; libyaml's own limit stays
/// as the backstop.
enum NestingScan {
    struct Result: Equatable {
        var depth: Int
        var line: Int
    }

    /// The first line whose nesting exceeds `limit`, or nil.
    static func firstLineDeeperThan(_ limit: Int, in bytes: [UInt8]) -> Result? {
        let space = UInt8(ascii: " ")
        let newline = UInt8(ascii: "\n")
        var indents: [Int] = []
        var flowDepth = 0
        var quote: UInt8?  // open quote character carried across lines
        var blockScalarParentIndent: Int?
        // Block nesting of the line where the current flow collection (or quoted scalar) began.
        var blockDepth = 0
        var lineNumber = 0
        var lineStart = 0
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
                while i + 1 < lineEnd && bytes[i] == UInt8(ascii: "-") && (bytes[i + 1] == space || bytes[i + 1] == UInt8(ascii: "\t")) {
                    blockDepth += 1
                    i += 2
                    while i < lineEnd && bytes[i] == space { i += 1 }
                }
            }
            let depth = blockDepth
            var maxDepth = depth + flowDepth
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
                let atNodeStart = previous == space || previous == UInt8(ascii: "\t") || "[{,:-?".utf8.contains(previous)
                switch byte {
                case UInt8(ascii: "#") where previous == space || previous == UInt8(ascii: "\t"):
                    i = lineEnd
                    continue
                case UInt8(ascii: "\""), UInt8(ascii: "'"):
                    if atNodeStart || i == lineStart { quote = byte }
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    if atNodeStart || flowDepth > 0 {
                        flowDepth += 1
                        maxDepth = max(maxDepth, depth + flowDepth)
                    }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    if flowDepth > 0 { flowDepth -= 1 }
                case UInt8(ascii: "|"), UInt8(ascii: ">"):
                    // A block scalar header: the following more-indented lines are text, not structure.
                    if atNodeStart && flowDepth == 0 { blockScalarParentIndent = indent }
                default:
                    break
                }
                if byte != space { previous = byte } else { previous = space }
                i += 1
            }
            if maxDepth > limit { return Result(depth: maxDepth, line: lineNumber) }
        }
        return nil
    }
}
