import Foundation
import Logging
import SpyglassCore
import SpyglassPostgres

extension StorageBackend {
    /// PostgreSQL: `database`'s ports and its writer.
    public static func postgres(_ database: PostgresAppDatabase) -> StorageBackend {
        StorageBackend(
            storage: Storage(
                projects: PostgresProjects(database), accounts: PostgresAccounts(database), issues: PostgresIssues(database),
                events: PostgresEvents(database), releases: PostgresReleases(database),
                alertRules: PostgresAlertRules(database), outbox: PostgresOutbox(database),
                maintenance: PostgresMaintenance(database), artifacts: PostgresArtifacts(database),
                savedSearches: PostgresSavedSearches(database), logs: PostgresLogs(database)),
            sqlite: nil,
            committer: { metrics in PostgresIngestCommitter(database: database, metrics: metrics) },
            logCommitter: PostgresLogCommitter(database: database),
            rateCounts: PostgresRateCounts(database))
    }

    /// Runs `body` with the PostgreSQL database at `url`: its pool running, the server reachable (checked first, so
    /// a wrong host or password fails at once with the reason) and its schema migrated.
    static func withPostgres<Result: Sendable>(
        _ url: DatabaseURL, logger: Logger, _ body: (StorageBackend) async throws -> Result
    ) async throws -> Result {
        let database = PostgresAppDatabase(url: url, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            try await database.checkReachable()
            try await database.migrate()
            return try await body(.postgres(database))
        }
    }
}
