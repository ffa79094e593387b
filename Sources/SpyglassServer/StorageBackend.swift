import Foundation
import Logging
import Metrics
import SpyglassCore
import SpyglassStorage
import SpyglassStorageKit

/// The storage `serve` and every command work on: SQLite in the data directory (the default), or PostgreSQL.
public struct StorageBackend: Sendable {
    /// The ports the controllers, services and commands read and change the database through.
    public let storage: Storage
    /// The SQLite database, when that is the backend (its files, its online backup).
    public let sqlite: AppDatabase?
    /// The backend's side of the ingest writer.
    let committer: @Sendable (any MetricsFactory) -> any IngestBatchCommitter
    /// The backend's side of the log writer, apart from the ingest writer (SQLite: the lines' own database).
    let logCommitter: any LogBatchCommitter
    /// Where nodes sharing the database exchange their rate-limit counts (PostgreSQL; nil for SQLite's one node).
    var rateCounts: (any RateCountExchange)? = nil

    /// SQLite: `database`'s ports and its writer.
    public static func sqlite(_ database: AppDatabase) -> StorageBackend {
        StorageBackend(
            storage: database.storage, sqlite: database,
            committer: { metrics in SQLiteIngestCommitter(database: database, metrics: metrics) },
            logCommitter: SQLiteLogCommitter(database: database.logs))
    }

    /// The ingest writer over this backend, with the configured queue.
    func makeWriter(_ configuration: ServerConfiguration, metrics: any MetricsFactory, logger: Logger) -> IngestWriter {
        IngestWriter(
            committer: committer(metrics), capacity: configuration.ingestQueueCapacity,
            compactEvents: configuration.compactEvents,
            logWriter: LogWriter(
                committer: logCommitter, busyShare: configuration.logShareUnderLoad, logger: logger),
            metrics: metrics,
            logger: logger)
    }

    /// Opens the configured backend (creating and migrating its schema if needed), runs `body` with it, and
    /// closes it afterwards. Failures to open name the setting at fault.
    public static func withOpened<Result: Sendable>(
        _ configuration: ServerConfiguration, logger: Logger, _ body: (StorageBackend) async throws -> Result
    ) async throws -> Result {
        if let url = configuration.databaseURL { return try await withPostgres(url, logger: logger, body) }
        let database = try Server.openDatabase(configuration)
        let result: Result
        do {
            result = try await body(.sqlite(database))
        } catch {
            try? database.close()
            throw error
        }
        do {
            try database.close()
            logger.info("database closed")
        } catch {
            logger.error("closing the database failed", metadata: ["error": "\(error)"])
        }
        return result
    }
}
