import Foundation
import SpyglassProtocol

/// A stored event.
public struct EventInfo: Sendable {
    public var eventID: String
    public var projectID: Int64
    public var issueID: Int64?
    public var timestamp: Date
    public var received: Date
    public var payload: JSONValue
    public var hash: String?

    public init(eventID: String, projectID: Int64, issueID: Int64?, timestamp: Date, received: Date, payload: JSONValue, hash: String?) {
        self.eventID = eventID
        self.projectID = projectID
        self.issueID = issueID
        self.timestamp = timestamp
        self.received = received
        self.payload = payload
        self.hash = hash
    }
}

/// A file sent with an event (minidump, log, screenshot…).
public struct AttachmentInfo: Sendable {
    public var id: Int64
    public var filename: String
    public var contentType: String
    public var size: Int

    public init(id: Int64, filename: String, contentType: String, size: Int) {
        self.id = id
        self.filename = filename
        self.contentType = contentType
        self.size = size
    }
}

/// User feedback about an event or the app: a `user_report` item, or a `feedback` item (feedback sent as an event).
public struct UserFeedbackInfo: Sendable, Hashable {
    public var id: Int64
    /// The event it is about (32 hex digits), if it names one.
    public var eventID: String?
    public var name: String
    public var email: String
    public var comments: String
    public var received: Date
    /// The issue of that event, while the event is stored.
    public var issueID: Int64?

    public init(id: Int64, eventID: String?, name: String, email: String, comments: String, received: Date, issueID: Int64?) {
        self.id = id
        self.eventID = eventID
        self.name = name
        self.email = email
        self.comments = comments
        self.received = received
        self.issueID = issueID
    }
}

/// Stored events, their payloads and attachments.
public protocol EventStore: Sendable {
    /// Events of an issue, newest first; up to `limit + 1`.
    func events(issueID: Int64, limit: Int, offset: Int) async throws -> [EventInfo]
    func latestEvent(issueID: Int64) async throws -> EventInfo?
    /// The events just before and after `event` in its issue.
    func neighbours(of event: EventInfo) async throws -> (previous: String?, next: String?)
    func event(projectID: Int64, eventID: String) async throws -> EventInfo?
    /// Events by id (32 hex digits) in any project, in the order asked; ids not stored are left out.
    func events(ids: [String]) async throws -> [EventInfo]
    func attachments(projectID: Int64, eventID: String) async throws -> [AttachmentInfo]
    /// The project's user feedback (only that about events of `issueID`, when given), newest first; up to
    /// `limit + 1`.
    func userFeedback(projectID: Int64, issueID: Int64?, limit: Int, offset: Int) async throws -> [UserFeedbackInfo]
    /// One attachment's bytes, if it belongs to that event.
    func attachment(id: Int64, projectID: Int64, eventID: String) async throws -> (AttachmentInfo, [UInt8])?
    /// The newest stored event's row number: the mark "new events since this page" counts from.
    func eventMark() async throws -> Int64
    /// How many events of these projects were stored after `mark`.
    func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int
}
