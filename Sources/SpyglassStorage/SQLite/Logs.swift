import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit

/// Structured log lines in SQLite: the ``LogStore`` port.
public struct SQLiteLogs: LogStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    /// The lines' own database (``LogDatabase``).
    var lines: any DatabaseWriter { database.logs.writer }
    /// The main database: each project's log retention.
    var writer: any DatabaseWriter { database.writer }

    static func log(_ row: Row) -> StoredLog {
        let severity: Int = row["severity"]
        return StoredLog(
            id: row["id"], projectID: row["project_id"], received: Date(timeIntervalSince1970: row["received"]),
            record: LogRecord(
                timestamp: Date(timeIntervalSince1970: row["timestamp"]), level: LogLevel(severityNumber: severity) ?? .info,
                severityNumber: severity, body: row["body"], template: row["template"], traceID: row["trace_id"], spanID: row["span_id"],
                release: row["release"], environment: row["environment"], sdk: row["sdk"],
                attributes: LogRecord.attributes(json: row["attributes"])))
    }

    public func logs(_ request: LogListRequest) async throws -> [StoredLog] {
        try await lines.read { db in
            var arguments = StatementArguments()
            let condition = LogFilterSQL(dialect: .sqlite).conditions(request) { value in
                switch value {
                case .text(let text): arguments += [text]
                case .integer(let number): arguments += [number]
                case .real(let number): arguments += [number]
                }
                return "?"
            }
            arguments += [request.limit + 1, request.offset]
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT \(LogFilterSQL.columns) FROM log_entry WHERE \(condition)
                    ORDER BY \(LogFilterSQL.order(request)) LIMIT ? OFFSET ?
                    """,
                arguments: arguments
            ).map(Self.log)
        }
    }

    public func logRetention(projectID: Int64) async throws -> LogRetention {
        try await writer.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT log_retention_days, log_max_bytes FROM project WHERE id = ?", arguments: [projectID])
            return LogRetention(days: row?["log_retention_days"], maxBytes: row?["log_max_bytes"])
        }
    }

    public func setLogRetention(projectID: Int64, _ retention: LogRetention) async throws {
        try retention.validate()
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE project SET log_retention_days = ?, log_max_bytes = ? WHERE id = ?",
                arguments: [retention.days, retention.maxBytes, projectID])
        }
    }

    public func pruneLogs(defaultDays: Int, now: Date, batch: Int) async throws -> Int {
        let projects = try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, log_retention_days, log_max_bytes FROM project").map {
                (id: $0["id"] as Int64, days: $0["log_retention_days"] as Int?, maxBytes: $0["log_max_bytes"] as Int64?)
            }
        }
        var deleted = 0
        for project in projects where deleted < batch {
            let cutoff = now.timeIntervalSince1970 - Double(project.days ?? defaultDays) * 86_400
            let limit = batch - deleted
            deleted += try await lines.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM log_entry WHERE id IN (
                            SELECT id FROM log_entry WHERE project_id = ? AND timestamp < ? ORDER BY timestamp LIMIT ?)
                        """,
                    arguments: [project.id, cutoff, limit])
                return db.changesCount
            }
            guard let maxBytes = project.maxBytes, deleted < batch else { continue }
            let rest = batch - deleted
            // The newest lines that fit in the limit stay; the first line past it and all older go. The boundary is
            // found in a read (a scan of the project's lines, beside ingest in WAL mode); the write only deletes.
            // The read gives Sendable values, so it is GRDB's asynchronous read: a `Row` would pick the synchronous
            // one, which blocks the calling thread of the concurrency pool for the whole scan.
            let boundary = try await lines.read { db -> (time: Double, id: Int64)? in
                try Row.fetchOne(
                    db,
                    sql: """
                        SELECT timestamp, id FROM (
                            SELECT timestamp, id, sum(size) OVER (ORDER BY timestamp DESC, id DESC) AS total
                            FROM log_entry WHERE project_id = ?)
                        WHERE total > ? ORDER BY total LIMIT 1
                        """,
                    arguments: [project.id, maxBytes]
                ).map { ($0["timestamp"], $0["id"]) }
            }
            guard let (time, id) = boundary else { continue }
            deleted += try await lines.write { db in
                try db.execute(
                    sql: """
                        DELETE FROM log_entry WHERE id IN (
                            SELECT id FROM log_entry WHERE project_id = ? AND (timestamp < ? OR (timestamp = ? AND id <= ?))
                            ORDER BY timestamp LIMIT ?)
                        """,
                    arguments: [project.id, time, time, id, rest])
                return db.changesCount
            }
        }
        return deleted
    }
}
