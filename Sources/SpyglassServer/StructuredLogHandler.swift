import Foundation
import Logging
import Synchronization

/// A `LogHandler` writing one line per event in logfmt or JSON.
///
/// ```
/// ts=2026-11-24T10:00:00.123Z level=info msg=request http.method=GET http.status=200
/// {"ts":"2026-11-24T10:00:00.123Z","level":"info","msg":"request","http.method":"GET","http.status":"200"}
/// ```
/// Values are escaped, so a hostile string (event data, a request path) cannot forge a line or a key.
public struct StructuredLogHandler: LogHandler {
    /// Where finished lines go (each ends in a newline).
    public typealias Sink = @Sendable (String) -> Void

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let format: LogFormat
    let sink: Sink

    public init(format: LogFormat, level: Logger.Level, sink: @escaping Sink = StandardOutput.emit) {
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        if let error = event.error { fields["error"] = "\(error)" }
        let timestamp = Date.now.formatted(Self.timestampStyle)
        let head: [(String, String)] = [
            ("ts", timestamp), ("level", event.level.rawValue), ("msg", event.message.description),
        ]
        let rest = fields.sorted { $0.key < $1.key }.map { ($0.key, Self.flatten($0.value)) }
        sink(format == .json ? Self.json(head + rest) : Self.logfmt(head + rest))
    }

    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let value): value.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{" + entries.sorted { $0.key < $1.key }.map { "\($0.key)=\(flatten($0.value))" }.joined(separator: ",")
                + "}"
        }
    }

    static func logfmt(_ fields: [(String, String)]) -> String {
        var line = ""
        for (key, value) in fields {
            if !line.isEmpty { line += " " }
            line += sanitizeKey(key) + "=" + logfmtValue(value)
        }
        return line + "\n"
    }

    static func logfmtValue(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7f }
        guard needsQuotes else { return value }
        return "\"" + escaped(value) + "\""
    }

    static func json(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\"\(escaped($0.0))\":\"\(escaped($0.1))\"" }.joined(separator: ",") + "}\n"
    }

    /// JSON string escaping, which is also valid inside a quoted logfmt value.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f || (0x2028...0x2029).contains(scalar.value):
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func sanitizeKey(_ key: String) -> String {
        let cleaned = String(key.unicodeScalars.map { scalar -> Character in
            scalar.value > 0x20 && scalar.value < 0x7f && scalar != "=" && scalar != "\"" ? Character(scalar) : "_"
        })
        return cleaned.isEmpty ? "_" : cleaned
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Unbuffered, line-atomic writes to standard output: each line is written under a lock.
public enum StandardOutput {
    private static let lock = Mutex(())

    /// Writes `text` to file descriptor 1, retrying short writes.
    @Sendable public static func emit(_ text: String) {
        lock.withLock { _ in
            Array(text.utf8).withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let written = write(1, base + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }
}
