// Signal names and numbers as `kill` accepts them: `TERM`, `SIGTERM`, `15`, `RTMIN+2`.

public enum Signals {
    private static let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
        "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18,
        "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
        "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]
    private static let realtimeMin: Int32 = 34
    private static let realtimeMax: Int32 = 64

    /// Parses a signal name (case-insensitive, with or without `SIG`) or number.
    public static func parse(_ text: String) throws(RuntimeError) -> Int32 {
        if let number = Int32(text) {
            guard number > 0 && number <= realtimeMax else { throw RuntimeError("invalid signal \"\(text)\"") }
            return number
        }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if let number = table[name] { return number }
        if name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX") {
            let base = name.hasPrefix("RTMIN") ? realtimeMin : realtimeMax
            let rest = name.dropFirst(5)
            let offset: Int32? = rest.isEmpty ? 0 : Int32(rest)
            if let offset {
                let number = base + offset
                if number >= realtimeMin && number <= realtimeMax { return number }
            }
        }
        throw RuntimeError("invalid signal \"\(text)\"")
    }
}
