import Foundation
import SpyglassProtocol

/// Reads a `log` envelope item (`application/vnd.sentry.items.log+json`): `{"items": [{timestamp, level, body,
/// trace_id, span_id, attributes: {name: {value, type}}}, …]}`, as sentry-sdk 2.x sends it with `enable_logs=True`.
///
/// Sentry's own attributes become columns (`sentry.release`, `sentry.environment`, `sentry.sdk.name`/`version`,
/// `sentry.message.template`, `sentry.severity_number`); the rest are kept, cut to ``Limits``. A line that is not
/// a log line (no body, a time that is no time, a value that is not of its type) is refused with its place, so the
/// sender learns what is wrong instead of losing lines quietly.
public enum LogItems {
    public struct Limits: Sendable, Hashable {
        /// Lines one envelope may carry; Sentry's SDKs send at most 100 at a time.
        public var maxLines = 10_000
        /// Bytes (UTF-8) of a body, an attribute's name and a string value.
        public var maxBody = 8 * 1024
        public var maxAttributes = 100
        public var maxAttributeName = 128
        public var maxStringValue = 4 * 1024

        public init() {}
    }

    /// Attributes stored in columns of their own, not among the attributes.
    static let columnAttributes: Set<String> = [
        "sentry.release", "sentry.environment", "sentry.sdk.name", "sentry.sdk.version", "sentry.message.template",
        "sentry.severity_number", "sentry.severity_text",
    ]

