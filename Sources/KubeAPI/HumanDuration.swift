/// apimachinery's `duration.HumanDuration`, used for AGE columns: `45s`, `3m20s`, `10m`, `5h4m`, `3d4h`, `2y30d`.
/// Values are truncated, never rounded; up to one second in the future still prints `0s` (clock skew).
public enum HumanDuration {
    public static func format(seconds interval: Double) -> String {
        // Out-of-range input (NaN, far beyond any clock) must not trap the Int64 conversion.
        guard interval.isFinite, abs(interval) < 1e15 else { return interval > 0 ? "\(Int64(1e15) / 86400 / 365)y" : "<invalid>" }
        let seconds = Int64(interval.rounded(.towardZero))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 {
            let s = seconds % 60
            return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s"
        }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = seconds / 3600
        if hours < 8 {
            let m = minutes % 60
            return m == 0 ? "\(hours)h" : "\(hours)h\(m)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let h = hours % 24
            return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let days = (hours / 24) % 365
            return days == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(days)d"
        }
        return "\(hours / 24 / 365)y"
    }

    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return format(seconds: Double(seconds) + Double(attoseconds) / 1e18)
    }
}

/// Go's time.Duration.String() for whole seconds, as kubelet prints back-offs and probe timeouts: 10s, 1m20s, 1h0m0s.
public func goDuration(seconds: Int64) -> String {
    if seconds < 60 { return "\(seconds)s" }
    if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
    return "\(seconds / 3600)h\((seconds % 3600) / 60)m\(seconds % 60)s"
}
