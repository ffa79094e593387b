/// The `Sentry key=value, …` auth header of SDK requests (`X-Sentry-Auth` or `Authorization`).
///
/// ```
/// X-Sentry-Auth: Sentry sentry_key=abc123def456, sentry_version=7, sentry_client=sentry.python/2.75.0
/// ```
public enum SentryAuth {
    /// The key=value pairs of a header value; `nil` when it does not start with `Sentry ` (any case).
    public static func parse(_ header: String) -> [String: String]? {
        let trimmed = header.drop(while: { $0 == " " })
        guard trimmed.count >= 7, trimmed.prefix(7).lowercased() == "sentry " else { return nil }
        var fields: [String: String] = [:]
        for part in trimmed.dropFirst(7).split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let key = pair[0].trimmingSpaces
            if !key.isEmpty { fields[key] = pair[1].trimmingSpaces }
        }
        return fields
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// Formats the rate-limit answer SDKs understand.
public enum RateLimitHeader {
    /// `X-Sentry-Rate-Limits` for a limit on every category: `"<seconds>::<scope>"`. Seconds are
    /// integers (sentry-python ignores limits with fractions).
    public static func allCategories(retryAfter seconds: Int, scope: String) -> String {
        "\(max(1, seconds))::\(scope)"
    }
}
