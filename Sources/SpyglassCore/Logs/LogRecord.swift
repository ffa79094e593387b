import Foundation
import SpyglassProtocol

/// One structured log line, from a Sentry `log` item: what happened (`body`, from `template` and its parameters),
/// when, how bad, in which trace, and the attributes the SDK attached.
public struct LogRecord: Sendable, Hashable {
    public var timestamp: Date
    public var level: LogLevel
    /// OpenTelemetry's severity number (1–24; info is 9).
    public var severityNumber: Int
    public var body: String
    /// `sentry.message.template`: the body before its parameters (`sentry.message.parameter.*` attributes).
    public var template: String?
    /// 32 lowercase hex digits.
    public var traceID: String?
    /// 16 lowercase hex digits.
    public var spanID: String?
    public var release: String?
    public var environment: String?
    /// `sentry.python 2.75.0`.
    public var sdk: String?
    /// The other attributes, ordered by name.
    public var attributes: [LogAttribute]

    public init(
        timestamp: Date, level: LogLevel, severityNumber: Int? = nil, body: String, template: String? = nil, traceID: String? = nil,
        spanID: String? = nil, release: String? = nil, environment: String? = nil, sdk: String? = nil, attributes: [LogAttribute] = []
    ) {
        self.timestamp = timestamp
        self.level = level
        self.severityNumber = severityNumber ?? level.severityNumber
        self.body = body
        self.template = template
        self.traceID = traceID
        self.spanID = spanID
        self.release = release
        self.environment = environment
        self.sdk = sdk
        self.attributes = attributes
    }

    /// The attributes as stored: `{"name": value, …}`, a double always with a fraction or exponent, so each value's
    /// type reads back from its JSON (string, integer, double, boolean).
    public var attributesJSON: String {
        // Names in strictly ascending order (as ``LogItems`` leaves them): unique, written straight out.
        if zip(attributes, attributes.dropFirst()).allSatisfy({ $0.name < $1.name }) {
            var out: [UInt8] = [UInt8(ascii: "{")]
            out.reserveCapacity(attributes.count * 48)
            for (index, attribute) in attributes.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(attribute.name, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONWriter.write(attribute.value.json, to: &out)
            }
            out.append(UInt8(ascii: "}"))
            return String(decoding: out, as: UTF8.self)
        }
        var object = JSONObject()
        for attribute in attributes { object[attribute.name] = attribute.value.json }
        return JSONWriter.string(.object(object))
    }

    /// What the line counts for in retention by size: its texts and attributes as stored, and 64 bytes of the rest.
    public func storedSize(attributesJSON: String) -> Int {
        64 + body.utf8.count + (template?.utf8.count ?? 0) + attributesJSON.utf8.count + (release?.utf8.count ?? 0)
            + (environment?.utf8.count ?? 0) + (sdk?.utf8.count ?? 0)
    }

    /// Reads ``attributesJSON`` back.
    public static func attributes(json text: String) -> [LogAttribute] {
        guard let object = (try? JSONParser.parse(text))?.objectValue else { return [] }
        return object.compactMap { member in LogValue(stored: member.value).map { LogAttribute(name: member.key, value: $0) } }
    }
}

/// A log line's severity, as Sentry's `log` items name it.
public enum LogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case trace, debug, info, warn, error, fatal

    /// OpenTelemetry's number of the level's first severity.
    public var severityNumber: Int {
        switch self {
        case .trace: 1
        case .debug: 5
        case .info: 9
        case .warn: 13
        case .error: 17
        case .fatal: 21
        }
    }

    /// The level a severity number falls in (1–24).
    public init?(severityNumber: Int) {
        guard (1...24).contains(severityNumber) else { return nil }
        self = Self.allCases.last { $0.severityNumber <= severityNumber } ?? .trace
    }

    /// A level's name as SDKs and people write it: `warning` is `warn`, `critical` `fatal`.
    public init?(name: String) {
        if let exact = Self(rawValue: name) {
            self = exact
            return
        }
        switch name.lowercased() {
        case "warning": self = .warn
        case "critical": self = .fatal
        case let text: self.init(rawValue: text)
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.severityNumber < rhs.severityNumber }
}

public struct LogAttribute: Sendable, Hashable {
    public var name: String
    public var value: LogValue

    public init(name: String, value: LogValue) {
        self.name = name
        self.value = value
    }
}

/// An attribute's typed value (Sentry's attribute types).
public enum LogValue: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case boolean(Bool)

    /// Sentry's name of the type.
    public var type: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .double: "double"
        case .boolean: "boolean"
        }
    }

    /// The value as JSON; a double keeps a fraction or an exponent (`2.0`), so it reads back as a double.
    public var json: JSONValue {
        switch self {
        case .string(let text): return .string(text)
        case .integer(let number): return .number(JSONNumber(number))
        case .double(let number):
            guard number.isFinite else { return .string("\(number)") }
            let text = "\(number)"
            return .number(JSONNumber(literal: text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? text : text + ".0"))
        case .boolean(let flag): return .bool(flag)
        }
    }

    /// The value as text (a search compares with it).
    public var text: String {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .double(let number): "\(number)"
        case .boolean(let flag): flag ? "true" : "false"
        }
    }

    /// A value as ``json`` wrote it.
    init?(stored value: JSONValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .bool(let flag): self = .boolean(flag)
        case .number(let number):
            if let integer = number.int64Value { self = .integer(integer) } else { self = .double(number.doubleValue) }
        default: return nil
        }
    }
}
