import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

/// Structured log lines in PostgreSQL: the ``LogStore`` port.
public struct PostgresLogs: LogStore {
    let database: PostgresAppDatabase

    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    static func log(_ row: PostgresRandomAccessRow) throws -> StoredLog {
        let severity = Int(try row.decode("severity", as: Int64.self))
        return StoredLog(
            id: try row.decode("id"), projectID: try row.decode("project_id"),
            received: Date(timeIntervalSince1970: try row.decode("received")),
            record: LogRecord(
                timestamp: Date(timeIntervalSince1970: try row.decode("timestamp")), level: LogLevel(severityNumber: severity) ?? .info,
                severityNumber: severity, body: try row.decode("body"), template: try row.decode("template"),
                traceID: try row.decode("trace_id"), spanID: try row.decode("span_id"), release: try row.decode("release"),
                environment: try row.decode("environment"), sdk: try row.decode("sdk"),
                attributes: LogRecord.attributes(json: try row.decode("attributes"))))
    }

    public func logs(_ request: LogListRequest) async throws -> [StoredLog] {
        var sql = PostgresStatement()
        let condition = LogFilterSQL(dialect: .postgres).conditions(request) { value in
            switch value {
            case .text(let text): sql.bind(text)
            case .integer(let number): sql.bind(number)
            case .real(let number): sql.bind(number)
            }
        }
        let limit = sql.bind(Int64(request.limit + 1))
        let offset = sql.bind(Int64(request.offset))
        sql.append(
            "SELECT \(LogFilterSQL.columns) FROM log_entry WHERE \(condition) ORDER BY \(LogFilterSQL.order(request)) LIMIT \(limit) OFFSET \(offset)")
        return try await database.rows(sql.query).map(Self.log)
    }

    public func logRetention(projectID: Int64) async throws -> LogRetention {
        let row = try await database.row("SELECT log_retention_days, log_max_bytes FROM project WHERE id = \(projectID)")
        return LogRetention(
            days: try row?.decode("log_retention_days", as: Int64?.self).map { Int($0) }, maxBytes: try row?.decode("log_max_bytes"))
    }

    public func setLogRetention(projectID: Int64, _ retention: LogRetention) async throws {
        try retention.validate()
        let days = retention.days.map(Int64.init)
        try await database.execute(
            "UPDATE project SET log_retention_days = \(days), log_max_bytes = \(retention.maxBytes) WHERE id = \(projectID)")
    }

    public func pruneLogs(defaultDays: Int, now: Date, batch: Int) async throws -> Int {
        let projects = try await database.rows("SELECT id, log_retention_days, log_max_bytes FROM project").map {
            (id: try $0.decode("id", as: Int64.self), days: try $0.decode("log_retention_days", as: Int64?.self),
             maxBytes: try $0.decode("log_max_bytes", as: Int64?.self))
        }
        var deleted = 0
        for project in projects where deleted < batch {
            let cutoff = now.timeIntervalSince1970 - Double(project.days ?? Int64(defaultDays)) * 86_400
            let limit = Int64(batch - deleted)
            deleted += Int(
                try await database.withConnection { connection in
                    try await connection.scalar(
                        """
                        WITH gone AS (DELETE FROM log_entry WHERE id IN (
                            SELECT id FROM log_entry WHERE project_id = \(project.id) AND timestamp < \(cutoff) ORDER BY timestamp LIMIT \(limit))
                            RETURNING 1)
                        SELECT count(*) FROM gone
                        """, as: Int64.self, logger: logger)
                } ?? 0)
            guard let maxBytes = project.maxBytes, deleted < batch else { continue }
            let rest = Int64(batch - deleted)
            deleted += Int(
                try await database.withConnection { connection in
                    // The newest lines that fit in the limit stay; the first line past it and all older go.
                    try await connection.scalar(
                        """
                        WITH boundary AS (
                            SELECT timestamp, id FROM (
                                SELECT timestamp, id, sum(size) OVER (ORDER BY timestamp DESC, id DESC) AS total
                                FROM log_entry WHERE project_id = \(project.id)) AS running
                            WHERE total > \(maxBytes) ORDER BY total LIMIT 1),
                        gone AS (DELETE FROM log_entry WHERE id IN (
                            SELECT log_entry.id FROM log_entry, boundary WHERE project_id = \(project.id)
                                AND (log_entry.timestamp < boundary.timestamp
                                    OR (log_entry.timestamp = boundary.timestamp AND log_entry.id <= boundary.id))
                            ORDER BY log_entry.timestamp LIMIT \(rest))
                            RETURNING 1)
                        SELECT count(*) FROM gone
                        """, as: Int64.self, logger: logger)
                } ?? 0)
        }
        return deleted
    }
}
