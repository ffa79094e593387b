import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Issues: lists, state changes, merges, activity in PostgreSQL: the ``IssueStore`` port, answering as
/// `SQLiteIssues` does.
///
/// Search differs in one way: words go through `issue_search_words()` and the `simple` text-search configuration
/// (lower-cased, split at punctuation and spaces as FTS5's unicode61 splits), but diacritics are kept, so "creme"
/// does not find "crème" as it does in SQLite.
public struct PostgresIssues: IssueStore {
    let database: PostgresAppDatabase

    public init(_ database: PostgresAppDatabase) { self.database = database }

    /// The WHERE clause of a list request over `issue` (joined as ``PostgresIssueRows/issueColumns`` joins it), its
    /// values bound in `sql`.
    private func whereClause(
        _ request: IssueListRequest, sql: inout PostgresStatement, on connection: PostgresConnection
    ) async throws -> String {
        let query = request.query
        var conditions = ["issue.project_id = ANY(\(sql.bind(request.projectIDs)))"]
        if let filter = query.filter {
            // The words of each free-text term, split as the documents are (a round trip), before the condition.
            var searches: [String: String] = [:]
            for text in Set(query.texts) {
                searches[text] = try await Self.textSearch([text], prefix: false, on: connection, logger: database.logger)
                searches["\u{0}" + text] = try await Self.textSearch([text], prefix: true, on: connection, logger: database.logger)
            }
            conditions.append(
                IssueFilterSQL(dialect: .postgres, userID: request.userID).condition(
                    filter,
                    bind: { value in
                        switch value {
                        case .text(let text): sql.bind(text)
                        case .integer(let number): sql.bind(number)
                        case .real(let number): sql.bind(number)
                        }
                    },
                    text: { words, last in
                        // Only punctuation: no word to look for.
                        guard let search = searches[last ? "\u{0}" + words : words] else { return "false" }
                        return "issue.id IN (SELECT issue_id FROM issue_search WHERE document @@ to_tsquery('simple', \(sql.bind(search))))"
                    }))
        }
        return conditions.joined(separator: " AND ")
    }

    public func countIssues(_ request: IssueListRequest, upTo limit: Int) async throws -> Int {
        guard !request.projectIDs.isEmpty else { return 0 }
        return try await database.withConnection { connection in
            var sql = PostgresStatement()
            let condition = try await whereClause(request, sql: &sql, on: connection)
            sql.append(
                """
                SELECT count(*) AS n FROM (SELECT 1 FROM issue LEFT JOIN "user" AS assignee ON assignee.id = issue.assignee_id
                    WHERE \(condition) LIMIT \(sql.bind(limit))) AS selected
                """)
            return Int(try await connection.row(sql.query, logger: database.logger)?.decode("n", as: Int64.self) ?? 0)
        }
    }

    public func issues(_ request: IssueListRequest) async throws -> [IssueInfo] {
        guard !request.projectIDs.isEmpty else { return [] }
        let query = request.query
        return try await database.withConnection { connection in
            var sql = PostgresStatement()
            let condition = try await whereClause(request, sql: &sql, on: connection)
            let order =
                switch request.sort {
                case .date: "issue.last_seen DESC"
                case .new: "issue.first_seen DESC"
                case .freq: "issue.times_seen DESC"
                case .user: "issue.user_count DESC"
                }
            sql.append(
                """
                SELECT \(PostgresIssueRows.issueColumns) WHERE \(condition)
                ORDER BY \(order), issue.id DESC LIMIT \(sql.bind(request.limit + 1)) OFFSET \(sql.bind(request.offset))
                """)
            do {
                return try await connection.rows(sql.query, logger: database.logger).map(PostgresIssueRows.issueInfo)
            } catch let error as PSQLError where !query.texts.isEmpty && error.serverInfo?[.sqlState] == "42601" {
                // The words are quoted below, so this should not happen; if to_tsquery still refuses them, the search is at fault.
                throw DomainError(
                    .invalidInput,
                    "query: the search text \"\(query.texts.joined(separator: " "))\" cannot be searched (\(error.serverInfo?[.message] ?? "tsquery"))"
                )
            }
        }
    }

