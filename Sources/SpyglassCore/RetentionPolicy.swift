import Foundation

/// How long and how many events are kept.
public struct RetentionPolicy: Sendable, Hashable {
    /// Events older than this are deleted (default 90 days).
    public var maxAge: TimeInterval = 90 * 86400
    /// Stored events per project at most (default 100 000); the oldest go first.
    public var maxEventsPerProject = 100_000
    /// Log lines older than this many days are deleted (default 14), unless a project sets its own.
    public var logDays = 14
    /// Time between runs (default one hour).
    public var interval: Duration = .seconds(3600)

    public init() {}
}
