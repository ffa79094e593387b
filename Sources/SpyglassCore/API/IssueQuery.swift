import Foundation

/// The issue search language of the API and the UI, Sentry's:
/// `is:unresolved level:error !environment:staging (release:1.2.* OR firstRelease:1.2.0) has:user
/// user.email:bob@example.com age:-24h lastSeen:>2026-01-01 tenant:acme timeout "db down"`.
///
/// Terms side by side (or joined by `AND`) must all hold; `OR` joins alternatives (it binds looser than `AND`);
/// parentheses group; `!key:value` negates a term. A value may be quoted (`release:"a b"`), hold `*` wildcards
/// (`release:1.2.*`, `\*` for a star) or list alternatives (`level:[error, fatal]`). Anything else is free text,
/// matched against title, culprit and message. Every token the language does not understand is an error that
/// names it, never a search that quietly finds nothing.
public struct IssueQuery: Sendable, Hashable {
    /// What an issue must match; nil: every issue.
    public var filter: Filter?

    public init(filter: Filter? = nil) { self.filter = filter }

    /// A boolean combination of terms.
    public indirect enum Filter: Sendable, Hashable {
        case all([Filter])
        case any([Filter])
        case not(Filter)
        case term(Term)
    }

    /// One condition on an issue.
    public enum Term: Sendable, Hashable {
        /// `is:unresolved|resolved|ignored` (`muted`/`archived` are `ignored`).
        case status(String)
        /// `is:assigned` / `is:unassigned`, `assigned:me|none|EMAIL`.
        case assigned(Assignee)
        case level(String)
        /// `release:` — an event of the issue in that release.
        case release(Match)
        /// `firstRelease:` — the issue was first seen in that release.
        case firstRelease(Match)
        /// `environment:` — an event of the issue in that environment.
        case environment(Match)
        /// `firstSeen:` (and `age:`) / `lastSeen:`.
        case firstSeen(TimeBound)
        case lastSeen(TimeBound)
        /// `timesSeen:>100`.
        case timesSeen(Comparison, Int64)
        /// `has:key` — an event of the issue carries the tag (`has:user`, `has:release`, any tag).
        case has(String)
        /// `user.id:`, `user.email:`, `user.username:`, `user.ip:` — an affected user with that identity.
        case user(UserField, Match)
        /// Any other `key:value`: an event of the issue carries that tag.
        case tag(String, Match)
        /// A word or quoted phrase of free text.
        case text(String)
    }

    /// A value to match: as it is, or a pattern where `*` stands for any run of characters.
    public enum Match: Sendable, Hashable {
        case exact(String)
        case wildcard(String)

        /// The pattern for SQL `LIKE … ESCAPE '\'`: `%` and `_` taken literally, `*` any run of characters.
        public var likePattern: String {
            switch self {
            case .exact(let text): return Self.escapeLike(text)
            case .wildcard(let pattern):
                var result = ""
                var escaped = false
                for character in pattern {
                    if escaped {
                        result += Self.escapeLike(String(character))
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "*" {
                        result += "%"
                    } else {
                        result += Self.escapeLike(String(character))
                    }
                }
                return result
            }
        }

        static func escapeLike(_ text: String) -> String {
            var result = ""
            for character in text {
                if character == "%" || character == "_" || character == "\\" { result.append("\\") }
                result.append(character)
            }
            return result
        }
    }

    public enum UserField: String, Sendable, Hashable, CaseIterable {
        case id, email, username, ip
    }

    /// Who an issue is assigned to.
    public enum Assignee: Sendable, Hashable {
        case me, nobody, anybody
        case email(String)
    }

    /// `newer`: at or after `date`; else before it.
    public struct TimeBound: Sendable, Hashable {
        public var date: Date
        public var newer: Bool

        public init(date: Date, newer: Bool) {
            self.date = date
            self.newer = newer
        }
    }

    public enum Comparison: String, Sendable, Hashable {
        case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "="
    }

    /// The statuses `is:` takes, and the names that mean them.
    static let statuses = ["unresolved": "unresolved", "resolved": "resolved", "ignored": "ignored", "muted": "ignored", "archived": "ignored"]
    static let levels = ["fatal", "error", "warning", "info", "debug"]

    /// The keys the language knows besides tags, for the search box's suggestions.
    public static let keys = [
        "is:", "assigned:", "level:", "release:", "firstRelease:", "environment:", "age:", "firstSeen:", "lastSeen:",
        "timesSeen:", "has:", "user.id:", "user.email:", "user.username:", "user.ip:",
    ]

    // MARK: - Parsing

