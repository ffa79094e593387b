import Foundation
import Logging
import SpyglassCore
import SpyglassHTTP
import SpyglassNotify
import SpyglassPostgres

/// A setting with a bad value: says which one, and what is wrong with it.
public struct ConfigurationError: Error, CustomStringConvertible {
    /// The flag and variable, e.g. `--port / SPYGLASS_PORT`.
    public let setting: String
    /// What is wrong with the value.
    public let message: String

    public var description: String { "invalid \(setting): \(message)" }
}

/// The raw text of each setting as given on the command line (nil when the flag was not given).
public struct ServeFlags: Sendable {
    public var host: String?
    public var port: String?
    public var dataDir: String?
    public var databaseURL: String?
    public var baseURL: String?
    public var adminEmail: String?
    public var org: String?
    public var logFormat: String?
    public var logLevel: String?
    public var maxEventSize: String?
    public var maxEnvelopeSize: String?
    public var maxCompressedSize: String?
    public var ingestQueue: String?
    public var retentionDays: String?
    public var maxEventsPerProject: String?
    public var retentionInterval: String?

    public init(
        host: String? = nil, port: String? = nil, dataDir: String? = nil, databaseURL: String? = nil, baseURL: String? = nil,
        adminEmail: String? = nil, org: String? = nil, logFormat: String? = nil, logLevel: String? = nil,
        maxEventSize: String? = nil, maxEnvelopeSize: String? = nil, maxCompressedSize: String? = nil,
        ingestQueue: String? = nil, retentionDays: String? = nil, maxEventsPerProject: String? = nil,
        retentionInterval: String? = nil
    ) {
        self.host = host
        self.port = port
        self.dataDir = dataDir
        self.databaseURL = databaseURL
        self.baseURL = baseURL
        self.adminEmail = adminEmail
        self.org = org
        self.logFormat = logFormat
        self.logLevel = logLevel
        self.maxEventSize = maxEventSize
        self.maxEnvelopeSize = maxEnvelopeSize
        self.maxCompressedSize = maxCompressedSize
        self.ingestQueue = ingestQueue
        self.retentionDays = retentionDays
        self.maxEventsPerProject = maxEventsPerProject
        self.retentionInterval = retentionInterval
    }
}

