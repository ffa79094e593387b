import Foundation

/// How an issue was resolved.
public enum Resolution: Sendable, Hashable {
    /// Resolved without a release: any new event regresses it.
    case now
    /// Resolved in the next release: events of releases up to `current` (the latest when resolving) are covered.
    case inNextRelease(current: String?)
    /// Resolved in release X: events of X and newer releases regress it.
    case inRelease(String)
}

/// Until when an issue stays ignored.
public enum IgnoreCondition: Sendable, Hashable {
    case forever
    /// Until `count` more events arrive.
    case untilCount(Int)
    /// Until `count` more distinct users are affected.
    case untilUserCount(Int)
    /// Until a time.
    case untilDate(Date)
    /// Until its volume exceeds three times its hourly average of the week before (at least 10 an hour).
    case untilEscalating
}

/// An ignored issue's condition with the counters when it was ignored.
public struct IgnoreState: Sendable, Hashable {
    public var condition: IgnoreCondition
    public var timesSeenAtIgnore: Int
    public var usersAtIgnore: Int
    /// Average events per hour in the 7 days before ignoring (for ``IgnoreCondition/untilEscalating``).
    public var hourlyBaseline: Double

    public init(condition: IgnoreCondition, timesSeenAtIgnore: Int, usersAtIgnore: Int, hourlyBaseline: Double) {
        self.condition = condition
        self.timesSeenAtIgnore = timesSeenAtIgnore
        self.usersAtIgnore = usersAtIgnore
        self.hourlyBaseline = hourlyBaseline
    }
}

/// Sentry's issue lifecycle as pure rules: regressions, the end of ignoring, and aging.
public enum Lifecycle {
    /// New and regressed issues become ongoing after this long.
    public static let ongoingAfter: TimeInterval = 7 * 86400

    /// Whether an event of `eventRelease` is covered by `resolution` (the fix was not yet deployed there),
    /// so that it does not regress the issue.
    public static func isCovered(
        _ resolution: Resolution, eventRelease: ReleaseRef?, release: (String) -> ReleaseRef?, ordering: ReleaseOrdering
    ) -> Bool {
        switch resolution {
        case .now:
            return false
        case .inNextRelease(let current):
            guard let event = eventRelease else { return true }
            guard let current, let currentRef = release(current) else { return false }
            return event.version == current || !ordering.isNewer(event, than: currentRef)
        case .inRelease(let fixed):
            guard let event = eventRelease else { return true }
            if event.version == fixed { return false }
            guard let fixedRef = release(fixed) else { return false }
            return ordering.isNewer(fixedRef, than: event)
        }
    }

    /// Whether an ignored issue returns, and as `escalating` (true) or plain unresolved (false);
    /// `nil` while it stays ignored. Counters are the after the new event.
    public static func unignores(
        _ ignore: IgnoreState, timesSeen: Int, userCount: Int, eventsThisHour: Int, now: Date
    ) -> Bool? {
        switch ignore.condition {
        case .forever: return nil
        case .untilCount(let count): return timesSeen - ignore.timesSeenAtIgnore >= count ? false : nil
        case .untilUserCount(let count): return userCount - ignore.usersAtIgnore >= count ? false : nil
        case .untilDate(let date): return now >= date ? false : nil
        case .untilEscalating:
            return Double(eventsThisHour) > max(10, 3 * ignore.hourlyBaseline) ? true : nil
        }
    }

    /// The substatus an unresolved issue has at `now`: `new`/`regressed` turn `ongoing` after 7 days.
    public static func agedSubstatus(_ substatus: String?, since: Date, now: Date) -> String? {
        guard substatus == "new" || substatus == "regressed" else { return substatus }
        return now.timeIntervalSince(since) >= ongoingAfter ? "ongoing" : substatus
    }
}
