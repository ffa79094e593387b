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

    /// The lines of one item received at `received`; `alreadyRead` lines of the envelope came before (for the limit).
    /// Ingest reads the bytes instead (``records(json:received:alreadyRead:limits:)``); this reading of the parsed
    /// tree is the plain statement of the rules, which the tests and the `json` fuzz target check that one against.
    public static func records(
        _ payload: JSONValue, received: Date, alreadyRead: Int = 0, limits: Limits = Limits()
    ) throws(DomainError) -> [LogRecord] {
        guard let items = payload["items"]?.arrayValue else { throw DomainError(.invalidInput, expectedItems) }
        guard alreadyRead + items.count <= limits.maxLines else { throw tooMany(alreadyRead + items.count, limits) }
        var records: [LogRecord] = []
        records.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            // The path is built only for an error.
            records.append(try record(LineFields(item), at: "items[\(index)]", received: received, limits: limits))
        }
        return records
    }

    /// The lines of an item's JSON as received, read as ``records(_:received:alreadyRead:limits:)`` reads its parsed
    /// tree, with the same lines and the same errors, but straight from the bytes: no tree of the item is built and
    /// freed (a line costs ~13 % less CPU: docs/performance.md). Throws a `JSONParser.Error` for JSON that does not
    /// parse (before any other error, as parsing first would), else a ``DomainError``.
    public static func records(
        json bytes: [UInt8], received: Date, alreadyRead: Int = 0, limits: Limits = Limits()
    ) throws -> [LogRecord] {
        try bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(buffer)
            // The last "items" member wins, as in a parsed object.
            var items: ItemsRead?
            if reader.atObject {
                try reader.members(depth: 0) { reader, name in
                    guard name == "items" else { return try reader.skip(depth: 1) }
                    items = try readItems(&reader, received: received, alreadyRead: alreadyRead, limits: limits)
                }
            } else {
                try reader.skip(depth: 0)
            }
            try reader.finish()
            guard let items, items.isArray else { throw DomainError(.invalidInput, expectedItems) }
            guard alreadyRead + items.count <= limits.maxLines else { throw tooMany(alreadyRead + items.count, limits) }
            if let error = items.error { throw error }
            return items.records
        }
    }

    private static let expectedItems = "expected {\"items\": [log lines]}"

    private static func tooMany(_ count: Int, _ limits: Limits) -> DomainError {
        DomainError(.invalidInput, "\(count) log lines; an envelope carries at most \(limits.maxLines)")
    }

    /// An `items` member as read from the bytes: its lines up to the first refused one (whose error is kept and
    /// thrown once the whole document has parsed) or the limit, and how many elements it has.
    private struct ItemsRead {
        var isArray = true
        var records: [LogRecord] = []
        var count = 0
        var error: DomainError?
    }

    private static func readItems(
        _ reader: inout JSONReader, received: Date, alreadyRead: Int, limits: Limits
    ) throws -> ItemsRead {
        var read = ItemsRead()
        guard reader.atArray else {
            try reader.skip(depth: 1)
            read.isArray = false
            return read
        }
        try reader.elements(depth: 1) { reader, index in
            read.count += 1
            guard read.error == nil, alreadyRead + read.count <= limits.maxLines else {
                return try reader.skip(depth: 2)
            }
            let fields = try LineFields(reading: &reader, depth: 2)
            do throws(DomainError) {
                read.records.append(try record(fields, at: "items[\(index)]", received: received, limits: limits))
            } catch {
                read.error = error
            }
        }
        return read
    }

    /// The members of a line that make its record (the last of duplicates, as in a parsed object).
    struct LineFields {
        var isObject = true
        var timestamp: JSONValue?
        var body: JSONValue?
        var level: JSONValue?
        var severityNumber: JSONValue?
        var traceID: JSONValue?
        var spanID: JSONValue?
        /// nil when absent or null; each attribute at its first name's place with its last value.
        var attributes: Attributes?

        enum Attributes {
            case notObject
            case members([(name: String, value: AttributeField)])
        }

        /// An attribute's `{"value": …, "type": …}`.
        enum AttributeField {
            case notObject
            case typed(value: JSONValue?, type: JSONValue?)

            init(_ value: JSONValue) {
                guard case .object(let object) = value else {
                    self = .notObject
                    return
                }
                self = .typed(value: object["value"], type: object["type"])
            }
        }

        init(_ item: JSONValue) {
            guard case .object(let object) = item else {
                isObject = false
                return
            }
            timestamp = object["timestamp"]
            body = object["body"]
            level = object["level"]
            severityNumber = object["severity_number"]
            traceID = object["trace_id"]
            spanID = object["span_id"]
            if let value = object["attributes"], !value.isNull {
                guard case .object(let members) = value else {
                    attributes = .notObject
                    return
                }
                attributes = .members(members.map { (name: $0.key, value: AttributeField($0.value)) })
            }
        }

        init(reading reader: inout JSONReader, depth: Int) throws {
            guard reader.atObject else {
                try reader.skip(depth: depth)
                isObject = false
                return
            }
            var fields = LineFields()
            // Names matched as bytes (JSONReader.Names): a line's members are read thousands of times a second.
            try reader.members(depth: depth, names: Self.lineNames) { reader, name in
                let depth = depth + 1
                switch name {
                case 0?: fields.timestamp = try reader.value(depth: depth)
                case 1?: fields.body = try reader.value(depth: depth)
                case 2?: fields.level = try reader.value(depth: depth)
                case 3?: fields.severityNumber = try reader.value(depth: depth)
                case 4?: fields.traceID = try reader.value(depth: depth)
                case 5?: fields.spanID = try reader.value(depth: depth)
                case 6?: fields.attributes = try Self.readAttributes(&reader, depth: depth)
                default: try reader.skip(depth: depth)
                }
            }
            self = fields
        }

        private init() {}

        private static let lineNames = JSONReader.Names([
            "timestamp", "body", "level", "severity_number", "trace_id", "span_id", "attributes",
        ])
        private static let attributeNames = JSONReader.Names(["value", "type"])

        private static func readAttributes(_ reader: inout JSONReader, depth: Int) throws -> Attributes? {
            guard reader.atObject else {
                return try reader.value(depth: depth).isNull ? nil : .notObject
            }
            var members: [(name: String, value: AttributeField)] = []
            // Duplicate names: the last value at the first one's place, as the parser keeps them (indexed when
            // many, so that stays linear).
            var index: [String: Int]?
            try reader.members(depth: depth) { reader, name in
                let value = try readAttribute(&reader, depth: depth + 1)
                if members.count >= 16 && index == nil {
                    index = Dictionary(
                        members.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { _, last in last })
                }
                let length = name.utf8.count
                if let position = index.map({ $0[name] })
                    ?? members.firstIndex(where: { $0.name.utf8.count == length && $0.name == name })
                {
                    members[position].value = value
                } else {
                    index?[name] = members.count
                    members.append((name, value))
                }
            }
            return .members(members)
        }

        private static func readAttribute(_ reader: inout JSONReader, depth: Int) throws -> AttributeField {
            guard reader.atObject else {
                try reader.skip(depth: depth)
                return .notObject
            }
            var value: JSONValue?
            var type: JSONValue?
            try reader.members(depth: depth, names: attributeNames) { reader, name in
                switch name {
                case 0?: value = try reader.value(depth: depth + 1)
                case 1?: type = try reader.value(depth: depth + 1)
                default: try reader.skip(depth: depth + 1)
                }
            }
            return .typed(value: value, type: type)
        }
    }

    static func record(
        _ item: LineFields, at path: @autoclosure () -> String, received: Date, limits: Limits
    ) throws(DomainError) -> LogRecord {
        guard item.isObject else { throw DomainError(.invalidInput, "\(path()): expected a log line object") }
        guard var timestamp = Timestamp.parse(item.timestamp) else {
            throw DomainError(.invalidInput, "\(path()).timestamp: \(Timestamp.expected)")
        }
        // A time ahead of the server's is the sender's clock (or a line that would stay newest and outlive
        // retention): the line counts as received now.
        if timestamp > received.addingTimeInterval(60) { timestamp = received }
        guard let body = item.body?.stringValue else {
            throw DomainError(.invalidInput, "\(path()).body: expected a string")
        }
        var attributes: [LogAttribute] = []
        var release: String?
        var environment: String?
        var sdkName: String?
        var sdkVersion: String?
        var template: String?
        var severity: Int?
        switch item.attributes {
        case nil:
            break
        case .notObject?:
            throw DomainError(.invalidInput, "\(path()).attributes: expected an object")
        case .members(let members)?:
            for member in members {
                // The place is built only for an error (an autoclosure).
                guard
                    let typed = try attribute(
                        member.value, at: "\(path()).attributes.\(clean(member.name, bytes: 64))", limits: limits)
                else { continue }
                // Sentry's own attributes become columns (a switch: no hashing of every name).
                func text(_ limit: Int = 200) -> String? {
                    guard case .string(let value) = typed, !value.isEmpty else { return nil }
                    return clean(value, bytes: limit)
                }
                switch member.name {
                case "sentry.release": release = text()
                case "sentry.environment": environment = text(64)
                case "sentry.sdk.name": sdkName = text(64)
                case "sentry.sdk.version": sdkVersion = text(64)
                case "sentry.message.template": template = text(limits.maxBody)
                case "sentry.severity_number":
                    if case .integer(let number) = typed, (1...24).contains(number) { severity = Int(number) }
                case "sentry.severity_text":
                    break
                default:
                    if attributes.count < limits.maxAttributes {
                        let name = clean(member.name, bytes: limits.maxAttributeName)
                        attributes.append(LogAttribute(name: name, value: typed))
                    }
                }
            }
        }
        let level: LogLevel
        if let text = item.level?.stringValue, let named = LogLevel(name: text) {
            level = named
        } else if let severity, let numbered = LogLevel(severityNumber: severity) {
            level = numbered
        } else {
            throw DomainError(.invalidInput, "\(path()).level: expected one of trace, debug, info, warn, error, fatal")
        }
        if let number = item.severityNumber?.int64Value, (1...24).contains(number) { severity = Int(number) }
        if let known = severity, LogLevel(severityNumber: known) != level { severity = nil }  // contradicts the level: the level wins
        attributes.sort { $0.name < $1.name }
        let sdk = [sdkName, sdkVersion].compactMap { $0 }.joined(separator: " ")
        return LogRecord(
            timestamp: timestamp, level: level, severityNumber: severity, body: clean(body, bytes: limits.maxBody),
            template: template, traceID: try hex(item.traceID, digits: 32, at: "\(path()).trace_id"),
            spanID: try hex(item.spanID, digits: 16, at: "\(path()).span_id"), release: release,
            environment: environment, sdk: sdk.isEmpty ? nil : sdk, attributes: attributes)
    }

    /// `{"value": …, "type": "string" | "integer" | "double" | "boolean"}`; a type Spyglass does not know keeps
    /// its value as JSON text; nil for a null value.
    static func attribute(
        _ field: LineFields.AttributeField, at path: @autoclosure () -> String, limits: Limits
    ) throws(DomainError) -> LogValue? {
        guard case .typed(let value, let type) = field else {
            throw DomainError(.invalidInput, "\(path()): expected {\"value\": …, \"type\": …}")
        }
        guard let raw = value, !raw.isNull else { return nil }
        switch type?.stringValue {
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
        // Most SDKs write lowercase already: no copy then.
        return text.utf8.contains(where: { (65...70).contains($0) }) ? text.lowercased() : text
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool { (48...57).contains(self) || (65...70).contains(self) || (97...102).contains(self) }
}

/// An envelope's `log` items as received, not read yet: ingest reads them where it stores them (the log writer's
/// reading thread, at the lowest CPU priority, so a burst of lines never takes the CPU that error ingest needs).
public struct UnreadLogItems: Sendable {
    public struct Item: Sendable {
        /// The item's place in its envelope (for errors).
        public var index: Int
        public var payload: [UInt8]

        public init(index: Int, payload: [UInt8]) {
            self.index = index
            self.payload = payload
        }
    }

    public var items: [Item]
    public var limits: LogItems.Limits

    public init(items: [Item] = [], limits: LogItems.Limits) {
        self.items = items
        self.limits = limits
    }

    /// Bytes the items hold.
    public var size: Int { items.reduce(0) { $0 + $1.payload.count } }

    /// The lines of every item in order (``LogItems/records(json:received:alreadyRead:limits:)``), the limit counted
    /// from `alreadyRead` over all of them; the first item that cannot be read throws, naming its place.
    public func read(received: Date, alreadyRead: Int = 0) throws(UnreadLogItems.Failure) -> [LogRecord] {
        var records: [LogRecord] = []
        for item in items {
            do {
                records += try LogItems.records(
                    json: item.payload, received: received, alreadyRead: alreadyRead + records.count, limits: limits)
            } catch let error as DomainError {
                throw Failure(index: item.index, message: error.message)
            } catch {
                throw Failure(index: item.index, message: "invalid JSON: \(error)")
            }
        }
        return records
    }

    /// A `log` item that cannot be read: its place in the envelope and what is wrong.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var index: Int
        public var message: String

        public init(index: Int, message: String) {
            self.index = index
            self.message = message
        }

        public var description: String { "item \(index) (log): \(message)" }
    }
}

extension LogLevel {
    /// Lines per level.
    public static func counts(_ records: [LogRecord]) -> [LogLevel: Int] {
        var counts: [LogLevel: Int] = [:]
        for record in records { counts[record.level, default: 0] += 1 }
        return counts
    }
}
