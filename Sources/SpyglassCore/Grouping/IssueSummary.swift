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
        let exceptions = Grouping.exceptionList(event)
        let frame = Grouping.crashFrame(event)
        let formatted = event["logentry"]?["formatted"]?.stringValue ?? event["logentry"]?["message"]?.stringValue ?? ""
        message = formatted.limited(to: 1024)
        if let last = exceptions.last {
            let type = last["type"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "Error"
            let value = last["value"]?.stringValue ?? ""
            let firstLine = value.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            title = firstLine.isEmpty ? type : "\(type): \(Self.truncate(firstLine, 100))"
            self.type = "error"
            var metadata: JSONObject = ["type": .string(type), "value": .string(Self.truncate(value, 1000))]
            if let filename = frame?["filename"]?.stringValue { metadata["filename"] = .string(filename) }
            if let function = frame?["function"]?.stringValue { metadata["function"] = .string(function) }
            self.metadata = .object(metadata)
            if message.isEmpty { message = Self.truncate(value, 1024) }
        } else {
            let firstLine = formatted.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            title = firstLine.isEmpty ? "<unlabeled event>" : Self.truncate(firstLine.trimmingWhitespace, 100)
            type = "default"
            metadata = ["title": .string(title)]
        }
        if let transaction = event["transaction"]?.stringValue, !transaction.isEmpty {
            culprit = Self.truncate(transaction, 200)
        } else if let frame {
            let location = frame["module"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? frame["filename"]?.stringValue ?? frame["abs_path"]?.stringValue
            let function = frame["function"]?.stringValue
            culprit = Self.truncate([location, function].compactMap { $0 }.joined(separator: " in "), 200)
        } else {
            culprit = ""
        }
        (title, culprit, message) = (title.replacingNUL, culprit.replacingNUL, message.replacingNUL)
    }

    static func truncate(_ text: String, _ limit: Int) -> String {
        text.fits(limit) ? text : String(text.prefix(limit - 1)) + "…"
    }
}
