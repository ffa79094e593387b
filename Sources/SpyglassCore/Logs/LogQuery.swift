import Foundation
import SpyglassProtocol

/// A search of log lines, as typed on the Logs page or sent as the API's `query`:
/// `payment failed level:error release:shop@1.2 order_id:42 trace:<32 hex>`.
///
/// Words are found in the body (case-insensitive, all of them); `level:` takes one level or several
/// (`level:warn,error`); `release:`, `environment:` (or `env:`) and `trace:` match their column; any other
/// `name:value` matches an attribute of that name whose value reads as `value` (`order_id:42`, `ok:true`,
/// `logger.name:shop`). Quotes keep spaces in a word, name or value (`"out of stock"`, `city:"New York"`); inside
/// them a backslash takes the next character as it is (`note:"say \"hi\""`). A name in quotes is always an
/// attribute's: `"release":x` finds an attribute named `release`, not the release column.
public struct LogQuery: Sendable, Hashable {
    public var words: [String] = []
    public var levels: Set<LogLevel> = []
    public var release: String?
    public var environment: String?
    public var traceID: String?
    public var attributes: [LogAttributeFilter] = []

    public init() {}

    public var isEmpty: Bool { self == LogQuery() }

    /// The names that filter a column rather than an attribute (unless written in quotes).
    static let columnNames: Set<String> = ["level", "release", "environment", "env", "trace", "trace_id"]

    /// The term that finds lines whose attribute `name` reads as `value`, whatever the name (see ``quoted(_:)``).
    public static func attributeTerm(name: String, value: String) -> String {
        let key = columnNames.contains(name) ? "\"\(name)\"" : quoted(name)
        return "\(key):\(quoted(value))"
    }

    /// Longest query read (SQLite refuses LIKE patterns beyond 50 000 bytes).
    public static let maxLength = 4096

    public static func parse(_ text: String) throws(DomainError) -> LogQuery {
        guard text.utf8.count <= maxLength else { throw DomainError(.invalidInput, "query: more than \(maxLength) bytes") }
        // Neither PostgreSQL's text nor a JSON path holds a NUL; stored lines have none (LogItems.clean).
        guard !text.utf8.contains(0) else { throw DomainError(.invalidInput, "query: a NUL character is never found") }
        var query = LogQuery()
        for token in tokens(text) {
            guard let colon = token.key else {
                query.words.append(token.value)
                continue
            }
            let value = token.value
            if token.quotedKey {
                query.attributes.append(LogAttributeFilter(name: colon, value: value))
                continue
            }
            if value.isEmpty, columnNames.contains(colon) {
                throw DomainError(.invalidInput, "query: \(colon): needs a value")
            }
            switch colon {
            case "level":
                for name in value.split(separator: ",") {
                    guard let level = LogLevel(name: String(name)) else {
                        throw DomainError(.invalidInput, "query: level:\(name.prefix(40)) is not one of trace, debug, info, warn, error, fatal")
                    }
                    query.levels.insert(level)
                }
            case "release": query.release = value
            case "environment", "env": query.environment = value
            case "trace", "trace_id":
                query.traceID = try traceID(value, field: "query: \(colon)")
            default:
                query.attributes.append(LogAttributeFilter(name: colon, value: value))
            }
        }
        return query
    }

    /// A trace id as written (32 hex digits, any case), lowercased; nil when it is none.
    public static func traceID(_ text: String) -> String? {
        let id = text.lowercased()
        return id.utf8.count == 32 && id.allSatisfy(\.isHexDigit) ? id : nil
    }

    /// ``traceID(_:)``, refusing what is none with the `field` it came from named.
    public static func traceID(_ text: String, field: String) throws(DomainError) -> String {
        guard let id = traceID(text) else {
            throw DomainError(.invalidInput, "\(field): \"\(text.prefix(40))\" is not a trace id (32 hex digits)")
        }
        return id
    }

    /// `name:value` pairs (`key` nil for a plain word; `quotedKey` when the name was written in quotes), quotes
    /// removed; inside quotes a backslash takes the next character as it is (`key:"say \"hi\""`), as ``quoted(_:)``
    /// writes a value.
    static func tokens(_ text: String) -> [(key: String?, quotedKey: Bool, value: String)] {
        var result: [(key: String?, quotedKey: Bool, value: String)] = []
        var current = ""
        var key: String?
        var quotedKey = false
        var quoted = false
        var sawQuote = false
        var escaped = false
        var touched = false
        func flush() {
            if touched { result.append((key, quotedKey, current)) }
            current = ""
            key = nil
            quotedKey = false
            sawQuote = false
            touched = false
        }
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if quoted && character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
                sawQuote = true
                touched = true
            } else if character.isWhitespace && !quoted {
                flush()
            } else if character == ":" && !quoted && key == nil && !current.isEmpty {
                key = current
                quotedKey = sawQuote
                sawQuote = false
                current = ""
                touched = true
            } else {
                current.append(character)
                touched = true
            }
        }
        flush()
        return result.filter { !($0.key == nil && $0.value.isEmpty) }
    }

    /// `value` as a query's `key:value` writes it: as it is when it is one word, else in quotes with backslashes
    /// before quotes and backslashes (what ``tokens(_:)`` reads back).
    public static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "\\" || $0 == ":" }) else { return value }
        var text = "\""
        for character in value {
            if character == "\"" || character == "\\" { text.append("\\") }
            text.append(character)
        }
        return text + "\""
    }
}

/// An attribute whose value reads as `value`: the string itself, or a number or boolean written so.
public struct LogAttributeFilter: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The stored JSON values that match: the value as a string, and as the number or boolean it reads as.
    public var matchingJSON: [String] {
        var values = [JSONWriter.string(.string(value))]
        if let integer = Int64(value) { values += [String(integer), "\(integer).0"] }  // a double stores 12.0
        if value == "true" || value == "false" { values.append(value) }
        if Int64(value) == nil, let number = Double(value), number.isFinite { values.append(JSONWriter.string(LogValue.double(number).json)) }
        return values
    }
}
