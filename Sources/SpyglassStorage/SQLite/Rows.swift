import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit
import SpyglassProtocol

// Reading rows into the ports' values, and writing helpers several adapters share.

extension AppDatabase {
    static func projectInfo(_ row: Row) -> ProjectInfo {
        ProjectInfo(id: row["id"], slug: row["slug"], name: row["name"], createdAt: row["created_at"])
    }

    static let issueColumns = StoredColumns.issue

    /// An issue from a row of ``issueColumns``.
    static func issueInfo(_ row: Row) -> IssueInfo {
        let metadataText: String = row["metadata"]
        let assigneeID: Int64? = row["assignee_id"]
        // The status has a CHECK constraint; substatus and level are read leniently (an unknown one reads as none / error).
        let status = IssueStatus(rawValue: row["status"]) ?? .unresolved
        return IssueInfo(
            id: row["id"],
            project: ProjectInfo(
                id: row["project_id"], slug: row["project_slug"], name: row["project_name"],
                createdAt: row["project_created_at"]),
            shortID: row["short_id"], title: row["title"], culprit: row["culprit"], type: row["type"],
            metadata: (try? JSONParser.parse(metadataText)) ?? .object([:]),
            level: Level(stored: row["level"]), status: status,
            substatus: (row["substatus"] as String?).flatMap(IssueSubstatus.init(rawValue:)),
            firstSeen: Date(timeIntervalSince1970: row["first_seen"]), lastSeen: Date(timeIntervalSince1970: row["last_seen"]),
            timesSeen: row["times_seen"], userCount: row["user_count"], firstRelease: row["first_release"],
            lastRelease: row["last_release"],
            assignee: assigneeID.map { APIUser(id: $0, email: row["assignee_email"], isAdmin: row["assignee_is_admin"]) },
            resolution: status == .resolved ? Resolution(storedType: row["resolution"], release: row["resolution_release"]) : nil,
            ignore: (row["ignore_state"] as String?).flatMap(IgnoreState.init(storedJSON:)))
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

    static let eventColumns = StoredColumns.event

    /// An event from a row of ``eventColumns``.
    static func eventInfo(_ row: Row, in db: Database) throws -> EventInfo {
        let blob: Data = row["payload"]
        let eventID: String = row["event_id"]
        let received = Date(timeIntervalSince1970: row["received"])
        let payload = try EventPayloadCodec.decode(
            Array(blob), raw: row["payload_raw"], eventID: eventID, received: received,
            sentAt: (row["sent_at"] as Double?).map(Date.init(timeIntervalSince1970:)), clientIP: row["client_ip"]
        ) { try dictionaryPayload($0, in: db) }
        return EventInfo(
            eventID: eventID, projectID: row["project_id"], issueID: row["issue_id"],
            timestamp: Date(timeIntervalSince1970: row["timestamp"]), received: received, payload: payload,
            hash: row["primary_hash"])
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
}

extension AppDatabase {
    static let activityColumns = StoredColumns.activity

    /// An activity entry from a row of ``activityColumns``; nil for a type this version does not know.
    static func activity(_ row: Row) -> ActivityInfo? {
        guard let kind = ActivityKind(rawValue: row["type"]) else { return nil }
        let userID: Int64? = row["user_id"]
        return ActivityInfo(
            id: row["id"], kind: kind, user: userID.map { APIUser(id: $0, email: row["user_email"], isAdmin: row["user_is_admin"]) },
            data: (try? JSONParser.parse(row["data"] as String)) ?? .object([:]),
            date: Date(timeIntervalSince1970: row["created_at"]))
    }

    static func releaseInfo(id: Int64, in db: Database) throws -> ReleaseInfo? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.version, r.created_at, r.date_released, r.first_event, r.last_event, r.new_issues, r.ref, r.url,
                        p.id AS project_id, p.slug AS project_slug, p.name AS project_name,
                        p.created_at AS project_created_at
                    FROM release r JOIN project p ON p.id = r.project_id WHERE r.id = ?
                    """,
                arguments: [id])
        else { return nil }
        let version: String = row["version"]
        let projectID: Int64 = row["project_id"]
        func date(_ value: Double?) -> Date? { value.map(Date.init(timeIntervalSince1970:)) }
        let environments = try String.fetchAll(
            db, sql: "SELECT environment FROM release_environment WHERE release_id = ? ORDER BY environment", arguments: [id])
        let deploys = try Row.fetchAll(
            db, sql: "SELECT id, environment, name, url, date_started, date_finished FROM deploy WHERE release_id = ? ORDER BY date_finished DESC, id DESC",
            arguments: [id]
        ).map { deploy in
            ReleaseInfo.Deploy(
                id: deploy["id"], environment: deploy["environment"], name: deploy["name"], url: deploy["url"],
                dateStarted: date(deploy["date_started"]), dateFinished: Date(timeIntervalSince1970: deploy["date_finished"]))
        }
        let health = try Row.fetchAll(
            db,
            sql: "SELECT environment, started, crashed, errored, abnormal FROM release_sessions WHERE project_id = ? AND release = ? ORDER BY environment",
            arguments: [projectID, version]
        ).map {
            ReleaseInfo.Health(
                environment: $0["environment"], started: $0["started"], crashed: $0["crashed"], errored: $0["errored"],
                abnormal: $0["abnormal"])
        }
        let commits = try Row.fetchOne(
            db,
            sql: "SELECT count(*) AS n, (SELECT sha FROM release_commit WHERE release_id = ?1 AND position = 0) AS last FROM release_commit WHERE release_id = ?1",
            arguments: [id])
        return ReleaseInfo(
            project: ProjectInfo(
                id: projectID, slug: row["project_slug"], name: row["project_name"], createdAt: row["project_created_at"]),
            version: version, createdAt: Date(timeIntervalSince1970: row["created_at"]), dateReleased: date(row["date_released"]),
            firstEvent: date(row["first_event"]), lastEvent: date(row["last_event"]), newIssues: row["new_issues"],
            ref: row["ref"], url: row["url"], environments: environments, deploys: deploys, health: health,
            commitCount: commits?["n"] ?? 0, lastCommit: commits?["last"])
    }

    static func apply(_ change: ReleaseChange, version: String, projectIDs: [Int64], in db: Database) throws {
        let list = projectIDs.map { _ in "?" }.joined(separator: ",")
        try db.execute(
            sql: """
                UPDATE release SET ref = coalesce(?, ref), url = coalesce(?, url), date_released = coalesce(?, date_released)
                WHERE version = ? AND project_id IN (\(list))
                """,
            arguments: [change.ref, change.url, change.dateReleased?.timeIntervalSince1970, version] + StatementArguments(projectIDs))
    }
}

extension AppDatabase {
    static func rule(_ row: Row) -> AlertRule? {
        guard var rule = try? AlertRule(json: JSONParser.parse(row["spec"] as String), id: row["id"], secret: { "" }) else {
            return nil
        }
        rule.created = Date(timeIntervalSince1970: row["created_at"])
        return rule
    }
}