    /// Parses `text` at time `now`; a token it does not understand throws a ``DomainError`` naming it.
    public static func parse(_ text: String, now: Date) throws(DomainError) -> IssueQuery {
        var parser = Parser(tokens: try tokens(text), now: now)
        guard !parser.tokens.isEmpty else { return IssueQuery() }
        let filter = try parser.expression()
        if let extra = parser.peek {
            // Only a `)` stops an expression early.
            throw DomainError(.invalidInput, "query: \"\(extra.text)\" closes a parenthesis that was not opened")
        }
        return IssueQuery(filter: filter)
    }

    struct Token {
        enum Kind { case word, open, close }
        var kind: Kind
        var text: String
        /// The whole token was quoted: free text, never `key:value` or an operator.
        var quoted = false
        /// The value after `key:` was quoted: no wildcards or lists in it.
        var valueQuoted = false
    }

    /// Splits on whitespace and parentheses outside quotes. Works on Unicode scalars: a quote followed by a
    /// combining mark is one `Character`, but still a quote.
    static func tokens(_ text: String) throws(DomainError) -> [Token] {
        var tokens: [Token] = []
        var current = String.UnicodeScalarView()
        var inQuotes = false
        var startedQuoted = false
        var valueQuoted = false
        var bracketDepth = 0
        func flush() {
            if !current.isEmpty || startedQuoted {
                tokens.append(Token(kind: .word, text: String(current), quoted: startedQuoted, valueQuoted: valueQuoted))
            }
            current = String.UnicodeScalarView()
            startedQuoted = false
            valueQuoted = false
        }
        for scalar in text.unicodeScalars {
            if scalar == "\"" {
                if !inQuotes && current.isEmpty { startedQuoted = true }
                if !inQuotes && !current.isEmpty && current.last == ":" { valueQuoted = true }
                inQuotes.toggle()
            } else if inQuotes {
                current.append(scalar)
            } else if scalar.properties.isWhitespace && bracketDepth == 0 {
                flush()
            } else if scalar == "[" && !current.isEmpty && current.last == ":" {
                bracketDepth += 1
                current.append(scalar)
            } else if scalar == "]" && bracketDepth > 0 {
                bracketDepth -= 1
                current.append(scalar)
            } else if (scalar == "(" && current.isEmpty) || (scalar == ")" && bracketDepth == 0) {
                // `(` opens a group where a token starts; `)` closes one wherever it stands: `(a OR b)`.
                flush()
                tokens.append(Token(kind: scalar == "(" ? .open : .close, text: String(scalar)))
            } else {
                current.append(scalar)
            }
        }
        guard !inQuotes else { throw DomainError(.invalidInput, "query: unterminated quote in \"\(text)\"") }
        guard bracketDepth == 0 else { throw DomainError(.invalidInput, "query: unclosed [ in \"\(text)\"") }
        flush()
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var position = 0
        let now: Date
        var depth = 0

        init(tokens: [Token], now: Date) {
            self.tokens = tokens
            self.now = now
        }

        var peek: Token? { position < tokens.count ? tokens[position] : nil }

        func isOperator(_ token: Token?, _ name: String) -> Bool {
            guard let token, token.kind == .word, !token.quoted else { return false }
            return token.text == name
        }

        /// `and (OR and)*`
        mutating func expression() throws(DomainError) -> Filter {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 32 else { throw DomainError(.invalidInput, "query: parentheses nested more than 32 deep") }
            var alternatives = [try conjunction()]
            while isOperator(peek, "OR") {
                position += 1
                guard peek != nil, peek?.kind != .close else {
                    throw DomainError(.invalidInput, "query: \"OR\" at the end: nothing to its right")
                }
                alternatives.append(try conjunction())
            }
            return alternatives.count == 1 ? alternatives[0] : .any(alternatives)
        }

        /// `unary ((AND)? unary)*`, up to `OR`, `)` or the end.
        mutating func conjunction() throws(DomainError) -> Filter {
            var parts: [Filter] = []
            while let token = peek, token.kind != .close, !isOperator(token, "OR") {
                if isOperator(token, "AND") {
                    guard !parts.isEmpty else { throw DomainError(.invalidInput, "query: \"AND\" with nothing to its left") }
                    position += 1
                    guard let next = peek, next.kind != .close, !isOperator(next, "OR"), !isOperator(next, "AND") else {
                        throw DomainError(.invalidInput, "query: \"AND\" with nothing to its right")
                    }
                    continue
                }
                parts.append(try unary())
            }
            guard !parts.isEmpty else {
                let where_ = peek.map { "before \"\($0.text)\"" } ?? "at the end"
                throw DomainError(.invalidInput, "query: a search term is missing \(where_)")
            }
            return parts.count == 1 ? parts[0] : .all(parts)
        }

        mutating func unary() throws(DomainError) -> Filter {
            let token = tokens[position]
            position += 1
            if token.kind == .open {
                guard peek?.kind != .close else { throw DomainError(.invalidInput, "query: \"()\" holds no search term") }
                let inner = try expression()
                guard peek?.kind == .close else { throw DomainError(.invalidInput, "query: a \"(\" is not closed") }
                position += 1
                return inner
            }
            return try IssueQuery.term(token, now: now)
        }
    }

