import Foundation

/// Sentry's `statsPeriod` values the web UI and the API take: a span ending now.
public enum StatsPeriod {
    public static let all: [(id: String, label: String, seconds: Int)] = [
        ("1h", "Last hour", 3600), ("24h", "Last 24 hours", 86_400), ("7d", "Last 7 days", 7 * 86_400),
        ("14d", "Last 14 days", 14 * 86_400), ("30d", "Last 30 days", 30 * 86_400), ("90d", "Last 90 days", 90 * 86_400),
    ]

    /// The ids, for messages: `1h, 24h, 7d, 14d, 30d, 90d`.
    public static var names: String { all.map(\.id).joined(separator: ", ") }

    /// The seconds `id` spans, nil when it is none of ``all``.
    public static func seconds(_ id: String) -> Int? { all.first { $0.id == id }?.seconds }
}
