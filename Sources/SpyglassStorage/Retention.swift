import Foundation
import GRDB
import Logging
import ServiceLifecycle
import SpyglassCore

extension AppDatabase {
    /// Deletes events beyond the policy, in short transactions. The first and the latest event of every issue,
    /// and pinned events (regressions), are kept whatever their age; issue counters keep their totals.
    /// Returns the number of events deleted.
    @discardableResult
    public func enforceRetention(_ policy: RetentionPolicy, now: Date, batchSize: Int = 2000) async throws -> Int {
        let protected = """
            pinned = 0 AND id NOT IN (SELECT first_event_id FROM issue WHERE first_event_id IS NOT NULL
                UNION ALL SELECT last_event_id FROM issue WHERE last_event_id IS NOT NULL)
            """
        var deleted = 0
        // A project may keep events for less time than the server does (its settings), never longer.
        let projects = try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, retention_days FROM project").map { row -> (Int64, Double) in
                let days: Int? = row[1]
                return (row[0], min(policy.maxAge, days.map { Double($0) * 86_400 } ?? policy.maxAge))
            }
        }
        for (projectID, maxAge) in projects {
            let cutoff = now.timeIntervalSince1970 - maxAge
            while true {
                let count = try await writer.write { db in
                    try Self.deleteEvents(
                        db, sql: "SELECT id FROM event WHERE project_id = ? AND timestamp < ? AND \(protected) ORDER BY timestamp LIMIT ?",
                        arguments: [projectID, cutoff, batchSize])
                }
                deleted += count
                if count < batchSize { break }
            }
        }
        let crowded = try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT project_id, count(*) FROM event GROUP BY project_id HAVING count(*) > ?", arguments: [policy.maxEventsPerProject])
        }
        for row in crowded {
            let projectID: Int64 = row[0]
            var excess = (row[1] as Int) - policy.maxEventsPerProject
            while excess > 0 {
                let limit = min(excess, batchSize)
                let count = try await writer.write { db in
                    try Self.deleteEvents(
                        db,
                        sql: "SELECT id FROM event WHERE project_id = ? AND \(protected) ORDER BY timestamp, id LIMIT ?",
                        arguments: [projectID, limit])
                }
                deleted += count
                excess -= count
                if count == 0 { break }  // only protected events are left
            }
        }
        return deleted
    }

    private static func deleteEvents(_ db: Database, sql: String, arguments: StatementArguments) throws -> Int {
        let ids = try Int64.fetchAll(db, sql: sql, arguments: arguments)
        guard !ids.isEmpty else { return 0 }
        let list = ids.map { _ in "?" }.joined(separator: ",")
        try db.execute(
            sql: "DELETE FROM attachment WHERE (project_id, event_id) IN (SELECT project_id, event_id FROM event WHERE id IN (\(list)))",
            arguments: StatementArguments(ids))
        try db.execute(sql: "DELETE FROM event WHERE id IN (\(list))", arguments: StatementArguments(ids))
        return ids.count
    }
}

/// The periodic jobs, at start and then every interval: retention
/// (``AppDatabase/enforceRetention(_:now:batchSize:)``) and issue aging and auto-resolve
/// (``AppDatabase/agePeriodically(now:)``).
public struct MaintenanceService: Service {
    let database: AppDatabase
    let policy: RetentionPolicy
    let logger: Logger

    public init(database: AppDatabase, policy: RetentionPolicy, logger: Logger) {
        self.database = database
        self.policy = policy
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let deleted = try await database.enforceRetention(policy, now: .now)
                if deleted > 0 { logger.info("retention deleted events", metadata: ["spyglass.deleted": "\(deleted)"]) }
                try await database.pruneAlertData(now: .now, maxAge: policy.maxAge)
                let changed = try await database.agePeriodically(now: .now)
                if changed > 0 { logger.info("issues aged or auto-resolved", metadata: ["spyglass.issues": "\(changed)"]) }
            } catch {
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
            let interval = policy.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
