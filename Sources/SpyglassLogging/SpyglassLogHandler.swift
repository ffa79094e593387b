import Logging
import Spyglass
import SpyglassProtocol

/// A swift-log handler that turns `error` and `critical` logs into Spyglass events and `info`, `notice` and
/// `warning` logs into breadcrumbs. Combine it with your usual handler:
///
/// ```swift
/// LoggingSystem.bootstrap { label in
///     MultiplexLogHandler([StreamLogHandler.standardOutput(label: label), SpyglassLogHandler(label: label)])
/// }
/// ```
///
/// The log's `error:` (or an `error` metadata value that is an `Error`) becomes the event's
/// exception; other metadata goes to the event's extra data (or the breadcrumb's data).
public struct SpyglassLogHandler: LogHandler {
    public let label: String
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    /// Logs at this level or above become events.
    public var eventLevel: Logger.Level
    /// Logs at this level or above (and below ``eventLevel``) become breadcrumbs.
    public var breadcrumbLevel: Logger.Level

    public init(label: String, eventLevel: Logger.Level = .error, breadcrumbLevel: Logger.Level = .info) {
        self.label = label
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
        guard level >= breadcrumbLevel || level >= eventLevel else { return }
        var all = self.metadata
        if let explicit = log.metadata { all.merge(explicit) { _, new in new } }
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
