import Foundation
import SpyglassProtocol

/// Relay's normalization of error events, as a pure function of the payload and the request.
///
/// - Timestamps: strings or numbers; missing or invalid → receive time. With `sent_at` off by ≥ 55 minutes
///   the event time is shifted by that clock drift; then anything more than 60 s in the future or 30 days in
///   the past becomes the receive time.
/// - `message` (string) becomes `logentry.formatted`; `exception`, `breadcrumbs`, `threads` bare lists become
///   `{"values": [...]}`; tags (object or pairs) become a list of `[key, value]` string pairs.
/// - Invalid releases (`latest`, `.`, `..`, newline, tab, slash, backslash, over 200 characters) and the
///   environment `none` are dropped; strings are trimmed to Sentry's limits.
/// - `user.ip_address` `{{auto}}` becomes the client's address.
/// Every correction is recorded in the event's `errors` list, as Sentry shows them.
public struct EventNormalizer: Sendable {
    public static let maxFutureSkew: TimeInterval = 60
    public static let maxAge: TimeInterval = 30 * 86400
    public static let minimumClockDrift: TimeInterval = 55 * 60

    /// What the request tells about the event besides its payload.
    public struct Context: Sendable {
        /// Event id from the envelope header, which wins over the payload's.
        public var envelopeEventID: String?
        /// The envelope's `sent_at`.
        public var sentAt: Date?
        /// The time the request arrived.
        public var received: Date
        /// The client's IP address, for `{{auto}}`.
        public var clientIP: String?

        public init(envelopeEventID: String? = nil, sentAt: Date? = nil, received: Date, clientIP: String? = nil) {
            self.envelopeEventID = envelopeEventID
            self.sentAt = sentAt
            self.received = received
            self.clientIP = clientIP
        }
    }

    public init() {}

    /// Normalizes one event payload; throws a ``DomainError`` (invalid input) for a payload that is no event.
    public func normalize(_ payload: JSONValue, context: Context) throws(DomainError) -> NormalizedEvent {
        guard case .object(var event) = payload else {
            throw DomainError(.invalidInput, "event payload must be a JSON object")
        }
        var errors: [JSONValue] = event["errors"]?.arrayValue ?? []

        // Event id: the envelope header wins; both missing → a new one.
        let eventID: String
        if let header = context.envelopeEventID {
            guard let id = EventID.normalize(header) else {
                throw DomainError(.invalidInput, "envelope header: invalid event_id \"\(header)\"")
            }
            eventID = id
        } else if let given = event["event_id"], !given.isNull {
            guard let text = given.stringValue, let id = EventID.normalize(text) else {
                throw DomainError(.invalidInput, "event: invalid event_id \(JSONWriter.string(given))")
            }
            eventID = id
        } else {
            eventID = EventID.generate()
        }
        event["event_id"] = .string(eventID)

        let timestamp = normalizeTimestamp(&event, context: context, errors: &errors)
        event["received"] = .number(JSONNumber(context.received.timeIntervalSince1970))

        let level = Self.normalizeLevel(event["level"])
        event["level"] = .string(level)
        let platform = Self.platform(event["platform"])
        event["platform"] = .string(platform)

        Self.normalizeMessage(&event)
        for key in ["exception", "breadcrumbs", "threads"] {
            if case .array(let values)? = event[key] { event[key] = .object(["values": .array(values)]) }
        }
        normalizeBreadcrumbTimes(&event, errors: &errors)
        if let tags = event["tags"] { event["tags"] = Self.normalizeTags(tags) }

        let release = Self.validRelease(event["release"], errors: &errors)
        event["release"] = release.map(JSONValue.string)
        let environment = Self.validEnvironment(event["environment"], errors: &errors)
        event["environment"] = environment.map(JSONValue.string)

        for (key, limit) in [("logger", 64), ("transaction", 200), ("culprit", 200), ("server_name", 200), ("dist", 64)] {
            if let text = event[key]?.stringValue { event[key] = .string(text.limited(to: limit)) }
        }

        // The client's address is used (and kept with the event, for normalizing a raw payload again) only where
        // the SDK asked for it.
        var usedClientIP: String?
        if let user = event["user"], let resolved = Self.resolvingAutoIP(user, clientIP: context.clientIP) {
            event["user"] = resolved
            usedClientIP = context.clientIP
        }

        if !errors.isEmpty { event["errors"] = .array(errors) }
        var normalized = NormalizedEvent(
            eventID: eventID, timestamp: timestamp, received: context.received, level: level, platform: platform,
            release: release, environment: environment, payload: .object(event.filter { !$0.value.isNull }))
        normalized.sentAt = context.sentAt
        normalized.clientIP = usedClientIP
        return normalized
    }

