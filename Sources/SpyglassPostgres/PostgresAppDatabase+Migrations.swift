import Foundation
import Logging
import PostgresNIO
import SpyglassCore

/// One step of the PostgreSQL schema's history. Released migrations are frozen: never edit one, add a new one.
public struct PostgresMigration: Sendable, Hashable {
    /// The position in the history, from 1, without gaps.
    public let version: Int
    /// What the step does, recorded next to the version.
    public let name: String
    /// The SQL: statements separated by `;`, run in one transaction with the other pending migrations. Statements
    /// that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`, `VACUUM`) do not belong here.
    public let sql: String
    /// Whether nodes of the previous Spyglass keep working on the schema after this step (a new table, a new
    /// nullable or defaulted column, a new index: nothing they read or write changes). Recorded with the version, so
    /// an older node that starts during a rolling upgrade runs beside the newer one instead of refusing to start.
    public let additive: Bool

    /// Creates a migration.
    public init(version: Int, name: String, additive: Bool = false, sql: String) {
        self.version = version
        self.name = name
        self.additive = additive
        self.sql = sql
    }
}

extension PostgresAppDatabase {
    /// The key of the transaction-level advisory lock that `migrate()` holds: "spyglass" in ASCII
    /// (0x73_70_79_67_6C_61_73_73). Any other use of advisory locks in Spyglass must pick a different key.
    public static let migrationLockKey: Int64 = 0x7370_7967_6C61_7373

    /// The schema's history, oldest first.
    public static var migrations: [PostgresMigration] { PostgresSchema.migrations }

    /// Applies the migrations that the database has not recorded in `schema_migrations`, in order, in one
    /// transaction under ``migrationLockKey``: processes that start at once apply each migration once, the others
    /// wait for the lock and then find nothing to do. Migrations a newer Spyglass recorded as additive are
    /// tolerated (logged: a rolling upgrade is under way); a database with any other migration this build does not
    /// know fails, changing nothing.
    ///
    /// - Returns: The versions applied now (empty when the schema was up to date).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let migrations = Self.migrations
        let applied = try await withTransaction { connection -> [Int] in
            // The lock comes first: two processes running CREATE TABLE IF NOT EXISTS at once can both fail.
            try await connection.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLockKey))", logger: logger)
            try await connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: logger)
            // Whether older nodes tolerate the step (databases made before this column: none recorded as such).
            try await connection.execute(
                "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS additive BOOLEAN NOT NULL DEFAULT false",
                logger: logger)
            var recorded: [Int: Bool] = [:]
            for row in try await connection.answer("SELECT version, additive FROM schema_migrations", logger: logger) {
                let (version, additive) = try row.decode((Int, Bool).self)
                recorded[version] = additive
            }
            let known = Set(migrations.map(\.version))
            let unknown = recorded.filter { !known.contains($0.key) }
            if let breaking = unknown.filter({ !$0.value }).keys.max() {
                throw DomainError(
                    .unavailable,
                    "database: the schema has migration \(breaking), which this Spyglass does not know "
                        + "(it knows 1–\(migrations.count)) and which changes what it reads or writes; "
                        + "run a newer Spyglass or restore a matching backup")
            }
            if !unknown.isEmpty {
                logger.warning(
                    "PostgreSQL: a newer Spyglass extended the schema (additive migrations this node runs beside)",
                    metadata: ["spyglass.migrations": "\(unknown.keys.sorted().map(String.init).joined(separator: ","))"])
            }
            var applied: [Int] = []
            for migration in migrations where recorded[migration.version] == nil {
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.execute(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.execute(
                    """
                    INSERT INTO schema_migrations (version, name, additive)
                    VALUES (\(migration.version), \(migration.name), \(migration.additive))
                    """, logger: logger)
                applied.append(migration.version)
            }
            return applied
        }
        if !applied.isEmpty {
            logger.info(
                "PostgreSQL: schema migrated",
                metadata: ["spyglass.migrations": "\(applied.map(String.init).joined(separator: ","))"])
        }
        return applied
    }

    /// Moves every identity column's sequence past the largest id stored, so that the next row inserted without an
    /// id gets a fresh one. Run it after copying rows with their ids (`spyglass migrate --to postgres://…`): an
    /// explicit id does not advance `GENERATED BY DEFAULT AS IDENTITY`.
    public func resetIdentities() async throws {
        try await withTransaction { connection in
            var columns: [(table: String, column: String)] = []
            let rows = try await connection.answer(
                """
                SELECT c.relname::text, a.attname::text
                FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE a.attidentity <> '' AND NOT a.attisdropped AND n.nspname = current_schema()
                ORDER BY 1, 2
                """, logger: logger)
            for row in rows { columns.append(try row.decode((String, String).self)) }
            for (table, column) in columns {
                let sql = """
                    SELECT setval(pg_get_serial_sequence(\(Self.literal(Self.identifier(table))), \(Self.literal(column))),
                        coalesce(max(\(Self.identifier(column))), 0) + 1, false)
                    FROM \(Self.identifier(table))
                    """
                try await connection.execute(PostgresQuery(unsafeSQL: sql), logger: logger)
            }
        }
    }

    /// `name` as a quoted SQL identifier ("user" is a reserved word).
    static func identifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `text` as a SQL string literal.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
