import Foundation

/// A multipart (text + HTML) e-mail, rendered as RFC 5322 with CRLF line ends.
///
/// Header values are stripped of line breaks (no header injection from event data); non-ASCII subjects
/// become RFC 2047 encoded words; both bodies are base64, so no line is too long and no line starts with
/// a dot.
public struct MailMessage: Sendable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var text: String
    public var html: String
    /// Without angle brackets: `spyglass-notification-7@host`.
    public var messageID: String
    /// Further headers, e.g. `List-Unsubscribe`.
    public var headers: [(name: String, value: String)]

    public init(
        from: String, to: [String], subject: String, text: String, html: String, messageID: String,
        headers: [(name: String, value: String)] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.messageID = messageID
        self.headers = headers
    }

    /// The message's bytes (before SMTP dot-stuffing, which the client applies).
    public func rendered(date: Date, boundary: String = "spyglass-" + UUID().uuidString) -> String {
        var lines: [String] = []
        func header(_ name: String, _ value: String) { lines.append("\(name): \(Self.clean(value))") }
        header("From", from)
        header("To", to.joined(separator: ", "))
        lines.append("Subject: \(Self.encodeHeaderText(Self.clean(subject)))")
        header("Date", Self.rfc5322Date(date))
        header("Message-ID", "<\(messageID)>")
        header("MIME-Version", "1.0")
        header("Auto-Submitted", "auto-generated")
        for (name, value) in headers { header(name, value) }
        header("Content-Type", "multipart/alternative; boundary=\"\(boundary)\"")
        lines.append("")
        for (type, body) in [("text/plain", text), ("text/html", html)] {
            lines.append("--\(boundary)")
            lines.append("Content-Type: \(type); charset=utf-8")
            lines.append("Content-Transfer-Encoding: base64")
            lines.append("")
            lines.append(contentsOf: Self.base64Lines(Array(body.utf8)))
        }
        lines.append("--\(boundary)--")
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// One line, without control characters.
    static func clean(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// ASCII text as is (folded is not needed below 900 bytes); anything else as UTF-8 encoded words.
    static func encodeHeaderText(_ value: String) -> String {
        if value.utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) && value.utf8.count < 900 { return value }
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in value.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: "\r\n ")
    }

    static func base64Lines(_ bytes: [UInt8]) -> [String] {
        let encoded = Data(bytes).base64EncodedString()
        var lines: [String] = []
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
