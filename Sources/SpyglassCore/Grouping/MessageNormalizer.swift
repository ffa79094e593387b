/// Parameter stripping for grouping, frozen with the grouping config `spyglass:2026-11`.
///
/// Keeps the first two non-empty lines (adding `...` when more was cut) and at most 1024 bytes of them, then
/// replaces, left to right, the
/// first matching kind at each word boundary with a placeholder: `<email>`, `<url>`, `<ip>`, `<uuid>`,
/// `<sha1>`, `<md5>`, `<date>`, `<duration>`, `<hex>`, `<float>`, `<int>`.
/// `"bad value 12345 for user 3f2504e0-4f89-11d3-9a0c-0305e82c3301"` → `"bad value <int> for user <uuid>"`.
public enum MessageNormalizer {
    /// Longest text normalized; the rest is cut (frozen with the grouping config).
    static let maxBytes = 1024

    /// The normalized form of `text`.
    public static func normalize(_ text: String) -> String {
        // Bounded work whatever the input: at most 1024 bytes are normalized (whole characters).
        var bytes = keptASCIILines(text) ?? Array(keptLines(text).utf8)
        if bytes.count > maxBytes {
            var end = maxBytes
            while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
            bytes.removeSubrange(end...)
        }
        return replaceParameters(bytes)
    }

    /// The first two lines with something but whitespace, joined by a newline, and `...` when that is not the whole
    /// text.
    package static func keptLines(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        var kept = lines.prefix(2).joined(separator: "\n")
        if kept != text { kept += "..." }
        return kept
    }

    /// ``keptLines(_:)`` of ASCII text, by bytes (by characters it cost ~2 µs an event); nil for other text.
    /// In ASCII every byte is a character but CR LF, a newline as CR and LF each are (the empty line between them is
    /// dropped); the newlines are LF, VT, FF and CR, the whitespace those, tab and space.
    package static func keptASCIILines(_ text: String) -> [UInt8]? {
        text.utf8.withContiguousStorageIfAvailable { bytes -> [UInt8]? in
            var kept: [UInt8] = []
            kept.reserveCapacity(bytes.count + 3)
            var lines = 0
            var start = 0
            for index in 0...bytes.count {
                let byte: UInt8 = index < bytes.count ? bytes[index] : 0x0A  // the end ends the last line
                if byte >= 0x80 { return nil }
                guard (0x0A...0x0D).contains(byte) else { continue }
                let line = bytes[start..<index]
                start = index + 1
                guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { continue }
                if lines < 2 {
                    if lines == 1 { kept.append(0x0A) }
                    kept.append(contentsOf: line)
                }
                lines += 1
            }
            if !kept.elementsEqual(bytes) { kept.append(contentsOf: "...".utf8) }
            return kept
        } ?? nil
    }

