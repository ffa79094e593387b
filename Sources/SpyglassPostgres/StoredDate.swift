import Foundation

/// Times that the schema keeps as text (`user.created_at`, `project.created_at`, `api_token.last_used_at`, …), in the
/// format SQLite's adapter writes a `Date` in (GRDB's): `YYYY-MM-DD HH:MM:SS.SSS`, UTC, to the millisecond. The same
/// text on both backends lets a copy move rows as they are.
enum StoredDate {
    private static let millisecondsPerDay: Int64 = 86_400_000

    /// `date` as stored: UTC, milliseconds truncated.
    static func text(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let (days, inDay) = floorDivision(milliseconds, millisecondsPerDay)
        let (year, month, day) = civilDate(days: days)
        let hour = inDay / 3_600_000
        let minute = inDay / 60_000 % 60
        let second = inDay / 1000 % 60
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))."
            + pad(inDay % 1000, 3)
    }

    /// The time a stored text names, read as GRDB reads it: `YYYY-MM-DD`, then optionally ` HH:MM`, `:SS` and a
    /// fraction (a `T` may replace the space); nil for anything else.
    static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var milliseconds = days(year: year, month: month, day: day) * millisecondsPerDay
        guard bytes.count > 10 else { return Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
        guard bytes.count >= 16, bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T"),
            bytes[13] == UInt8(ascii: ":"), let hour = number(11..<13), let minute = number(14..<16), hour < 24,
            minute < 60
        else { return nil }
        milliseconds += (hour * 60 + minute) * 60_000
        var seconds = 0.0
        if bytes.count > 16 {
            guard bytes.count >= 19, bytes[16] == UInt8(ascii: ":"), let second = number(17..<19), second < 60 else {
                return nil
            }
            seconds = Double(second)
            if bytes.count > 19 {
                guard bytes[19] == UInt8(ascii: "."), bytes.count > 20, bytes.count <= 29,
                    let fraction = number(20..<bytes.count)
                else { return nil }
                seconds += Double(fraction) / pow(10, Double(bytes.count - 20))
            }
        }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000 + seconds)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    // Days since 1970-01-01 and back, in the proleptic Gregorian calendar (H. Hinnant's civil-date algorithms).
    private static func civilDate(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
