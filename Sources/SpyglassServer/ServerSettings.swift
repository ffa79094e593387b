import Foundation
import Logging
import SpyglassCore
import SpyglassHTTP
import SpyglassNotify
import SpyglassPostgres

/// One setting of `spyglass serve`, declared once: its name, flag, environment variable, default, help and
/// validation. ``ServerConfiguration/resolve(flags:environment:)``, the `serve --help` text
/// (``ServerSetting/helpText``) and the table in docs/configuration.md (``ServerSetting/markdownTable``, compared
/// with the file by ServerSettingsTests) all come from ``ServerSetting/all``.
public struct ServerSetting: Sendable {
    /// The ``ServerConfiguration`` field it sets, as the docs' table names it.
    public let field: String
    /// The flag without `--`; nil for a setting read from the environment only (secrets, rarely changed ones).
    public let flag: String?
    /// The environment variable.
    public let variable: String
    /// The placeholder of the value in `--help`.
    public let valueName: String
    /// What applies when neither flag nor variable is given, as `--help` and the docs show it.
    public let defaultValue: Default
    /// One sentence, for `--help` and the docs.
    public let help: String
    /// What else the docs say about it.
    public let details: String
    /// Checks the text and sets the field; throws ``Invalid`` saying what is wrong with the text.
    let apply: @Sendable (String, inout ServerConfiguration) throws -> Void

    public enum Default: Sendable {
        /// A value as it would be written (shown in code style); ``ServerConfiguration/defaults`` holds what it
        /// gives (ServerSettingsTests checks).
        case value(String)
        /// Words (markdown): "none", "generated", a default that depends on something else.
        case words(String)
    }

    /// What is wrong with a value.
    struct Invalid: Error {
        let message: String
        init(_ message: String) { self.message = message }
        /// A domain error's message (the validations of SpyglassCore and SpyglassNotify throw those).
        init(_ error: any Error) { message = (error as? DomainError)?.message ?? "\(error)" }
    }

    init(
        _ field: String, flag: String? = nil, variable: String, valueName: String = "value", default defaultValue: Default,
        help: String, details: String = "", apply: @escaping @Sendable (String, inout ServerConfiguration) throws -> Void
    ) {
        self.field = field
        self.flag = flag
        self.variable = variable
        self.valueName = valueName
        self.defaultValue = defaultValue
        self.help = help
        self.details = details
        self.apply = apply
    }

    /// How errors name it: `--port / SPYGLASS_PORT`, or the variable alone.
    public var name: String { flag.map { "--\($0) / \(variable)" } ?? variable }

    /// The settings that `StoreOptions` gives every command: where the database is.
    public static let storeFlags: Set<String> = ["data-dir", "database-url"]
}

// MARK: - The settings