    /// The `to_tsquery` text for the search words and phrases: each split by `issue_search_words()` as the documents
    /// are (a phrase `'a' <-> 'b'` when it splits), all required (`&`), a prefix match (`:*`) on the last word when
    /// `prefix`, as SQLite's FTS5 query does. Nil when no word is left.
    static func textSearch(
        _ texts: [String], prefix: Bool = true, on connection: PostgresConnection, logger: Logger
    ) async throws -> String? {
        let split = try await connection.column(
            "SELECT issue_search_words(t.text) FROM unnest(\(texts)::text[]) WITH ORDINALITY AS t(text, n) ORDER BY t.n",
            as: String.self, logger: logger)
        let phrases = split.map { $0.split(separator: " ").map(String.init) }.filter { !$0.isEmpty }
        guard !phrases.isEmpty else { return nil }
        return phrases.enumerated().map { index, words in
            let lexemes = words.enumerated().map { position, word in
                // A quoted lexeme: quotes and backslashes escaped (the split removed them anyway).
                let quoted =
                    "'" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''")
                    + "'"
                return prefix && index == phrases.count - 1 && position == words.count - 1 ? quoted + ":*" : quoted
            }
            return "(" + lexemes.joined(separator: " <-> ") + ")"
        }.joined(separator: " & ")
    }

    public func issue(id: Int64) async throws -> IssueInfo? {
        try await database.withConnection { connection in
            try await connection.row(
                "SELECT \(unescaped: PostgresIssueRows.issueColumns) WHERE issue.id = \(id)", logger: database.logger
            )
            .map(PostgresIssueRows.issueInfo)
        }
    }

    public func hourlyCounts(issueIDs: [Int64], since: Date) async throws -> [Int64: [Int64: Int]] {
        guard !issueIDs.isEmpty else { return [:] }
        let firstHour = Int64((since.timeIntervalSince1970 / 3600).rounded(.down))
        return try await database.withConnection { connection in
            var counts: [Int64: [Int64: Int]] = [:]
            let rows = try await connection.rows(
                "SELECT issue_id, hour, count FROM issue_hour WHERE issue_id = ANY(\(issueIDs)) AND hour >= \(firstHour)",
                logger: database.logger)
            for row in rows {
                counts[try row.decode("issue_id"), default: [:]][try row.decode("hour")] = try row.decode("count")
            }
            return counts
        }
    }

    public func eventCounts(issueIDs: [Int64], from: Date, to: Date, bucketSeconds: Int) async throws -> [Int64: [Int64: Int]] {
        guard !issueIDs.isEmpty, bucketSeconds > 0 else { return [:] }
        let start = from.timeIntervalSince1970
        let rows = try await database.rows(
            """
            SELECT issue_id, floor((timestamp - \(start)) / \(Double(bucketSeconds)))::bigint AS bucket, count(*) AS n FROM event
            WHERE issue_id = ANY(\(issueIDs)) AND timestamp >= \(start) AND timestamp < \(to.timeIntervalSince1970)
            GROUP BY issue_id, bucket
            """)
        var counts: [Int64: [Int64: Int]] = [:]
        for row in rows {
            counts[try row.decode("issue_id"), default: [:]][try row.decode("bucket")] = Int(try row.decode("n", as: Int64.self))
        }
        return counts
    }

    public func userCounts(issueIDs: [Int64], from: Date, to: Date) async throws -> [Int64: Int] {
        guard !issueIDs.isEmpty else { return [:] }
        let rows = try await database.rows(
            """
            SELECT issue_id, count(*) AS n FROM issue_user
            WHERE issue_id = ANY(\(issueIDs)) AND last_seen >= \(from.timeIntervalSince1970) AND last_seen <= \(to.timeIntervalSince1970)
            GROUP BY issue_id
            """)
        var counts: [Int64: Int] = [:]
        for row in rows { counts[try row.decode("issue_id")] = Int(try row.decode("n", as: Int64.self)) }
        return counts
    }

    public func hashes(issueID: Int64) async throws -> [String] {
        try await database.withConnection { connection in
            try await connection.column(
                "SELECT hash FROM grouping_hash WHERE issue_id = \(issueID) ORDER BY hash COLLATE \"C\"",
                as: String.self,
                logger: database.logger)
        }
    }