    static func term(_ token: Token, now: Date) throws(DomainError) -> Filter {
        var text = token.text
        if !token.quoted, text.hasPrefix("!"), !text.contains(":") {
            // Free text cannot be negated: searching "!word" would find the word.
            throw DomainError(.invalidInput, "query: \"\(token.text)\": \"!\" needs a key:value after it (quote it to search for it)")
        }
        guard !token.quoted, let first = text.firstIndex(of: ":"), first != text.startIndex else {
            return .term(.text(text))
        }
        var negated = false
        if text.hasPrefix("!") {
            negated = true
            text.removeFirst()
        }
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
            throw DomainError(.invalidInput, "query: \"\(token.text)\": \"!\" needs a key:value after it")
        }
        let keyText = String(text[..<colon])
        let key = keyText.lowercased()
        let value = String(text[text.index(after: colon)...])
        guard !value.isEmpty || token.valueQuoted else { throw DomainError(.invalidInput, "query: \"\(token.text)\" has no value") }
        func fail(_ message: String) -> DomainError { DomainError(.invalidInput, "query: \"\(token.text)\": \(message)") }

        // `key:[a, b]`: any of the values.
        var values = [value]
        if !token.valueQuoted, value.hasPrefix("["), value.hasSuffix("]") {
            // (Quotes inside the list were taken out by the tokenizer: `["a b", c]` arrives as `[a b, c]`.)
            values = value.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard !values.isEmpty, !values.contains(where: \.isEmpty) else { throw fail("a list needs values between its commas") }
            guard values.count <= 100 else { throw fail("a list of more than 100 values") }
        }
        func match(_ value: String) -> Match {
            !token.valueQuoted && value.contains("*") ? .wildcard(value) : .exact(value)
        }
        let timeKeys = ["firstseen", "first_seen", "age", "lastseen", "last_seen"]
        if values.count > 1, timeKeys.contains(key) { throw fail("a time takes one value, not a list") }
        var terms: [Term] = []
        for value in values {
            let term: Term
            switch key {
            case "is":
                switch value.lowercased() {
                case "assigned": term = .assigned(.anybody)
                case "unassigned": term = .assigned(.nobody)
                default:
                    guard let status = statuses[value.lowercased()] else {
                        throw fail("is: takes unresolved, resolved, ignored (muted), assigned or unassigned")
                    }
                    term = .status(status)
                }
            case "level":
                guard levels.contains(value.lowercased()) else { throw fail("level: takes fatal, error, warning, info or debug") }
                term = .level(value.lowercased())
            case "release": term = .release(match(value))
            case "firstrelease", "first-release", "first_release": term = .firstRelease(match(value))
            case "environment", "env": term = .environment(match(value))
            case "assigned", "assigned_to", "assignee":
                switch value.lowercased() {
                case "me": term = .assigned(.me)
                case "none", "nobody": term = .assigned(.nobody)
                default:
                    guard value.contains("@") else { throw fail("assigned: takes me, none or an e-mail address") }
                    term = .assigned(.email(value.lowercased()))
                }
            case "firstseen", "first_seen", "age", "lastseen", "last_seen":
                guard let bound = timeBound(value, now: now) else {
                    throw fail(
                        "expected a relative time (-24h: within the last 24 hours, +7d: longer ago than 7 days; s, m, h, d, w) or a date (2026-01-31, >2026-01-31T10:00)"
                    )
                }
                if key.hasPrefix("last") {
                    terms += bound.map { .lastSeen($0) }
                } else {
                    terms += bound.map { .firstSeen($0) }
                }
                continue
            case "timesseen", "times_seen":
                guard let (comparison, number) = comparison(value), number >= 0 else {
                    throw fail("timesSeen: takes a count, with <, <=, >, >= or = before it (timesSeen:>100)")
                }
                term = .timesSeen(comparison, number)
            case "has":
                guard isTagKey(value) else { throw fail("has: takes a tag name") }
                if let field = UserField(rawValue: String(value.lowercased().dropFirst(5))), value.lowercased().hasPrefix("user.") {
                    term = .user(field, .wildcard("*"))  // an affected user with that field
                } else {
                    term = .has(value)
                }
            case "user.id", "user.email", "user.username", "user.ip", "user.ip_address":
                let field: UserField =
                    switch key {
                    case "user.id": .id
                    case "user.email": .email
                    case "user.username": .username
                    default: .ip
                    }
                term = .user(field, match(field == .email ? value.lowercased() : value))
            default:
                guard isTagKey(keyText) else { throw fail("\"\(keyText)\" is not a tag name") }
                if key.hasPrefix("user.") {
                    throw fail("user. takes id, email, username or ip")
                }
                term = .tag(keyText, match(value))
            }
            terms.append(term)
        }
        let filter: Filter
        if timeKeys.contains(key) {
            // A date alone is that day: both bounds hold.
            filter = terms.count == 1 ? .term(terms[0]) : .all(terms.map { .term($0) })
        } else {
            filter = terms.count == 1 ? .term(terms[0]) : .any(terms.map { .term($0) })
        }
        return negated ? .not(filter) : filter
    }

