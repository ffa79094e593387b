import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// The release and lifecycle bookkeeping of one event, inside the writer's transaction.
enum LifecycleRows {
    /// Creates or updates a release for an event at `timestamp` (received at `received`); a release seen for the
    /// first time turns "resolved in next release" resolutions it is newer than into "resolved in this release".
    /// Returns its id. (The writer goes through ``WriterBatch/recordRelease(_:projectID:in:)``: once per release
    /// and batch.)
    static func recordRelease(
        _ version: String, timestamp: Double, received: Double, projectID: Int64, in db: Database
    ) throws -> Int64 {
        if let existing = try WriterStatement("SELECT id FROM release WHERE project_id = ? AND version = ?", in: db)
            .fetchInt64(projectID, version)
        {
            try widenRelease(existing, first: timestamp, last: timestamp, in: db)
            return existing
        }
        try WriterStatement("INSERT INTO release (project_id, version, created_at, first_event, last_event) VALUES (?, ?, ?, ?, ?)", in: db)
            .execute(projectID, version, received, timestamp, timestamp)
        let releaseID = db.lastInsertedRowID
        try releaseCreated(version, projectID: projectID, in: db)
        return releaseID
    }

    /// Widens a release's first/last event times to include `first...last`.
    static func widenRelease(_ releaseID: Int64, first: Double, last: Double, in db: Database) throws {
        try WriterStatement(
            "UPDATE release SET first_event = min(coalesce(first_event, ?), ?), last_event = max(coalesce(last_event, ?), ?) WHERE id = ?",
            in: db
        ).execute(first, first, last, last, releaseID)
    }

    /// Creates the release's row for an environment, or widens its first/last seen times to include `first...last`.
    static func recordEnvironment(_ environment: String, releaseID: Int64, first: Double, last: Double, in db: Database) throws {
        try WriterStatement(
            """
            INSERT INTO release_environment (release_id, environment, first_seen, last_seen) VALUES (?, ?, ?, ?)
            ON CONFLICT (release_id, environment) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                last_seen = max(last_seen, excluded.last_seen)
            """, in: db
        ).execute(releaseID, environment, first, last)
    }

    /// A new release exists: "in next release" resolutions older than it now mean "in this release".
    static func releaseCreated(_ version: String, projectID: Int64, in db: Database) throws {
        let pending = try Row.fetchAll(
            db, sql: "SELECT id, resolution_release FROM issue WHERE project_id = ? AND status = 'resolved' AND resolution = 'in_next_release'",
            arguments: [projectID])
        guard !pending.isEmpty else { return }
        let currents = pending.compactMap { $0["resolution_release"] as String? }
        let book = try ReleaseBook(projectID: projectID, versions: currents + [version], in: db)
        guard let created = book.release(version) else { return }
        for row in pending {
            let current: String? = row["resolution_release"]
            if let current, let currentRef = book.release(current), current == version || !book.ordering.isNewer(created, than: currentRef) {
                continue
            }
            try db.execute(
                sql: "UPDATE issue SET resolution = 'in_release', resolution_release = ? WHERE id = ?", arguments: [version, row["id"] as Int64])
        }
    }

    /// A new issue: counts it for its release and logs that it was first seen.
    static func issueCreated(_ issueID: Int64, releaseID: Int64?, event: NormalizedEvent, in db: Database) throws {
        if let releaseID {
            try db.cachedStatement(sql: "UPDATE release SET new_issues = new_issues + 1 WHERE id = ?").execute(arguments: [releaseID])
            if let environment = event.environment {
                try db.cachedStatement(sql: "UPDATE release_environment SET new_issues = new_issues + 1 WHERE release_id = ? AND environment = ?")
                    .execute(arguments: [releaseID, environment])
            }
        }
        try addActivity(issueID, kind: .firstSeen, data: ["release": event.release.map(JSONValue.string) ?? .null], at: event.received, in: db)
    }

