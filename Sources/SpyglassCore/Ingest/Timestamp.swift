import Foundation
import SpyglassProtocol

/// Timestamps as SDKs send them: RFC 3339 strings (time zone optional, UTC assumed) or epoch seconds.
///
/// Only times from 1970 (Relay drops earlier ones as stale) to the end of year 9999 are timestamps: anything
/// else is no time an SDK recorded, and every later conversion (milliseconds, calendar fields) stays in range.
public enum Timestamp {
    /// Seconds since 1970 a timestamp may have: 1970-01-01 to 9999-12-31T23:59:59.999.
    public static let validSeconds: ClosedRange<Double> = 0...253_402_300_799.999

    /// Parses a JSON timestamp value; `nil` when it is neither form, not finite ("nan"), or outside
    /// ``validSeconds``.
    public static func parse(_ value: JSONValue?) -> Date? {
        switch value {
        case .number(let number)?:
            return date(seconds: number.doubleValue)
        case .string(let text)?:
            if let seconds = Double(text), !text.contains("-") || text.hasPrefix("-") {
                return date(seconds: seconds)
            }
            return parseRFC3339(text).flatMap { date(seconds: $0.timeIntervalSince1970) }
        default:
            return nil
        }
    }

    /// What a refused timestamp should have been, for error messages.
    public static let expected = "expected an ISO 8601 date or epoch seconds between 1970 and 9999"

    /// The date `seconds` after 1970, when within ``validSeconds``.
    public static func date(seconds: Double) -> Date? {
        validSeconds.contains(seconds) ? Date(timeIntervalSince1970: seconds) : nil
    }

    /// `2026-11-24T21:25:26.220336Z`, `2026-11-24T21:25:26+01:00`, `2026-11-24 21:25:26` (UTC).
    public static func parseRFC3339(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int? {
            guard index + digits <= bytes.count else { return nil }
            var value = 0
            for _ in 0..<digits {
                let byte = bytes[index]
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
                index += 1
            }
            return value
        }
        func expect(_ options: [UInt8]) -> Bool {
            guard index < bytes.count, options.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect([0x2d]), let month = number(2), expect([0x2d]), let day = number(2),
            expect([0x54, 0x74, 0x20]), let hour = number(2), expect([0x3a]), let minute = number(2),
            expect([0x3a]), let second = number(2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60
        else { return nil }
        var fraction = 0.0
        if index < bytes.count && bytes[index] == 0x2e {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offset = 0
        if index < bytes.count {
            switch bytes[index] {
            case 0x5a, 0x7a: index += 1
            case 0x2b, 0x2d:
                let sign = bytes[index] == 0x2d ? -1 : 1
                index += 1
                guard let hours = number(2) else { return nil }
                _ = expect([0x3a])
                guard let minutes = number(2) else { return nil }
                offset = sign * (hours * 3600 + minutes * 60)
            default: return nil
            }
        }
        guard index == bytes.count else { return nil }
        // Days from civil (Howard Hinnant's algorithm), avoiding Calendar for speed.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Double(days * 86400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }
}
