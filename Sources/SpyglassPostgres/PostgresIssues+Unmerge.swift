import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

extension PostgresIssues {
    public func unmerge(issueID: Int64, hashes: [String]) async throws -> [Int64] {
        let logger = database.logger
        return try await database.withTransaction { connection in
            // Every hash named is checked before anything is written (a refusal then takes no issue id either).
            let known = Set(
                try await connection.column(
                    "SELECT hash FROM grouping_hash WHERE issue_id = \(issueID)", as: String.self, logger: logger))
            if let unknown = hashes.first(where: { !known.contains($0) }) {
                throw DomainError(.notFound, "issue \(issueID) has no hash \(unknown)")
            }
            var created: [Int64] = []
            for hash in hashes {
                created.append(try await Self.unmerge(issueID: issueID, hash: hash, on: connection, logger: logger))
            }
            return created
        }
    }

    /// Splits one hash out, inside the caller's transaction.
    private static func unmerge(
        issueID: Int64, hash: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> Int64 {
        let hashes = try await connection.column(
            "SELECT hash FROM grouping_hash WHERE issue_id = \(issueID)", as: String.self, logger: logger)
        guard hashes.contains(hash) else { throw DomainError(.notFound, "issue \(issueID) has no hash \(hash)") }
        guard hashes.count > 1 else {
            throw DomainError(.invalidInput, "hash \(hash) is the issue's only hash; nothing to split")
        }
        guard
            let projectID = try await connection.scalar(
                "SELECT project_id FROM issue WHERE id = \(issueID)", as: Int64.self, logger: logger)
        else {
            throw DomainError(.notFound, "no issue \(issueID)")
        }
        let movedRows = try await connection.rows(
            """
            SELECT id AS row_id, \(unescaped: PostgresIssueRows.eventColumns)
            WHERE issue_id = \(issueID) AND primary_hash = \(hash) ORDER BY timestamp, id
            """, logger: logger)
        let movedEvents = try await PostgresIssueRows.eventInfos(movedRows, on: connection, logger: logger)
        let moved = try zip(movedRows, movedEvents).map {
            (rowID: try $0.decode("row_id", as: Int64.self), event: $1)
        }
        guard !moved.isEmpty else {
            throw DomainError(
                .invalidInput,
                "no stored event of issue \(issueID) came by hash \(hash); split out the hash its events came by")
        }
        // The new issue takes its title from the newest moved event, else from the old issue.
        let template = moved.last.map { NormalizedEvent(stored: $0.event) }
        let shortID =
            try await connection.scalar(
                "UPDATE project SET next_short_id = next_short_id + 1 WHERE id = \(projectID) RETURNING next_short_id - 1",
                as: Int64.self, logger: logger) ?? 0
        let metadata = template.map { String(decoding: JSONWriter.bytes($0.summary.metadata), as: UTF8.self) }
        let firstRelease = moved.first.flatMap { NormalizedEvent(stored: $0.event).release }
        guard
            let newIssue = try await connection.scalar(
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, first_release, last_release, substatus_since)
                SELECT project_id, \(shortID), coalesce(\(template?.summary.title), title), coalesce(\(template?.summary.culprit), culprit),
                    coalesce(\(template?.summary.type), type), coalesce(\(metadata), metadata), level, 'unresolved', 'new',
                    coalesce(\(moved.first?.event.timestamp.timeIntervalSince1970), first_seen),
                    coalesce(\(moved.last?.event.timestamp.timeIntervalSince1970), last_seen), 0, 0,
                    \(firstRelease), \(template?.release), \(Date.now.timeIntervalSince1970)
                FROM issue WHERE id = \(issueID) RETURNING id
                """, as: Int64.self, logger: logger)
        else {
            throw DomainError(.notFound, "no issue \(issueID)")
        }
        try await connection.execute(
            "INSERT INTO issue_search (issue_id, title, culprit, message) SELECT \(newIssue), title, culprit, '' FROM issue WHERE id = \(newIssue)",
            logger: logger)
        try await connection.execute(
            "UPDATE grouping_hash SET issue_id = \(newIssue) WHERE project_id = \(projectID) AND hash = \(hash)",
            logger: logger)
        for (rowID, info) in moved {
            let event = NormalizedEvent(stored: info)
            try await connection.execute(
                "UPDATE event SET issue_id = \(newIssue) WHERE id = \(rowID)", logger: logger)
            try await Self.count(event, into: newIssue, sign: 1, on: connection, logger: logger)
            try await Self.count(event, into: issueID, sign: -1, on: connection, logger: logger)
        }
        // Users of the old issue: those still seen in its remaining events.
        let remaining = try await PostgresIssueRows.eventInfos(
            connection.rows(
                "SELECT \(unescaped: PostgresIssueRows.eventColumns) WHERE issue_id = \(issueID)", logger: logger),
            on: connection, logger: logger)
        let users = Set(remaining.compactMap { NormalizedEvent(stored: $0).userKey })
        let movedUsers = Set(moved.compactMap { NormalizedEvent(stored: $0.event).userKey })
        for user in movedUsers where !users.contains(user) {
            try await connection.execute(
                "DELETE FROM issue_user WHERE issue_id = \(issueID) AND user_key = \(user)", logger: logger)
        }
        for issue in [issueID, newIssue] {
            try await connection.execute(
                "UPDATE issue SET user_count = (SELECT count(*) FROM issue_user WHERE issue_id = \(issue)) WHERE id = \(issue)",
                logger: logger)
        }
        try await Self.refreshProtectedEvents(issueID, on: connection, logger: logger)
        try await Self.refreshProtectedEvents(newIssue, on: connection, logger: logger)
        // The old issue's dates from its remaining events (kept as they were when retention removed them all).
        try await connection.execute(
            """
            UPDATE issue SET
                first_seen = coalesce((SELECT min(timestamp) FROM event WHERE issue_id = \(issueID)), first_seen),
                last_seen = coalesce((SELECT max(timestamp) FROM event WHERE issue_id = \(issueID)), last_seen)
            WHERE id = \(issueID)
            """, logger: logger)
        try await connection.execute(
            "DELETE FROM issue_tag WHERE issue_id = \(issueID) AND times_seen <= 0", logger: logger)
        try await connection.execute(
            "DELETE FROM issue_hour WHERE issue_id = \(issueID) AND count <= 0", logger: logger)
        return newIssue
    }

    /// Adds (`sign` 1) or removes (-1) one event's contribution to an issue's counters.
    static func count(
        _ event: NormalizedEvent, into issueID: Int64, sign: Int, on connection: PostgresConnection, logger: Logger
    ) async throws {
        let timestamp = event.timestamp.timeIntervalSince1970
        try await connection.execute(
            """
            UPDATE issue SET times_seen = GREATEST(0, times_seen + \(sign)),
                first_seen = CASE WHEN \(sign) > 0 THEN LEAST(first_seen, \(timestamp)) ELSE first_seen END,
                last_seen = CASE WHEN \(sign) > 0 THEN GREATEST(last_seen, \(timestamp)) ELSE last_seen END WHERE id = \(issueID)
            """, logger: logger)
        if sign > 0, let user = event.userKey {
            try await connection.execute(
                """
                INSERT INTO issue_user (issue_id, user_key, user_id, email, username, ip_address, times_seen, last_seen)
                VALUES (\(issueID), \(user), \(event.user?.id)::text, \(event.user?.email)::text, \(event.user?.username)::text,
                    \(event.user?.ipAddress)::text, 1, \(timestamp))
                ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = issue_user.times_seen + 1,
                    last_seen = GREATEST(coalesce(issue_user.last_seen, 0), excluded.last_seen)
                """,
                logger: logger)
        } else if sign < 0, let user = event.userKey {
            // A user left without events is deleted by the caller.
            try await connection.execute(
                """
                UPDATE issue_user SET times_seen = GREATEST(1, times_seen - 1) WHERE issue_id = \(issueID) AND user_key = \(user)
                """, logger: logger)
        }
        for tag in event.tags {
            try await connection.execute(
                """
                INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen)
                VALUES (\(issueID), \(tag.key), \(tag.value), \(sign), \(timestamp), \(timestamp))
                ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = issue_tag.times_seen + excluded.times_seen,
                    first_seen = LEAST(issue_tag.first_seen, excluded.first_seen), last_seen = GREATEST(issue_tag.last_seen, excluded.last_seen)
                """, logger: logger)
        }
        try await connection.execute(
            """
            INSERT INTO issue_hour (issue_id, hour, count) VALUES (\(issueID), \(Int64((timestamp / 3600).rounded(.down))), \(sign))
            ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hour.count + excluded.count
            """, logger: logger)
    }
}
