import Foundation
import SpyglassProtocol

/// A breadcrumb: something that happened before an event.
public struct Breadcrumb: Sendable, Hashable {
    public var timestamp: Date
    public var category: String?
    public var message: String?
    public var level: SpyglassLevel
    /// `default`, `http`, `navigation`, `query`, …
    public var type: String?
    public var data: [String: String]

    public init(
        message: String? = nil, category: String? = nil, level: SpyglassLevel = .info, type: String? = nil,
        data: [String: String] = [:], timestamp: Date = .now
    ) {
        self.timestamp = timestamp
        self.category = category
        self.message = message
        self.level = level
        self.type = type
        self.data = data
    }

    var json: JSONValue {
        var object: JSONObject = ["timestamp": .number(JSONNumber(timestamp.timeIntervalSince1970)), "level": .string(level.rawValue)]
        if let category { object["category"] = .string(category) }
        if let message { object["message"] = .string(message) }
        if let type { object["type"] = .string(type) }
        if !data.isEmpty { object["data"] = .object(JSONObject(data.mapValues(JSONValue.string))) }
        return .object(object)
    }
}

/// Who was affected.
public struct SpyglassUser: Sendable, Hashable {
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

    var json: JSONValue {
        var object = JSONObject()
        if let id { object["id"] = .string(id) }
        if let email { object["email"] = .string(email) }
        if let username { object["username"] = .string(username) }
        if let ipAddress { object["ip_address"] = .string(ipAddress) }
        return .object(object)
    }
}

/// One exception of an event (a chain has several, the outermost last).
public struct ExceptionValue: Sendable {
    public var type: String
    public var value: String
    public var module: String?
    /// Where it was captured or thrown; symbolicated on the worker.
    public var stack: CapturedStack?
    /// `generic` (captured), `logging`, `signalhandler`, `middleware`…
    public var mechanism: String
    public var handled: Bool
    /// The error itself: its type name and description are worked out on the SDK's worker, not by the caller.
    var source: (any Error)?

    public init(type: String, value: String, module: String? = nil, stack: CapturedStack? = nil, mechanism: String = "generic", handled: Bool = true) {
        self.type = type
        self.value = value
        self.module = module
        self.stack = stack
        self.mechanism = mechanism
        self.handled = handled
    }
}

/// The HTTP request an event happened in.
public struct RequestInfo: Sendable, Hashable {
    public var method: String
    public var url: String
    public var query: String?
    public var headers: [String: String]

    public init(method: String, url: String, query: String? = nil, headers: [String: String] = [:]) {
        self.method = method
        self.url = url
        self.query = query
        self.headers = headers
    }
}

/// An event as the SDK builds it; the worker turns it into Sentry's event payload.
public struct SpyglassEvent: Sendable {
    public var eventID: String
    public var timestamp: Date
    public var level: SpyglassLevel
    /// A message event's text; `formatted` is the text with its parameters, `message` the template.
    public var message: String?
    public var messageTemplate: String?
    /// The chain, innermost cause first, outermost (what was caught) last — Sentry's order.
    public var exceptions: [ExceptionValue] = []
    /// A stack trace for a message (attachStacktrace), or the thread's stack for a crash.
    public var threadStack: CapturedStack?
    public var logger: String?
    public var transaction: String?
    public var tags: [String: String] = [:]
    public var extra: [String: JSONValue] = [:]
    public var contexts: [String: JSONValue] = [:]
    public var user: SpyglassUser?
    public var breadcrumbs: [Breadcrumb] = []
    public var fingerprint: [String]?
    public var request: RequestInfo?
    public var release: String?
    public var environment: String?

    /// 32 random lower-case hex digits (a UUID without dashes), without Foundation's UUID formatting cost.
    static func newEventID() -> String {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~(0xF << 12)) | (0x4 << 12)  // version 4
        low = (low & ~(0x3 << 62)) | (0x2 << 62)  // RFC 4122 variant
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            for index in 0..<16 {
                buffer[index] = digits[Int((high >> UInt64((15 - index) * 4)) & 0xF)]
                buffer[16 + index] = digits[Int((low >> UInt64((15 - index) * 4)) & 0xF)]
            }
            return 32
        }
    }

    public init(level: SpyglassLevel = .error, message: String? = nil, timestamp: Date = .now) {
        self.eventID = Self.newEventID()
        self.timestamp = timestamp
        self.level = level
        self.message = message
    }
}
