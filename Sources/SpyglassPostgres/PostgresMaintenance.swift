import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// First start, readiness, the periodic jobs and checks in PostgreSQL: the ``MaintenanceStore`` port, doing what
/// `SQLiteMaintenance` does, except backups (``backup(to:)``: pg_dump's job) and the checks (``integrityProblems()``:
/// PostgreSQL enforces its constraints itself).
public struct PostgresMaintenance: MaintenanceStore {
    let database: PostgresAppDatabase

    public init(_ database: PostgresAppDatabase) { self.database = database }

    /// The key of the transaction-level advisory lock ``bootstrap(adminEmail:adminPassword:now:)`` holds, so that
    /// nodes starting at once create one admin and one project: "spygboot" in ASCII (``PostgresAppDatabase/migrationLockKey``
    /// is "spyglass").
    public static let bootstrapLockKey: Int64 = 0x7370_7967_626F_6F74

    /// The key of the session-level advisory lock ``exclusively(_:)`` holds while a node runs the periodic jobs:
    /// "spygjobs" in ASCII.
    public static let jobsLockKey: Int64 = 0x7370_7967_6A6F_6273

    /// Runs `jobs` when no other node is running them: `pg_try_advisory_lock` on a connection held for the length of
    /// `jobs` (which use other connections of the pool), so a node that dies mid-way releases the lock with its
    /// connection. Returns false, without waiting, when another node holds it.
    public func exclusively(_ jobs: () async throws -> Void) async throws -> Bool {
        let logger = database.logger
        return try await database.withConnection { connection in
            guard
                try await connection.scalar(
                    "SELECT pg_try_advisory_lock(\(Self.jobsLockKey))", as: Bool.self, logger: logger) == true
            else { return false }
            do {
                try await jobs()
            } catch {
                _ = try? await connection.execute("SELECT pg_advisory_unlock(\(Self.jobsLockKey))", logger: logger)
                throw error
            }
            try await connection.execute("SELECT pg_advisory_unlock(\(Self.jobsLockKey))", logger: logger)
            return true
        }
    }

    /// Makes sure an admin account and a project exist; idempotent, so every start calls it.
    ///
    /// An admin is created when there is none (with `adminPassword`, else a generated one-time password);
    /// the `default` project when there is no project at all. The rows are SQLite's (`insertProject`): the project,
    /// its key "Default", every admin a member, the default alert rule.
    public func bootstrap(adminEmail: String, adminPassword: String?, now: Date) async throws -> BootstrapReport {
        let logger = database.logger
        let email = try EmailAddress.normalize(adminEmail)
        let needsAdmin = try await database.withConnection { connection in
            try await connection.scalar(
                "SELECT count(*) FROM \"user\" WHERE is_admin = 1", as: Int64.self, logger: logger) == 0
        }
        // Hash before the write transaction: bcrypt takes tens of milliseconds.
        let chosen = needsAdmin ? try Password.forFirstAdmin(adminPassword) : nil
        let createdAt = StoredDate.text(now)
        return try await database.withTransaction { connection in
            try await connection.execute("SELECT pg_advisory_xact_lock(\(Self.bootstrapLockKey))", logger: logger)
            var report = BootstrapReport()
            if let password = chosen,
                try await connection.scalar(
                    "SELECT count(*) FROM \"user\" WHERE is_admin = 1", as: Int64.self, logger: logger) == 0
            {
                if let existing = try await connection.scalar(
                    "SELECT id FROM \"user\" WHERE email = \(email)", as: Int64.self, logger: logger)
                {
                    // The configured e-mail already has an account: promote it, keep its password.
                    try await connection.execute(
                        "UPDATE \"user\" SET is_admin = 1 WHERE id = \(existing)", logger: logger)
                } else {
                    let mustChange = password.generated ? 1 : 0
                    guard
                        let id = try await connection.scalar(
                            """
                            INSERT INTO "user" (email, password_hash, is_admin, is_active, must_change_password, created_at)
                            VALUES (\(email), \(password.hash), 1, 1, \(mustChange), \(createdAt)) RETURNING id
                            """, as: Int64.self, logger: logger)
                    else { throw DomainError(.unavailable, "admin account was not stored") }
                    report.createdAdmin = AccountInfo(
                        id: id, email: email, isAdmin: true, isActive: true, createdAt: now)
                    report.generatedPassword = password.generated ? password.plain : nil
                }
            }
            if try await connection.scalar("SELECT count(*) FROM project", as: Int64.self, logger: logger) == 0 {
                try await Self.insertDefaultProject(createdAt: createdAt, now: now, on: connection, logger: logger)
                report.createdProject = true
            }
            let project = try await connection.row(
                "SELECT id, slug, name, created_at FROM project ORDER BY slug = 'default' DESC, id LIMIT 1",
                logger: logger)
            if let project {
                let id: Int64 = try project.decode("id")
                report.project = ProjectInfo(
                    id: id, slug: try project.decode("slug"), name: try project.decode("name"),
                    createdAt: PostgresIssueRows.storedDate(try project.decode("created_at")))
                report.keys = try await connection.rows(
                    """
                    SELECT id, public_key, label, is_active, created_at, rate_limit_per_minute FROM project_key
                    WHERE project_id = \(id) AND is_active = 1 ORDER BY id
                    """, logger: logger
                ).map { row in
                    KeyInfo(
                        id: try row.decode("id"), publicKey: try row.decode("public_key"), label: try row.decode("label"),
                        isActive: try row.flag("is_active"),
                        createdAt: PostgresIssueRows.storedDate(try row.decode("created_at")),
                        rateLimitPerMinute: try row.decode("rate_limit_per_minute", as: Int?.self))
                }
            }
            return report
        }
    }

