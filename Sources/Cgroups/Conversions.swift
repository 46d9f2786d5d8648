// OCI (v1-flavoured) values → the strings written to cgroup files. Pure functions, table-tested.
import Glibc

/// runc ≥ 1.3.2 / crun ≥ 1.23 quadratic-in-log2 mapping (reference/runtime.md §3.4): 2→1, 1024→100, 262144→10000.
func sharesToWeight(_ shares: UInt64) -> UInt64 {
    if shares == 0 { return 0 }
    if shares <= 2 { return 1 }
    if shares >= 262_144 { return 10_000 }
    let l = log2(Double(shares))
    // Same operation order as runc/crun so the rounding (and hence ceil) agrees bit for bit.
    let exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0
    return UInt64(ceil(pow(10, exponent)))
}

/// What to write to `memory.swap.max` on v2.
enum SwapMaxValue: Equatable, Sendable {
    case unset
    case max
    case bytes(Int64)

    var fileValue: String? {
        switch self {
        case .unset: return nil
        case .max: return "max"
        case .bytes(let n): return String(n)
        }
    }
}

/// runc's ConvertMemorySwapToCgroupV2Value: OCI swap is memory+swap; v2 wants swap alone.
/// nil and 0 both mean "unset" for swap (runc treats 0 as unset).
func swapMaxV2(memoryLimit: Int64?, memorySwap: Int64?) -> Result<SwapMaxValue, SwapConversionError> {
    let memory = memoryLimit ?? 0
    let swap = memorySwap ?? 0
    // v1 compatibility: unlimited memory with swap not given means "both unlimited".
    if memory == -1 && swap == 0 { return .success(.max) }
    if swap == 0 { return .success(.unset) }
    if swap == -1 { return .success(.max) }
    if swap < -1 { return .failure(.invalidSwap(swap)) }
    if memory == 0 || memory == -1 { return .failure(.swapWithoutMemoryLimit) }
    if memory < 0 { return .failure(.invalidMemory(memory)) }
    if swap < memory { return .failure(.swapBelowMemory(swap: swap, memory: memory)) }
    return .success(.bytes(swap - memory))
}

enum SwapConversionError: Error, Equatable, Sendable, CustomStringConvertible {
    case swapWithoutMemoryLimit
    case swapBelowMemory(swap: Int64, memory: Int64)
    case invalidMemory(Int64)
    case invalidSwap(Int64)

    var description: String {
        switch self {
        case .swapWithoutMemoryLimit: return "unable to set swap limit without memory limit"
        case .swapBelowMemory(let swap, let memory): return "memory+swap limit (\(swap)) should be >= memory limit (\(memory))"
        case .invalidMemory(let m): return "invalid memory limit \(m)"
        case .invalidSwap(let s): return "invalid memory+swap limit \(s)"
        }
    }
}

/// v2 `cpu.max` ("<quota|max> <period>"); nil when neither is given. Quota 0 means unset (runc), negative = max;
/// the period defaults to the kernel's 100000 µs so the written value never depends on leftovers.
func cpuMaxValue(quota: Int64?, period: UInt64?) -> String? {
    let quota = quota == 0 ? nil : quota
    let period = period == 0 ? nil : period
    if quota == nil && period == nil { return nil }
    let quotaText = quota.map { $0 > 0 ? String($0) : "max" } ?? "max"
    return "\(quotaText) \(period ?? 100_000)"
}

/// `pids.max` for both versions: > 0 → the value, < 0 → "max", 0 or nil → not written.
/// runtime.md §3.2 says runc now maps 0 to "1" (systemd TasksMax=0); we follow the API contract instead
/// ("0 = no limit when given by the caller") because kubelet never sends 0 and "1" would break any container.
func pidsMaxValue(_ limit: Int64?) -> String? {
    guard let limit, limit != 0 else { return nil }
    return limit > 0 ? String(limit) : "max"
}

/// v2 limit files use "max" for unlimited; OCI uses -1. nil = not written.
func v2LimitValue(_ value: Int64?) -> String? {
    guard let value else { return nil }
    return value < 0 ? "max" : String(value)
}

/// Parses a v2 limit file ("max" → nil).
func parseV2Limit(_ text: String) -> UInt64? {
    UInt64(text.trimmingWhitespace())
}

/// v1 reports "unlimited" as LONG_MAX rounded down to the page size.
func parseV1Limit(_ text: String) -> UInt64? {
    guard let value = UInt64(text.trimmingWhitespace()) else { return nil }
    return value >= 0x7FFF_FFFF_FFFF_F000 ? nil : value
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
