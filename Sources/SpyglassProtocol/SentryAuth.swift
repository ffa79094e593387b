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

    /// What ingest reads of the header, `sentry_key` and `sentry_version`, as ``parse(_:)`` reads them (the last of a
    /// name wins; names and values trimmed of spaces and tabs; empty ones left out), in one pass over its bytes
    /// without a string or a dictionary for each field: every SDK request carries the header, and parsing all of
    /// its fields cost ~2 % of the request tasks' time (docs/performance.md, "The auth header read once").
    /// `nil` when it does not start with `Sentry ` (any case).
    public static func credentials(_ header: String) -> (key: String?, version: String?)? {
        var header = header
        return header.withUTF8 { bytes -> (key: String?, version: String?)? in
            let count = bytes.count
            var index = 0
            while index < count && bytes[index] == 0x20 { index += 1 }
            guard count - index >= 7, bytes[index + 6] == 0x20 else { return nil }
            for (offset, letter) in "sentry".utf8.enumerated() where bytes[index + offset] | 0x20 != letter {
                return nil
            }
            index += 7
            var key: String?
            var version: String?
            while index < count {
                var end = index
                while end < count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                if let equals = (index..<end).first(where: { bytes[$0] == UInt8(ascii: "=") }) {
                    let name = trimmed(index..<equals, in: bytes)
                    let value = trimmed((equals + 1)..<end, in: bytes)
                    if !name.isEmpty && !value.isEmpty {
                        let text = UnsafeBufferPointer(rebasing: bytes[name])
                        if text.elementsEqual("sentry_key".utf8) {
                            key = String(decoding: UnsafeBufferPointer(rebasing: bytes[value]), as: UTF8.self)
                        } else if text.elementsEqual("sentry_version".utf8) {
                            version = String(decoding: UnsafeBufferPointer(rebasing: bytes[value]), as: UTF8.self)
                        }
                    }
                }
                index = end + 1
            }
            return (key, version)
        }
    }

    private static func trimmed(_ range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int> {
        var (lower, upper) = (range.lowerBound, range.upperBound)
        while lower < upper && (bytes[lower] == 0x20 || bytes[lower] == 0x09) { lower += 1 }
        while upper > lower && (bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09) { upper -= 1 }
        return lower..<upper
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
