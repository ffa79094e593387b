import Foundation
import Logging
import MetricsTestKit
import SpyglassCore
import SpyglassPostgres
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit
import Testing

/// The storage backends every contract test runs against.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }
}

/// A fresh, empty, migrated database of one backend. The ports over it are extensions, one per port, beside
/// that port's contract tests (`store.projects`, …): each adapter pair is tested through the same port.
struct TestStore: Sendable {
    enum Database: Sendable {
        case sqlite(AppDatabase)
        case postgres(PostgresAppDatabase)
    }

    let database: Database
    /// The backend's side of the ingest writer, one per store as one per server: PostgreSQL's keeps its prepared
    /// statements from batch to batch.
    let committer: any IngestBatchCommitter
    /// The log writer's side (both backends keep log lines apart from the ingest writer's batches).
    let logCommitter: any LogBatchCommitter
    /// A fixed clock for the test's writes.
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    init(database: Database) {
        self.database = database
        switch database {
        case .sqlite(let database):
            committer = SQLiteIngestCommitter(database: database, metrics: TestMetrics())
            logCommitter = SQLiteLogCommitter(database: database.logs)
        case .postgres(let database):
            committer = PostgresIngestCommitter(database: database, metrics: TestMetrics())
            logCommitter = PostgresLogCommitter(database: database)
        }
    }

    var backend: Backend {
        switch database {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    /// Normalizes an event from JSON, received `offset` seconds after ``now``.
    func event(_ json: String, at offset: TimeInterval = 0) throws -> NormalizedEvent {
        try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: now.addingTimeInterval(offset)))
    }
}

/// Runs `body` with a fresh store of `backend`: an in-memory SQLite database, or a new database on the tests'
/// PostgreSQL server, migrated, its pool running (dropped afterwards).
func withTestStore<Result: Sendable>(
    _ backend: Backend, _ body: @Sendable (TestStore) async throws -> Result
) async throws -> Result {
    switch backend {
    case .sqlite:
        return try await body(TestStore(database: .sqlite(try AppDatabase.inMemory())))
    case .postgres:
        return try await withTestDatabase { database in
            try await database.migrate()
            return try await body(TestStore(database: .postgres(database)))
        }
    }
}