    static func isTagKey(_ key: String) -> Bool {
        !key.isEmpty && key.count <= 200 && key.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) }
    }

    static func comparison(_ value: String) -> (Comparison, Int64)? {
        for op in [Comparison.lessOrEqual, .greaterOrEqual, .less, .greater, .equal] where value.hasPrefix(op.rawValue) {
            return Int64(value.dropFirst(op.rawValue.count)).map { (op, $0) }
        }
        return Int64(value).map { (.equal, $0) }
    }

    /// `-24h` → newer than now − 24 h; `+7d` → older than now − 7 d (s, m, h, d, w); `>DATE`, `>=DATE` → newer,
    /// `<DATE`, `<=DATE` → older; a date alone → within that day (UTC). Dates are `YYYY-MM-DD` or ISO 8601 times.
    static func timeBound(_ value: String, now: Date) -> [TimeBound]? {
        if let sign = value.first, sign == "-" || sign == "+" {
            guard value.count >= 3, let unit = value.last, let amount = Double(value.dropFirst().dropLast()), amount >= 0,
                amount <= 100_000
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
            return [TimeBound(date: now.addingTimeInterval(-seconds), newer: sign == "-")]
        }
        for (prefix, newer, inclusiveEnd) in [(">=", true, false), ("<=", false, true), (">", true, true), ("<", false, false)]
        where value.hasPrefix(prefix) {
            guard let (date, isDay) = absoluteDate(String(value.dropFirst(prefix.count))) else { return nil }
            // `>2026-01-31` is after that day; `<=2026-01-31` up to its end; `>=`/`<` from/before its start.
            let shifted = isDay && inclusiveEnd ? date.addingTimeInterval(86400) : date
            return [TimeBound(date: shifted, newer: newer)]
        }
        guard let (date, isDay) = absoluteDate(value) else { return nil }
        return [TimeBound(date: date, newer: true), TimeBound(date: date.addingTimeInterval(isDay ? 86400 : 1), newer: false)]
    }

    /// A day (`2026-01-31`, UTC) or an RFC 3339 time (`2026-01-31T10:00:00Z`, `…T10:00`, with an offset or UTC, as
    /// ``Timestamp/parseRFC3339(_:)`` reads SDKs' timestamps); 1970 to 9999.
    static func absoluteDate(_ text: String) -> (Date, isDay: Bool)? {
        let isDay = text.utf8.count == 10
        // A day is its midnight; `…T10:00` gets its seconds.
        let time = isDay ? text + "T00:00:00" : text.utf8.count == 16 ? text + ":00" : text
        guard text.utf8.count <= 40, let date = Timestamp.parseRFC3339(time),
            let valid = Timestamp.date(seconds: date.timeIntervalSince1970)
        else { return nil }
        // The parser takes 2026-02-30 as 2026-03-02: a day must read back as written.
        if isDay && !Self.dayText(valid).elementsEqual(text) { return nil }
        return (valid, isDay)
    }

    /// `YYYY-MM-DD` of a time, in UTC.
    static func dayText(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    // MARK: - Reading a query

    /// Every term, wherever it stands.
    public var terms: [Term] {
        func collect(_ filter: Filter) -> [Term] {
            switch filter {
            case .all(let parts), .any(let parts): parts.flatMap(collect)
            case .not(let inner): collect(inner)
            case .term(let term): [term]
            }
        }
        return filter.map(collect) ?? []
    }

    /// The free-text words and phrases, in order.
    public var texts: [String] {
        terms.compactMap { if case .text(let text) = $0 { text } else { nil } }
    }

    /// Whether the query asks for exactly this status, and nothing else (the stream's tabs).
    public static func status(_ status: String) -> IssueQuery { IssueQuery(filter: .term(.status(status))) }
}
