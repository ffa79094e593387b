import Foundation
import Logging
import NIOCore
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Reading issue, event and activity rows into the ports' values, and the writes the issue adapters share: the
/// PostgreSQL side of SpyglassStorage's `Rows.swift`, `IssueChanges.swift` and `LifecycleRows.addActivity`.
enum PostgresIssueRows {
    static let issueColumns = StoredColumns.issue

    /// An issue from a row of ``issueColumns``.
    static func issueInfo(_ row: PostgresRandomAccessRow) throws -> IssueInfo {
        let assigneeID = try row.decode("assignee_id", as: Int64?.self)
        // The status has a CHECK constraint; substatus and level are read leniently (an unknown one reads as none / error).
        let status = IssueStatus(rawValue: try row.decode("status", as: String.self)) ?? .unresolved
        return IssueInfo(
            id: try row.decode("id"),
            project: ProjectInfo(
                id: try row.decode("project_id"), slug: try row.decode("project_slug"),
                name: try row.decode("project_name"),
                createdAt: try storedDate(row.decode("project_created_at"))),
            shortID: try row.decode("short_id"), title: try row.decode("title"), culprit: try row.decode("culprit"),
            type: try row.decode("type"),
            metadata: (try? JSONParser.parse(row.decode("metadata", as: String.self))) ?? .object([:]),
            level: Level(stored: try row.decode("level")), status: status,
            substatus: try row.decode("substatus", as: String?.self).flatMap(IssueSubstatus.init(rawValue:)),
            firstSeen: Date(timeIntervalSince1970: try row.decode("first_seen")),
            lastSeen: Date(timeIntervalSince1970: try row.decode("last_seen")),
            timesSeen: try row.decode("times_seen"), userCount: try row.decode("user_count"),
            firstRelease: try row.decode("first_release"), lastRelease: try row.decode("last_release"),
            assignee: try assigneeID.map {
                APIUser(id: $0, email: try row.decode("assignee_email"), isAdmin: try row.flag("assignee_is_admin"))
            },
            resolution: status == .resolved
                ? Resolution(storedType: try row.decode("resolution"), release: try row.decode("resolution_release"))
                : nil,
            ignore: try row.decode("ignore_state", as: String?.self).flatMap(IgnoreState.init(storedJSON:)))
    }

    /// A date of the account and project tables (text, as GRDB writes it); the epoch for text that is not one.
    static func storedDate(_ text: String) -> Date {
        StoredDate.date(text) ?? Date(timeIntervalSince1970: 0)
    }

    static let eventColumns = StoredColumns.event

    /// Events from rows of ``eventColumns``, their payloads decoded; the dictionaries they need are read first,
    /// once each.
    static func eventInfos(
        _ rows: [PostgresRandomAccessRow], on connection: PostgresConnection, logger: Logger
    ) async throws -> [EventInfo] {
        let blobs = try rows.map { row in Array(try row.decode("payload", as: ByteBuffer.self).readableBytesView) }
        let dictionaries = try await dictionaryPayloads(
            Set(blobs.compactMap(EventPayloadCodec.dictionaryID(of:))), on: connection, logger: logger)
        return try zip(rows, blobs).map { row, blob in
            let eventID: String = try row.decode("event_id")
            let received = Date(timeIntervalSince1970: try row.decode("received"))
            let payload = try EventPayloadCodec.decode(
                blob, raw: try row.flag("payload_raw"), eventID: eventID, received: received,
                sentAt: try row.decode("sent_at", as: Double?.self).map(Date.init(timeIntervalSince1970:)),
                clientIP: try row.decode("client_ip")
            ) { id in
                guard let payload = dictionaries[id] else {
                    throw DomainError(.unavailable, "stored event payload is damaged (its dictionary \(id) is missing)")
                }
                return payload
            }
            return EventInfo(
                eventID: eventID, projectID: try row.decode("project_id"), issueID: try row.decode("issue_id"),
                timestamp: Date(timeIntervalSince1970: try row.decode("timestamp")), received: received,
                payload: payload,
                hash: try row.decode("primary_hash"))
        }
    }

    /// The payloads the ``PayloadDictionary`` rows `ids` were made of (missing rows left out).
    private static func dictionaryPayloads(
        _ ids: Set<Int64>, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Int64: [UInt8]] {
        guard !ids.isEmpty else { return [:] }
        var payloads: [Int64: [UInt8]] = [:]
        let rows = try await connection.rows(
            "SELECT id, data FROM payload_dictionary WHERE id = ANY(\(Array(ids)))", logger: logger)
        for row in rows {
            let id: Int64 = try row.decode("id")
            let data = Array(try row.decode("data", as: ByteBuffer.self).readableBytesView)
            payloads[id] = try Array(
                EventPayloadCodec.payloadBytes(data) { _ in
                    throw DomainError(
                        .unavailable, "stored event payload is damaged (dictionary \(id) refers to another)")
                })
        }
        return payloads
    }

    static let activityColumns = StoredColumns.activity

    /// An activity entry from a row of ``activityColumns``; nil for a type this version does not know.
    static func activity(_ row: PostgresRandomAccessRow) throws -> ActivityInfo? {
        guard let kind = ActivityKind(rawValue: try row.decode("type")) else { return nil }
        let userID = try row.decode("user_id", as: Int64?.self)
        return ActivityInfo(
            id: try row.decode("id"), kind: kind,
            user: try userID.map {
                APIUser(id: $0, email: try row.decode("user_email"), isAdmin: try row.flag("user_is_admin"))
            },
            data: (try? JSONParser.parse(row.decode("data", as: String.self))) ?? .object([:]),
            date: Date(timeIntervalSince1970: try row.decode("created_at")))
    }

    /// Logs an entry in the issue's activity; returns its id.
    @discardableResult
    static func addActivity(
        _ issueID: Int64, kind: ActivityKind, userID: Int64? = nil, data: JSONValue, at date: Date,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let id = try await connection.scalar(
            """
            INSERT INTO issue_activity (issue_id, type, user_id, data, created_at)
            VALUES (\(issueID), \(kind.rawValue), \(userID), \(JSONWriter.string(data)), \(date.timeIntervalSince1970)) RETURNING id
            """, as: Int64.self, logger: logger)
        guard let id else { throw DomainError(.unavailable, "activity was not stored") }
        return id
    }
}
