import Foundation

/// Events-per-minute limits per client key, in fixed one-minute windows. A plain value: the caller keeps it
/// behind a lock and passes the time in.
public struct RateLimiter: Sendable {
    private var windows: [String: (minute: Int64, count: Int)] = [:]

    public init() {}

    /// Counts one event for `key`; returns `nil` when allowed, else the seconds until the window ends.
    public mutating func admit(key: String, limit: Int, now: Date) -> Int? {
        let seconds = now.timeIntervalSince1970
        let minute = Int64((seconds / 60).rounded(.down))
        var window = windows[key] ?? (minute, 0)
        if window.minute != minute { window = (minute, 0) }
        guard window.count < limit else {
            return max(1, Int((Double(minute + 1) * 60 - seconds).rounded(.up)))
        }
        window.count += 1
        windows[key] = window
        if windows.count > 10_000 { windows = windows.filter { $0.value.minute == minute } }
        return nil
    }
}