extension ServerConfiguration {
    /// Resolves every setting: the flag if given, else the environment variable, else the default.
    public static func resolve(
        flags: ServeFlags, environment: [String: String]
    ) throws(ConfigurationError) -> ServerConfiguration {
        var config = ServerConfiguration.defaults
        func value(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let text = environment[variable], !text.isEmpty { return text }
            return nil
        }
        func fail(_ flag: String, _ variable: String, _ message: String) -> ConfigurationError {
            ConfigurationError(setting: "--\(flag) / \(variable)", message: message)
        }

        if let host = value(flags.host, "SPYGLASS_HOST") {
            guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                throw fail("host", "SPYGLASS_HOST", "\"\(host)\" is not a host name or IP address")
            }
            config.host = host
        }
        if let port = value(flags.port, "SPYGLASS_PORT") {
            guard let number = Int(port), (0...65535).contains(number) else {
                throw fail("port", "SPYGLASS_PORT", "\"\(port)\" is not a port number (0-65535)")
            }
            config.port = number
        }
        if let dataDir = value(flags.dataDir, "SPYGLASS_DATA_DIR") {
            config.dataDirectory = URL(filePath: dataDir, directoryHint: .isDirectory)
        }
        if let text = value(flags.databaseURL, "SPYGLASS_DATABASE_URL") {
            do { config.databaseURL = try DatabaseURL(text) } catch {
                throw fail("database-url", "SPYGLASS_DATABASE_URL", (error as? DomainError)?.message ?? "\(error)")
            }
        }
        if let base = value(flags.baseURL, "SPYGLASS_BASE_URL") {
            let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(),
                scheme == "http" || scheme == "https", url.host() != nil, url.query() == nil, url.fragment() == nil
            else {
                throw fail("base-url", "SPYGLASS_BASE_URL", "\"\(base)\" is not an http(s) URL like https://errors.example.com")
            }
            config.baseURL = url
        }
        if let email = value(flags.adminEmail, "SPYGLASS_ADMIN_EMAIL") {
            do { config.adminEmail = try EmailAddress.normalize(email) } catch {
                throw fail("admin-email", "SPYGLASS_ADMIN_EMAIL", error.message)
            }
        }
        if let password = environment["SPYGLASS_ADMIN_PASSWORD"], !password.isEmpty {
            do { try Password.validate(password) } catch {
                throw ConfigurationError(setting: "SPYGLASS_ADMIN_PASSWORD", message: error.message)
            }
            config.adminPassword = password
        }
        if let org = value(flags.org, "SPYGLASS_ORG") {
            do { try Slug.validate(org) } catch { throw fail("org", "SPYGLASS_ORG", error.message) }
            config.organizationSlug = org
        }
        if let format = value(flags.logFormat, "SPYGLASS_LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw fail("log-format", "SPYGLASS_LOG_FORMAT", "\"\(format)\" is not one of logfmt, json")
            }
            config.logFormat = parsed
        }
        if let level = value(flags.logLevel, "SPYGLASS_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw fail("log-level", "SPYGLASS_LOG_LEVEL", "\"\(level)\" is not one of \(names)")
            }
            config.logLevel = parsed
        }
        func size(_ flag: String?, _ name: String, _ variable: String) throws(ConfigurationError) -> Int? {
            guard let text = value(flag, variable) else { return nil }
            // SQLite stores at most 1 GiB in one value (a blob's length is a 32-bit int).
            guard let bytes = parseSize(text), bytes > 0, bytes <= 1 << 30 else {
                throw fail(name, variable, "\"\(text)\" is not a size in bytes up to 1GiB (e.g. 1048576, 512KiB, 20MiB)")
            }
            return bytes
        }
        if let bytes = try size(flags.maxEventSize, "max-event-size", "SPYGLASS_MAX_EVENT_SIZE") {
            config.ingestLimits.maxEventSize = bytes
        }
        if let bytes = try size(flags.maxEnvelopeSize, "max-envelope-size", "SPYGLASS_MAX_ENVELOPE_SIZE") {
            config.ingestLimits.maxEnvelopeSize = bytes
            config.ingestLimits.maxAttachmentSize = min(config.ingestLimits.maxAttachmentSize, bytes)
        }
        if let bytes = try size(flags.maxCompressedSize, "max-compressed-size", "SPYGLASS_MAX_COMPRESSED_SIZE") {
            config.ingestLimits.maxCompressedSize = bytes
        }
        func positive(_ flag: String?, _ name: String, _ variable: String) throws(ConfigurationError) -> Double? {
            guard let text = value(flag, variable) else { return nil }
            guard let number = Double(text), number > 0, number.isFinite else {
                throw fail(name, variable, "\"\(text)\" is not a positive number")
            }
            return number
        }
        func whole(_ flag: String?, _ name: String, _ variable: String, most: Int) throws(ConfigurationError) -> Int? {
            guard let number = try positive(flag, name, variable) else { return nil }
            guard number == number.rounded(), number <= Double(most) else {
                throw fail(name, variable, "\"\(number)\" is not a whole number from 1 to \(most)")
            }
            return Int(number)
        }
        if let count = try whole(flags.ingestQueue, "ingest-queue", "SPYGLASS_INGEST_QUEUE", most: 10_000_000) {
            config.ingestQueueCapacity = count
        }
        if let days = try positive(flags.retentionDays, "retention-days", "SPYGLASS_RETENTION_DAYS") {
            guard days <= 36_500 else { throw fail("retention-days", "SPYGLASS_RETENTION_DAYS", "\"\(days)\" is more than 36500 days") }
            config.retention.maxAge = days * 86400
        }
        if let count = try whole(
            flags.maxEventsPerProject, "max-events-per-project", "SPYGLASS_MAX_EVENTS_PER_PROJECT", most: 1_000_000_000_000)
        {
            config.retention.maxEventsPerProject = count
        }
        if let seconds = try positive(flags.retentionInterval, "retention-interval", "SPYGLASS_RETENTION_INTERVAL") {
            guard seconds <= 86_400 * 365 else {
                throw fail("retention-interval", "SPYGLASS_RETENTION_INTERVAL", "\"\(seconds)\" is more than a year of seconds")
            }
            config.retention.interval = .milliseconds(Int64(seconds * 1000))
        }
        config.benchmarkRoutes = environment["SPYGLASS_BENCHMARK_ROUTES"] == "1"
        if let compact = try boolean(environment, "SPYGLASS_COMPACT_EVENTS") { config.compactEvents = compact }
        config.notify = try resolveNotify(environment)
        config.connections = try resolveConnections(environment)
        if let token = environment["SPYGLASS_METRICS_TOKEN"], !token.isEmpty {
            guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw ConfigurationError(setting: "SPYGLASS_METRICS_TOKEN", message: "use printable ASCII without spaces")
            }
            config.metricsToken = token
        }
        return config
    }

    /// An on/off variable: `1`, `true`, `yes` or `0`, `false`, `no` (any case); nil when unset or empty.
    static func boolean(_ environment: [String: String], _ name: String) throws(ConfigurationError) -> Bool? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        switch value.lowercased() {
        case "1", "true", "yes": return true
        case "0", "false", "no": return false
        default: throw ConfigurationError(setting: name, message: "\"\(value)\" is not 1 or 0")
        }
    }

    /// Connection timeouts and the connection cap (environment only).
    static func resolveConnections(_ environment: [String: String]) throws(ConfigurationError) -> ConnectionLimits {
        var limits = ConnectionLimits()
        func seconds(_ name: String) throws(ConfigurationError) -> Double? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let number = Double(text), number > 0, number <= 86_400 else {
                throw ConfigurationError(setting: name, message: "\"\(text)\" is not a number of seconds (0-86400]")
            }
            return number
        }
        if let header = try seconds("SPYGLASS_HEADER_TIMEOUT") { limits.headerTimeout = header }
        if let idle = try seconds("SPYGLASS_IDLE_TIMEOUT") { limits.idleTimeout = idle }
        if let text = environment["SPYGLASS_MAX_CONNECTIONS"], !text.isEmpty {
            guard let number = Int(text), (1...1_000_000).contains(number) else {
                throw ConfigurationError(setting: "SPYGLASS_MAX_CONNECTIONS", message: "\"\(text)\" is not a whole number from 1 to 1000000")
            }
            limits.maxConnections = number
        }
        return limits
    }

    /// The alert delivery settings (environment only).
    static func resolveNotify(_ environment: [String: String]) throws(ConfigurationError) -> NotifySettings {
        func text(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var settings = NotifySettings(smtp: nil, emailFrom: "spyglass@localhost")
        if let url = text("SPYGLASS_SMTP_URL") {
            do {
                settings.smtp = try SMTPConfiguration(url: url, trustRootsFile: text("SPYGLASS_SMTP_CA_FILE"))
            } catch {
                throw ConfigurationError(setting: "SPYGLASS_SMTP_URL", message: error.message)
            }
        }
        if let file = text("SPYGLASS_SMTP_CA_FILE"), !FileManager.default.isReadableFile(atPath: file) {
            throw ConfigurationError(setting: "SPYGLASS_SMTP_CA_FILE", message: "\"\(file)\" is not a readable file")
        }
        if let from = text("SPYGLASS_EMAIL_FROM") {
            do { settings.emailFrom = try EmailAddress.normalize(from) } catch {
                throw ConfigurationError(setting: "SPYGLASS_EMAIL_FROM", message: error.message)
            }
        }
        if let allow = try boolean(environment, "SPYGLASS_WEBHOOK_ALLOW_PRIVATE") { settings.allowPrivateWebhooks = allow }
        if let attempts = text("SPYGLASS_NOTIFY_ATTEMPTS") {
            guard let number = Int(attempts), (1...100).contains(number) else {
                throw ConfigurationError(setting: "SPYGLASS_NOTIFY_ATTEMPTS", message: "\"\(attempts)\" is not a whole number from 1 to 100")
            }
            settings.retry.maxAttempts = number
        }
        if let seconds = text("SPYGLASS_NOTIFY_RETRY_SECONDS") {
            guard let number = Double(seconds), number > 0, number <= 86400 else {
                throw ConfigurationError(setting: "SPYGLASS_NOTIFY_RETRY_SECONDS", message: "\"\(seconds)\" is not a number of seconds (0-86400]")
            }
            settings.retry.baseDelay = number
        }
        if let seconds = text("SPYGLASS_NOTIFY_LEASE_SECONDS") {
            guard let number = Double(seconds), number >= 1, number <= 86400 else {
                throw ConfigurationError(setting: "SPYGLASS_NOTIFY_LEASE_SECONDS", message: "\"\(seconds)\" is not a number of seconds from 1 to 86400")
            }
            settings.lease = number
        }
        return settings
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
