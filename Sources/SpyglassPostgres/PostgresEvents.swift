import Foundation
import NIOCore
import PostgresNIO
import SpyglassCore

/// Stored events, payloads and attachments in PostgreSQL: the ``EventStore`` port, answering as `SQLiteEvents` does.
public struct PostgresEvents: EventStore {
    let database: PostgresAppDatabase

    public init(_ database: PostgresAppDatabase) { self.database = database }

    /// Events of the rows `query` selects (``PostgresIssueRows/eventColumns``), payloads decoded.
    private func events(_ query: PostgresQuery) async throws -> [EventInfo] {
        try await database.withConnection { connection in
            try await PostgresIssueRows.eventInfos(
                connection.rows(query, logger: database.logger), on: connection, logger: database.logger)
        }
    }

    public func events(issueID: Int64, limit: Int, offset: Int) async throws -> [EventInfo] {
        try await events(
            """
            SELECT \(unescaped: PostgresIssueRows.eventColumns) WHERE issue_id = \(issueID)
            ORDER BY timestamp DESC, id DESC LIMIT \(limit + 1) OFFSET \(offset)
            """)
    }

    public func latestEvent(issueID: Int64) async throws -> EventInfo? {
        try await events(
            "SELECT \(unescaped: PostgresIssueRows.eventColumns) WHERE issue_id = \(issueID) ORDER BY timestamp DESC, id DESC LIMIT 1"
        ).first
    }

    public func neighbours(of event: EventInfo) async throws -> (previous: String?, next: String?) {
        guard let issueID = event.issueID else { return (nil, nil) }
        let timestamp = event.timestamp.timeIntervalSince1970
        let eventID = event.eventID
        return try await database.withConnection { connection in
            // Event ids compare byte by byte, as in SQLite, whatever the database's collation.
            let previous = try await connection.scalar(
                """
                SELECT event_id FROM event WHERE issue_id = \(issueID)
                    AND (timestamp < \(timestamp) OR (timestamp = \(timestamp) AND event_id < \(eventID) COLLATE "C"))
                ORDER BY timestamp DESC, event_id COLLATE "C" DESC LIMIT 1
                """, as: String.self, logger: database.logger)
            let next = try await connection.scalar(
                """
                SELECT event_id FROM event WHERE issue_id = \(issueID)
                    AND (timestamp > \(timestamp) OR (timestamp = \(timestamp) AND event_id > \(eventID) COLLATE "C"))
                ORDER BY timestamp, event_id COLLATE "C" LIMIT 1
                """, as: String.self, logger: database.logger)
            return (previous, next)
        }
    }

    public func event(projectID: Int64, eventID: String) async throws -> EventInfo? {
        try await events(
            "SELECT \(unescaped: PostgresIssueRows.eventColumns) WHERE project_id = \(projectID) AND event_id = \(eventID)"
        ).first
    }

    /// Stored events by id, in any project, with their normalized payloads (for `spyglass event show`).
    public func events(ids: [String]) async throws -> [EventInfo] {
        guard !ids.isEmpty else { return [] }
        // One query; of an id stored in several projects, the first stored, as SQLite answers.
        let found = try await events(
            """
            SELECT DISTINCT ON (event_id) \(unescaped: PostgresIssueRows.eventColumns)
            WHERE event_id = ANY(\(Array(Set(ids)))) ORDER BY event_id, id
            """)
        let byID = Dictionary(found.map { ($0.eventID, $0) }, uniquingKeysWith: { first, _ in first })
        return ids.compactMap { byID[$0] }
    }

    public func attachments(projectID: Int64, eventID: String) async throws -> [AttachmentInfo] {
        try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT id, filename, content_type, size FROM attachment WHERE project_id = \(projectID) AND event_id = \(eventID)
                ORDER BY id
                """, logger: database.logger
            ).map(Self.attachmentInfo)
        }
    }

    public func userFeedback(projectID: Int64, issueID: Int64?, limit: Int, offset: Int) async throws -> [UserFeedbackInfo] {
        try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT r.id, r.event_id, r.name, r.email, r.comments, r.received, e.issue_id
                FROM user_report r LEFT JOIN event e ON e.project_id = r.project_id AND e.event_id = r.event_id
                WHERE r.project_id = \(projectID) AND (\(issueID)::bigint IS NULL OR e.issue_id = \(issueID)::bigint)
                ORDER BY r.received DESC, r.id DESC LIMIT \(Int64(limit) + 1) OFFSET \(Int64(offset))
                """, logger: database.logger
            ).map { row in
                UserFeedbackInfo(
                    id: try row.decode("id"), eventID: try row.decode("event_id"), name: try row.decode("name"),
                    email: try row.decode("email"), comments: try row.decode("comments"),
                    received: Date(timeIntervalSince1970: try row.decode("received")), issueID: try row.decode("issue_id"))
            }
        }
    }

    public func attachment(id: Int64, projectID: Int64, eventID: String) async throws -> (AttachmentInfo, [UInt8])? {
        try await database.withConnection { connection in
            guard
                let row = try await connection.row(
                    """
                    SELECT id, filename, content_type, size, data FROM attachment
                    WHERE id = \(id) AND project_id = \(projectID) AND event_id = \(eventID)
                    """, logger: database.logger)
            else { return nil }
            return (try Self.attachmentInfo(row), Array(try row.decode("data", as: ByteBuffer.self).readableBytesView))
        }
    }

    private static func attachmentInfo(_ row: PostgresRandomAccessRow) throws -> AttachmentInfo {
        AttachmentInfo(
            id: try row.decode("id"), filename: try row.decode("filename"), contentType: try row.decode("content_type"),
            size: try row.decode("size"))
    }

    public func eventMark() async throws -> Int64 {
        try await database.withConnection { connection in
            try await connection.scalar("SELECT max(id) FROM event", as: Int64.self, logger: database.logger) ?? 0
        }
    }

    public func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int {
        guard !projectIDs.isEmpty else { return 0 }
        return try await database.withConnection { connection in
            try await connection.scalar(
                "SELECT count(*) FROM event WHERE id > \(mark) AND project_id = ANY(\(projectIDs))", as: Int.self,
                logger: database.logger) ?? 0
        }
    }
}
