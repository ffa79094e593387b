/// The `Sentry key=value, …` auth header of SDK requests (`X-Sentry-Auth` or `Authorization`).
///
/// ```
/// X-Sentry-Auth: Sentry sentry_key=abc123def456, sentry_version=7, sentry_client=sentry.python/2.75.0
/// ```
public enum SentryAuth {
    /// The key=value pairs of a header value; `nil` when it does not start with `Sentry ` (any case).
    public static func parse(_ header: String) -> [String: String]? {
        var bytes = Array(header.utf8)[...]
        while bytes.first == 0x20 { bytes = bytes.dropFirst() }
        guard bytes.count >= 7, bytes.prefix(6).map({ $0 | 0x20 }) == Array("sentry".utf8), bytes[bytes.startIndex + 6] == 0x20 else {
            return nil
        }
        var fields: [String: String] = [:]
        for part in bytes.dropFirst(7).split(separator: UInt8(ascii: ",")) {
            guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = trimmed(part[..<equals])
            let value = trimmed(part[(equals + 1)...])
            if !key.isEmpty && !value.isEmpty { fields[key] = value }
        }
        return fields
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> String {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
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
