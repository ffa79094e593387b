import Logging
import Spyglass
import SpyglassProtocol

/// A swift-log handler that turns `error` and `critical` logs into Spyglass events and `info`, `notice` and
/// `warning` logs into breadcrumbs; with the SDK's `enableLogs`, records at ``logsLevel`` or above are also sent
/// as structured log lines (their metadata as typed attributes, in the scope's trace), which the server shows on
/// its Logs page and beside the error of the same trace. Combine it with your usual handler:
///
/// ```swift
/// LoggingSystem.bootstrap { label in
///     MultiplexLogHandler([StreamLogHandler.standardOutput(label: label), SpyglassLogHandler(label: label)])
/// }
/// ```
///
/// The log's `error:` (or an `error` metadata value that is an `Error`) becomes the event's
/// exception; other metadata goes to the event's extra data (or the breadcrumb's data, or the log line's
/// attributes: integers, floating-point numbers and booleans keep their type, everything else is text).
public struct SpyglassLogHandler: LogHandler {
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    /// Logs at this level or above become events.
    public var eventLevel: Logger.Level
    /// Logs at this level or above (and below ``eventLevel``) become breadcrumbs.
    public var breadcrumbLevel: Logger.Level
    /// Logs at this level or above are sent as log lines when the SDK's `enableLogs` is on; nil: none.
    public var logsLevel: Logger.Level?

    public init(
        label: String, eventLevel: Logger.Level = .error, breadcrumbLevel: Logger.Level = .info, logsLevel: Logger.Level? = .info
    ) {
        self.label = label
        self.logsLevel = logsLevel
        // swift-log filters by `logLevel` before the handler sees a record: let through what any threshold takes.
        self.logLevel = min(eventLevel, breadcrumbLevel, logsLevel ?? breadcrumbLevel)
        self.eventLevel = eventLevel
        self.breadcrumbLevel = breadcrumbLevel
        SpyglassSDK.register(integration: "swift-log")
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event log: LogEvent) {
        let level = log.level
        let sendsLine = logsLevel.map { level >= $0 } == true && SpyglassSDK.sendsLogs
        guard level >= breadcrumbLevel || level >= eventLevel || sendsLine else { return }
        var all = self.metadata
        if let explicit = log.metadata { all.merge(explicit) { _, new in new } }
        // The line first: an error's event then finds it sent in the same trace.
        if sendsLine { SpyglassSDK.capture(log: line(log, metadata: all)) }
        guard level >= breadcrumbLevel || level >= eventLevel else { return }
        if level >= eventLevel {
            var event = SpyglassEvent(level: Self.level(level), message: log.message.description)
            event.messageTemplate = log.message.description
            event.logger = label
            var error = log.error
            for (key, value) in all {
                if key == "error", error == nil, case .stringConvertible(let convertible) = value, let value = convertible as? any Error {
                    error = value
                    continue
                }
                event.extra[key] = Self.json(value)
            }
            event.extra["source"] = .string(log.source)
            event.extra["log_location"] = .string("\(log.file):\(log.line) \(log.function)")
            if let error {
                event.exceptions = SpyglassSDK.exceptions(for: error, mechanism: "logging")
            } else {
                event.threadStack = CapturedStack.capture(skip: 1)
            }
            SpyglassSDK.capture(event: event)
        } else {
            var data: [String: String] = [:]
            for (key, value) in all { data[key] = value.description }
            SpyglassSDK.addBreadcrumb(
                Breadcrumb(message: log.message.description, category: label, level: Self.level(level), type: "default", data: data))
        }
    }

    /// The record as a log line: its metadata typed, the logger's label and the code location as attributes
    /// (OpenTelemetry's names).
    func line(_ log: LogEvent, metadata: Logger.Metadata) -> SpyglassLog {
        var attributes: [String: SpyglassLogAttribute] = [
            "logger.name": .string(label), "code.file.path": .string(log.file), "code.line.number": .integer(Int64(clamping: log.line)),
            "code.function.name": .string(log.function), "sentry.origin": .string("auto.log.swift_log"),
        ]
        if log.source != label { attributes["logger.source"] = .string(log.source) }
        for (key, value) in metadata { attributes[key] = Self.attribute(value) }
        if let error = log.error { attributes["error"] = .string(String(describing: error)) }
        return SpyglassLog(level: Self.logLevel(log.level), body: log.message.description, attributes: attributes)
    }

    static func logLevel(_ level: Logger.Level) -> SpyglassLogLevel {
        switch level {
        case .trace: .trace
        case .debug: .debug
        case .info, .notice: .info
        case .warning: .warn
        case .error: .error
        case .critical: .fatal
        }
    }

    /// A metadata value with its type where it has one Sentry's logs know.
    static func attribute(_ value: Logger.Metadata.Value) -> SpyglassLogAttribute {
        guard case .stringConvertible(let convertible) = value else { return .string(value.description) }
        switch convertible {
        case let flag as Bool: return .boolean(flag)
        case let number as any BinaryInteger: return Int64(exactly: number).map(SpyglassLogAttribute.integer) ?? .string(convertible.description)
        case let number as Double: return .double(number)
        case let number as Float: return .double(Double(number))
        default: return .string(convertible.description)
        }
    }

    static func level(_ level: Logger.Level) -> SpyglassLevel {
        switch level {
        case .trace, .debug: .debug
        case .info, .notice: .info
        case .warning: .warning
        case .error: .error
        case .critical: .fatal
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary): .object(JSONObject(dictionary.mapValues(json)))
        }
    }
}
