import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// Stored events, payloads and attachments in SQLite: the ``EventStore`` port.
public struct SQLiteEvents: EventStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func events(issueID: Int64, limit: Int, offset: Int) async throws -> [EventInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(AppDatabase.eventColumns) WHERE issue_id = ? ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",
                arguments: [issueID, limit + 1, offset]
            ).map { try AppDatabase.eventInfo($0, in: db) }
        }
    }

    public func latestEvent(issueID: Int64) async throws -> EventInfo? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(AppDatabase.eventColumns) WHERE issue_id = ? ORDER BY timestamp DESC, id DESC LIMIT 1",
                arguments: [issueID]
            ).map { try AppDatabase.eventInfo($0, in: db) }
        }
    }

    public func neighbours(of event: EventInfo) async throws -> (previous: String?, next: String?) {
        guard let issueID = event.issueID else { return (nil, nil) }
        let timestamp = event.timestamp.timeIntervalSince1970
        return try await writer.read { db in
            let previous = try String.fetchOne(
                db,
                sql: "SELECT event_id FROM event WHERE issue_id = ? AND (timestamp < ? OR (timestamp = ? AND event_id < ?)) ORDER BY timestamp DESC, event_id DESC LIMIT 1",
                arguments: [issueID, timestamp, timestamp, event.eventID])
            let next = try String.fetchOne(
                db,
                sql: "SELECT event_id FROM event WHERE issue_id = ? AND (timestamp > ? OR (timestamp = ? AND event_id > ?)) ORDER BY timestamp, event_id LIMIT 1",
                arguments: [issueID, timestamp, timestamp, event.eventID])
            return (previous, next)
        }
    }

    public func event(projectID: Int64, eventID: String) async throws -> EventInfo? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(AppDatabase.eventColumns) WHERE project_id = ? AND event_id = ?", arguments: [projectID, eventID])
                .map { try AppDatabase.eventInfo($0, in: db) }
        }
    }

    /// Stored events by id, in any project, with their normalized payloads (for `spyglass event show`).
    public func events(ids: [String]) async throws -> [EventInfo] {
        try await writer.read { db in
            try ids.compactMap { id in
                try Row.fetchOne(db, sql: "SELECT \(AppDatabase.eventColumns) WHERE event_id = ? ORDER BY id LIMIT 1", arguments: [id])
                    .map { try AppDatabase.eventInfo($0, in: db) }
            }
        }
    }

    public func attachments(projectID: Int64, eventID: String) async throws -> [AttachmentInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, filename, content_type, size FROM attachment WHERE project_id = ? AND event_id = ? ORDER BY id",
                arguments: [projectID, eventID]
            ).map { AttachmentInfo(id: $0["id"], filename: $0["filename"], contentType: $0["content_type"], size: $0["size"]) }
        }
    }

    public func userFeedback(projectID: Int64, issueID: Int64?, limit: Int, offset: Int) async throws -> [UserFeedbackInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT r.id, r.event_id, r.name, r.email, r.comments, r.received, e.issue_id
                    FROM user_report r LEFT JOIN event e ON e.project_id = r.project_id AND e.event_id = r.event_id
                    WHERE r.project_id = ?1 AND (?2 IS NULL OR e.issue_id = ?2)
                    ORDER BY r.received DESC, r.id DESC LIMIT ?3 OFFSET ?4
                    """,
                arguments: [projectID, issueID, limit + 1, offset]
            ).map {
                UserFeedbackInfo(
                    id: $0["id"], eventID: $0["event_id"], name: $0["name"], email: $0["email"], comments: $0["comments"],
                    received: Date(timeIntervalSince1970: $0["received"]), issueID: $0["issue_id"])
            }
        }
    }

    public func attachment(id: Int64, projectID: Int64, eventID: String) async throws -> (AttachmentInfo, [UInt8])? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, filename, content_type, size, data FROM attachment WHERE id = ? AND project_id = ? AND event_id = ?",
                arguments: [id, projectID, eventID]
            ).map { row in
                (
                    AttachmentInfo(id: row["id"], filename: row["filename"], contentType: row["content_type"], size: row["size"]),
                    [UInt8](row["data"] as Data)
                )
            }
        }
    }

    public func eventMark() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM event") ?? 0 }
    }

    public func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int {
        guard !projectIDs.isEmpty else { return 0 }
        return try await writer.read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM event WHERE id > ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))",
                arguments: StatementArguments([mark] + projectIDs)) ?? 0
        }
    }
}
