import Foundation
import PostgresNIO
import SpyglassCore
public import SpyglassStorageKit

/// The PostgreSQL side of the log writer (``LogWriter``): the lines of a batch of requests in one statement that
/// commits by itself, on a connection of the ingest pool kept for the lines, apart from the ingest writer's: lines
/// never wait in the writer's batches, and are read at the lowest CPU priority. A statement the database refuses
/// (a line it cannot take) is tried again request by request, so only that request's lines are left out.
public struct PostgresLogCommitter: LogBatchCommitter {
    let database: PostgresAppDatabase
    /// The lines' statement prepared on each connection.
    let statements = PreparedStatements()
    /// The connection the lines are written on, kept from batch to batch.
    let kept = KeptConnection()

    /// A committer for `database`, whose pool must be running while the log writer runs.
    public init(database: PostgresAppDatabase) {
        self.database = database
    }

    package func commit(_ jobs: [PreparedLogLines]) throws -> [String?] {
        guard jobs.contains(where: { !$0.lines.isEmpty }) else { return jobs.map { _ in nil } }
        let connection = try kept.connection(for: database, refusing: "log lines")
        let sql = IngestSQL(connection: connection, logger: database.logger, statements: statements)
        do {
            do {
                try insert(jobs, sql)
                return jobs.map { _ in nil }
            } catch let error where !PostgresIngestCommitter.isConnectionLost(error) {
                // Nothing of the statement was stored: each request alone, so only the one at fault is left out.
                return try jobs.map { job in
                    do {
                        try insert([job], sql)
                        return nil
                    } catch let error where !PostgresIngestCommitter.isConnectionLost(error) {
                        return "\(PostgresAppDatabase.reason(error))"
                    }
                }
            }
        } catch {
            // The connection broke (PostgreSQL restarted or ended the session): the requests are answered 503 and
            // their SDKs send them again; the next batch takes a fresh connection.
            kept.discard()
            database.logger.warning(
                "log lines refused: the connection to PostgreSQL broke",
                metadata: ["spyglass.error": "\(PostgresAppDatabase.reason(error))"])
            throw IngestRefusal(.databaseUnavailable, retryAfter: PostgresIngestCommitter.retryAfter)
        }
    }

    package func finish() { kept.release() }

    private func insert(_ jobs: [PreparedLogLines], _ sql: IngestSQL) throws {
        var lines = LogColumns()
        for job in jobs { lines.add(job.lines, attributes: job.attributes, projectID: job.projectID, received: job.received) }
        guard !lines.isEmpty else { return }
        _ = try sql.prepared("WITH \(embedding: lines.rows) SELECT 1", outsideTransaction: true)
    }
}
