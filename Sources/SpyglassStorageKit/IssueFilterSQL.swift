import Foundation
import SpyglassCore

/// An ``IssueQuery``'s filter as a SQL condition over `issue` (joined with its `assignee`), the same for SQLite and
/// PostgreSQL but for the free-text search each does its own way and where values are bound (`?` or `$n`: the
/// caller's `bind`).
package struct IssueFilterSQL {
    package enum Value {
        case text(String)
        case integer(Int64)
        case real(Double)
    }

    package enum Dialect {
        case sqlite, postgres
    }

    let dialect: Dialect
    let userID: Int64

    package init(dialect: Dialect, userID: Int64) {
        self.dialect = dialect
        self.userID = userID
    }

    /// The condition; `bind` binds a value and returns its placeholder, `text` makes the condition for a free-text
    /// word or phrase (`last`: the query's last one, matched as a prefix while the user types).
    package func condition(
        _ filter: IssueQuery.Filter, bind: (Value) -> String, text: (String, _ last: Bool) -> String
    ) -> String {
        let lastText = IssueQuery(filter: filter).texts.count - 1
        var textIndex = 0
        func render(_ filter: IssueQuery.Filter) -> String {
            switch filter {
            case .all(let parts): return "(" + parts.map(render).joined(separator: " AND ") + ")"
            case .any(let parts): return "(" + parts.map(render).joined(separator: " OR ") + ")"
            case .not(let inner): return "NOT " + render(inner)
            case .term(.text(let words)):
                defer { textIndex += 1 }
                return text(words, textIndex == lastText)
            case .term(let term): return self.term(term, bind: bind)
            }
        }
        return render(filter)
    }

    /// Wildcards match without regard to case, as SQLite's LIKE does (for ASCII letters).
    private var like: String { dialect == .postgres ? "ILIKE" : "LIKE" }

    private func match(_ column: String, _ match: IssueQuery.Match, bind: (Value) -> String) -> String {
        switch match {
        case .exact(let value): return "\(column) = \(bind(.text(value)))"
        case .wildcard: return "\(column) \(like) \(bind(.text(match.likePattern))) ESCAPE '\\'"
        }
    }

    private func tag(_ key: String, _ value: IssueQuery.Match?, bind: (Value) -> String) -> String {
        var sql = "EXISTS (SELECT 1 FROM issue_tag WHERE issue_tag.issue_id = issue.id AND issue_tag.key = \(bind(.text(key)))"
        if let value { sql += " AND " + match("issue_tag.value", value, bind: bind) }
        return sql + ")"
    }

    private func term(_ term: IssueQuery.Term, bind: (Value) -> String) -> String {
        switch term {
        case .status(let status): return "issue.status = \(bind(.text(status)))"
        case .level(let level): return "issue.level = \(bind(.text(level)))"
        case .assigned(.me): return "issue.assignee_id = \(bind(.integer(userID)))"
        case .assigned(.nobody): return "issue.assignee_id IS NULL"
        case .assigned(.anybody): return "issue.assignee_id IS NOT NULL"
        case .assigned(.email(let email)): return "(issue.assignee_id IS NOT NULL AND assignee.email = \(bind(.text(email))))"
        case .release(let value): return tag("release", value, bind: bind)
        case .environment(let value): return tag("environment", value, bind: bind)
        case .tag(let key, let value): return tag(key, value, bind: bind)
        case .has(let key): return tag(key, nil, bind: bind)
        case .firstRelease(let value): return "(issue.first_release IS NOT NULL AND \(match("issue.first_release", value, bind: bind)))"
        case .firstSeen(let bound): return "issue.first_seen \(bound.newer ? ">=" : "<") \(bind(.real(bound.date.timeIntervalSince1970)))"
        case .lastSeen(let bound): return "issue.last_seen \(bound.newer ? ">=" : "<") \(bind(.real(bound.date.timeIntervalSince1970)))"
        case .timesSeen(let comparison, let count): return "issue.times_seen \(comparison.rawValue) \(bind(.integer(count)))"
        case .user(let field, let value):
            let column: String
            let keyPrefix: String
            switch field {
            case .id: (column, keyPrefix) = ("issue_user.user_id", "id:")
            case .email: (column, keyPrefix) = ("issue_user.email", "email:")
            case .username: (column, keyPrefix) = ("issue_user.username", "username:")
            case .ip: (column, keyPrefix) = ("issue_user.ip_address", "ip:")
            }
            // The user's identity as stored with the issue; users stored before it was, by the key they were
            // counted by (`email:…` when the e-mail was their first identity).
            var condition = "(\(column) IS NOT NULL AND \(match(column, value, bind: bind)))"
            if case .exact(let text) = value {
                condition = "(\(condition) OR issue_user.user_key = \(bind(.text(keyPrefix + text))))"
            } else if case .wildcard = value {
                let pattern = IssueQuery.Match.exact(keyPrefix).likePattern + value.likePattern
                condition = "(\(condition) OR issue_user.user_key \(like) \(bind(.text(pattern))) ESCAPE '\\')"
            }
            return "EXISTS (SELECT 1 FROM issue_user WHERE issue_user.issue_id = issue.id AND \(condition))"
        case .text: return "TRUE"  // rendered by `condition`
        }
    }
}
