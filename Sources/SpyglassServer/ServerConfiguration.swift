import Foundation
import Logging
import SpyglassCore
import SpyglassHTTP
import SpyglassNotify
import SpyglassPostgres
import SpyglassStorageKit

/// Everything `spyglass serve` can be told, resolved from flags, then `SPYGLASS_*` variables, then defaults. Each
/// field's flag, variable, default, help and validation are declared in ``ServerSetting/all``; the comments here
/// say what the field holds.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (`--host`, `SPYGLASS_HOST`, default 127.0.0.1).
    public var host: String
    /// Port to listen on; 0 picks a free one (`--port`, `SPYGLASS_PORT`, default 8000).
    public var port: Int
    /// Where the database lives (`--data-dir`, `SPYGLASS_DATA_DIR`, default ./spyglass-data).
    public var dataDirectory: URL
    /// A PostgreSQL database to use instead of SQLite in the data directory (`--database-url`,
    /// `SPYGLASS_DATABASE_URL`: `postgres://user:password@host:5432/db?sslmode=…`).
    public var databaseURL: DatabaseURL?
    /// The address users and SDKs reach the server at, used in DSNs and links (`--base-url`,
    /// `SPYGLASS_BASE_URL`); `nil` means `http://<host>:<port>` of the bound socket.
    public var baseURL: URL?
    /// E-mail of the admin account created on first start (`--admin-email`, `SPYGLASS_ADMIN_EMAIL`).
    public var adminEmail: String
    /// Password of that account (`SPYGLASS_ADMIN_PASSWORD` only: flags show up in `ps`); `nil` generates one.
    public var adminPassword: String?
    /// The one organization's slug in API paths (`--org`, `SPYGLASS_ORG`, default spyglass).
    public var organizationSlug: String
    /// Log line format (`--log-format`, `SPYGLASS_LOG_FORMAT`: logfmt or json).
    public var logFormat: LogFormat
    /// Lowest level logged (`--log-level`, `SPYGLASS_LOG_LEVEL`, default info).
    public var logLevel: Logger.Level
    /// Ingest size limits (`--max-event-size`, `--max-envelope-size`, `--max-compressed-size` and their
    /// `SPYGLASS_MAX_*` variables; Relay's defaults).
    public var ingestLimits = IngestLimits()
    /// Requests waiting for the writer at most before 429 (`--ingest-queue`, `SPYGLASS_INGEST_QUEUE`, default 10000).
    public var ingestQueueCapacity = 10_000
    /// Event retention (`--retention-days`/`SPYGLASS_RETENTION_DAYS`, default 90;
    /// `--max-events-per-project`/`SPYGLASS_MAX_EVENTS_PER_PROJECT`, default 100000;
    /// `--retention-interval`/`SPYGLASS_RETENTION_INTERVAL` in seconds, default 3600).
    public var retention = RetentionPolicy()
    /// `SPYGLASS_BENCHMARK_ROUTES=1` adds `POST /api/{project_id}/null/`, which reads the body and answers 200:
    /// the HTTP ceiling the ingest benchmark compares with. Off by default.
    public var benchmarkRoutes = false
    /// `SPYGLASS_COMPACT_EVENTS` (default 1) stores the events of a grouping hash as what differs from its first
    /// event (``IngestWriter/compactEvents``): far less disk per event. `0` stores each on its own.
    public var compactEvents = true
    /// `SPYGLASS_LOG_SHARE_UNDER_LOAD` (percent, default 1): the share of a CPU each of the log writer's two threads
    /// uses at most while error ingest is busy (``LogWriter/busyShare``); 100 never holds the lines back.
    public var logShareUnderLoad = LogWriter.defaultBusyShare
    /// Connection timeouts and caps (`SPYGLASS_HEADER_TIMEOUT`, `SPYGLASS_IDLE_TIMEOUT`, `SPYGLASS_MAX_CONNECTIONS`).
    public var connections = ConnectionLimits()
    /// `SPYGLASS_METRICS_TOKEN`: when set, `GET /metrics` answers only `Authorization: Bearer <token>`.
    public var metricsToken: String?
    /// Alert delivery: `SPYGLASS_SMTP_URL`, `SPYGLASS_SMTP_CA_FILE`, `SPYGLASS_EMAIL_FROM`,
    /// `SPYGLASS_WEBHOOK_ALLOW_PRIVATE`, `SPYGLASS_NOTIFY_ATTEMPTS` (default 8), `SPYGLASS_NOTIFY_RETRY_SECONDS`
    /// (first backoff delay, doubling; default 30), `SPYGLASS_NOTIFY_LEASE_SECONDS` (how long a node holds the
    /// notifications it claimed; default 120).
    public var notify = NotifySettings(smtp: nil, emailFrom: "spyglass@localhost")

    /// The defaults, which is what a bare `spyglass serve` runs with.
    public static let defaults = ServerConfiguration(
        host: "127.0.0.1", port: 8000, dataDirectory: URL(filePath: "spyglass-data", directoryHint: .isDirectory),
        baseURL: nil, adminEmail: "admin@example.com", adminPassword: nil, organizationSlug: "spyglass",
        logFormat: .logfmt, logLevel: .info)

    public init(
        host: String, port: Int, dataDirectory: URL, baseURL: URL?, adminEmail: String, adminPassword: String?,
        organizationSlug: String, logFormat: LogFormat, logLevel: Logger.Level
    ) {
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.baseURL = baseURL
        self.adminEmail = adminEmail
        self.adminPassword = adminPassword
        self.organizationSlug = organizationSlug
        self.logFormat = logFormat
        self.logLevel = logLevel
    }

    /// The base URL for a server bound to `port`: the configured one, else derived from the listen address.
    public func effectiveBaseURL(boundPort: Int) -> URL {
        if let baseURL { return baseURL }
        let reachable = (host == "0.0.0.0" || host.isEmpty) ? "127.0.0.1" : (host == "::" ? "::1" : host)
        let bracketed = reachable.contains(":") ? "[\(reachable)]" : reachable
        // Host and port are validated, so the URL parses.
        return URL(string: "http://\(bracketed):\(boundPort)") ?? URL(filePath: "/")
    }
}

/// The log line formats.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `ts=… level=info msg="…" key=value`, one event a line.
    case logfmt
    /// One JSON object a line.
    case json
}
