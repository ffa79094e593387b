import Foundation
import SpyglassProtocol

/// Everything one request asks the store to write, committed together (or not at all).
public struct IngestWork: Sendable {
    public var projectID: Int64
    /// The event, if the envelope carried one.
    public var event: NormalizedEvent?
    public var attachments: [Attachment]
    public var userReports: [UserReport]
    public var sessions: [SessionCount]
    public var discarded: [DiscardedCount]
    /// Structured log lines (`log` items).
    public var logs: [LogRecord]
    /// `log` items not read yet: the writer reads them into ``logs`` (see ``UnreadLogItems``).
    public var unreadLogs: UnreadLogItems?
    /// When the request came: stored beside each log line.
    public var received: Date

    public init(
        projectID: Int64, event: NormalizedEvent? = nil, attachments: [Attachment] = [], userReports: [UserReport] = [],
        sessions: [SessionCount] = [], discarded: [DiscardedCount] = [], logs: [LogRecord] = [],
        unreadLogs: UnreadLogItems? = nil, received: Date = .now
    ) {
        self.logs = logs
        self.unreadLogs = unreadLogs
        self.received = received
        self.projectID = projectID
        self.event = event
        self.attachments = attachments
        self.userReports = userReports
        self.sessions = sessions
        self.discarded = discarded
    }

    /// Whether there is nothing to write.
    public var isEmpty: Bool {
        event == nil && attachments.isEmpty && userReports.isEmpty && sessions.isEmpty && discarded.isEmpty && logs.isEmpty
            && (unreadLogs?.items.isEmpty ?? true)
    }

    /// Whether there is nothing but log lines (read or not) to write.
    public var onlyLogs: Bool {
        event == nil && attachments.isEmpty && userReports.isEmpty && sessions.isEmpty && discarded.isEmpty
    }
}

/// A file sent with an event (`attachment` item).
public struct Attachment: Sendable {
    public var eventID: String
    public var filename: String
    public var contentType: String
    /// `event.attachment`, `event.minidump`, `event.view_hierarchy`, …
    public var attachmentType: String
    public var data: [UInt8]

    public init(eventID: String, filename: String, contentType: String, attachmentType: String, data: [UInt8]) {
        self.eventID = eventID
        self.filename = filename
        self.contentType = contentType
        self.attachmentType = attachmentType
        self.data = data
    }
}

/// User feedback about an event (`user_report` item, or a `feedback` event).
public struct UserReport: Sendable {
    public var eventID: String?
    public var name: String
    public var email: String
    public var comments: String
    public var received: Date

    public init(eventID: String?, name: String, email: String, comments: String, received: Date) {
        self.eventID = eventID
        self.name = name
        self.email = email
        self.comments = comments
        self.received = received
    }
}

/// Session counts of one release and environment, from `session` and `sessions` items.
public struct SessionCount: Sendable, Hashable {
    public var release: String
    public var environment: String
    public var started: Int
    public var exited: Int
    public var errored: Int
    public var crashed: Int
    public var abnormal: Int

    public init(
        release: String, environment: String, started: Int = 0, exited: Int = 0, errored: Int = 0, crashed: Int = 0,
        abnormal: Int = 0
    ) {
        self.release = release
        self.environment = environment
        self.started = started
        self.exited = exited
        self.errored = errored
        self.crashed = crashed
        self.abnormal = abnormal
    }
}

/// Events an SDK dropped before sending, from `client_report` items.
public struct DiscardedCount: Sendable, Hashable {
    public var reason: String
    public var category: String
    public var quantity: Int

    public init(reason: String, category: String, quantity: Int) {
        self.reason = reason
        self.category = category
        self.quantity = quantity
    }
}

/// What storing a request's work did.
public struct IngestReceipt: Sendable, Hashable {
    /// Whether the event was new (false: an event with that id was stored before, nothing was written).
    public var eventStored: Bool
    /// The log lines stored, per level.
    public var logLines: [LogLevel: Int]

    public init(eventStored: Bool, logLines: [LogLevel: Int] = [:]) {
        self.eventStored = eventStored
        self.logLines = logLines
    }
}

/// Where accepted work goes: the single writer. `ingest` returns once the work is committed to disk.
public protocol IngestSink: Sendable {
    /// Commits `work`; throws ``IngestRefusal`` when the writer cannot take it now.
    func ingest(_ work: IngestWork) async throws -> IngestReceipt
}

/// The writer refused work: its queue is full (retry later), it is shutting down, or the database cannot be reached
/// (nothing of the work was stored: retry later).
public struct IngestRefusal: Error, Sendable, CustomStringConvertible {
    /// `logQueueFull`: the log lines' own queue (their request is refused, error ingest goes on).
    public enum Reason: Sendable { case queueFull, logQueueFull, shuttingDown, databaseUnavailable }
    public let reason: Reason
    /// Seconds a client should wait.
    public let retryAfter: Int

    public init(_ reason: Reason, retryAfter: Int) {
        self.reason = reason
        self.retryAfter = retryAfter
    }

    public var description: String {
        switch reason {
        case .queueFull: "the ingest queue is full; retry in \(retryAfter) s"
        case .logQueueFull: "the log lines' queue is full; retry them in \(retryAfter) s"
        case .shuttingDown: "the server is shutting down"
        case .databaseUnavailable: "the database cannot be reached; nothing was stored; retry in \(retryAfter) s"
        }
    }
}