    /// An event joined an existing issue (counters already include it): regression, or the end of ignoring.
    /// Returns what changed, for alert rules.
    @discardableResult
    static func eventJoined(
        _ issueID: Int64, eventRowID: Int64, event: NormalizedEvent, projectID: Int64, in db: Database
    ) throws -> AlertTrigger? {
        // Most events join an unresolved issue: its status tells, before the row the transitions need is read.
        let text = try WriterStatement("SELECT status FROM issue WHERE id = ?", in: db).fetchOne(issueID) { $0.string(0) } ?? nil
        guard let status = text.flatMap(IssueStatus.init(rawValue:)), status != .unresolved else { return nil }
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: "SELECT status, resolution, resolution_release, ignore_state, times_seen, user_count FROM issue WHERE id = ?"),
                arguments: [issueID])
        else { return nil }
        let now = event.received
        switch status {
        case .resolved:
            let resolution = Resolution(storedType: row["resolution"], release: row["resolution_release"])
            if resolution != .now {
                var versions = [event.release].compactMap { $0 }
                switch resolution {
                case .inRelease(let version), .inNextRelease(current: let version?): versions.append(version)
                default: break
                }
                let book = try ReleaseBook(projectID: projectID, versions: versions, in: db)
                let eventRelease = event.release.flatMap { book.release($0) }
                if Lifecycle.isCovered(resolution, eventRelease: eventRelease, release: book.release, ordering: book.ordering) { return nil }
            }
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'unresolved', substatus = 'regressed', substatus_since = ?, status_changed_at = ?,
                        resolution = NULL, resolution_release = NULL WHERE id = ?
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, issueID])
            try db.execute(sql: "UPDATE event SET pinned = 1 WHERE id = ?", arguments: [eventRowID])
            var data: JSONObject = ["version": event.release.map(JSONValue.string) ?? .null]
            if case .inRelease(let fixed) = resolution { data["resolved_in_version"] = .string(fixed) }
            if case .inNextRelease(let current?) = resolution { data["resolved_in_version"] = .string(current) }
            try addActivity(issueID, kind: .setRegression, data: .object(data), at: now, in: db)
            return .regression
        case .ignored:
            guard let text: String = row["ignore_state"], let ignore = IgnoreState(storedJSON: text) else { return nil }
            let hour = Int64((event.timestamp.timeIntervalSince1970 / 3600).rounded(.down))  // issue_hour's clock
            let thisHour = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT count FROM issue_hour WHERE issue_id = ? AND hour = ?"), arguments: [issueID, hour]) ?? 0
            guard let escalating = Lifecycle.unignores(ignore, timesSeen: row["times_seen"], userCount: row["user_count"], eventsThisHour: thisHour, now: now) else {
                return nil
            }
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'unresolved', substatus = 'escalating', substatus_since = ?, status_changed_at = ?,
                        ignore_state = NULL WHERE id = ?
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, issueID])
            try db.execute(sql: "UPDATE event SET pinned = 1 WHERE id = ?", arguments: [eventRowID])
            try addActivity(
                issueID, kind: escalating ? .setEscalating : .setUnresolved,
                data: ["reason": escalating ? "escalating" : "ignore condition met"], at: now, in: db)
            return .escalating
        case .unresolved:
            return nil
        }
    }

    static func addActivity(_ issueID: Int64, kind: ActivityKind, userID: Int64? = nil, data: JSONValue, at date: Date, in db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO issue_activity (issue_id, type, user_id, data, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [issueID, kind.rawValue, userID, JSONWriter.string(data), date.timeIntervalSince1970])
    }
}

extension ReleaseBook {
    /// Loads the project's newest releases (for the ordering and `latest`) and the named ones.
    init(projectID: Int64, versions: [String] = [], in db: Database) throws {
        let recent = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT version, created_at FROM release WHERE project_id = ? ORDER BY created_at DESC, id DESC LIMIT 10"),
            arguments: [projectID]
        ).map { ReleaseRef(version: $0["version"], createdAt: $0["created_at"]) }
        let book = ReleaseBook(recentNewestFirst: recent)
        let lookup = try db.cachedStatement(sql: "SELECT version, created_at FROM release WHERE project_id = ? AND version = ?")
        var named: [String: ReleaseRef] = [:]
        for version in versions where book.lacks(version) && named[version] == nil {
            if let row = try Row.fetchOne(lookup, arguments: [projectID, version]) {
                named[version] = ReleaseRef(version: row["version"], createdAt: row["created_at"])
            }
        }
        self = named.isEmpty ? book : ReleaseBook(recentNewestFirst: recent, named: Array(named.values))
    }
}