    /// The lines of one item received at `received`; `alreadyRead` lines of the envelope came before (for the limit).
    public static func records(
        _ payload: JSONValue, received: Date, alreadyRead: Int = 0, limits: Limits = Limits()
    ) throws(DomainError) -> [LogRecord] {
        guard let items = payload["items"]?.arrayValue else { throw DomainError(.invalidInput, "expected {\"items\": [log lines]}") }
        guard alreadyRead + items.count <= limits.maxLines else {
            throw DomainError(.invalidInput, "\(alreadyRead + items.count) log lines; an envelope carries at most \(limits.maxLines)")
        }
        var records: [LogRecord] = []
        records.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            var line = try record(item, at: "items[\(index)]", limits: limits)  // the path is built only for an error
            // A time ahead of the server's is the sender's clock (or a line that would stay newest and outlive
            // retention): the line counts as received now.
            if line.timestamp > received.addingTimeInterval(60) { line.timestamp = received }
            records.append(line)
        }
        return records
    }

    static func record(_ item: JSONValue, at path: @autoclosure () -> String, limits: Limits) throws(DomainError) -> LogRecord {
        guard item.objectValue != nil else { throw DomainError(.invalidInput, "\(path()): expected a log line object") }
        guard let timestamp = Timestamp.parse(item["timestamp"]) else {
            throw DomainError(.invalidInput, "\(path()).timestamp: \(Timestamp.expected)")
        }
        guard let body = item["body"]?.stringValue else { throw DomainError(.invalidInput, "\(path()).body: expected a string") }
        var attributes: [LogAttribute] = []
        var sentry: [String: LogValue] = [:]
        if let value = item["attributes"], !value.isNull {
            guard let object = value.objectValue else { throw DomainError(.invalidInput, "\(path()).attributes: expected an object") }
            for member in object {
                guard let typed = try attribute(member.value, at: "\(path()).attributes.\(clean(member.key, bytes: 64))", limits: limits)
                else { continue }
                if columnAttributes.contains(member.key) {
                    sentry[member.key] = typed
                } else if attributes.count < limits.maxAttributes {
                    attributes.append(LogAttribute(name: clean(member.key, bytes: limits.maxAttributeName), value: typed))
                }
            }
        }
        var severity: Int?
        if case .integer(let number)? = sentry["sentry.severity_number"], (1...24).contains(number) { severity = Int(number) }
        let level: LogLevel
        if let text = item["level"]?.stringValue, let named = LogLevel(name: text) {
            level = named
        } else if let severity, let numbered = LogLevel(severityNumber: severity) {
            level = numbered
        } else {
            throw DomainError(.invalidInput, "\(path()).level: expected one of trace, debug, info, warn, error, fatal")
        }
        if let number = item["severity_number"]?.int64Value, (1...24).contains(number) { severity = Int(number) }
        if let known = severity, LogLevel(severityNumber: known) != level { severity = nil }  // contradicts the level: the level wins
        func text(_ name: String, _ limit: Int = 200) -> String? {
            guard case .string(let value)? = sentry[name], !value.isEmpty else { return nil }
            return clean(value, bytes: limit)
        }
        attributes.sort { $0.name < $1.name }
        let sdk = [text("sentry.sdk.name", 64), text("sentry.sdk.version", 64)].compactMap { $0 }.joined(separator: " ")
        return LogRecord(
            timestamp: timestamp, level: level, severityNumber: severity, body: clean(body, bytes: limits.maxBody),
            template: text("sentry.message.template", limits.maxBody), traceID: try hex(item["trace_id"], digits: 32, at: "\(path()).trace_id"),
            spanID: try hex(item["span_id"], digits: 16, at: "\(path()).span_id"), release: text("sentry.release"),
            environment: text("sentry.environment", 64), sdk: sdk.isEmpty ? nil : sdk, attributes: attributes)
    }

    /// `{"value": …, "type": "string" | "integer" | "double" | "boolean"}`; a type Spyglass does not know keeps
    /// its value as JSON text; nil for a null value.
    static func attribute(_ value: JSONValue, at path: @autoclosure () -> String, limits: Limits) throws(DomainError) -> LogValue? {
        guard value.objectValue != nil else { throw DomainError(.invalidInput, "\(path()): expected {\"value\": …, \"type\": …}") }
        guard let raw = value["value"], !raw.isNull else { return nil }
        switch value["type"]?.stringValue {
        case "string"?:
            guard let text = raw.stringValue else { throw DomainError(.invalidInput, "\(path()).value: expected a string") }
            return .string(clean(text, bytes: limits.maxStringValue))
        case "integer"?:
            // Sentry's SDKs send integers as numbers, some as strings of digits.
            guard let number = raw.int64Value ?? raw.stringValue.flatMap({ Int64($0) }) else {
                throw DomainError(.invalidInput, "\(path()).value: expected an integer within 64 bits")
            }
            return .integer(number)
        case "double"?:
            guard let number = raw.doubleValue ?? raw.stringValue.flatMap({ Double($0) }), number.isFinite else {
                throw DomainError(.invalidInput, "\(path()).value: expected a finite number")
            }
            return .double(number)
        case "boolean"?:
            guard let flag = raw.boolValue else { throw DomainError(.invalidInput, "\(path()).value: expected true or false") }
            return .boolean(flag)
        default:
            return .string(clean(raw.stringValue ?? JSONWriter.string(raw), bytes: limits.maxStringValue))
        }
    }

    /// At most `bytes` UTF-8 bytes, cut between Unicode scalars (a character of a letter and thousands of combining
    /// marks is no short text), each NUL replaced: PostgreSQL's text holds none.
    static func clean(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text.replacingNUL }
        var kept = String.UnicodeScalarView()
        var count = 0
        for scalar in text.unicodeScalars {
            let width = UTF8.width(scalar)
            guard count + width <= bytes else { break }
            count += width
            kept.append(scalar)
        }
        return String(kept).replacingNUL
    }

    /// A trace or span id: `digits` hex digits (lowercased), or nil when absent.
    static func hex(_ value: JSONValue?, digits: Int, at path: @autoclosure () -> String) throws(DomainError) -> String? {
        guard let value, !value.isNull else { return nil }
        guard let text = value.stringValue, text.utf8.count == digits, text.utf8.allSatisfy(\.isHexDigit) else {
            throw DomainError(.invalidInput, "\(path()): expected \(digits) hex digits")
        }
        return text.lowercased()
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool { (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self) }
}
