import Testing

@testable import Cgroups

@Suite struct ConversionTests {
    static let weights: [(UInt64, UInt64)] = [
        (0, 0), (1, 1), (2, 1), (3, 2), (102, 17), (512, 59), (1024, 100), (2048, 174),
        (262_143, 10_000), (262_144, 10_000), (1_000_000, 10_000), (UInt64.max, 10_000),
    ]

    @Test("cpu.shares → cpu.weight (runc ≥ 1.3.2 / crun ≥ 1.23)", arguments: weights)
    func sharesToWeightTable(shares: UInt64, weight: UInt64) {
        #expect(cpuWeight(fromShares: shares) == weight)
    }

    @Test("weight is monotonic and within [1, 10000] for every kubelet share value")
    func weightMonotonic() {
        var previous: UInt64 = 1
        for shares in stride(from: UInt64(2), through: 262_144, by: 97) {
            let weight = cpuWeight(fromShares: shares)
            #expect(weight >= previous && weight <= 10_000)
            previous = weight
        }
    }

    static let swaps: [(Int64?, Int64?, SwapMaxValue)] = [
        (nil, nil, .unset),
        (Int64(-1), nil, .max),
        (-1, 0, .max),
        (-1, -1, .max),
        (1000, nil, .unset),
        (1000, 0, .unset),
        (1000, -1, .max),
        (1000, 1000, .bytes(0)),
        (1000, 3000, .bytes(2000)),
    ]

    @Test("OCI memory+swap → v2 memory.swap.max", arguments: swaps)
    func swapConversion(memory: Int64?, swap: Int64?, expected: SwapMaxValue) {
        #expect(swapMaxV2(memoryLimit: memory, memorySwap: swap) == .success(expected))
    }

    static let badSwaps: [(Int64?, Int64, SwapConversionError)] = [
        (nil, 2000, .swapWithoutMemoryLimit),
        (-1, 2000, .swapWithoutMemoryLimit),
        (3000, 2000, .swapBelowMemory(swap: 2000, memory: 3000)),
        (-5, 2000, .invalidMemory(-5)),
        (1000, -7, .invalidSwap(-7)),
    ]

    @Test("invalid memory+swap combinations are refused", arguments: badSwaps)
    func swapConversionErrors(memory: Int64?, swap: Int64, expected: SwapConversionError) {
        #expect(swapMaxV2(memoryLimit: memory, memorySwap: swap) == .failure(expected))
    }

    static let cpuMaxes: [(Int64?, UInt64?, String?)] = [
        (nil, nil, nil),
        (0, nil, nil),
        (50_000, nil, "50000 100000"),
        (50_000, 200_000, "50000 200000"),
        (-1, nil, "max 100000"),
        (-1, 50_000, "max 50000"),
        (nil, 250_000, "max 250000"),
        (0, 0, nil),
    ]

    @Test("cpu.max formatting", arguments: cpuMaxes)
    func cpuMax(quota: Int64?, period: UInt64?, expected: String?) {
        #expect(cpuMaxValue(quota: quota, period: period) == expected)
    }

    static let pids: [(Int64?, String?)] = [(nil, nil), (0, nil), (1, "1"), (64, "64"), (-1, "max"), (-100, "max")]

    @Test("pids.max mapping (0 = unset, negative = max)", arguments: pids)
    func pidsMax(limit: Int64?, expected: String?) {
        #expect(pidsMaxValue(limit) == expected)
    }

    static let limits: [(String, UInt64?, UInt64?)] = [
        ("max\n", nil, nil), ("16777216\n", 16_777_216, 16_777_216), ("9223372036854771712\n", 9_223_372_036_854_771_712, nil),
    ]

    @Test("limit file parsing", arguments: limits)
    func limitParsing(text: String, v2: UInt64?, v1: UInt64?) {
        #expect(parseV2Limit(text) == v2)
        #expect(parseV1Limit(text) == v1)
    }

    @Test func flatKeyedParsing() {
        let events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n"
        #expect(parseFlatKeyed(events) == ["low": 0, "high": 0, "max": 12, "oom": 3, "oom_kill": 2, "oom_group_kill": 0])
        #expect(parseFlatKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")["oom_kill"] == 1)
    }

    @Test func errorDescriptionNamesFileValueAndErrno() {
        let error = CgroupError.posix("write", path: "/sys/fs/cgroup/memory/x/memory.limit_in_bytes", value: "1000", errno: 16)
        #expect(error.description == "cgroup write /sys/fs/cgroup/memory/x/memory.limit_in_bytes=1000: Device or resource busy (errno 16)")
    }
}
