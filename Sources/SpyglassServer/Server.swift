import Foundation
import Hummingbird
import Logging
import Prometheus
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage

/// `spyglass serve`: opens the data directory, makes sure an admin and a project exist, serves until
/// SIGTERM or SIGINT, then drains and closes.
public enum Server {
    /// Opens the database; failures name the data-directory setting.
    public static func openDatabase(_ configuration: ServerConfiguration) throws(ConfigurationError) -> AppDatabase {
        do {
            return try AppDatabase.open(directory: configuration.dataDirectory)
        } catch let error as DomainError {
            throw ConfigurationError(setting: "--data-dir / SPYGLASS_DATA_DIR", message: error.message)
        } catch {
            throw ConfigurationError(setting: "--data-dir / SPYGLASS_DATA_DIR", message: "\(error)")
        }
    }

    /// Runs the server until a shutdown signal.
    public static func run(configuration: ServerConfiguration, backend: StorageBackend, logger: Logger) async throws {
        for path in backend.sqlite?.tightenedPaths ?? [] {
            logger.warning("made private: other local users could read it", metadata: ["spyglass.path": "\(path)"])
        }
        let report = try await backend.storage.maintenance.bootstrap(
            adminEmail: configuration.adminEmail, adminPassword: configuration.adminPassword, now: .now)
        let app = buildApplication(
            configuration: configuration,
            dependencies: AppDependencies(backend: backend, configuration: configuration, logger: logger)
        ) { port in
            announce(
                report, baseURL: configuration.effectiveBaseURL(boundPort: port),
                listen: "\(configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host):\(port)",
                logger: logger)
        }
        try await app.runService()
    }

    /// The start-up lines: URL, the new admin's one-time password (only when generated now), the DSN.
    static func announce(_ report: BootstrapReport, baseURL: URL, listen: String, logger: Logger) {
        logger.notice("Spyglass is listening", metadata: ["url": "\(baseURL.absoluteString)", "listen": "\(listen)"])
        if let admin = report.createdAdmin {
            var metadata: Logger.Metadata = ["spyglass.admin_email": "\(admin.email)"]
            if let password = report.generatedPassword {
                metadata["spyglass.admin_password"] = "\(password)"
                logger.notice("admin account created; log in with this one-time password and change it", metadata: metadata)
            } else {
                logger.notice("admin account created with the password from SPYGLASS_ADMIN_PASSWORD", metadata: metadata)
            }
        }
        if let project = report.project, let key = report.keys.first,
            let dsn = DSN(baseURL: baseURL, publicKey: key.publicKey, projectID: Int(project.id))
        {
            logger.notice("send events to this DSN", metadata: ["spyglass.project": "\(project.slug)", "dsn": "\(dsn)"])
        }
    }
}