extension ServerSetting {
    /// Every setting, in the order of the docs' table.
    public static let all: [ServerSetting] = [
        ServerSetting(
            "host", flag: "host", variable: "SPYGLASS_HOST", valueName: "address", default: .value("127.0.0.1"),
            help: "Address to listen on (`0.0.0.0` for all interfaces)."
        ) { text, config in
            guard !text.isEmpty, !text.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                throw Invalid("\"\(text)\" is not a host name or IP address")
            }
            config.host = text
        },
        ServerSetting(
            "port", flag: "port", variable: "SPYGLASS_PORT", valueName: "port", default: .value("8000"),
            help: "Port to listen on, 0–65535; `0` picks a free one."
        ) { text, config in
            guard let number = Int(text), (0...65535).contains(number) else {
                throw Invalid("\"\(text)\" is not a port number (0-65535)")
            }
            config.port = number
        },
        ServerSetting(
            "dataDirectory", flag: "data-dir", variable: "SPYGLASS_DATA_DIR", valueName: "path",
            default: .value("spyglass-data"),
            help: "Directory of the SQLite database (relative to the working directory), created if missing.",
            details: "See [the data directory](#the-data-directory)."
        ) { text, config in
            config.dataDirectory = URL(filePath: text, directoryHint: .isDirectory)
        },
        ServerSetting(
            "databaseURL", flag: "database-url", variable: "SPYGLASS_DATABASE_URL",
            valueName: "postgres://user:password@host:5432/db", default: .words("none (SQLite)"),
            help: "PostgreSQL instead of SQLite: `postgres://user:password@host:5432/db?sslmode=verify-full`.",
            details: """
                `sslmode` as libpq's: `disable`, `prefer` (default), `require`, `verify-ca`, `verify-full`; \
                `sslrootcert=PATH` replaces the system's trust roots. The schema is created and migrated at start; a \
                wrong host or password fails at once with the reason. See [storage-postgres.md](storage-postgres.md#connecting).
                """
        ) { text, config in
            do { config.databaseURL = try DatabaseURL(text) } catch {
                throw Invalid(error)
            }
        },
        ServerSetting(
            "baseURL", flag: "base-url", variable: "SPYGLASS_BASE_URL", valueName: "url",
            default: .words("`http://<host>:<port>`"),
            help: "Public http(s) URL of the server, used in DSNs, alert links and cookies' `Secure` flag.",
            details: "Set it behind a proxy, and the same on every node."
        ) { text, config in
            let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(),
                scheme == "http" || scheme == "https", url.host() != nil, url.query() == nil, url.fragment() == nil
            else {
                throw Invalid("\"\(text)\" is not an http(s) URL like https://errors.example.com")
            }
            config.baseURL = url
        },
        ServerSetting(
            "adminEmail", flag: "admin-email", variable: "SPYGLASS_ADMIN_EMAIL", valueName: "email",
            default: .value("admin@example.com"),
            help: "E-mail of the admin account created on first start."
        ) { text, config in
            do { config.adminEmail = try EmailAddress.normalize(text) } catch { throw Invalid(error) }
        },
        ServerSetting(
            "adminPassword", variable: "SPYGLASS_ADMIN_PASSWORD", default: .words("generated"),
            help: "Password of that account, at least 8 characters.",
            details: "Without it a one-time password is generated and printed once. Ignored once an admin exists."
        ) { text, config in
            do { try Password.validate(text) } catch { throw Invalid(error) }
            config.adminPassword = text
        },
        ServerSetting(
            "organizationSlug", flag: "org", variable: "SPYGLASS_ORG", valueName: "slug", default: .value("spyglass"),
            help: "Organization slug in API paths (`/api/0/organizations/<org>/…`)."
        ) { text, config in
            do { try Slug.validate(text) } catch { throw Invalid(error) }
            config.organizationSlug = text
        },
        ServerSetting(
            "logFormat", flag: "log-format", variable: "SPYGLASS_LOG_FORMAT", valueName: "format",
            default: .value("logfmt"),
            help: "`logfmt` or `json`, one event a line on stdout."
        ) { text, config in
            guard let parsed = LogFormat(rawValue: text.lowercased()) else {
                throw Invalid("\"\(text)\" is not one of logfmt, json")
            }
            config.logFormat = parsed
        },
        ServerSetting(
            "logLevel", flag: "log-level", variable: "SPYGLASS_LOG_LEVEL", valueName: "level", default: .value("info"),
            help: "Lowest level logged: `trace`, `debug`, `info`, `notice`, `warning`, `error` or `critical`."
        ) { text, config in
            guard let parsed = Logger.Level(rawValue: text.lowercased()) else {
                throw Invalid("\"\(text)\" is not one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.logLevel = parsed
        },
        ServerSetting(
            "ingestLimits.maxEventSize", flag: "max-event-size", variable: "SPYGLASS_MAX_EVENT_SIZE", valueName: "size",
            default: .value("1MiB"),
            help: "Largest event (event item or `/store/` body), decompressed."
        ) { text, config in
            config.ingestLimits.maxEventSize = try size(text)
        },
        ServerSetting(
            "ingestLimits.maxEnvelopeSize", flag: "max-envelope-size", variable: "SPYGLASS_MAX_ENVELOPE_SIZE",
            valueName: "size", default: .value("200MiB"),
            help: "Largest envelope, decompressed; also caps one attachment."
        ) { text, config in
            let bytes = try size(text)
            config.ingestLimits.maxEnvelopeSize = bytes
            config.ingestLimits.maxAttachmentSize = min(config.ingestLimits.maxAttachmentSize, bytes)
        },
        ServerSetting(
            "ingestLimits.maxCompressedSize", flag: "max-compressed-size", variable: "SPYGLASS_MAX_COMPRESSED_SIZE",
            valueName: "size", default: .value("20MiB"),
            help: "Largest request body as sent."
        ) { text, config in
            config.ingestLimits.maxCompressedSize = try size(text)
        },
        ServerSetting(
            "ingestQueueCapacity", flag: "ingest-queue", variable: "SPYGLASS_INGEST_QUEUE", valueName: "count",
            default: .value("10000"),
            help: "Requests waiting for the database writer before new ones get `429` (1 to 10 000 000)."
        ) { text, config in
            config.ingestQueueCapacity = try whole(text, most: 10_000_000)
        },
        ServerSetting(
            "retention.maxAge", flag: "retention-days", variable: "SPYGLASS_RETENTION_DAYS", valueName: "days",
            default: .value("90"),
            help: "Events older than this many days are deleted; the first and latest event of each issue stay.",
            details: "A project may keep fewer (project settings). At most 36 500."
        ) { text, config in
            let days = try positive(text)
            guard days <= 36_500 else { throw Invalid("\"\(text)\" is more than 36500 days") }
            config.retention.maxAge = days * 86400
        },
        ServerSetting(
            "retention.maxEventsPerProject", flag: "max-events-per-project", variable: "SPYGLASS_MAX_EVENTS_PER_PROJECT",
            valueName: "count", default: .value("100000"),
            help: "Stored events per project at most; the oldest go first."
        ) { text, config in
            config.retention.maxEventsPerProject = try whole(text, most: 1_000_000_000_000)
        },
        ServerSetting(
            "retention.logDays", flag: "log-retention-days", variable: "SPYGLASS_LOG_RETENTION_DAYS", valueName: "days",
            default: .value("14"),
            help: "Structured log lines older than this many days are deleted.",
            details: "A project may set its own, more or fewer days, and a size limit (project settings). At most 3650."
        ) { text, config in
            config.retention.logDays = try whole(text, most: 3650)
        },
        ServerSetting(
            "retention.interval", flag: "retention-interval", variable: "SPYGLASS_RETENTION_INTERVAL",
            valueName: "seconds", default: .value("3600"),
            help: "Seconds between runs of retention, auto-resolve and issue aging (at most a year)."
        ) { text, config in
            let seconds = try positive(text)
            guard seconds <= 86_400 * 365 else { throw Invalid("\"\(text)\" is more than a year of seconds") }
            config.retention.interval = .milliseconds(Int64(seconds * 1000))
        },
        ServerSetting(
            "compactEvents", variable: "SPYGLASS_COMPACT_EVENTS", default: .value("1"),
            help: "Stores each event as what differs from the first event of its grouping hash, kept once per issue; `0` stores each event on its own.",
            details: """
                See [storage-format.md](storage-format.md#compact-events). Events stored either way are read either \
                way, so it can be switched at any restart.
                """
        ) { text, config in
            config.compactEvents = try boolean(text)
        },
        ServerSetting(
            "logShareUnderLoad", variable: "SPYGLASS_LOG_SHARE_UNDER_LOAD", default: .value("1"),
            help: "While error ingest is busy, the percentage of a CPU each of the log writer's two threads uses at most (1 to 100; 100 never holds log lines back).",
            details: """
                Log lines then wait a little longer before their `200`, so that they do not slow error ingest. See \
                [performance.md](performance.md#log-lines-kept-to-a-share-of-the-cpu-while-errors-are-busy).
                """
        ) { text, config in
            config.logShareUnderLoad = Double(try whole(text, most: 100)) / 100
        },
        ServerSetting(
            "connections.headerTimeout", variable: "SPYGLASS_HEADER_TIMEOUT", default: .value("30"),
            help: "Seconds a new connection has to send its whole request head; slower ones are closed."
        ) { text, config in
            config.connections.headerTimeout = try seconds(text, least: 0, inclusive: false)
        },
        ServerSetting(
            "connections.idleTimeout", variable: "SPYGLASS_IDLE_TIMEOUT", default: .value("75"),
            help: "Seconds a connection may stay silent (between requests, or within a request body) before it is closed."
        ) { text, config in
            config.connections.idleTimeout = try seconds(text, least: 0, inclusive: false)
        },
        ServerSetting(
            "connections.maxConnections", variable: "SPYGLASS_MAX_CONNECTIONS",
            default: .words("`4096`, or the open-file limit less 128"),
            help: "Open connections at most.",
            details: "Beyond, new ones wait in the kernel's backlog until one closes, and the log says so once."
        ) { text, config in
            guard let number = Int(text), (1...1_000_000).contains(number) else {
                throw Invalid("\"\(text)\" is not a whole number from 1 to 1000000")
            }
            config.connections.maxConnections = number
        },
        ServerSetting(
            "metricsToken", variable: "SPYGLASS_METRICS_TOKEN", default: .words("none"),
            help: "When set, `GET /metrics` answers only `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting).",
            details: "Printable ASCII without spaces."
        ) { text, config in
            guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { throw Invalid("use printable ASCII without spaces") }
            config.metricsToken = text
        },
        ServerSetting(
            "notify.smtp", variable: "SPYGLASS_SMTP_URL", default: .words("none"),
            help: "Mail server for alert e-mails.",
            details: """
                `smtp://host:25` (plain), `smtp+starttls://user:pass@host:587` (STARTTLS required) or \
                `smtps://user:pass@host:465` (TLS; `smtp+tls://` too). `?auth=plain` or `?auth=login` forces the AUTH \
                mechanism (default PLAIN when offered, else LOGIN). User and password are percent-decoded. Without it, \
                e-mail alerts are recorded as failed with that reason.
                """
        ) { text, config in
            do { config.notify.smtp = try SMTPConfiguration(url: text) } catch { throw Invalid(error) }
        },
        // After the SMTP URL: it adds to the mail server's configuration.
        ServerSetting(
            "notify.smtp.trustRootsFile", variable: "SPYGLASS_SMTP_CA_FILE", default: .words("none"),
            help: "PEM file of extra CA certificates trusted for the mail server's certificate (a private CA); must be readable."
        ) { text, config in
            guard FileManager.default.isReadableFile(atPath: text) else { throw Invalid("\"\(text)\" is not a readable file") }
            config.notify.smtp?.trustRootsFile = text
        },
        ServerSetting(
            "notify.emailFrom", variable: "SPYGLASS_EMAIL_FROM", default: .value("spyglass@localhost"),
            help: "Sender of alert e-mails."
        ) { text, config in
            do { config.notify.emailFrom = try EmailAddress.normalize(text) } catch { throw Invalid(error) }
        },
        ServerSetting(
            "notify.allowPrivateWebhooks", variable: "SPYGLASS_WEBHOOK_ALLOW_PRIVATE", default: .value("0"),
            help: "`1` allows webhooks to loopback, private, link-local and the other special-purpose addresses of the IANA registries.",
            details: """
                Refused by default, as rule editors could otherwise probe the internal network; the name is resolved \
                once and the request sent to the address that was checked.
                """
        ) { text, config in
            config.notify.allowPrivateWebhooks = try boolean(text)
        },
        ServerSetting(
            "notify.retry.maxAttempts", variable: "SPYGLASS_NOTIFY_ATTEMPTS", default: .value("8"),
            help: "Delivery attempts per notification before it is marked failed (1–100)."
        ) { text, config in
            guard let number = Int(text), (1...100).contains(number) else {
                throw Invalid("\"\(text)\" is not a whole number from 1 to 100")
            }
            config.notify.retry.maxAttempts = number
        },
        ServerSetting(
            "notify.retry.baseDelay", variable: "SPYGLASS_NOTIFY_RETRY_SECONDS", default: .value("30"),
            help: "Seconds before the second attempt; each further delay doubles (8 attempts span about an hour)."
        ) { text, config in
            config.notify.retry.baseDelay = try seconds(text, least: 0, inclusive: false)
        },
        ServerSetting(
            "notify.lease", variable: "SPYGLASS_NOTIFY_LEASE_SECONDS", default: .value("120"),
            help: "Seconds a node holds the notifications it claimed for delivery; if it dies mid-delivery, another node (or the next start) sends them after this.",
            details: "Keep it above a delivery's worst case (SMTP: 10 s to connect and 30 s for an answer)."
        ) { text, config in
            config.notify.lease = try seconds(text, least: 1, inclusive: true)
        },
        ServerSetting(
            "benchmarkRoutes", variable: "SPYGLASS_BENCHMARK_ROUTES", default: .value("0"),
            help: "`1` adds `POST /api/{project_id}/null/`, which reads the body and answers 200, and `POST /api/{project_id}/inflate/`, which also inflates it: the HTTP ceilings the ingest benchmark compares with.",
            details: "Never needed in production."
        ) { text, config in
            config.benchmarkRoutes = text == "1"
        },
    ]

    // MARK: - Values

    /// `1048576`, `512KiB`, `512k`, `20MiB`, `20m`, `1GiB`, up to 1 GiB (SQLite stores at most that in one value).
    static func size(_ text: String) throws -> Int {
        guard let bytes = parseSize(text), bytes > 0, bytes <= 1 << 30 else {
            throw Invalid("\"\(text)\" is not a size in bytes up to 1GiB (e.g. 1048576, 512KiB, 20MiB)")
        }
        return bytes
    }

    static func positive(_ text: String) throws -> Double {
        guard let number = Double(text), number > 0, number.isFinite else { throw Invalid("\"\(text)\" is not a positive number") }
        return number
    }

    /// A whole number from 1 to `most` (written as a number: `1e3` is 1000; `1e19` is refused, not trapped on).
    static func whole(_ text: String, most: Int) throws -> Int {
        let number = try positive(text)
        guard number == number.rounded(), number <= Double(most) else {
            throw Invalid("\"\(number)\" is not a whole number from 1 to \(most)")
        }
        return Int(number)
    }

    /// Seconds above `least` (or from it, when `inclusive`), at most a day.
    static func seconds(_ text: String, least: Double, inclusive: Bool) throws -> Double {
        guard let number = Double(text), inclusive ? number >= least : number > least, number <= 86_400 else {
            throw Invalid(
                inclusive
                    ? "\"\(text)\" is not a number of seconds from \(Int(least)) to 86400"
                    : "\"\(text)\" is not a number of seconds (\(Int(least))-86400]")
        }
        return number
    }

    /// `1`, `true`, `yes` or `0`, `false`, `no` (any case).
    static func boolean(_ text: String) throws -> Bool {
        switch text.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw Invalid("\"\(text)\" is not 1 or 0")
        }
    }

