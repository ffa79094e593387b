import Foundation

/// A stored log line.
public struct StoredLog: Sendable, Hashable {
    public var id: Int64
    public var projectID: Int64
    public var received: Date
    public var record: LogRecord

    public init(id: Int64, projectID: Int64, received: Date, record: LogRecord) {
        self.id = id
        self.projectID = projectID
        self.received = received
        self.record = record
    }
}

/// Which log lines to read: a project's, newest first, narrowed by a ``LogQuery`` and a time range.
public struct LogListRequest: Sendable {
    public var projectID: Int64
    public var query: LogQuery
    /// From this time on (inclusive).
    public var since: Date?
    /// Before this time.
    public var until: Date?
    /// Only lines stored after this id, in the order they were stored (a live tail asks for what came since the
    /// newest line it shows).
    public var afterID: Int64?
    /// Oldest first (by time), instead of newest first.
    public var oldestFirst: Bool
    public var limit: Int
    public var offset: Int

    public init(
        projectID: Int64, query: LogQuery = LogQuery(), since: Date? = nil, until: Date? = nil, afterID: Int64? = nil,
        oldestFirst: Bool = false, limit: Int = 100, offset: Int = 0
    ) {
        self.oldestFirst = oldestFirst
        self.projectID = projectID
        self.query = query
        self.since = since
        self.until = until
        self.afterID = afterID
        self.limit = limit
        self.offset = offset
    }
}

/// Structured log lines per project. Lines are written by the ingest writer (``IngestWork/logs``).
public protocol LogStore: Sendable {
    /// Lines matching `request`, newest first (timestamp, then id; ``LogListRequest/oldestFirst`` turns it round;
    /// with an `afterID`, by id); up to `limit + 1`, so the caller knows whether there is a next page.
    func logs(_ request: LogListRequest) async throws -> [StoredLog]
    /// The project's retention for logs: days (nil: the server's default) and bytes (nil: no size limit).
    func logRetention(projectID: Int64) async throws -> LogRetention
    func setLogRetention(projectID: Int64, _ retention: LogRetention) async throws
    /// Deletes lines older than each project's age limit (`defaultDays` where it has none), then the oldest of a
    /// project above its size limit; at most `batch` lines a call. Returns how many were deleted.
    func pruneLogs(defaultDays: Int, now: Date, batch: Int) async throws -> Int
}

/// How long a project keeps its log lines.
public struct LogRetention: Sendable, Hashable {
    /// Days; nil: the server's default (`--log-retention-days`).
    public var days: Int?
    /// Bytes of lines (texts and attributes as stored); nil: no limit.
    public var maxBytes: Int64?

    public init(days: Int? = nil, maxBytes: Int64? = nil) {
        self.days = days
        self.maxBytes = maxBytes
    }
}

extension LogRetention {
    /// Days from 1 to 3 650, at least 1 MiB.
    public func validate() throws(DomainError) {
        if let days, !(1...3650).contains(days) {
            throw DomainError(.invalidInput, "log retention: \(days) days; from 1 to 3650")
        }
        if let maxBytes, maxBytes < 1024 * 1024 {
            throw DomainError(.invalidInput, "log retention: \(maxBytes) bytes; at least 1 MiB (1048576)")
        }
    }
}