    private static func replaceParameters(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let atBoundary = index == 0 || !isWordByte(bytes[index - 1])
            if atBoundary, let (length, placeholder) = match(bytes, at: index) {
                out.append(contentsOf: placeholder.utf8)
                index += length
                continue
            }
            out.append(bytes[index])
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first kind, in priority order, matching at `start` up to a word boundary: its length and placeholder.
    /// (Called at every word boundary: plain calls, no array of closures to build each time.)
    private static func match(_ b: [UInt8], at start: Int) -> (Int, String)? {
        func matched(_ length: Int?) -> Bool {
            guard let length, length > 0 else { return false }
            return endsAtBoundary(b, start + length)
        }
        if let n = email(b, start), matched(n) { return (n, "<email>") }
        if let n = url(b, start), matched(n) { return (n, "<url>") }
        if let n = uuid(b, start), matched(n) { return (n, "<uuid>") }
        if let n = date(b, start), matched(n) { return (n, "<date>") }
        if let n = ipv4(b, start), matched(n) { return (n, "<ip>") }
        if let n = ipv6(b, start), matched(n) { return (n, "<ip>") }
        if let n = hexRun(b, start, exactly: 40), matched(n) { return (n, "<sha1>") }
        if let n = hexRun(b, start, exactly: 32), matched(n) { return (n, "<md5>") }
        if let n = duration(b, start), matched(n) { return (n, "<duration>") }
        if let n = hex(b, start), matched(n) { return (n, "<hex>") }
        if let n = float(b, start), matched(n) { return (n, "<float>") }
        if let n = integer(b, start), matched(n) { return (n, "<int>") }
        return nil
    }

    // MARK: - Matchers: each returns the length matched at `i`, or nil.

    private static func email(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        while j < b.count, j - i <= 64, isEmailLocal(b[j]) { j += 1 }
        guard j > i, j < b.count, b[j] == UInt8(ascii: "@") else { return nil }
        let domain = j + 1
        var k = domain
        var dots = 0
        while k < b.count, isAlnum(b[k]) || b[k] == UInt8(ascii: "-") || b[k] == UInt8(ascii: ".") {
            if b[k] == UInt8(ascii: ".") { dots += 1 }
            k += 1
        }
        while k > domain, b[k - 1] == UInt8(ascii: ".") { k -= 1; dots -= 1 }
        return dots >= 1 && k > domain ? k - i : nil
    }

    private static func url(_ b: [UInt8], _ i: Int) -> Int? {
        for s in schemes {
            guard i + s.count < b.count, s.indices.allSatisfy({ lower(b[i + $0]) == s[$0] }) else { continue }
            var j = i + s.count
            guard !isSpace(b[j]), ![UInt8(ascii: "/"), UInt8(ascii: "$"), UInt8(ascii: "."), UInt8(ascii: "?"), UInt8(ascii: "#")].contains(b[j]) else { return nil }
            while j < b.count, !isSpace(b[j]) { j += 1 }
            return j - i
        }
        return nil
    }

    private static let schemes = ["https://", "http://", "wss://", "ws://", "ftp://"].map { Array($0.utf8) }
    private static let uuidGroups = [8, 4, 4, 4, 12]

    private static func uuid(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        for (groupIndex, count) in uuidGroups.enumerated() {
            if groupIndex > 0 {
                guard j < b.count, b[j] == UInt8(ascii: "-") else { return nil }
                j += 1
            }
            for _ in 0..<count {
                guard j < b.count, isHex(b[j]) else { return nil }
                j += 1
            }
        }
        return j - i
    }

    /// `YYYY-MM-DD`, optionally followed by `T`/space and a time with fraction and zone; or a bare `HH:MM:SS`.
    private static func date(_ b: [UInt8], _ i: Int) -> Int? {
        if let day = digits(b, i, 4), day == 4, at(b, i + 4, "-"), digits(b, i + 5, 2) == 2, at(b, i + 7, "-"),
            digits(b, i + 8, 2) == 2
        {
            var j = i + 10
            if j < b.count, b[j] == UInt8(ascii: "T") || b[j] == UInt8(ascii: " "), let length = time(b, j + 1) {
                j += 1 + length
                if j < b.count, b[j] == UInt8(ascii: "Z") {
                    j += 1
                } else if j < b.count, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-"), digits(b, j + 1, 2) == 2 {
                    j += 3
                    if at(b, j, ":") { j += 1 }
                    if digits(b, j, 2) == 2 { j += 2 }
                }
            }
            return j - i
        }
        return time(b, i)
    }

    private static func time(_ b: [UInt8], _ i: Int) -> Int? {
        guard digits(b, i, 2) == 2, at(b, i + 2, ":"), digits(b, i + 3, 2) == 2 else { return nil }
        var j = i + 5
        if at(b, j, ":"), digits(b, j + 1, 2) == 2 {
            j += 3
            if at(b, j, "."), let fraction = digits(b, j + 1, 9), fraction > 0 { j += 1 + fraction }
        }
        return j - i
    }

