import Foundation
import SpyglassProtocol

/// An event after normalization: the fields the server indexes, and the whole payload as stored.
public struct NormalizedEvent: Sendable {
    /// 32 lower-case hex digits.
    public var eventID: String
    /// When the event happened (after clock-drift and bounds correction).
    public var timestamp: Date
    /// When the server received it.
    public var received: Date
    /// fatal, error, warning, info or debug.
    public var level: String
    public var platform: String
    public var release: String?
    public var environment: String?
    /// The normalized payload (unknown fields kept).
    public var payload: JSONValue
    /// Grouping hashes (``Grouping/hashes(for:)``), most specific first.
    public var hashes: [String]
    /// Title, culprit and metadata for a new issue.
    public var summary: IssueSummary
    /// Tag pairs counted per issue: the event's tags plus level, release, environment, server name, user.
    public var tags: [EventTag]
    /// Who was affected: `id:…`, `email:…`, `username:…` or `ip:…`; nil when unknown.
    public var userKey: String?
    /// Everything the event says about who was affected (with ``userKey``), kept with the issue's users so that
    /// `user.email:` finds a user counted by their id.
    public var user: UserIdentity?
    /// The payload's bytes as sent. When set, they are stored instead of the normalized payload, and the
    /// normalization is applied again on reading (with ``sentAt`` and ``clientIP``): cheaper than writing the
    /// normalized JSON for every event, and the original is kept.
    public var raw: [UInt8]?
    /// The compressed request body ``raw`` came in, when storing that body costs less than compressing ``raw``.
    public var rawBody: CompressedBody?
    /// The envelope's `sent_at`, as normalization used it.
    public var sentAt: Date?
    /// The client's address where normalization used it (`user.ip_address` was `{{auto}}`), else nil.
    public var clientIP: String?

    public init(
        eventID: String, timestamp: Date, received: Date, level: String, platform: String, release: String?,
        environment: String?, payload: JSONValue
    ) {
        self.init(
            eventID: eventID, timestamp: timestamp, received: received, level: level, platform: platform,
            release: release, environment: environment, hashes: Grouping.hashes(for: payload),
            summary: IssueSummary(event: payload), user: payload["user"],
            serverName: payload["server_name"]?.stringValue, tagPairs: payload["tags"]?.arrayValue ?? [])
        self.payload = payload
    }

    /// An event from its derived fields, with a `null` payload: as ``EventNormalizer/normalize(json:context:)`` reads
    /// it without a tree (``raw`` must be set before it is stored).
    init(
        eventID: String, timestamp: Date, received: Date, level: String, platform: String, release: String?,
        environment: String?, hashes: [String], summary: IssueSummary, user: JSONValue?, serverName: String?,
        tagPairs: [JSONValue]
    ) {
        self.eventID = eventID
        self.timestamp = timestamp
        self.received = received
        self.level = level
        self.platform = platform
        self.release = release
        self.environment = environment
        self.payload = .null
        self.hashes = hashes
        self.summary = summary
        self.userKey = Self.userKey(user)?.replacingNUL
        self.user = userKey == nil ? nil : UserIdentity(user)
        self.tags = Self.tags(
            serverName: serverName, pairs: tagPairs, level: level, release: release, environment: environment,
            userKey: userKey)
    }

    /// Replaces the payload after normalization (symbolication): grouping and the summary follow it, and the
    /// payload is stored as it is now, not the bytes as sent.
    public mutating func replacePayload(_ payload: JSONValue) {
        self.payload = payload
        hashes = Grouping.hashes(for: payload)
        summary = IssueSummary(event: payload)
        raw = nil
        rawBody = nil
    }

    static func userKey(_ user: JSONValue?) -> String? {
        for (field, prefix) in [("id", "id"), ("email", "email"), ("username", "username"), ("ip_address", "ip")] {
            switch user?[field] {
            case .string(let text)? where !text.isEmpty: return "\(prefix):\(text.limited(to: 200))"
            case .number(let number)?: return "\(prefix):\(number.literal)"
            default: continue
            }
        }
        return nil
    }

    /// The tags counted: the built-in ones, then the event's normalized tag pairs (`[[key, value], …]`).
    static func tags(
        serverName: String?, pairs: [JSONValue], level: String, release: String?, environment: String?, userKey: String?
    ) -> [EventTag] {
        var tags = [EventTag(key: "level", value: level)]
        if let release { tags.append(EventTag(key: "release", value: release)) }
        if let environment { tags.append(EventTag(key: "environment", value: environment)) }
        if let server = serverName, !server.isEmpty {
            tags.append(EventTag(key: "server_name", value: server.limited(to: 200)))
        }
        if let userKey { tags.append(EventTag(key: "user", value: userKey)) }
        let builtIn = tags.map(\.key)  // at most five: a list is found through faster than a set is built
        for pair in pairs {
            guard let entry = pair.arrayValue, entry.count == 2, let key = entry[0].stringValue, !builtIn.contains(key),
                let value = entry[1].stringValue, !value.isEmpty
            else { continue }
            tags.append(EventTag(key: key, value: value))
            if tags.count >= 50 { break }
        }
        return tags
    }
}

/// One tag of an event.
public struct EventTag: Sendable, Hashable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key.replacingNUL
        self.value = value.replacingNUL
    }
}

/// An affected user's identity as the event gives it: each field at most 200 characters, numbers as written.
public struct UserIdentity: Sendable, Hashable {
    public var id: String?
    public var email: String?
    public var username: String?
    public var ipAddress: String?

    public init(id: String? = nil, email: String? = nil, username: String? = nil, ipAddress: String? = nil) {
        self.id = id
        self.email = email
        self.username = username
        self.ipAddress = ipAddress
    }

    init(_ user: JSONValue?) {
        func field(_ name: String) -> String? {
            switch user?[name] {
            case .string(let text)? where !text.isEmpty: return text.limited(to: 200).replacingNUL
            case .number(let number)?: return number.literal.limited(to: 200)
            default: return nil
            }
        }
        self.init(id: field("id"), email: field("email")?.lowercased(), username: field("username"), ipAddress: field("ip_address"))
    }
}
