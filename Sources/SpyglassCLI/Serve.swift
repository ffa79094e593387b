import ArgumentParser
import Foundation
import Logging
import SpyglassServer
import SpyglassStorage

/// `spyglass serve`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server.",
        discussion: """
            Each flag falls back to its SPYGLASS_* environment variable, then to its default. \
            SPYGLASS_ADMIN_PASSWORD (environment only) sets the first admin's password; without it a \
            one-time password is generated and printed once. A bad value stops the server with exit code 2.

            Alerts (environment only): SPYGLASS_SMTP_URL (smtp://, smtp+starttls:// or smtps://user:pass@host:port), \
            SPYGLASS_EMAIL_FROM, SPYGLASS_SMTP_CA_FILE, SPYGLASS_WEBHOOK_ALLOW_PRIVATE=1, SPYGLASS_NOTIFY_ATTEMPTS \
            (default 8), SPYGLASS_NOTIFY_RETRY_SECONDS (default 30, doubling), SPYGLASS_NOTIFY_LEASE_SECONDS (default \
            120: a node that dies while delivering leaves its claimed notifications to the others after this).

            Storage (environment only): SPYGLASS_COMPACT_EVENTS=0 stores each event on its own instead of as what \
            differs from the first event of its issue (default 1: about a quarter of the disk).
            """)

    @Option(help: ArgumentHelp("Address to listen on (env SPYGLASS_HOST, default 127.0.0.1).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("Port to listen on; 0 picks a free one (env SPYGLASS_PORT, default 8000).", valueName: "port"))
    var port: String?

    /// --data-dir and --database-url, as every command takes them.
    @OptionGroup var store: StoreOptions

    @Option(
        name: .customLong("base-url"),
        help: ArgumentHelp(
            "URL users and SDKs reach the server at, used in DSNs and links (env SPYGLASS_BASE_URL, default http://<host>:<port>).",
            valueName: "url"))
    var baseURL: String?

    @Option(
        name: .customLong("admin-email"),
        help: ArgumentHelp("E-mail of the admin created on first start (env SPYGLASS_ADMIN_EMAIL, default admin@example.com).", valueName: "email"))
    var adminEmail: String?

    @Option(help: ArgumentHelp("Organization slug used in API paths (env SPYGLASS_ORG, default spyglass).", valueName: "slug"))
    var org: String?

    @Option(
        name: .customLong("log-format"),
        help: ArgumentHelp("Log format: logfmt or json (env SPYGLASS_LOG_FORMAT, default logfmt).", valueName: "format"))
    var logFormat: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "Lowest level logged: trace, debug, info, notice, warning, error, critical (env SPYGLASS_LOG_LEVEL, default info).",
            valueName: "level"))
    var logLevel: String?

    @Option(
        name: .customLong("max-event-size"),
        help: ArgumentHelp("Largest event, decompressed (env SPYGLASS_MAX_EVENT_SIZE, default 1MiB).", valueName: "size"))
    var maxEventSize: String?

    @Option(
        name: .customLong("max-envelope-size"),
        help: ArgumentHelp("Largest envelope, decompressed (env SPYGLASS_MAX_ENVELOPE_SIZE, default 200MiB).", valueName: "size"))
    var maxEnvelopeSize: String?

    @Option(
        name: .customLong("max-compressed-size"),
        help: ArgumentHelp("Largest request body as sent (env SPYGLASS_MAX_COMPRESSED_SIZE, default 20MiB).", valueName: "size"))
    var maxCompressedSize: String?

    @Option(
        name: .customLong("ingest-queue"),
        help: ArgumentHelp(
            "Requests waiting for the database writer before new ones get 429 (env SPYGLASS_INGEST_QUEUE, default 10000).",
            valueName: "count"))
    var ingestQueue: String?

    @Option(
        name: .customLong("retention-days"),
        help: ArgumentHelp("Delete events older than this many days (env SPYGLASS_RETENTION_DAYS, default 90).", valueName: "days"))
    var retentionDays: String?

    @Option(
        name: .customLong("max-events-per-project"),
        help: ArgumentHelp(
            "Keep at most this many events per project, oldest deleted first (env SPYGLASS_MAX_EVENTS_PER_PROJECT, default 100000).",
            valueName: "count"))
    var maxEventsPerProject: String?

    @Option(
        name: .customLong("retention-interval"),
        help: ArgumentHelp("Seconds between runs of retention, auto-resolve and issue aging (env SPYGLASS_RETENTION_INTERVAL, default 3600).", valueName: "seconds"))
    var retentionInterval: String?

    func run() async throws {
        let configuration = try resolveOrExit(
            ServeFlags(
                host: host, port: port, dataDir: store.dataDir, databaseURL: store.databaseURL, baseURL: baseURL, adminEmail: adminEmail, org: org,
                logFormat: logFormat, logLevel: logLevel, maxEventSize: maxEventSize, maxEnvelopeSize: maxEnvelopeSize,
                maxCompressedSize: maxCompressedSize, ingestQueue: ingestQueue, retentionDays: retentionDays,
                maxEventsPerProject: maxEventsPerProject, retentionInterval: retentionInterval))
        LoggingSystem.bootstrap { _ in
            StructuredLogHandler(format: configuration.logFormat, level: configuration.logLevel)
        }
        let logger = Logger(label: "spyglass")
        do {
            try await StorageBackend.withOpened(configuration, logger: logger) { backend in
                try await Server.run(configuration: configuration, backend: backend, logger: logger)
            }
        } catch let error as ConfigurationError {
            throw fail(error)
        } catch {
            logger.critical("server stopped", metadata: ["error": "\(error)"])
            throw fail(error)
        }
        logger.info("shut down")
    }
}