    /// `user` with its `ip_address` `{{auto}}` replaced by the client's address (`null` when unknown); nil when it
    /// asks for none.
    static func resolvingAutoIP(_ user: JSONValue, clientIP: String?) -> JSONValue? {
        guard case .object(var members) = user, members["ip_address"]?.stringValue == "{{auto}}" else { return nil }
        members["ip_address"] = clientIP.map(JSONValue.string) ?? .null
        return .object(members)
    }

    /// A platform is an identifier (Relay keeps a list of them; SDKs of other languages, ours included with
    /// "swift", send more): anything but ASCII letters, digits and `-_.` reads as "other".
    static func platform(_ value: JSONValue?) -> String {
        value?.stringValue.map { $0.limited(to: 64) }.flatMap { text in
            text.isEmpty || !text.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || "-_.".utf8.contains($0)) })
                ? nil : text
        } ?? "other"
    }

    private func normalizeTimestamp(
        _ event: inout JSONObject, context: Context, errors: inout [JSONValue]
    ) -> Date {
        let timestamp = Self.eventTime(event["timestamp"], context: context, errors: &errors)
        event["timestamp"] = .number(JSONNumber(timestamp.timeIntervalSince1970))
        return timestamp
    }

    /// The event's time from its `timestamp` member: corrected by the clock drift, and the receive time when
    /// missing, invalid, too far in the future or too old.
    static func eventTime(_ value: JSONValue?, context: Context, errors: inout [JSONValue]) -> Date {
        let received = context.received
        var timestamp = Timestamp.parse(value) ?? received
        if let sentAt = context.sentAt {
            let drift = received.timeIntervalSince(sentAt)
            if abs(drift) >= Self.minimumClockDrift {
                timestamp = timestamp.addingTimeInterval(drift)
                errors.append(["type": "clock_drift", "sdk_time": .number(JSONNumber(sentAt.timeIntervalSince1970)),
                               "server_time": .number(JSONNumber(received.timeIntervalSince1970))])
            }
        }
        if timestamp.timeIntervalSince(received) > Self.maxFutureSkew {
            errors.append(["type": "future_timestamp", "name": "timestamp", "value": .number(JSONNumber(timestamp.timeIntervalSince1970))])
            timestamp = received
        } else if received.timeIntervalSince(timestamp) > Self.maxAge {
            errors.append(["type": "past_timestamp", "name": "timestamp", "value": .number(JSONNumber(timestamp.timeIntervalSince1970))])
            timestamp = received
        }
        return timestamp
    }

    /// Breadcrumb times as epoch seconds; a time that is no timestamp (``Timestamp/parse(_:)``: not finite,
    /// before 1970 or after 9999) is removed and noted, as Relay removes stale ones.
    private func normalizeBreadcrumbTimes(_ event: inout JSONObject, errors: inout [JSONValue]) {
        guard case .object(var breadcrumbs)? = event["breadcrumbs"], case .array(var values)? = breadcrumbs["values"]
        else { return }
        var changed = false
        for index in values.indices {
            guard case .object(var crumb) = values[index], let value = crumb["timestamp"], !value.isNull else { continue }
            if let date = Timestamp.parse(value) {
                guard case .string = value else { continue }
                crumb["timestamp"] = .number(JSONNumber(date.timeIntervalSince1970))
            } else {
                let shown: JSONValue =
                    switch value {
                    case .string(let text): .string(text.limited(to: 64))
                    case .number: value
                    default: .string("(not a time)")
                    }
                errors.append(["type": "invalid_data", "name": .string("breadcrumbs.values.\(index).timestamp"), "value": shown])
                crumb["timestamp"] = nil
            }
            values[index] = .object(crumb)
            changed = true
        }
        guard changed else { return }
        breadcrumbs["values"] = .array(values)
        event["breadcrumbs"] = .object(breadcrumbs)
    }

    static func normalizeLevel(_ value: JSONValue?) -> String {
        switch value?.stringValue?.lowercased() {
        case "fatal", "critical": "fatal"
        case "warning", "warn": "warning"
        case "info", "log": "info"
        case "debug", "trace": "debug"
        default: "error"
        }
    }

    static func normalizeMessage(_ event: inout JSONObject) {
        var logentry = event["logentry"]?.objectValue
        switch event["message"] {
        case .string(let text)?:
            if logentry == nil { logentry = ["formatted": .string(text)] }
            event["message"] = nil
        case .object(let legacy)?:
            if logentry == nil { logentry = legacy }
            event["message"] = nil
        default:
            break
        }
        guard var entry = logentry else { return }
        if entry["formatted"]?.stringValue == nil, let template = entry["message"]?.stringValue {
            entry["formatted"] = .string(template)
        }
        for key in ["formatted", "message"] {
            if let text = entry[key]?.stringValue { entry[key] = .string(text.limited(to: 8192)) }
        }
        event["logentry"] = .object(entry)
    }

    static func normalizeTags(_ tags: JSONValue) -> JSONValue {
        var pairs: [(String, String)] = []
        switch tags {
        case .object(let members):
            // One pass over the members (a lookup per key would scan the member list: quadratic in the keys).
            for member in members.members.sorted(by: { $0.key < $1.key }) { pairs.append((member.key, Self.tagText(member.value))) }
        case .array(let elements):
            for element in elements {
                guard let pair = element.arrayValue, pair.count == 2, let key = pair[0].stringValue else { continue }
                pairs.append((key, Self.tagText(pair[1])))
            }
        default:
            break
        }
        return .array(
            pairs.compactMap { key, value in
                let key = key.trimmingWhitespace.limited(to: 200)
                guard !key.isEmpty else { return nil }
                return [.string(key), .string(value.limited(to: 200))]
            })
    }

    private static func tagText(_ value: JSONValue?) -> String {
        switch value {
        case .string(let text)?: text
        case nil, .null?: ""
        case let other?: JSONWriter.string(other)
        }
    }

    /// Releases Sentry refuses (`latest`, `.`, `..`, control characters, slashes, over 200 characters).
    public static func isValidRelease(_ release: String) -> Bool {
        // Byte checks: the refused characters are ASCII, and a UTF-8 byte below 0x80 is always a whole character.
        return !release.isEmpty && release.unicodeScalars.count <= 200
            && !(release.utf8.count <= 6 && [".", "..", "latest"].contains(release.lowercased()))
            // Control characters too: SQLite's length() stops at a NUL, so "\0…" would fail the release table's CHECK.
            && !release.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") })
            && release.trimmingWhitespace == release
    }

    static func validRelease(_ value: JSONValue?, errors: inout [JSONValue]) -> String? {
        guard let value, !value.isNull else { return nil }
        let text: String
        switch value {
        case .string(let string): text = string
        case .number(let number): text = number.literal
        default:
            errors.append(["type": "invalid_data", "name": "release", "value": value])
            return nil
        }
        guard Self.isValidRelease(text) else {
            errors.append(["type": "invalid_data", "name": "release", "value": .string(String(text.prefix(200)))])
            return nil
        }
        return text
    }

    static func validEnvironment(_ value: JSONValue?, errors: inout [JSONValue]) -> String? {
        guard let text = value?.stringValue else { return nil }
        // Printable ASCII without spaces or "/" (what SDKs send): the checks below by bytes, nothing trimmed.
        if text.utf8.count <= 64, text != "none",
            text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }), !text.isEmpty
        {
            return text
        }
        let trimmedText = text.trimmingWhitespace
        guard !trimmedText.isEmpty, trimmedText != "none", trimmedText.count <= 64,
            !trimmedText.contains(where: { $0.isNewline || $0 == "/" }),
            !trimmedText.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            errors.append(["type": "invalid_data", "name": "environment", "value": .string(String(text.prefix(64)))])
            return nil
        }
        return trimmedText
    }
}
