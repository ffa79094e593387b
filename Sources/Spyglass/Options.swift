import Foundation
import SpyglassProtocol

/// How the SDK behaves; set in ``SpyglassSDK/start(_:)``.
public struct SpyglassOptions: Sendable {
    /// Where events go (`SENTRY_DSN` by default). Missing or malformed: the SDK stays off, with one warning.
    public var dsn: String?
    /// The app's version (`SENTRY_RELEASE`), e.g. `my-service@1.4.2`.
    public var release: String?
    /// `SENTRY_ENVIRONMENT`, else `production`.
    public var environment: String
    /// The share of events sent, 0...1.
    public var sampleRate: Double = 1
    /// Sees every event before it is queued; return nil to drop it.
    public var beforeSend: (@Sendable (SpyglassEvent) -> SpyglassEvent?)?
    /// Send structured log lines (``SpyglassSDK/log(_:_:attributes:)``, and swift-log records through
    /// `SpyglassLogHandler`) as Sentry `log` items. Off by default, as in Sentry's SDKs.
    public var enableLogs = false
    /// Sees every log line before it is sent; return nil to drop it.
    public var beforeSendLog: (@Sendable (SpyglassLog) -> SpyglassLog?)?
    /// Log lines sent in one envelope at most; a full batch goes at once.
    public var logBatchSize = 100
    /// Seconds a log line waits for its batch to fill before the batch goes anyway.
    public var logFlushSeconds: Double = 5
    /// Breadcrumbs kept per scope (the oldest go first).
    public var maxBreadcrumbs = 100
    /// Module-name prefixes whose frames are the app's own (in addition to the main executable's modules).
    public var inAppInclude: [String] = []
    /// Module-name prefixes whose frames are never the app's own.
    public var inAppExclude: [String] = []
    /// Attach the caller's stack trace to messages too.
    public var attachStacktrace = false
    /// Send personal data: request cookies and authorization headers, the client's IP address.
    public var sendDefaultPII = false
    /// Print what the SDK does on stderr (never through swift-log, so a log handler can't loop).
    public var debug = false
    /// Events (and batches of log lines) waiting for the transport at most; more are dropped and counted.
    public var maxQueueSize = 100
    /// Where unsent envelopes wait while the server is unreachable; nil: a folder for the DSN's key in the
    /// temporary directory. They are sent when the server answers again, or on the next start.
    public var spoolDirectory: URL?
    /// Record crashes (fatal signals) and send them on the next start.
    public var captureCrashes = true
    /// Where crash records wait for the next start; nil: the spool's folder (or one for the DSN's key).
    public var crashDirectory: URL?
    /// Drop envelopes the server can't take instead of keeping them on disk.
    public var spoolDisabled = false
    /// Envelopes and bytes kept in the spool at most.
    public var maxSpoolFiles = 100
    public var maxSpoolBytes = 20 * 1024 * 1024
    /// How often the spool is tried again while the server is unreachable.
    public var spoolRetrySeconds: Double = 10
    /// The server name sent with events (the host name by default).
    public var serverName: String? = ProcessInfo.processInfo.hostName
    /// Replaces the HTTP transport (`SpyglassTesting.TestTransport` in tests).
    public var transport: (any Transport)?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        dsn = environment["SENTRY_DSN"].flatMap { $0.isEmpty ? nil : $0 }
        release = environment["SENTRY_RELEASE"].flatMap { $0.isEmpty ? nil : $0 }
        self.environment = environment["SENTRY_ENVIRONMENT"].flatMap { $0.isEmpty ? nil : $0 } ?? "production"
    }
}

/// How much an event matters.
public enum SpyglassLevel: String, Sendable, Hashable, CaseIterable, Comparable {
    case debug, info, warning, error, fatal

    public static func < (lhs: SpyglassLevel, rhs: SpyglassLevel) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Prints SDK diagnostics on stderr when `debug` is on.
enum DebugLog {
    static func log(_ enabled: Bool, _ message: @autoclosure () -> String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data("[spyglass-sdk] \(message())\n".utf8))
    }

    /// Always printed: configuration problems the user must see once.
    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("[spyglass-sdk] warning: \(message)\n".utf8))
    }
}