    public func tagValues(projectIDs: [Int64], limit: Int) async throws -> [TagValueCount] {
        guard !projectIDs.isEmpty else { return [] }
        return try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT issue_tag.key, issue_tag.value, sum(issue_tag.times_seen)::bigint AS total FROM issue_tag
                WHERE issue_tag.issue_id IN (
                    SELECT id FROM issue WHERE project_id = ANY(\(projectIDs)) ORDER BY last_seen DESC, id DESC LIMIT 500)
                GROUP BY issue_tag.key, issue_tag.value
                ORDER BY total DESC, issue_tag.key COLLATE "C", issue_tag.value COLLATE "C" LIMIT \(limit)
                """, logger: database.logger
            ).map { row in
                TagValueCount(key: try row.decode("key"), value: try row.decode("value"), count: Int(try row.decode("total", as: Int64.self)))
            }
        }
    }

    public func tags(issueID: Int64, top: Int) async throws -> [TagSummary] {
        try await database.withConnection { connection in
            let keys = try await connection.rows(
                """
                SELECT key, LEAST(sum(times_seen), 9223372036854775807)::bigint AS total, count(*) AS unique_values
                FROM issue_tag WHERE issue_id = \(issueID) GROUP BY key ORDER BY key COLLATE "C"
                """, logger: database.logger)
            var summaries: [TagSummary] = []
            for row in keys {
                let key: String = try row.decode("key")
                let values = try await connection.rows(
                    """
                    SELECT value, times_seen, first_seen, last_seen FROM issue_tag WHERE issue_id = \(issueID) AND key = \(key)
                    ORDER BY times_seen DESC, value COLLATE "C" LIMIT \(top)
                    """, logger: database.logger
                ).map {
                    TagSummary.Value(
                        value: try $0.decode("value"), count: try $0.decode("times_seen"),
                        firstSeen: Date(timeIntervalSince1970: try $0.decode("first_seen")),
                        lastSeen: Date(timeIntervalSince1970: try $0.decode("last_seen")))
                }
                summaries.append(
                    TagSummary(
                        key: key, totalValues: try row.decode("total"), uniqueValues: try row.decode("unique_values"),
                        topValues: values))
            }
            return summaries
        }
    }

    public func eventCountsByHash(issueID: Int64) async throws -> [String: Int] {
        let rows = try await database.rows(
            """
            SELECT primary_hash, count(*) AS n FROM event WHERE issue_id = \(issueID) AND primary_hash IS NOT NULL GROUP BY primary_hash
            """)
        return Dictionary(
            try rows.map { (try $0.decode("primary_hash", as: String.self), Int(try $0.decode("n", as: Int64.self))) },
            uniquingKeysWith: +)
    }

    public func affectedUsers(issueID: Int64, limit: Int) async throws -> [AffectedUser] {
        try await database.rows(
            """
            SELECT user_key, user_id, email, username, ip_address, times_seen, last_seen FROM issue_user
            WHERE issue_id = \(issueID) ORDER BY last_seen DESC NULLS LAST, user_key COLLATE "C" LIMIT \(limit)
            """
        ).map {
            AffectedUser(
                key: try $0.decode("user_key"), id: try $0.decode("user_id"), email: try $0.decode("email"),
                username: try $0.decode("username"), ipAddress: try $0.decode("ip_address"), timesSeen: try $0.decode("times_seen"),
                lastSeen: try $0.decode("last_seen", as: Double?.self).map(Date.init(timeIntervalSince1970:)))
        }
    }

    public func activities(issueID: Int64) async throws -> [ActivityInfo] {
        try await database.withConnection { connection in
            try await connection.rows(
                "SELECT \(unescaped: PostgresIssueRows.activityColumns) WHERE a.issue_id = \(issueID) ORDER BY a.id",
                logger: database.logger
            ).compactMap(PostgresIssueRows.activity)
        }
    }

    public func addComment(issueID: Int64, userID: Int64, text: String, now: Date) async throws -> ActivityInfo {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 10_000 else {
            throw DomainError(.invalidInput, "text: a comment needs 1 to 10000 characters")
        }
        return try await database.withTransaction { connection in
            let id = try await PostgresIssueRows.addActivity(
                issueID, kind: .note, userID: userID, data: ["text": .string(trimmed)], at: now, on: connection,
                logger: database.logger)
            let row = try await connection.row(
                "SELECT \(unescaped: PostgresIssueRows.activityColumns) WHERE a.id = \(id)", logger: database.logger)
            guard let activity = try row.flatMap(PostgresIssueRows.activity) else {
                throw DomainError(.unavailable, "comment was not stored")
            }
            return activity
        }
    }

    public func regressedIssueIDs(projectID: Int64, version: String, limit: Int) async throws -> [Int64] {
        try await database.withConnection { connection in
            try await connection.column(
                """
                SELECT issue_activity.issue_id FROM issue_activity JOIN issue ON issue.id = issue_activity.issue_id
                WHERE issue.project_id = \(projectID) AND issue_activity.type = 'set_regression'
                    AND (issue_activity.data::jsonb ->> 'version') = \(version)
                GROUP BY issue_activity.issue_id ORDER BY max(issue_activity.id) DESC LIMIT \(limit)
                """, as: Int64.self, logger: database.logger)
        }
    }

    public func similarIssueIDs(of issue: IssueInfo, limit: Int) async throws -> [Int64] {
        try await database.withConnection { connection in
            try await connection.column(
                """
                SELECT id FROM issue WHERE project_id = \(issue.project.id) AND id <> \(issue.id)
                    AND (title = \(issue.title) OR (type = \(issue.type) AND culprit = \(issue.culprit) AND culprit <> ''))
                ORDER BY last_seen DESC LIMIT \(limit)
                """, as: Int64.self, logger: database.logger)
        }
    }
}
