import Foundation

/// The text the account and project tables keep their dates in (`created_at` of `user`, `project`, `project_key`,
/// `project_member`, …): `YYYY-MM-DD HH:MM:SS.SSS` in UTC, as GRDB writes a `Date`. PostgreSQL keeps the same text
/// (the schemas match column for column); these read and write it as GRDB does, so both backends give equal dates.
package enum StoredDate {
    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.locale = Locale(identifier: "en_US_POSIX")
        calendar.timeZone = .gmt
        return calendar
    }()

    /// `date` as stored: milliseconds truncated, as GRDB's formatter writes them.
    package static func text(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let whole = calendar.date(from: parts) ?? date
        let milliseconds = min(999, max(0, Int((date.timeIntervalSince(whole) * 1000).rounded(.down))))
        func pad(_ value: Int?, _ width: Int) -> String {
            let digits = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2)) "
            + "\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2)).\(pad(milliseconds, 3))"
    }

    /// The date of stored text (`YYYY-MM-DD`, then optionally ` HH:MM`, `:SS` and `.S` to `.SSS…`), computed as GRDB
    /// computes it (calendar components, fractions to the millisecond); nil for other text.
    package static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ width: Int) -> Int? {
            guard index + width <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + width)] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += width
            return value
        }
        func skip(_ separator: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == separator else { return false }
            index += 1
            return true
        }
        var parts = DateComponents()
        guard let year = number(4), skip(0x2D), let month = number(2), skip(0x2D), let day = number(2) else {
            return nil
        }
        (parts.year, parts.month, parts.day) = (year, month, day)
        if index < bytes.count {
            guard skip(0x20) || skip(0x54), let hour = number(2), skip(0x3A), let minute = number(2) else { return nil }
            (parts.hour, parts.minute) = (hour, minute)
            if skip(0x3A) {
                guard let second = number(2) else { return nil }
                parts.second = second
                if skip(0x2E) {
                    var scale = 100_000_000
                    var nanosecond = 0
                    while scale >= 1_000_000, let digit = number(1) {
                        nanosecond += digit * scale
                        scale /= 10
                    }
                    parts.nanosecond = nanosecond
                }
            }
        }
        guard let date = calendar.date(from: parts) else { return nil }
        return Date(timeIntervalSinceReferenceDate: date.timeIntervalSinceReferenceDate)
    }
}