    /// `1048576`, `512KiB`, `512k`, `20MiB`, `20m`, `1GiB`.
    static func parseSize(_ text: String) -> Int? {
        let lowered = text.trimmingCharacters(in: .whitespaces).lowercased()
        let digits = lowered.prefix(while: { $0.isNumber })
        guard let number = Int(digits) else { return nil }
        let multiplier: Int
        switch lowered.dropFirst(digits.count).trimmingCharacters(in: .whitespaces) {
        case "", "b": multiplier = 1
        case "k", "kb", "kib": multiplier = 1024
        case "m", "mb", "mib": multiplier = 1024 * 1024
        case "g", "gb", "gib": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        let (result, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }
}

// MARK: - Help and docs

extension ServerSetting {
    /// The default as `--help` shows it.
    var defaultText: String {
        switch defaultValue {
        case .value(let value): value
        case .words(let words): words.replacingOccurrences(of: "`", with: "")
        }
    }

    /// The setting with this flag.
    public static func flagged(_ flag: String) -> ServerSetting? { all.first { $0.flag == flag } }

    /// `--help` text for one flag: what it is, its variable and default.
    public var flagHelp: String {
        "\(help.replacingOccurrences(of: "`", with: "")) (env \(variable), default \(defaultText))"
    }

    /// The settings part of `spyglass serve --help`: the flags, then the environment-only variables.
    public static var helpText: String {
        // Wrapped here, under 80 columns, so that the argument parser keeps the indentation.
        func wrapped(_ text: String, indent: Int) -> [String] {
            var lines: [String] = []
            var line = ""
            for word in text.replacingOccurrences(of: "`", with: "").split(separator: " ") {
                if !line.isEmpty, indent + line.count + 1 + word.count > 78 {
                    lines.append(String(repeating: " ", count: indent) + line)
                    line = ""
                }
                line += line.isEmpty ? String(word) : " " + word
            }
            if !line.isEmpty { lines.append(String(repeating: " ", count: indent) + line) }
            return lines
        }
        var lines = wrapped(
            "Each flag falls back to its environment variable, then to its default; an empty variable counts as unset. "
                + "A bad value stops the server with exit code 2.", indent: 0)
        lines += ["", "SETTINGS:"]
        for setting in all {
            guard let flag = setting.flag else { continue }
            lines.append("  --\(flag) <\(setting.valueName)>")
            lines += wrapped(setting.flagHelp, indent: 8)
        }
        lines += ["", "ENVIRONMENT ONLY (secrets, and rarely changed settings):"]
        for setting in all where setting.flag == nil {
            lines.append("  \(setting.variable)")
            lines += wrapped("\(setting.help) (default \(setting.defaultText))", indent: 8)
        }
        lines += ["", "docs/configuration.md describes each in full."]
        return lines.joined(separator: "\n")
    }

    /// The table of docs/configuration.md.
    public static var markdownTable: String {
        var lines = ["| Setting | Flag | Environment | Default | Meaning |", "|---|---|---|---|---|"]
        for setting in all {
            let flag = setting.flag.map { "`--\($0)`" } ?? "—"
            let defaultCell: String
            switch setting.defaultValue {
            case .value(let value): defaultCell = "`\(value)`"
            case .words(let words): defaultCell = words
            }
            let meaning = setting.details.isEmpty ? setting.help : "\(setting.help) \(setting.details)"
            lines.append("| `\(setting.field)` | \(flag) | `\(setting.variable)` | \(defaultCell) | \(meaning) |")
        }
        return lines.joined(separator: "\n")
    }
}