    private static func ipv4(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        for part in 0..<4 {
            if part > 0 {
                guard at(b, j, ".") else { return nil }
                j += 1
            }
            guard let count = digits(b, j, 3), count > 0 else { return nil }
            j += count
        }
        return j - i
    }

    /// Hex groups of at most four digits separated by colons: three or more colons, or a `::`.
    private static func ipv6(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        var colons = 0
        var group = 0
        var doubleColon = false
        while j < b.count, j - i < 40, isHex(b[j]) || b[j] == UInt8(ascii: ":") {
            if b[j] == UInt8(ascii: ":") {
                if j > i && b[j - 1] == UInt8(ascii: ":") { doubleColon = true }
                colons += 1
                group = 0
            } else {
                group += 1
                if group > 4 { return nil }
            }
            j += 1
        }
        return colons >= 3 || (doubleColon && colons >= 2) ? j - i : nil
    }

    private static func hexRun(_ b: [UInt8], _ i: Int, exactly count: Int) -> Int? {
        var j = i
        while j < b.count, isHex(b[j]) { j += 1 }
        return j - i == count ? count : nil
    }

    private static func duration(_ b: [UInt8], _ i: Int) -> Int? {
        guard let whole = digits(b, i, 20), whole > 0 else { return nil }
        var j = i + whole
        if at(b, j, "m"), at(b, j + 1, "s") { return j + 2 - i }
        if at(b, j, "."), let fraction = digits(b, j + 1, 20), fraction > 0 { j += 1 + fraction }
        return at(b, j, "s") ? j + 1 - i : nil
    }

    /// `0x…` of any length, or 8+ hex characters of one case containing a letter and a digit.
    private static func hex(_ b: [UInt8], _ i: Int) -> Int? {
        if at(b, i, "0"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "x") || b[i + 1] == UInt8(ascii: "X") {
            var j = i + 2
            while j < b.count, isHex(b[j]) { j += 1 }
            return j > i + 2 ? j - i : nil
        }
        var j = i
        var letters = 0, digitsSeen = 0, upper = 0, lowerCount = 0
        while j < b.count, isHex(b[j]) {
            if isDigit(b[j]) { digitsSeen += 1 } else {
                letters += 1
                if b[j] >= UInt8(ascii: "a") { lowerCount += 1 } else { upper += 1 }
            }
            j += 1
        }
        let length = j - i
        guard length >= 8, length <= 128, letters > 0, digitsSeen > 0, upper == 0 || lowerCount == 0 else {
            // 8 or more digits only: a large number, treated as hex as Sentry does.
            return length >= 8 && letters == 0 ? length : nil
        }
        return length
    }

    private static func float(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        if at(b, j, "-") { j += 1 }
        guard let whole = digits(b, j, 64), whole > 0, at(b, j + whole, "."), let fraction = digits(b, j + whole + 1, 64), fraction > 0 else {
            return nil
        }
        return j + whole + 1 + fraction - i
    }

    private static func integer(_ b: [UInt8], _ i: Int) -> Int? {
        var j = i
        if at(b, j, "-") { j += 1 }
        guard let count = digits(b, j, 64), count > 0 else { return nil }
        return j + count - i
    }

    // MARK: - Byte classes

    private static func digits(_ b: [UInt8], _ i: Int, _ max: Int) -> Int? {
        var j = i
        while j < b.count, j - i < max, isDigit(b[j]) { j += 1 }
        return j > i ? j - i : (i <= b.count ? 0 : nil)
    }

    private static func at(_ b: [UInt8], _ i: Int, _ char: Unicode.Scalar) -> Bool {
        i < b.count && b[i] == UInt8(ascii: char)
    }

    private static func endsAtBoundary(_ b: [UInt8], _ end: Int) -> Bool {
        end >= b.count || !isWordByte(b[end])
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
    private static func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x7a) }
    private static func isWordByte(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") || c >= 0x80 }
    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d }
    private static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5a ? c | 0x20 : c }
    private static func isEmailLocal(_ c: UInt8) -> Bool {
        isAlnum(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "%") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: "-")
    }
}
