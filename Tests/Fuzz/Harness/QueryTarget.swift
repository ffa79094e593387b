import Foundation

/// `IssueQuery.parse` and `LogQuery.parse`: the search boxes of the UI and the API's `query=`, and the SQL
/// conditions both stores make of them (`IssueFilterSQL`, `LogFilterSQL`).
///
/// Properties: a query either fails with an error or renders, for each dialect, a condition with one placeholder
/// per bound value, balanced parentheses, and no text of the query in it (every value is bound).
enum QueryTarget {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let logQuery = try? LogQuery.parse(text) {
            for dialect in [IssueFilterSQL.Dialect.sqlite, .postgres] {
                var bound = 0
                let sql = LogFilterSQL(dialect: dialect).conditions(LogListRequest(projectID: 1, query: logQuery)) { _ in
                    bound += 1
                    return "?"
                }
                require(sql.filter { $0 == "?" }.count == bound, "logs, \(dialect): placeholders and bound values differ")
                require(!sql.contains("\"") && sql.filter({ $0 == "'" }).count % 2 == 0, "logs, \(dialect): query text in the SQL")
            }
        }
        guard let query = try? IssueQuery.parse(text, now: now), let filter = query.filter else { return }
        _ = query.texts
        for dialect in [IssueFilterSQL.Dialect.sqlite, .postgres] {
            var bound = 0
            let sql = IssueFilterSQL(dialect: dialect, userID: 1).condition(
                filter,
                bind: { _ in
                    bound += 1
                    return "?"
                },
                text: { _, _ in
                    bound += 1
                    return "issue.id IN (SELECT rowid FROM issue_search WHERE issue_search MATCH ?)"
                })
            require(sql.filter { $0 == "?" }.count == bound, "\(dialect): placeholders and bound values differ")
            var depth = 0
            for character in sql {
                if character == "(" { depth += 1 }
                if character == ")" { depth -= 1 }
                require(depth >= 0, "\(dialect): a parenthesis closes before it opens")
            }
            require(depth == 0, "\(dialect): unbalanced parentheses")
            require(!sql.contains("\"") && sql.filter({ $0 == "'" }).count % 2 == 0, "\(dialect): query text in the SQL")
        }
    }
}
