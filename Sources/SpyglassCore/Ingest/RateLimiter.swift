import Foundation
import Synchronization

/// Events-per-minute limits per client key, in fixed one-minute windows. A plain value: the caller keeps it
/// behind a lock and passes the time in.
///
/// With several nodes on one database each node counts what it admits and, once a second, publishes its counts and
/// learns the other nodes' (``RateCountExchange``, ``setOthers(_:minute:)``): a key is refused once its own count
/// plus the others' last known counts reach the limit. Across nodes the limit is approximate: the nodes together
/// may admit up to what the others admitted since their last exchange (about one second of traffic) beyond it.
public struct RateLimiter: Sendable {
    private var windows: [String: (minute: Int64, count: Int)] = [:]
    private var others: (minute: Int64, counts: [String: Int]) = (0, [:])

    public init() {}

    /// The one-minute window `date` falls in.
    public static func minute(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / 60).rounded(.down)) }

    /// Counts one event for `key`; returns `nil` when allowed, else the seconds until the window ends.
    public mutating func admit(key: String, limit: Int, now: Date) -> Int? {
        let seconds = now.timeIntervalSince1970
        let minute = Self.minute(now)
        var window = windows[key] ?? (minute, 0)
        if window.minute != minute { window = (minute, 0) }
        let elsewhere = others.minute == minute ? others.counts[key, default: 0] : 0
        guard window.count + elsewhere < limit else {
            return max(1, Int((Double(minute + 1) * 60 - seconds).rounded(.up)))
        }
        window.count += 1
        windows[key] = window
        if windows.count > 10_000 { windows = windows.filter { $0.value.minute == minute } }
        return nil
    }

    /// What this node admitted per key in `minute` (to publish to the other nodes).
    public func counts(minute: Int64) -> [String: Int] {
        var counts: [String: Int] = [:]
        for (key, window) in windows where window.minute == minute { counts[key] = window.count }
        return counts
    }

    /// What the other nodes admitted per key in `minute`, as last learned.
    public mutating func setOthers(_ counts: [String: Int], minute: Int64) { others = (minute, counts) }
}

/// The per-key limiter behind a lock, shared by the ingest routes and the exchange with other nodes.
public final class SharedRateLimiter: Sendable {
    private let limiter = Mutex(RateLimiter())

    public init() {}

    /// ``RateLimiter/admit(key:limit:now:)``.
    public func admit(key: String, limit: Int, now: Date) -> Int? {
        limiter.withLock { $0.admit(key: key, limit: limit, now: now) }
    }

    /// ``RateLimiter/counts(minute:)``.
    public func counts(minute: Int64) -> [String: Int] { limiter.withLock { $0.counts(minute: minute) } }

    /// ``RateLimiter/setOthers(_:minute:)``.
    public func setOthers(_ counts: [String: Int], minute: Int64) { limiter.withLock { $0.setOthers(counts, minute: minute) } }
}

/// Rate-limit counts shared by the nodes on one database (PostgreSQL; a SQLite server is one node and has none).
public protocol RateCountExchange: Sendable {
    /// Publishes `counts`, what node `node` admitted per key in `minute`, and returns what the other nodes published
    /// for the same minute, summed per key.
    func exchangeRateCounts(node: String, minute: Int64, counts: [String: Int]) async throws -> [String: Int]
}
