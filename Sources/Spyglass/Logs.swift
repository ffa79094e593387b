import Foundation
import SpyglassProtocol

/// A structured log line, sent as a Sentry `log` item: searchable on the server's Logs page, and shown beside the
/// errors of the same trace. Lines are batched (``SpyglassOptions/logBatchSize`` a envelope, or every
/// ``SpyglassOptions/logFlushSeconds``) and sent only with ``SpyglassOptions/enableLogs``.
public struct SpyglassLog: Sendable {
    public var timestamp: Date
    public var level: SpyglassLogLevel
    public var body: String
    /// Typed values: searchable as `name:value` on the server.
    public var attributes: [String: SpyglassLogAttribute]
    /// The trace the line belongs to; nil: the current scope's (``Scope/traceID``).
    public var traceID: String?

    public init(
        level: SpyglassLogLevel, body: String, attributes: [String: SpyglassLogAttribute] = [:], timestamp: Date = .now,
        traceID: String? = nil
    ) {
        self.timestamp = timestamp
        self.level = level
        self.body = body
        self.attributes = attributes
        self.traceID = traceID
    }
}

/// A log line's level: OpenTelemetry's (and Sentry's) six.
public enum SpyglassLogLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case trace, debug, info, warn, error, fatal

    public static func < (lhs: SpyglassLogLevel, rhs: SpyglassLogLevel) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// A log attribute's value with its type, as Sentry's log protocol carries it.
public enum SpyglassLogAttribute: Sendable, Hashable {
    case string(String)
    case integer(Int64)
    case double(Double)
    case boolean(Bool)

    var json: JSONValue {
        switch self {
        case .string(let text): ["type": "string", "value": .string(text)]
        case .integer(let number): ["type": "integer", "value": .number(JSONNumber(number))]
        // JSON has no NaN or infinity: such a value goes as its text.
        case .double(let number) where !number.isFinite: ["type": "string", "value": .string("\(number)")]
        case .double(let number): ["type": "double", "value": .number(JSONNumber(number))]
        case .boolean(let flag): ["type": "boolean", "value": .bool(flag)]
        }
    }
}

/// The trace ids of Sentry's propagation context: 32 and 16 lower-case hex digits (a random UUID's, as Sentry's
/// SDKs make them).
enum TraceIDs {
    static func traceID() -> String { SpyglassEvent.newEventID() }
    static func spanID() -> String { String(SpyglassEvent.newEventID().prefix(16)) }

    /// The trace id of a `sentry-trace` header (`TRACE_ID-SPAN_ID[-SAMPLED]`), nil when it is not one.
    static func traceID(sentryTrace header: String) -> String? {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 2, parts.count <= 3, let trace = parts.first.map(String.init), isTraceID(trace) else { return nil }
        return trace
    }

    /// 32 lower-case hex digits, not all zero (W3C's and Sentry's trace id).
    static func isTraceID(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
            && text.utf8.contains { $0 != UInt8(ascii: "0") }
    }
}

/// Builds a `log` item's payload: `{"items": [...]}` with the SDK's default attributes.
struct LogSerializer {
    let options: SpyglassOptions

    func payload(_ lines: [SpyglassLog]) -> [UInt8] {
        JSONWriter.bytes(["items": .array(lines.map(json))])
    }

    func json(_ line: SpyglassLog) -> JSONValue {
        var attributes = JSONObject()
        attributes["sentry.sdk.name"] = SpyglassLogAttribute.string(SDKInfo.name).json
        attributes["sentry.sdk.version"] = SpyglassLogAttribute.string(SDKInfo.version).json
        attributes["sentry.environment"] = SpyglassLogAttribute.string(options.environment).json
        if let release = options.release { attributes["sentry.release"] = SpyglassLogAttribute.string(release).json }
        if let server = options.serverName, !server.isEmpty { attributes["server.address"] = SpyglassLogAttribute.string(server).json }
        for (name, value) in line.attributes { attributes[name] = value.json }
        var object: JSONObject = [
            "timestamp": .number(JSONNumber(line.timestamp.timeIntervalSince1970)), "level": .string(line.level.rawValue),
            "body": .string(line.body), "attributes": .object(attributes),
        ]
        if let trace = line.traceID { object["trace_id"] = .string(trace) }
        return .object(object)
    }
}
