/// The `Sentry key=value, …` auth header of SDK requests (`X-Sentry-Auth` or `Authorization`).
///
/// ```
/// X-Sentry-Auth: Sentry sentry_key=abc123def456, sentry_version=7, sentry_client=sentry.python/2.75.0
/// ```
public enum SentryAuth {
    /// The key=value pairs of a header value (the last of a name wins; names and values trimmed of spaces and tabs;
    /// empty ones left out); `nil` when it does not start with `Sentry ` (any case).
    public static func parse(_ header: String) -> [String: String]? {
        var fields: [String: String] = [:]
        let isSentry = eachField(of: header) { name, value in
            fields[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
        }
        return isSentry ? fields : nil
    }

    /// What ingest reads of the header, `sentry_key` and `sentry_version`, as ``parse(_:)`` reads them, without a
    /// string or a dictionary for every field: every SDK request carries the header (docs/performance.md, "The auth
    /// header read once"). `nil` when it does not start with `Sentry ` (any case).
    public static func credentials(_ header: String) -> (key: String?, version: String?)? {
        var key: String?
        var version: String?
        let isSentry = eachField(of: header) { name, value in
            if name.elementsEqual("sentry_key".utf8) {
                key = String(decoding: value, as: UTF8.self)
            } else if name.elementsEqual("sentry_version".utf8) {
                version = String(decoding: value, as: UTF8.self)
            }
        }
        return isSentry ? (key, version) : nil
    }

    /// Calls `field` with the name and value of each `name=value` part (parts split at commas, both trimmed of spaces
    /// and tabs, parts with either empty or without `=` left out), in order, in one pass over the header's bytes.
    /// Returns false (calling nothing) when the header does not start with `Sentry ` (any case).
    private static func eachField(
        of header: String, _ field: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void
    ) -> Bool {
        var header = header
        return header.withUTF8 { bytes in
            let count = bytes.count
            var index = 0
            while index < count && bytes[index] == 0x20 { index += 1 }
            guard count - index >= 7, bytes[index + 6] == 0x20 else { return false }
            for (offset, letter) in "sentry".utf8.enumerated() where bytes[index + offset] | 0x20 != letter {
                return false
            }
            index += 7
            while index < count {
                var end = index
                while end < count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                if let equals = (index..<end).first(where: { bytes[$0] == UInt8(ascii: "=") }) {
                    let name = trimmed(index..<equals, in: bytes)
                    let value = trimmed((equals + 1)..<end, in: bytes)
                    if !name.isEmpty && !value.isEmpty {
                        field(UnsafeBufferPointer(rebasing: bytes[name]), UnsafeBufferPointer(rebasing: bytes[value]))
                    }
                }
                index = end + 1
            }
            return true
        }
    }

    private static func trimmed(_ range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper && (bytes[lower] == 0x20 || bytes[lower] == 0x09) { lower += 1 }
        while upper > lower && (bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09) { upper -= 1 }
        return lower..<upper
    }
}

/// Formats the rate-limit answer SDKs understand.
public enum RateLimitHeader {
    /// `X-Sentry-Rate-Limits` for a limit on every category: `"<seconds>::<scope>"`. Seconds are
    /// integers (sentry-python ignores limits with fractions).
    public static func allCategories(retryAfter seconds: Int, scope: String) -> String {
        "\(max(1, seconds))::\(scope)"
    }

    /// `X-Sentry-Rate-Limits` for a limit on `categories` alone (Sentry's data categories, e.g. `log_item`):
    /// `"<seconds>:<category>;…:<scope>"`.
    public static func categories(_ categories: [String], retryAfter seconds: Int, scope: String) -> String {
        "\(max(1, seconds)):\(categories.joined(separator: ";")):\(scope)"
    }
}
