import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

extension AppDatabase: APIStore {
    public func user(tokenHash: String) async throws -> APIUser? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT user.id, user.email, user.is_admin FROM user JOIN api_token ON api_token.user_id = user.id
                    WHERE api_token.token_hash = ? AND user.is_active = 1
                    """,
                arguments: [tokenHash]
            ).map { APIUser(id: $0[0], email: $0[1], isAdmin: $0[2]) }
        }
    }

    public func memberships(userID: Int64) async throws -> [Int64: ProjectRole] {
        try await writer.read { db in
            var roles: [Int64: ProjectRole] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT project_id, role FROM project_member WHERE user_id = ?", arguments: [userID]) {
                roles[row[0]] = ProjectRole(rawValue: row[1]) ?? .member
            }
            return roles
        }
    }

    public func keys(projectID: Int64) async throws -> [KeyInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, public_key, label, is_active, created_at, rate_limit_per_minute FROM project_key
                    WHERE project_id = ? ORDER BY id
                    """,
                arguments: [projectID]
            ).map { KeyInfo(id: $0[0], publicKey: $0[1], label: $0[2], isActive: $0[3], createdAt: $0[4], rateLimitPerMinute: $0[5]) }
        }
    }

    static func projectInfo(_ row: Row) -> ProjectInfo {
        ProjectInfo(id: row[0], slug: row[1], name: row[2], createdAt: row[3])
    }

    static let issueColumns = """
        issue.id, issue.short_id, issue.title, issue.culprit, issue.type, issue.metadata, issue.level, issue.status,
        issue.substatus, issue.first_seen, issue.last_seen, issue.times_seen, issue.user_count, issue.first_release,
        issue.last_release, project.id, project.slug, project.name, project.created_at,
        assignee.id, assignee.email, assignee.is_admin, issue.resolution, issue.resolution_release, issue.ignore_state
        FROM issue JOIN project ON project.id = issue.project_id LEFT JOIN user AS assignee ON assignee.id = issue.assignee_id
        """

    static func issueInfo(_ row: Row) -> IssueInfo {
        let metadataText: String = row[5]
        let assigneeID: Int64? = row[19]
        return IssueInfo(
            id: row[0],
            project: ProjectInfo(id: row[15], slug: row[16], name: row[17], createdAt: row[18]),
            shortID: row[1], title: row[2], culprit: row[3], type: row[4],
            metadata: (try? JSONParser.parse(metadataText)) ?? .object([:]),
            level: row[6], status: row[7], substatus: row[8],
            firstSeen: Date(timeIntervalSince1970: row[9]), lastSeen: Date(timeIntervalSince1970: row[10]),
            timesSeen: row[11], userCount: row[12], firstRelease: row[13], lastRelease: row[14],
            assignee: assigneeID.map { APIUser(id: $0, email: row[20], isAdmin: row[21]) },
            resolution: (row[7] as String) == "resolved" ? LifecycleStore.resolution(row[22], row[23]) : nil,
            ignore: (row[24] as String?).flatMap(LifecycleStore.decodeIgnore))
    }

    public func issues(_ request: IssueListRequest) async throws -> [IssueInfo] {
        guard !request.projectIDs.isEmpty else { return [] }
        var conditions = ["issue.project_id IN (\(request.projectIDs.map { _ in "?" }.joined(separator: ",")))"]
        var arguments = StatementArguments(request.projectIDs)
        let query = request.query
        func anyOf(_ column: String, _ values: [String]) {
            guard !values.isEmpty else { return }
            conditions.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += StatementArguments(values)
        }
        anyOf("issue.status", query.statuses)
        anyOf("issue.level", query.levels)
        anyOf("issue.first_release", query.firstReleases)
        for (key, values) in [("release", query.releases), ("environment", query.environments)] where !values.isEmpty {
            conditions.append(
                "EXISTS (SELECT 1 FROM issue_tag WHERE issue_tag.issue_id = issue.id AND issue_tag.key = ? AND issue_tag.value IN (\(values.map { _ in "?" }.joined(separator: ","))))")
            arguments += [key]
            arguments += StatementArguments(values)
        }
        for tag in query.tags {
            conditions.append("EXISTS (SELECT 1 FROM issue_tag WHERE issue_tag.issue_id = issue.id AND issue_tag.key = ? AND issue_tag.value = ?)")
            arguments += [tag.key, tag.value]
        }
        switch query.assigned {
        case .me?:
            conditions.append("issue.assignee_id = ?")
            arguments += [request.userID]
        case .nobody?:
            conditions.append("issue.assignee_id IS NULL")
        case .email(let email)?:
            conditions.append("assignee.email = ?")
            arguments += [email]
        case nil:
            break
        }
        for (column, date, comparison) in [
            ("issue.first_seen", query.firstSeenAfter, ">="), ("issue.first_seen", query.firstSeenBefore, "<"),
            ("issue.last_seen", query.lastSeenAfter, ">="), ("issue.last_seen", query.lastSeenBefore, "<"),
        ] {
            if let date {
                conditions.append("\(column) \(comparison) ?")
                arguments += [date.timeIntervalSince1970]
            }
        }
        if !query.text.isEmpty {
            // Each word or phrase is an FTS5 string (quotes doubled), all must match; prefix match on the last.
            let match = query.text.map(Self.ftsString).joined(separator: " ") + "*"
            conditions.append("issue.id IN (SELECT rowid FROM issue_search WHERE issue_search MATCH ?)")
            arguments += [match]
        }
        let order: String
        switch request.sort {
        case .date: order = "issue.last_seen DESC"
        case .new: order = "issue.first_seen DESC"
        case .freq: order = "issue.times_seen DESC"
        case .user: order = "issue.user_count DESC"
        }
        let sql = """
            SELECT \(Self.issueColumns) WHERE \(conditions.joined(separator: " AND "))
            ORDER BY \(order), issue.id DESC LIMIT ? OFFSET ?
            """
        arguments += [request.limit + 1, request.offset]
        let finalArguments = arguments
        do {
            return try await writer.read { db in try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(Self.issueInfo) }
        } catch let error as DatabaseError where error.message?.contains("fts5") == true && !query.text.isEmpty {
            // The text is quoted above, so this should not happen; if FTS5 still refuses it, the search is at fault.
            throw DomainError(.invalidInput, "query: the search text \"\(query.text.joined(separator: " "))\" cannot be searched (\(error.message ?? "fts5"))")
        }
    }

    /// `text` as one FTS5 string: in double quotes, each quote doubled. By Unicode scalar, since a quote followed by
    /// a combining mark is a single `Character` that Character-based replacing would miss.
    static func ftsString(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append("\"")
        for scalar in text.unicodeScalars {
            if scalar == "\"" { scalars.append("\"") }
            scalars.append(scalar)
        }
        scalars.append("\"")
        return String(scalars)
    }

    public func issue(id: Int64) async throws -> IssueInfo? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.issueColumns) WHERE issue.id = ?", arguments: [id]).map(Self.issueInfo)
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
            while let row = try rows.next() { counts[row[0], default: [:]][row[1]] = row[2] }
            return counts
        }
    }

    public func hashes(issueID: Int64) async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT hash FROM grouping_hash WHERE issue_id = ? ORDER BY hash", arguments: [issueID])
        }
    }

    static let eventColumns =
        "event_id, project_id, issue_id, timestamp, received, payload, primary_hash, payload_raw, sent_at, client_ip FROM event"

    /// An event from a row of ``eventColumns`` starting at column `offset`.
    static func eventInfo(_ row: Row, offset o: Int = 0, in db: Database) throws -> EventInfo {
        let blob: Data = row[o + 5]
        let eventID: String = row[o]
        let received = Date(timeIntervalSince1970: row[o + 4])
        let payload = try EventPayloadCodec.decode(
            Array(blob), raw: row[o + 7], eventID: eventID, received: received,
            sentAt: (row[o + 8] as Double?).map(Date.init(timeIntervalSince1970:)), clientIP: row[o + 9]
        ) { try dictionaryPayload($0, in: db) }
        return EventInfo(
            eventID: eventID, projectID: row[o + 1], issueID: row[o + 2], timestamp: Date(timeIntervalSince1970: row[o + 3]),
            received: received, payload: payload, hash: row[o + 6])
    }

    /// The payload a ``PayloadDictionary`` was made of; throws when its row is missing or damaged.
    static func dictionaryPayload(_ id: Int64, in db: Database) throws -> [UInt8] {
        guard let data = try Data.fetchOne(db, sql: "SELECT data FROM payload_dictionary WHERE id = ?", arguments: [id]) else {
            throw DomainError(.unavailable, "stored event payload is damaged (its dictionary \(id) is missing)")
        }
        return try Array(EventPayloadCodec.payloadBytes(Array(data)) { _ in
            throw DomainError(.unavailable, "stored event payload is damaged (dictionary \(id) refers to another)")
        })
    }

    public func events(issueID: Int64, limit: Int, offset: Int) async throws -> [EventInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.eventColumns) WHERE issue_id = ? ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",
                arguments: [issueID, limit + 1, offset]
            ).map { try Self.eventInfo($0, in: db) }
        }
    }

    public func latestEvent(issueID: Int64) async throws -> EventInfo? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT \(Self.eventColumns) WHERE issue_id = ? ORDER BY timestamp DESC, id DESC LIMIT 1",
                arguments: [issueID]
            ).map { try Self.eventInfo($0, in: db) }
        }
    }

    public func neighbours(of event: EventInfo) async throws -> (previous: String?, next: String?) {
        guard let issueID = event.issueID else { return (nil, nil) }
        let timestamp = event.timestamp.timeIntervalSince1970
        return try await writer.read { db in
            let previous = try String.fetchOne(
                db,
                sql: "SELECT event_id FROM event WHERE issue_id = ? AND (timestamp < ? OR (timestamp = ? AND event_id < ?)) ORDER BY timestamp DESC, event_id DESC LIMIT 1",
                arguments: [issueID, timestamp, timestamp, event.eventID])
            let next = try String.fetchOne(
                db,
                sql: "SELECT event_id FROM event WHERE issue_id = ? AND (timestamp > ? OR (timestamp = ? AND event_id > ?)) ORDER BY timestamp, event_id LIMIT 1",
                arguments: [issueID, timestamp, timestamp, event.eventID])
            return (previous, next)
        }
    }

    public func event(projectID: Int64, eventID: String) async throws -> EventInfo? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.eventColumns) WHERE project_id = ? AND event_id = ?", arguments: [projectID, eventID])
                .map { try Self.eventInfo($0, in: db) }
        }
    }

    public func tags(issueID: Int64, top: Int) async throws -> [TagSummary] {
        try await writer.read { db in
            let keys = try Row.fetchAll(
                db,
                sql: "SELECT key, sum(times_seen), count(*) FROM issue_tag WHERE issue_id = ? GROUP BY key ORDER BY key",
                arguments: [issueID])
            return try keys.map { row in
                let key: String = row[0]
                let values = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT value, times_seen, first_seen, last_seen FROM issue_tag WHERE issue_id = ? AND key = ?
                        ORDER BY times_seen DESC, value LIMIT ?
                        """,
                    arguments: [issueID, key, top]
                ).map {
                    TagSummary.Value(
                        value: $0[0], count: $0[1], firstSeen: Date(timeIntervalSince1970: $0[2]), lastSeen: Date(timeIntervalSince1970: $0[3]))
                }
                return TagSummary(key: key, totalValues: row[1], uniqueValues: row[2], topValues: values)
            }
        }
    }
}

extension AppDatabase {
    /// Stored events by id, in any project, with their normalized payloads (for `spyglass event show`).
    public func events(ids: [String]) throws -> [EventInfo] {
        try writer.read { db in
            try ids.compactMap { id in
                try Row.fetchOne(db, sql: "SELECT \(Self.eventColumns) WHERE event_id = ? ORDER BY id LIMIT 1", arguments: [id])
                    .map { try Self.eventInfo($0, in: db) }
            }
        }
    }
}
