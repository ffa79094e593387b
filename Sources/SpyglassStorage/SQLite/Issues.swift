import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Issues: lists, state changes, merges, activity in SQLite: the ``IssueStore`` port.
public struct SQLiteIssues: IssueStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    /// The WHERE clause of a list request over `issue` (joined as ``AppDatabase/issueColumns`` joins it).
    private func whereClause(_ request: IssueListRequest) -> (sql: String, arguments: StatementArguments) {
        var conditions = ["issue.project_id IN (\(request.projectIDs.map { _ in "?" }.joined(separator: ",")))"]
        var arguments = StatementArguments(request.projectIDs)
        if let filter = request.query.filter {
            var values: [DatabaseValue] = []
            let condition = IssueFilterSQL(dialect: .sqlite, userID: request.userID).condition(
                filter,
                bind: { value in
                    switch value {
                    case .text(let text): values.append(text.databaseValue)
                    case .integer(let number): values.append(number.databaseValue)
                    case .real(let number): values.append(number.databaseValue)
                    }
                    return "?"
                },
                text: { words, last in
                    // An FTS5 string (quotes doubled); the last word or phrase of the query also as a prefix.
                    values.append((AppDatabase.ftsString(words) + (last ? "*" : "")).databaseValue)
                    return "issue.id IN (SELECT rowid FROM issue_search WHERE issue_search MATCH ?)"
                })
            conditions.append(condition)
            arguments += StatementArguments(values)
        }
        return (conditions.joined(separator: " AND "), arguments)
    }

    public func countIssues(_ request: IssueListRequest, upTo limit: Int) async throws -> Int {
        guard !request.projectIDs.isEmpty else { return 0 }
        let (condition, arguments) = whereClause(request)
        return try await writer.read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT count(*) FROM (SELECT 1 FROM issue LEFT JOIN "user" AS assignee ON assignee.id = issue.assignee_id
                        WHERE \(condition) LIMIT ?)
                    """,
                arguments: arguments + [limit]) ?? 0
        }
    }

    public func issues(_ request: IssueListRequest) async throws -> [IssueInfo] {
        guard !request.projectIDs.isEmpty else { return [] }
        let query = request.query
        var (condition, arguments) = whereClause(request)
        let order: String
        switch request.sort {
        case .date: order = "issue.last_seen DESC"
        case .new: order = "issue.first_seen DESC"
        case .freq: order = "issue.times_seen DESC"
        case .user: order = "issue.user_count DESC"
        }
        let sql = """
            SELECT \(AppDatabase.issueColumns) WHERE \(condition)
            ORDER BY \(order), issue.id DESC LIMIT ? OFFSET ?
            """
        arguments += [request.limit + 1, request.offset]
        let finalArguments = arguments
        do {
            return try await writer.read { db in try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(AppDatabase.issueInfo) }
        } catch let error as DatabaseError where error.message?.contains("fts5") == true && !query.texts.isEmpty {
            // The text is quoted above, so this should not happen; if FTS5 still refuses it, the search is at fault.
            throw DomainError(.invalidInput, "query: the search text \"\(query.texts.joined(separator: " "))\" cannot be searched (\(error.message ?? "fts5"))")
        }
    }

    public func issue(id: Int64) async throws -> IssueInfo? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(AppDatabase.issueColumns) WHERE issue.id = ?", arguments: [id]).map(AppDatabase.issueInfo)
        }
    }

    public func hourlyCounts(issueIDs: [Int64], since: Date) async throws -> [Int64: [Int64: Int]] {
        guard !issueIDs.isEmpty else { return [:] }
        let firstHour = Int64((since.timeIntervalSince1970 / 3600).rounded(.down))
        return try await writer.read { db in
            var counts: [Int64: [Int64: Int]] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT issue_id, hour, count FROM issue_hour WHERE issue_id IN (\(issueIDs.map { _ in "?" }.joined(separator: ","))) AND hour >= ?",
                arguments: StatementArguments(issueIDs) + [firstHour])
            while let row = try rows.next() { counts[row["issue_id"], default: [:]][row["hour"]] = row["count"] }
            return counts
        }
    }

    public func eventCounts(issueIDs: [Int64], from: Date, to: Date, bucketSeconds: Int) async throws -> [Int64: [Int64: Int]] {
        guard !issueIDs.isEmpty, bucketSeconds > 0 else { return [:] }
        let start = from.timeIntervalSince1970
        return try await writer.read { db in
            var counts: [Int64: [Int64: Int]] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT issue_id, CAST((timestamp - ?) / ? AS INTEGER) AS bucket, count(*) AS n FROM event
                    WHERE issue_id IN (\(issueIDs.map { _ in "?" }.joined(separator: ","))) AND timestamp >= ? AND timestamp < ?
                    GROUP BY issue_id, bucket
                    """,
                arguments: [start, Double(bucketSeconds)] + StatementArguments(issueIDs) + [start, to.timeIntervalSince1970])
            while let row = try rows.next() { counts[row["issue_id"], default: [:]][row["bucket"]] = row["n"] }
            return counts
        }
    }

    public func userCounts(issueIDs: [Int64], from: Date, to: Date) async throws -> [Int64: Int] {
        guard !issueIDs.isEmpty else { return [:] }
        return try await writer.read { db in
            var counts: [Int64: Int] = [:]
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT issue_id, count(*) AS n FROM issue_user
                    WHERE issue_id IN (\(issueIDs.map { _ in "?" }.joined(separator: ","))) AND last_seen >= ? AND last_seen <= ?
                    GROUP BY issue_id
                    """,
                arguments: StatementArguments(issueIDs) + [from.timeIntervalSince1970, to.timeIntervalSince1970])
            while let row = try rows.next() { counts[row["issue_id"]] = row["n"] }
            return counts
        }
    }

    public func hashes(issueID: Int64) async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT hash FROM grouping_hash WHERE issue_id = ? ORDER BY hash", arguments: [issueID])
        }
    }

    public func eventCountsByHash(issueID: Int64) async throws -> [String: Int] {
        try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT primary_hash, count(*) AS n FROM event WHERE issue_id = ? AND primary_hash IS NOT NULL GROUP BY primary_hash
                    """,
                arguments: [issueID])
            return Dictionary(rows.map { ($0["primary_hash"] as String, $0["n"] as Int) }, uniquingKeysWith: +)
        }
    }

    public func tagValues(projectIDs: [Int64], limit: Int) async throws -> [TagValueCount] {
        guard !projectIDs.isEmpty else { return [] }
        return try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT issue_tag.key, issue_tag.value, sum(issue_tag.times_seen) AS total FROM issue_tag
                    WHERE issue_tag.issue_id IN (
                        SELECT id FROM issue WHERE project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))
                        ORDER BY last_seen DESC, id DESC LIMIT 500)
                    GROUP BY issue_tag.key, issue_tag.value ORDER BY total DESC, issue_tag.key, issue_tag.value LIMIT ?
                    """,
                arguments: StatementArguments(projectIDs) + [limit]
            ).map { TagValueCount(key: $0["key"], value: $0["value"], count: $0["total"]) }
        }
    }

    public func tags(issueID: Int64, top: Int) async throws -> [TagSummary] {
        try await writer.read { db in
            let keys = try Row.fetchAll(
                db,
                sql: "SELECT key, sum(times_seen) AS total, count(*) AS unique_values FROM issue_tag WHERE issue_id = ? GROUP BY key ORDER BY key",
                arguments: [issueID])
            return try keys.map { row in
                let key: String = row["key"]
                let values = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT value, times_seen, first_seen, last_seen FROM issue_tag WHERE issue_id = ? AND key = ?
                        ORDER BY times_seen DESC, value LIMIT ?
                        """,
                    arguments: [issueID, key, top]
                ).map {
                    TagSummary.Value(
                        value: $0["value"], count: $0["times_seen"], firstSeen: Date(timeIntervalSince1970: $0["first_seen"]),
                        lastSeen: Date(timeIntervalSince1970: $0["last_seen"]))
                }
                return TagSummary(key: key, totalValues: row["total"], uniqueValues: row["unique_values"], topValues: values)
            }
        }
    }

    public func affectedUsers(issueID: Int64, limit: Int) async throws -> [AffectedUser] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT user_key, user_id, email, username, ip_address, times_seen, last_seen FROM issue_user
                    WHERE issue_id = ? ORDER BY last_seen DESC NULLS LAST, user_key LIMIT ?
                    """,
                arguments: [issueID, limit]
            ).map {
                AffectedUser(
                    key: $0["user_key"], id: $0["user_id"], email: $0["email"], username: $0["username"], ipAddress: $0["ip_address"],
                    timesSeen: $0["times_seen"], lastSeen: ($0["last_seen"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func updateIssues(ids: [Int64], change: IssueChange, now: Date) async throws {
        try await writer.write { db in
            for id in ids {
                guard let projectID = try Int64.fetchOne(db, sql: "SELECT project_id FROM issue WHERE id = ?", arguments: [id]) else {
                    throw DomainError(.notFound, "no issue \(id)")
                }
                var assignee: (id: Int64, email: String)??
                if let email = change.assigneeEmail {
                    if let email {
                        // Only active members of the issue's project; the message does not tell whether the address exists.
                        guard
                            let row = try Row.fetchOne(
                                db,
                                sql: """
                                    SELECT user.id, user.email FROM user JOIN project_member ON project_member.user_id = user.id
                                    WHERE user.email = ? AND user.is_active = 1 AND project_member.project_id = ?
                                    """,
                                arguments: [email.lowercased(), projectID])
                        else {
                            throw DomainError(.invalidInput, "assignedTo: \(email) is not an active member of this project")
                        }
                        assignee = .some((row["id"], row["email"]))
                    } else {
                        assignee = .some(nil)
                    }
                }
                if let status = change.status {
                    try AppDatabase.setStatus(status, change: change, issueID: id, projectID: projectID, now: now, in: db)
                }
                if let assignee {
                    let previous = try Int64.fetchOne(db, sql: "SELECT assignee_id FROM issue WHERE id = ?", arguments: [id])
                    try db.execute(sql: "UPDATE issue SET assignee_id = ? WHERE id = ?", arguments: [assignee?.id, id])
                    // The new assignee is told, unless they assigned it to themselves.
                    if let assignee, assignee.id != previous, assignee.id != change.actorID {
                        try AlertRows.enqueueAssignment(
                            issueID: id, projectID: projectID, assigneeEmail: assignee.email, actorID: change.actorID, now: now, in: db)
                    }
                    try LifecycleRows.addActivity(
                        id, kind: assignee == nil ? .unassigned : .assigned, userID: change.actorID,
                        data: ["assigneeEmail": assignee.map { .string($0.email) } ?? .null], at: now, in: db)
                }
            }
        }
    }

    public func deleteIssue(id: Int64) async throws {
        try await writer.write { db in
            for table in ["attachment", "user_report"] {
                try db.execute(
                    sql: """
                        DELETE FROM \(table) WHERE (project_id, event_id) IN
                            (SELECT project_id, event_id FROM event WHERE issue_id = ?)
                        """,
                    arguments: [id])
            }
            // Its hashes go with it (cascade), and their events: so do the dictionaries those events need.
            try db.execute(
                sql: "DELETE FROM payload_dictionary WHERE id IN (SELECT dictionary_id FROM grouping_hash WHERE issue_id = ?)",
                arguments: [id])
            try db.execute(sql: "DELETE FROM issue WHERE id = ?", arguments: [id])
        }
    }

    public func mergeIssues(ids: [Int64], actorID: Int64?) async throws -> (parent: Int64, children: [Int64]) {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, project_id FROM issue WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY times_seen DESC, id",
                arguments: StatementArguments(ids))
            guard rows.count >= 2 else { throw DomainError(.invalidInput, "merge needs at least two existing issues") }
            guard Set(rows.map { $0["project_id"] as Int64 }).count == 1 else {
                throw DomainError(.invalidInput, "merge: the issues belong to different projects")
            }
            let parent: Int64 = rows[0]["id"]
            let children: [Int64] = rows.dropFirst().map { $0["id"] }
            let list = children.map { _ in "?" }.joined(separator: ",")
            let childArgs = StatementArguments(children)
            try db.execute(sql: "UPDATE grouping_hash SET issue_id = ? WHERE issue_id IN (\(list))", arguments: [parent] + childArgs)
            try db.execute(sql: "UPDATE event SET issue_id = ? WHERE issue_id IN (\(list))", arguments: [parent] + childArgs)
            try db.execute(
                sql: """
                    INSERT INTO issue_user (issue_id, user_key, user_id, email, username, ip_address, times_seen, last_seen)
                    SELECT ?, user_key, user_id, email, username, ip_address, times_seen, last_seen
                    FROM issue_user WHERE issue_id IN (\(list)) ORDER BY user_key, issue_id
                    ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = times_seen + excluded.times_seen,
                        last_seen = max(coalesce(last_seen, excluded.last_seen), coalesce(excluded.last_seen, last_seen))
                    """,
                arguments: [parent] + childArgs)
            try db.execute(
                sql: """
                    INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen)
                    SELECT ?, key, value, times_seen, first_seen, last_seen FROM issue_tag WHERE issue_id IN (\(list)) AND true
                    ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen,
                        first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)
                    """,
                arguments: [parent] + childArgs)
            try db.execute(
                sql: """
                    INSERT INTO issue_hour (issue_id, hour, count) SELECT ?, hour, count FROM issue_hour WHERE issue_id IN (\(list)) AND true
                    ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count
                    """,
                arguments: [parent] + childArgs)
            try db.execute(
                sql: """
                    UPDATE issue SET
                        times_seen = times_seen + (SELECT sum(times_seen) FROM issue WHERE id IN (\(list))),
                        first_seen = min(first_seen, (SELECT min(first_seen) FROM issue WHERE id IN (\(list)))),
                        last_seen = max(last_seen, (SELECT max(last_seen) FROM issue WHERE id IN (\(list)))),
                        user_count = (SELECT count(*) FROM issue_user WHERE issue_id = ?)
                    WHERE id = ?
                    """,
                arguments: childArgs + childArgs + childArgs + [parent, parent])
            let shortIDs = try String.fetchAll(
                db,
                sql: """
                    SELECT upper(project.slug) || '-' || issue.short_id FROM issue JOIN project ON project.id = issue.project_id
                    WHERE issue.id IN (\(list)) ORDER BY issue.short_id
                    """,
                arguments: childArgs)
            try db.execute(sql: "DELETE FROM issue WHERE id IN (\(list))", arguments: childArgs)
            try AppDatabase.refreshProtectedEvents(parent, in: db)
            try LifecycleRows.addActivity(
                parent, kind: .merge, userID: actorID,
                data: ["children": .array(children.map { .string(String($0)) }), "shortIds": .array(shortIDs.map(JSONValue.string))],
                at: .now, in: db)
            return (parent, children)
        }
    }

    public func unmerge(issueID: Int64, hashes: [String]) async throws -> [Int64] {
        try await writer.write { db in
            // Every hash named is checked before anything is written (a refusal then takes no issue id either).
            let known = Set(try String.fetchAll(db, sql: "SELECT hash FROM grouping_hash WHERE issue_id = ?", arguments: [issueID]))
            if let unknown = hashes.first(where: { !known.contains($0) }) {
                throw DomainError(.notFound, "issue \(issueID) has no hash \(unknown)")
            }
            return try hashes.map { try Self.unmerge(issueID: issueID, hash: $0, in: db) }
        }
    }

    /// Splits one hash out, inside the caller's transaction.
    private static func unmerge(issueID: Int64, hash: String, in db: Database) throws -> Int64 {
        let hashes = try String.fetchAll(db, sql: "SELECT hash FROM grouping_hash WHERE issue_id = ?", arguments: [issueID])
        guard hashes.contains(hash) else { throw DomainError(.notFound, "issue \(issueID) has no hash \(hash)") }
        guard hashes.count > 1 else { throw DomainError(.invalidInput, "hash \(hash) is the issue's only hash; nothing to split") }
        guard let projectID = try Int64.fetchOne(db, sql: "SELECT project_id FROM issue WHERE id = ?", arguments: [issueID]) else {
            throw DomainError(.notFound, "no issue \(issueID)")
        }
        let moved = try Row.fetchAll(
            db, sql: "SELECT id AS row_id, \(AppDatabase.eventColumns) WHERE issue_id = ? AND primary_hash = ? ORDER BY timestamp",
            arguments: [issueID, hash]
        ).map { row in (rowID: row["row_id"] as Int64, event: try AppDatabase.eventInfo(row, in: db)) }
        guard !moved.isEmpty else {
            throw DomainError(.invalidInput, "no stored event of issue \(issueID) came by hash \(hash); split out the hash its events came by")
        }
        // The new issue takes its title from the newest moved event, else from the old issue.
        let template = moved.last.map { NormalizedEvent(stored: $0.event) }
        let shortID = try Int64.fetchOne(
            db, sql: "UPDATE project SET next_short_id = next_short_id + 1 WHERE id = ? RETURNING next_short_id - 1",
            arguments: [projectID]) ?? 0
        try db.execute(
            sql: """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, first_release, last_release, substatus_since)
                SELECT project_id, ?, coalesce(?, title), coalesce(?, culprit), coalesce(?, type), coalesce(?, metadata),
                    level, 'unresolved', 'new', coalesce(?, first_seen), coalesce(?, last_seen), 0, 0, ?, ?, ?
                FROM issue WHERE id = ?
                """,
            arguments: [
                shortID, template?.summary.title, template?.summary.culprit, template?.summary.type,
                template.map { String(decoding: JSONWriter.bytes($0.summary.metadata), as: UTF8.self) },
                moved.first?.event.timestamp.timeIntervalSince1970, moved.last?.event.timestamp.timeIntervalSince1970,
                moved.first.flatMap { NormalizedEvent(stored: $0.event).release }, template?.release, Date.now.timeIntervalSince1970, issueID,
            ])
        let newIssue = db.lastInsertedRowID
        try db.execute(
            sql: "INSERT INTO issue_search (rowid, title, culprit, message) SELECT ?, title, culprit, '' FROM issue WHERE id = ?",
            arguments: [newIssue, newIssue])
        try db.execute(sql: "UPDATE grouping_hash SET issue_id = ? WHERE project_id = ? AND hash = ?", arguments: [newIssue, projectID, hash])
        for (rowID, info) in moved {
            let event = NormalizedEvent(stored: info)
            try db.execute(sql: "UPDATE event SET issue_id = ? WHERE id = ?", arguments: [newIssue, rowID])
            try AppDatabase.count(event, into: newIssue, sign: 1, in: db)
            try AppDatabase.count(event, into: issueID, sign: -1, in: db)
        }
        // Users of the old issue: those still seen in its remaining events.
        let remaining = try Row.fetchAll(db, sql: "SELECT \(AppDatabase.eventColumns) WHERE issue_id = ?", arguments: [issueID])
        let users = Set(try remaining.compactMap { try NormalizedEvent(stored: AppDatabase.eventInfo($0, in: db)).userKey })
        let movedUsers = Set(moved.compactMap { NormalizedEvent(stored: $0.event).userKey })
        for user in movedUsers where !users.contains(user) {
            try db.execute(sql: "DELETE FROM issue_user WHERE issue_id = ? AND user_key = ?", arguments: [issueID, user])
        }
        for issue in [issueID, newIssue] {
            try db.execute(
                sql: "UPDATE issue SET user_count = (SELECT count(*) FROM issue_user WHERE issue_id = ?) WHERE id = ?",
                arguments: [issue, issue])
        }
        try AppDatabase.refreshProtectedEvents(issueID, in: db)
        try AppDatabase.refreshProtectedEvents(newIssue, in: db)
        // The old issue's dates from its remaining events (kept as they were when retention removed them all).
        try db.execute(
            sql: """
                UPDATE issue SET
                    first_seen = coalesce((SELECT min(timestamp) FROM event WHERE issue_id = ?1), first_seen),
                    last_seen = coalesce((SELECT max(timestamp) FROM event WHERE issue_id = ?1), last_seen)
                WHERE id = ?1
                """,
            arguments: [issueID])
        try db.execute(sql: "DELETE FROM issue_tag WHERE issue_id = ? AND times_seen <= 0", arguments: [issueID])
        try db.execute(sql: "DELETE FROM issue_hour WHERE issue_id = ? AND count <= 0", arguments: [issueID])
        return newIssue
    }

    public func activities(issueID: Int64) async throws -> [ActivityInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(AppDatabase.activityColumns) WHERE a.issue_id = ? ORDER BY a.id
                    """,
                arguments: [issueID]
            ).compactMap(AppDatabase.activity)
        }
    }

    public func addComment(issueID: Int64, userID: Int64, text: String, now: Date) async throws -> ActivityInfo {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 10_000 else {
            throw DomainError(.invalidInput, "text: a comment needs 1 to 10000 characters")
        }
        return try await writer.write { db in
            try LifecycleRows.addActivity(issueID, kind: .note, userID: userID, data: ["text": .string(trimmed)], at: now, in: db)
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT \(AppDatabase.activityColumns) WHERE a.id = ?
                    """,
                arguments: [db.lastInsertedRowID])
            guard let activity = row.flatMap(AppDatabase.activity) else {
                throw DomainError(.unavailable, "comment was not stored")
            }
            return activity
        }
    }

    public func regressedIssueIDs(projectID: Int64, version: String, limit: Int) async throws -> [Int64] {
        try await writer.read { db in
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT issue_activity.issue_id FROM issue_activity JOIN issue ON issue.id = issue_activity.issue_id
                    WHERE issue.project_id = ? AND issue_activity.type = 'set_regression'
                        AND json_extract(issue_activity.data, '$.version') = ?
                    GROUP BY issue_activity.issue_id ORDER BY max(issue_activity.id) DESC LIMIT ?
                    """,
                arguments: [projectID, version, limit])
        }
    }

    public func similarIssueIDs(of issue: IssueInfo, limit: Int) async throws -> [Int64] {
        try await writer.read { db in
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT id FROM issue WHERE project_id = ? AND id <> ? AND (title = ? OR (type = ? AND culprit = ? AND culprit <> ''))
                    ORDER BY last_seen DESC LIMIT ?
                    """,
                arguments: [issue.project.id, issue.id, issue.title, issue.type, issue.culprit, limit])
        }
    }
}
