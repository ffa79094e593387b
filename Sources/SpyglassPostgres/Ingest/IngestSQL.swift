import Logging
import NIOCore
import PostgresNIO

/// The writer's connection inside a batch's transaction: bound queries (``PostgresQuery``'s interpolations become
/// `$n` parameters), their rows collected. A NULL parameter goes out with no type, so nullable values are cast in the
/// SQL (`\(value)::text`) wherever PostgreSQL could not infer their type from a column.
///
/// The batch runs on the connection's own event loop (``PostgresIngestCommitter``), so a statement's answer resumes
/// the batch where it arrives: no thread is woken between one statement and the next.
struct IngestSQL {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement, ignoring any rows.
    func run(_ query: PostgresQuery) async throws {
        try await connection.query(query, logger: logger)
    }

    /// Every row of a query.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// The first row of a query (of `RETURNING`: whether a row was written), or nil.
    func row(_ query: PostgresQuery) async throws -> PostgresRow? {
        try await rows(query).first
    }

    /// Runs `write` in a savepoint. When it throws, what it wrote is rolled back alone (the transaction stays
    /// usable) and its error returned; a savepoint that cannot be rolled back throws (the transaction is lost).
    func inSavepoint(_ write: () async throws -> Void) async throws -> (any Error)? {
        try await run("SAVEPOINT side_item")
        do {
            try await write()
        } catch {
            try await run("ROLLBACK TO SAVEPOINT side_item")
            try await run("RELEASE SAVEPOINT side_item")
            return error
        }
        try await run("RELEASE SAVEPOINT side_item")
        return nil
    }
}

/// A task executor that runs jobs on a NIO event loop: a task preferring it runs its code on that loop's thread,
/// and a future completed there resumes it without a thread hop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// `table.column + excluded.column` for an upsert, saturating at Int64.max: PostgreSQL fails an overflowing bigint
/// sum ("bigint out of range"), which would fail every later upsert of the row. Both are non-negative: counts are
/// checked where they enter. `table` qualifies the old value (a bare name is ambiguous in ON CONFLICT DO UPDATE).
func saturatingSum(_ table: String, _ column: String) -> String {
    let old = "\(table).\(column)"
    return "CASE WHEN \(old) > 9223372036854775807 - excluded.\(column) THEN 9223372036854775807 ELSE \(old) + excluded.\(column) END"
}
