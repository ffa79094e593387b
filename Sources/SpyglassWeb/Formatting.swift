import Foundation
import SpyglassProtocol

/// Small text and SVG helpers for the pages. Everything here produces plain text; templates escape it.
enum Formatting {
    /// "seconds", "5 minutes", "3 hours", "2 days", "4 months", "1 year".
    static func age(_ date: Date, now: Date) -> String {
        let seconds = max(0, now.timeIntervalSince(date))
        func unit(_ value: Double, _ name: String) -> String {
            let count = whole(value)
            return "\(count) \(name)\(count == 1 ? "" : "s")"
        }
        switch seconds {
        case ..<60: return "seconds"
        case ..<3600: return unit(max(1, seconds / 60), "minute")
        case ..<86_400: return unit(seconds / 3600, "hour")
        case ..<(86_400 * 30): return unit(seconds / 86_400, "day")
        case ..<(86_400 * 365): return unit(seconds / (86_400 * 30), "month")
        default: return unit(seconds / (86_400 * 365), "year")
        }
    }

    /// "5 minutes ago" (or "just now").
    static func ago(_ date: Date, now: Date) -> String {
        let text = age(date, now: now)
        return text == "seconds" ? "just now" : text + " ago"
    }

    static func iso(_ date: Date) -> String { date.formatted(.iso8601) }

    /// `2026-11-25 06:52:48 UTC`.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0,
            c.second ?? 0)
    }

    /// `06:52:48.123` (breadcrumb times); empty for a time no clock shows (not finite, or beyond Int64 ms).
    static func clock(_ date: Date) -> String {
        // Whole milliseconds first: .123 stored as a double must not show as .122.
        guard let millis = Int64(exactly: (date.timeIntervalSince1970 * 1000).rounded()) else { return "" }
        let ofDay = ((millis % 86_400_000) + 86_400_000) % 86_400_000
        let seconds = Int(ofDay / 1000)
        return String(format: "%02d:%02d:%02d.%03d", seconds / 3600, seconds % 3600 / 60, seconds % 60, Int(ofDay % 1000))
    }

    /// Polyline points for a 96×24 sparkline of `counts`.
    static func sparkline(_ counts: [Int], width: Double = 96, height: Double = 24) -> String {
        guard counts.count > 1 else { return "0,\(height - 1) \(width),\(height - 1)" }
        let peak = Double(max(counts.max() ?? 0, 1))
        let step = width / Double(counts.count - 1)
        return counts.enumerated().map { index, count in
            let x = Double(index) * step
            let y = (height - 1) - (Double(count) / peak) * (height - 2)
            return "\(format(x)),\(format(y))"
        }.joined(separator: " ")
    }

    struct Bar {
        var x: String
        var y: String
        var width: String
        var height: String
        var label: String
    }

    /// Bars for a histogram `width`×`height` (each bar's label shows in its tooltip).
    static func bars(_ counts: [(label: String, count: Int)], width: Double = 240, height: Double = 48) -> [Bar] {
        guard !counts.isEmpty else { return [] }
        let peak = Double(max(counts.map(\.count).max() ?? 0, 1))
        let slot = width / Double(counts.count)
        return counts.enumerated().map { index, entry in
            let barHeight = entry.count == 0 ? 1 : max(2, Double(entry.count) / peak * height)
            return Bar(
                x: format(Double(index) * slot), y: format(height - barHeight), width: format(max(1, slot - 1)),
                height: format(barHeight), label: "\(entry.label): \(entry.count) event\(entry.count == 1 ? "" : "s")")
        }
    }

    /// `value` rounded down to an Int, saturating at Int's ends (0 for NaN): stored data may hold any double.
    static func whole(_ value: Double) -> Int {
        let down = value.rounded(.down)
        if let exact = Int(exactly: down) { return exact }
        if down.isNaN { return 0 }
        return down < 0 ? .min : .max
    }

    static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    /// A JSON value as text: strings as they are, everything else as compact JSON.
    static func text(_ value: JSONValue?) -> String {
        guard let value else { return "" }
        switch value {
        case .string(let text): return text
        case .null: return "null"
        default: return JSONWriter.string(value)
        }
    }

    /// Thousands separated: 12 345.
    /// "1 event", "2 events", "12 345 events": a count with its noun, singular for one.
    static func counted(_ value: Int, _ noun: String, plural: String? = nil) -> String {
        "\(count(value)) \(value == 1 ? noun : plural ?? noun + "s")"
    }

    static func count(_ value: Int) -> String {
        let digits = String(value)
        guard digits.count > 4 else { return digits }
        var out = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { out.append("\u{202F}") }
            out.append(character)
        }
        return String(out.reversed())
    }
}
