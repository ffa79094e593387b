import Foundation
import SpyglassProtocol

/// How an issue presents itself: title, culprit and metadata, as Sentry computes them from an event.
///
/// ```
/// title:   "ValueError: bad value 12345 for user 3f25…"   (last exception: type and first line of value)
/// culprit: "checkout.views in submit"                      (transaction, else the crash frame)
/// ```
public struct IssueSummary: Sendable, Hashable {
    /// "Type: first line of value", or the message's first line.
    public var title: String
    /// The transaction, else "module in function" of the crash frame; may be empty.
    public var culprit: String
    /// `error` for events with an exception, `default` otherwise.
    public var type: String
    /// `{"type","value","filename","function"}` for errors, `{"title"}` for messages.
    public var metadata: JSONValue
    /// The message text (for search).
    public var message: String

    public init(event: JSONValue) {
        let last = Grouping.exceptionList(event).last
        let frame = Grouping.crashFrame(event)
        self.init(
            lastException: last.map { ($0["type"]?.stringValue, $0["value"]?.stringValue) },
            crashFrame: frame.map {
                CrashFrame(
                    module: $0["module"]?.stringValue, filename: $0["filename"]?.stringValue,
                    absPath: $0["abs_path"]?.stringValue, function: $0["function"]?.stringValue)
            },
            formatted: event["logentry"]?["formatted"]?.stringValue ?? event["logentry"]?["message"]?.stringValue,
            transaction: event["transaction"]?.stringValue)
    }

    /// The string members of the frame where the error happened (``Grouping/crashFrame(_:)``) that a summary reads.
    struct CrashFrame {
        var module: String?
        var filename: String?
        var absPath: String?
        var function: String?
    }

    /// From what the event's payload gives: its last exception's type and value, the crash frame, the log entry's
    /// formatted text (else its template), and the transaction (strings: nil when missing or no string).
    init(
        lastException last: (type: String?, value: String?)?, crashFrame frame: CrashFrame?, formatted: String?,
        transaction: String?
    ) {
        let formatted = formatted ?? ""
        message = formatted.limited(to: 1024)
        if let last {
            let type = last.type.flatMap { $0.isEmpty ? nil : $0 } ?? "Error"
            let value = last.value ?? ""
            let firstLine = Self.firstLine(value)
            title = firstLine.isEmpty ? type : "\(type): \(Self.truncate(firstLine, 100))"
            self.type = "error"
            var metadata: JSONObject = ["type": .string(type), "value": .string(Self.truncate(value, 1000))]
            if let filename = frame?.filename { metadata["filename"] = .string(filename) }
            if let function = frame?.function { metadata["function"] = .string(function) }
            self.metadata = .object(metadata)
            if message.isEmpty { message = Self.truncate(value, 1024) }
        } else {
            let firstLine = Self.firstLine(formatted)
            title = firstLine.isEmpty ? "<unlabeled event>" : Self.truncate(firstLine.trimmingWhitespace, 100)
            type = "default"
            metadata = ["title": .string(title)]
        }
        if let transaction, !transaction.isEmpty {
            culprit = Self.truncate(transaction, 200)
        } else if let frame {
            let location = frame.module.flatMap { $0.isEmpty ? nil : $0 } ?? frame.filename ?? frame.absPath
            culprit = Self.truncate([location, frame.function].compactMap { $0 }.joined(separator: " in "), 200)
        } else {
            culprit = ""
        }
        (title, culprit, message) = (title.replacingNUL, culprit.replacingNUL, message.replacingNUL)
    }

    /// The first line of `text` that is not empty (`split(whereSeparator: \.isNewline).first`); ASCII text is
    /// scanned as bytes (an exception's value may be long: splitting it whole by characters cost ~3 µs an event).
    static func firstLine(_ text: String) -> String {
        let bytes = text.utf8
        guard bytes.allSatisfy({ $0 < 0x80 }) else {
            return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        }
        // ASCII newlines: LF, VT, FF, CR (CR LF is one character, and a newline).
        func isNewline(_ byte: UInt8) -> Bool { (0x0A...0x0D).contains(byte) }
        guard let start = bytes.firstIndex(where: { !isNewline($0) }) else { return "" }
        let end = bytes[start...].firstIndex(where: isNewline) ?? bytes.endIndex
        return String(text[start..<end])
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        text.fits(limit) ? text : String(text.prefix(limit - 1)) + "…"
    }
}
