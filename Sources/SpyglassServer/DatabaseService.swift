import Logging
import ServiceLifecycle
import SpyglassStorage

/// Keeps the database open while the server runs; on graceful shutdown (after the HTTP server has
/// drained) checkpoints the WAL and closes it.
struct DatabaseService: Service {
    let database: AppDatabase
    let logger: Logger

    func run() async throws {
        // Suspends until the service group begins its graceful shutdown.
        try? await gracefulShutdown()
        do {
            try database.close()
            logger.info("database closed")
        } catch {
            logger.error("closing the database failed", metadata: ["error": "\(error)"])
        }
    }
}
