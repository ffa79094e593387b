import Foundation

extension String {
    /// The first `count` characters; no work when the text is shorter in bytes (the common case).
    package func limited(to count: Int) -> String {
        utf8.count <= count ? self : String(prefix(count))
    }

    /// Whether the text has at most `count` characters, counting bytes first (cheap) and characters only if needed.
    package func fits(_ count: Int) -> Bool {
        utf8.count <= count || self.count <= count
    }

    /// The text with each U+0000 replaced by U+FFFD. The payload keeps what the SDK sent; the fields derived from it
    /// (titles, tags, user keys) are text columns, and PostgreSQL's text cannot hold a NUL at all.
    package var replacingNUL: String {
        // A contiguous scan (the usual native string) instead of the UTF-8 view's iterator: this runs for every
        // text of every log line.
        guard utf8.withContiguousStorageIfAvailable({ $0.contains(0) }) ?? utf8.contains(0) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }

    /// `trimmingCharacters(in: .whitespaces)` (Unicode Zs and tab), without Foundation's work when both ends are
    /// ASCII and neither a space nor a tab: the common case on the ingest path.
    package var trimmingWhitespace: String {
        guard let first = utf8.first, let last = utf8.last else { return self }
        if first < 0x80, last < 0x80, first != 0x20, first != 0x09, last != 0x20, last != 0x09 { return self }
        return trimmingCharacters(in: .whitespaces)
    }
}
