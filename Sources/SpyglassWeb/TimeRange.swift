import Foundation
import HTTPTypes
import SpyglassCore
import SpyglassHTTP

/// The time range the stream and the issue page count over: Sentry's `statsPeriod` (`1h`, `24h`, `7d`, `14d`,
/// `30d`, `90d`) or a custom `start`/`end` (days, `YYYY-MM-DD`, UTC, both included). Without one, counts are
/// all-time totals.
struct TimeRange: Equatable {
    var from: Date
    var to: Date
    /// `24h`, or nil for a custom range.
    var period: String?
    var label: String
    /// The histogram's bucket: 5 minutes up to 6 hours (counted from the events), whole hours beyond (from the
    /// hourly counts, which outlive the events retention removes).
    var bucketSeconds: Int

    static var periods: [(id: String, label: String, seconds: Int)] { StatsPeriod.all }

    /// The range the request names (nil: all time); a range it cannot read is an error naming the parameter.
    static func parse(_ parameters: FormQuery, now: Date) throws -> TimeRange? {
        if let period = parameters.get("statsPeriod"), !period.isEmpty {
            guard let known = periods.first(where: { $0.id == period }) else {
                throw WebController.PageError(
                    status: .badRequest, heading: "Unknown time range",
                    text: "statsPeriod: \"\(period.prefix(20))\" is not one of \(periods.map(\.id).joined(separator: ", ")).")
            }
            return TimeRange(from: now.addingTimeInterval(-Double(known.seconds)), to: now, period: known.id, label: known.label)
        }
        let start = parameters.get("start") ?? ""
        let end = parameters.get("end") ?? ""
        guard !start.isEmpty || !end.isEmpty else { return nil }
        guard let first = day(start), let last = day(end) else {
            throw WebController.PageError(status: .badRequest, heading: "Unknown time range", text: "start, end: both are days written YYYY-MM-DD.")
        }
        guard first <= last else { throw WebController.PageError(status: .badRequest, heading: "Unknown time range", text: "start: the range starts after its end.") }
        let to = min(last.addingTimeInterval(86_400), now)
        return TimeRange(from: first, to: max(to, first.addingTimeInterval(60)), period: nil, label: "\(start) to \(end)")
    }

    init(from: Date, to: Date, period: String?, label: String) {
        self.from = from
        self.to = to
        self.period = period
        self.label = label
        let span = to.timeIntervalSince(from)
        // About 30 bars whatever the span.
        bucketSeconds =
            span <= 6 * 3600 ? max(300, Int((span / 30 / 300).rounded(.up)) * 300) : max(3600, Int((span / 30 / 3600).rounded(.up)) * 3600)
    }

    /// `YYYY-MM-DD` as midnight UTC, for days from 1970 to 9999.
    static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]), (1970...9999).contains(year)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            calendar.dateComponents([.year, .month, .day], from: date) == DateComponents(year: year, month: month, day: day)
        else { return nil }
        return date
    }

    /// The query items that name this range (for links that keep it).
    var queryItems: [URLQueryItem] {
        if let period { return [URLQueryItem(name: "statsPeriod", value: period)] }
        return [URLQueryItem(name: "start", value: Self.dayText(from)), URLQueryItem(name: "end", value: Self.dayText(to.addingTimeInterval(-1)))]
    }

    static func dayText(_ date: Date) -> String { String(Formatting.iso(date).prefix(10)) }

    /// The start of each bucket, oldest first.
    var bucketStarts: [Date] {
        let origin = alignedFrom
        let count = max(1, Int((to.timeIntervalSince(origin) / Double(bucketSeconds)).rounded(.up)))
        return (0..<count).map { origin.addingTimeInterval(Double($0 * bucketSeconds)) }
    }

    /// `from`, on an hour for hourly buckets (the hourly counts start on the hour).
    var alignedFrom: Date {
        guard bucketSeconds >= 3600 else { return from }
        return Date(timeIntervalSince1970: (from.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
    }
}
