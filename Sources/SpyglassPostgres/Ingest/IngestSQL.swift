import Logging
import PostgresNIO

/// The writer's connection inside a batch's transaction: bound queries (``PostgresQuery``'s interpolations become
/// `$n` parameters), their rows collected. A NULL parameter goes out with no type, so nullable values are cast in the
/// SQL (`\(value)::text`) wherever PostgreSQL could not infer their type from a column.
///
/// Synchronous: the writer's own thread waits for each statement (postgres-nio's future API), so a statement costs
/// one wake-up of that thread, not the hops of an async call resumed on the cooperative pool. Never use it from a
/// task or an event loop.
struct IngestSQL {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs a statement, ignoring any rows.
    func run(_ query: PostgresQuery) throws {
        _ = try connection.query(query, logger: logger).wait()
    }

    /// Every row of a query.
    func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
        try connection.query(query, logger: logger).wait().rows
    }

    /// The first row of a query (of `RETURNING`: whether a row was written), or nil.
    func row(_ query: PostgresQuery) throws -> PostgresRow? {
        try rows(query).first
    }

    /// Runs `write` in a savepoint. When it throws, what it wrote is rolled back alone (the transaction stays
    /// usable) and its error returned; a savepoint that cannot be rolled back throws (the transaction is lost).
    func inSavepoint(_ write: () throws -> Void) throws -> (any Error)? {
        try run("SAVEPOINT side_item")
        do {
            try write()
        } catch {
            try run("ROLLBACK TO SAVEPOINT side_item")
            try run("RELEASE SAVEPOINT side_item")
            return error
        }
        try run("RELEASE SAVEPOINT side_item")
        return nil
    }
}

/// `table.column + excluded.column` for an upsert, saturating at Int64.max: PostgreSQL fails an overflowing bigint
/// sum ("bigint out of range"), which would fail every later upsert of the row. Both are non-negative: counts are
/// checked where they enter. `table` qualifies the old value (a bare name is ambiguous in ON CONFLICT DO UPDATE).
func saturatingSum(_ table: String, _ column: String) -> String {
    let old = "\(table).\(column)"
    return "CASE WHEN \(old) > 9223372036854775807 - excluded.\(column) THEN 9223372036854775807 ELSE \(old) + excluded.\(column) END"
}
