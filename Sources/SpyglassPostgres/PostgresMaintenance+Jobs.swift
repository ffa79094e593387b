import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

extension PostgresMaintenance {
    /// Deletes per-minute counts older than two hours (frequency conditions look back one hour at most; longer
    /// intervals use hourly counts) and settled notifications older than `maxAge` seconds.
    @discardableResult
    public func pruneAlertData(now: Date, maxAge: Double) async throws -> Int {
        let logger = database.logger
        let minute = Int64((now.timeIntervalSince1970 / 60).rounded(.down)) - 120
        return try await database.withTransaction { connection in
            let minutes =
                try await connection.scalar(
                    "WITH deleted AS (DELETE FROM issue_minute WHERE minute < \(minute) RETURNING 1) SELECT count(*) FROM deleted",
                    as: Int.self, logger: logger) ?? 0
            let notifications =
                try await connection.scalar(
                    """
                    WITH deleted AS (DELETE FROM notification WHERE status <> 'pending' AND created_at < \(now.timeIntervalSince1970 - maxAge)
                        RETURNING 1)
                    SELECT count(*) FROM deleted
                    """, as: Int.self, logger: logger) ?? 0
            return minutes + notifications
        }
    }

    /// Periodic lifecycle work: new and regressed issues turn ongoing after 7 days; projects with an auto-resolve
    /// age resolve issues without events for that long; ignore periods that ended unignore their issues.
    @discardableResult
    public func agePeriodically(now: Date) async throws -> Int {
        let logger = database.logger
        let time = now.timeIntervalSince1970
        return try await database.withTransaction { connection in
            var changed =
                try await connection.scalar(
                    """
                    WITH aged AS (
                        UPDATE issue SET substatus = 'ongoing', substatus_since = \(time) WHERE status = 'unresolved'
                            AND substatus IN ('new', 'regressed') AND substatus_since <= \(time - Lifecycle.ongoingAfter)
                        RETURNING 1)
                    SELECT count(*) FROM aged
                    """, as: Int.self, logger: logger) ?? 0
            let stale = try await connection.rows(
                """
                SELECT issue.id, project.resolve_age_hours FROM issue JOIN project ON project.id = issue.project_id
                WHERE issue.status = 'unresolved' AND project.resolve_age_hours IS NOT NULL
                    AND issue.last_seen < \(time) - project.resolve_age_hours * 3600.0
                """, logger: logger)
            for row in stale {
                let id: Int64 = try row.decode("id")
                let hours: Int64 = try row.decode("resolve_age_hours")
                try await connection.execute(
                    """
                    UPDATE issue SET status = 'resolved', substatus = NULL, resolution = 'now', resolution_release = NULL,
                        status_changed_at = \(time) WHERE id = \(id)
                    """, logger: logger)
                try await PostgresIssueRows.addActivity(
                    id, kind: .autoResolved, data: ["hours": .number(JSONNumber(hours))], at: now, on: connection,
                    logger: logger)
            }
            changed += stale.count
            let ignored = try await connection.rows(
                "SELECT id, ignore_state FROM issue WHERE status = 'ignored' AND ignore_state IS NOT NULL",
                logger: logger)
            for row in ignored {
                let id: Int64 = try row.decode("id")
                guard let text = try row.decode("ignore_state", as: String?.self),
                    let state = IgnoreState(storedJSON: text),
                    case .untilDate(let date) = state.condition, now >= date
                else { continue }
                try await connection.execute(
                    """
                    UPDATE issue SET status = 'unresolved', substatus = 'escalating', substatus_since = \(time), ignore_state = NULL,
                        status_changed_at = \(time) WHERE id = \(id)
                    """, logger: logger)
                try await PostgresIssueRows.addActivity(
                    id, kind: .setUnresolved, data: ["reason": "ignore period ended"], at: now, on: connection,
                    logger: logger)
                changed += 1
            }
            return changed
        }
    }

    /// Deletes events beyond the policy, in short transactions. The first and the latest event of every issue,
    /// and pinned events (regressions), are kept whatever their age; issue counters keep their totals.
    /// Returns the number of events deleted.
    @discardableResult
    public func enforceRetention(_ policy: RetentionPolicy, now: Date) async throws -> Int {
        try await enforceRetention(policy, now: now, batchSize: 2000)
    }

    /// ``enforceRetention(_:now:)`` deleting `batchSize` events per transaction (tests use small ones).
    @discardableResult
    public func enforceRetention(_ policy: RetentionPolicy, now: Date, batchSize: Int) async throws -> Int {
        let logger = database.logger
        let protected = RetentionRun.protectedCondition
        return try await RetentionRun.run(
            policy, now: now, batchSize: batchSize,
            projects: {
                try await database.withConnection { connection in
                    try await connection.rows("SELECT id, retention_days FROM project ORDER BY id", logger: logger)
                        .map {
                            (try $0.decode("id"), try $0.decode("retention_days"))
                        }
                }
            },
            crowded: { maxEvents in
                try await database.withConnection { connection in
                    try await connection.rows(
                        "SELECT project_id, count(*) AS events FROM event GROUP BY project_id HAVING count(*) > \(maxEvents)",
                        logger: logger
                    ).map { (try $0.decode("project_id"), try $0.decode("events")) }
                }
            },
            // Ties in time go by id, the order SQLite's index gives them.
            deleteOlder: { projectID, cutoff, limit in
                try await deleteEvents(
                    """
                    SELECT id FROM event WHERE project_id = \(projectID) AND timestamp < \(cutoff) AND \(unescaped: protected)
                    ORDER BY timestamp, id LIMIT \(limit)
                    """)
            },
            deleteOldest: { projectID, limit in
                try await deleteEvents(
                    """
                    SELECT id FROM event WHERE project_id = \(projectID) AND \(unescaped: protected)
                    ORDER BY timestamp, id LIMIT \(limit)
                    """)
            })
    }

    /// Deletes the events `selection` picks (ids), with their attachments, in one transaction; returns how many.
    private func deleteEvents(_ selection: PostgresQuery) async throws -> Int {
        let logger = database.logger
        return try await database.withTransaction { connection in
            let ids = try await connection.column(selection, as: Int64.self, logger: logger)
            guard !ids.isEmpty else { return 0 }
            try await connection.execute(
                "DELETE FROM attachment WHERE (project_id, event_id) IN (SELECT project_id, event_id FROM event WHERE id = ANY(\(ids)))",
                logger: logger)
            try await connection.execute("DELETE FROM event WHERE id = ANY(\(ids))", logger: logger)
            return ids.count
        }
    }
}
