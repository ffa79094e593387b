import Foundation

/// The issue search language of the API and the UI, a subset of Sentry's:
/// `is:unresolved level:error release:1.2.0 firstRelease:1.2.0 environment:prod assigned:me firstSeen:-24h tenant:acme text "quoted text"`.
public struct IssueQuery: Sendable, Hashable {
    /// `is:unresolved|resolved|ignored` (several are OR-ed).
    public var statuses: [String] = []
    /// `level:error` (several are OR-ed).
    public var levels: [String] = []
    /// `release:X` — issues with an event in that release.
    public var releases: [String] = []
    /// `firstRelease:X` — issues first seen in that release.
    public var firstReleases: [String] = []
    /// `environment:X` — issues with an event in that environment.
    public var environments: [String] = []
    /// `assigned:me|none|EMAIL`.
    public var assigned: Assignee?
    /// `firstSeen:-24h` (newer than) or `firstSeen:+7d` (older than).
    public var firstSeenAfter: Date?
    public var firstSeenBefore: Date?
    /// `lastSeen:-1h` / `lastSeen:+1d`.
    public var lastSeenAfter: Date?
    public var lastSeenBefore: Date?
    /// Any other `key:value`: issues with an event carrying that tag (`tenant:acme`, `server_name:web-1`).
    public var tags: [Tag] = []
    /// Free-text words and quoted phrases, matched against title, culprit and message.
    public var text: [String] = []

    /// A tag filter.
    public struct Tag: Sendable, Hashable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// Who an issue is assigned to.
    public enum Assignee: Sendable, Hashable {
        case me, nobody
        case email(String)
    }

    public init() {}

    /// Parses `text` at time `now`; a bad token throws a ``DomainError`` naming it.
    public static func parse(_ text: String, now: Date) throws(DomainError) -> IssueQuery {
        var query = IssueQuery()
        for token in try tokens(text) {
            guard !token.quoted, let colon = token.text.firstIndex(of: ":"), colon != token.text.startIndex else {
                query.text.append(token.text)
                continue
            }
            let key = token.text[..<colon].lowercased()
            let value = String(token.text[token.text.index(after: colon)...])
            guard !value.isEmpty else { throw DomainError(.invalidInput, "query: \"\(token.text)\" has no value") }
            switch key {
            case "is":
                guard ["unresolved", "resolved", "ignored"].contains(value) else {
                    throw DomainError(.invalidInput, "query: \"\(token.text)\": is: takes unresolved, resolved or ignored")
                }
                query.statuses.append(value)
            case "level":
                guard ["fatal", "error", "warning", "info", "debug"].contains(value) else {
                    throw DomainError(.invalidInput, "query: \"\(token.text)\": level: takes fatal, error, warning, info or debug")
                }
                query.levels.append(value)
            case "release": query.releases.append(value)
            case "firstrelease", "first-release": query.firstReleases.append(value)
            case "environment": query.environments.append(value)
            case "assigned":
                switch value.lowercased() {
                case "me": query.assigned = .me
                case "none", "nobody": query.assigned = .nobody
                default:
                    guard value.contains("@") else {
                        throw DomainError(.invalidInput, "query: \"\(token.text)\": assigned: takes me, none or an e-mail")
                    }
                    query.assigned = .email(value.lowercased())
                }
            case "firstseen", "lastseen":
                guard let (date, newer) = relativeDate(value, now: now) else {
                    throw DomainError(.invalidInput, "query: \"\(token.text)\": expected a relative time like -24h or +7d")
                }
                if key == "firstseen" {
                    if newer { query.firstSeenAfter = date } else { query.firstSeenBefore = date }
                } else {
                    if newer { query.lastSeenAfter = date } else { query.lastSeenBefore = date }
                }
            default:
                guard key.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                    throw DomainError(.invalidInput, "query: \"\(token.text)\": \"\(key)\" is not a tag name")
                }
                query.tags.append(Tag(key: String(token.text[..<colon]), value: value))
            }
        }
        return query
    }

    private struct Token {
        var text: String
        var quoted: Bool
    }

    /// Splits on whitespace outside quotes; quotes are removed. A token that starts with a quote is free text.
    /// Works on Unicode scalars: a quote followed by a combining mark is one `Character`, but still a quote.
    private static func tokens(_ text: String) throws(DomainError) -> [Token] {
        var tokens: [Token] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        var startedQuoted = false
        for scalar in text.unicodeScalars {
            if scalar == "\"" {
                if !inQuotes && current.isEmpty { startedQuoted = true }
                inQuotes.toggle()
            } else if scalar.properties.isWhitespace && !inQuotes {
                if !current.isEmpty { tokens.append(Token(text: String(current), quoted: startedQuoted)) }
                current = String.UnicodeScalarView()
                startedQuoted = false
            } else {
                current.append(scalar)
            }
        }
        guard !inQuotes else { throw DomainError(.invalidInput, "query: unterminated quote in \"\(text)\"") }
        if !current.isEmpty { tokens.append(Token(text: String(current), quoted: startedQuoted)) }
        return tokens
    }

    /// `-24h` → (now − 24 h, newer), `+7d` → (now − 7 d, older); units s, m, h, d, w.
    private static func relativeDate(_ value: String, now: Date) -> (Date, Bool)? {
        guard let sign = value.first, sign == "-" || sign == "+", value.count >= 3, let unit = value.last,
            let amount = Double(value.dropFirst().dropLast()), amount >= 0, amount <= 100_000
        else { return nil }
        let seconds: Double
        switch unit {
        case "s": seconds = amount
        case "m": seconds = amount * 60
        case "h": seconds = amount * 3600
        case "d": seconds = amount * 86400
        case "w": seconds = amount * 7 * 86400
        default: return nil
        }
        return (now.addingTimeInterval(-seconds), sign == "-")
    }
}