    /// The project `default` with its key "Default", every admin a member, and the default alert rule.
    private static func insertDefaultProject(
        createdAt: String, now: Date, on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard
            let projectID = try await connection.scalar(
                "INSERT INTO project (slug, name, created_at) VALUES ('default', 'Default', \(createdAt)) RETURNING id",
                as: Int64.self, logger: logger)
        else { throw DomainError(.unavailable, "project was not stored") }
        try await connection.execute(
            """
            INSERT INTO project_key (project_id, public_key, label, is_active, created_at)
            VALUES (\(projectID), \(PublicKey.generate()), 'Default', 1, \(createdAt))
            """, logger: logger)
        try await connection.execute(
            """
            INSERT INTO project_member (project_id, user_id, role, created_at)
            SELECT \(projectID), id, \(ProjectRole.admin.rawValue), \(createdAt) FROM "user" WHERE is_admin = 1 ORDER BY id
            """, logger: logger)
        let rule = AlertRule.projectDefault
        let flags = rule.storedFlags
        func bit(_ flag: Bool) -> Int { flag ? 1 : 0 }
        try await connection.execute(
            """
            INSERT INTO alert_rule (project_id, name, enabled, spec, frequency_minutes, on_new, on_regression, on_reappeared,
                counts_events, counts_users, created_at, updated_at)
            VALUES (\(projectID), \(rule.name), \(bit(rule.enabled)), \(JSONWriter.string(.object(rule.json))), \(rule.frequencyMinutes),
                \(bit(flags.onNew)), \(bit(flags.onRegression)), \(bit(flags.onReappeared)), \(bit(flags.countsEvents)), \(bit(flags.countsUsers)),
                \(now.timeIntervalSince1970), \(now.timeIntervalSince1970))
            """, logger: logger)
    }

    /// Checks that PostgreSQL answers a read and accepts writes, without writing anything: a probe that polls every
    /// few seconds must not cost a commit. Gives up after five seconds (the pool waits for a connection forever).
    public func checkReady() async throws {
        let logger = database.logger
        let answer = try await withThrowingTaskGroup(of: (instance: Int64, recovery: Bool, readOnly: String)?.self) {
            group in
            group.addTask {
                try await database.withConnection { connection in
                    guard
                        let row = try await connection.row(
                            """
                            SELECT (SELECT count(*) FROM instance WHERE id = 1) AS instance, pg_is_in_recovery() AS recovery,
                                current_setting('transaction_read_only') AS read_only
                            """, logger: logger)
                    else { return nil }
                    return (try row.decode("instance"), try row.decode("recovery"), try row.decode("read_only"))
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(5))
                return nil
            }
            defer { group.cancelAll() }
            do {
                return try await group.next() ?? nil
            } catch {
                throw DomainError(.unavailable, "database is not readable: \(PostgresAppDatabase.reason(error))")
            }
        }
        guard let answer else {
            throw DomainError(.unavailable, "database is not readable: no answer within 5 seconds")
        }
        guard answer.instance == 1 else {
            throw DomainError(.unavailable, "database is not readable: its instance row is missing")
        }
        if answer.recovery {
            throw DomainError(.unavailable, "database is not writable: the server is a read-only standby")
        }
        if answer.readOnly == "on" {
            throw DomainError(.unavailable, "database is not writable: transactions are read-only")
        }
    }

    /// Not done here: a PostgreSQL database is backed up with PostgreSQL's own tools, while the server runs:
    /// `pg_dump --format=custom --file=spyglass.dump 'postgres://…'` (restore with `pg_restore`), or continuous
    /// archiving. Always throws a ``DomainError`` (invalid input) saying so.
    public func backup(to destination: URL) async throws {
        let url = database.url.map(String.init(describing:)) ?? "postgres://…"
        throw DomainError(
            .invalidInput,
            "backup: the database is PostgreSQL; back it up with pg_dump: pg_dump --format=custom "
                + "--file=\(destination.path(percentEncoded: false)) '\(url)' (spyglass backup copies SQLite databases only)"
        )
    }

    public func recordServedBaseURL(_ url: String) async throws {
        try await database.withConnection { connection in
            try await connection.execute("UPDATE instance SET base_url = \(url) WHERE id = 1", logger: database.logger)
        }
    }

    public func servedBaseURL() async throws -> String? {
        try await database.row("SELECT base_url FROM instance WHERE id = 1").flatMap { try $0.decode("base_url", as: String?.self) }
    }

    /// PostgreSQL enforces the schema's constraints itself (foreign keys, CHECKs, NOT NULL, uniqueness) on every
    /// write, so rows whose foreign keys point nowhere cannot exist, and its storage has no `integrity_check` to run.
    /// What is left to look at: a round trip (`SELECT 1`, which throws when the server does not answer) and indexes
    /// left invalid (by a failed `CREATE INDEX CONCURRENTLY` or `REINDEX CONCURRENTLY`), which queries skip. An empty
    /// list means it is sound.
    public func integrityProblems() async throws -> [String] {
        try await database.withConnection { connection in
            _ = try await connection.scalar("SELECT 1", as: Int.self, logger: database.logger)
            return try await connection.column(
                """
                SELECT 'index ' || c.relname || ' is invalid; rebuild it with REINDEX INDEX ' || quote_ident(c.relname)
                FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE NOT i.indisvalid AND n.nspname = current_schema() ORDER BY c.relname
                """, as: String.self, logger: database.logger)
        }
    }
}
