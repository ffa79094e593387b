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

    public init(
        eventID: String, timestamp: Date, received: Date, level: String, platform: String, release: String?,
        environment: String?, payload: JSONValue
    ) {
        self.eventID = eventID
        self.timestamp = timestamp
        self.received = received
        self.level = level
        self.platform = platform
        self.release = release
        self.environment = environment
        self.payload = payload
    }
}
