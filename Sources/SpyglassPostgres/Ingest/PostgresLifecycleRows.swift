import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// The release and lifecycle bookkeeping of one event, inside the writer's transaction (SQLite's `LifecycleRows`).
enum PostgresLifecycleRows {
    /// Creates a release for events at `first...last` (the first of them received at `received`), or widens its
    /// first/last event times to include them; a release seen for the first time turns "resolved in next release"
    /// resolutions it is newer than into "resolved in this release". Returns its id.
    static func recordRelease(
        _ version: String, first: Double, last: Double, received: Double, projectID: Int64, in sql: IngestSQL
    ) throws -> Int64 {
        if let existing = try widenStoredRelease(version, first: first, last: last, environments: [], projectID: projectID, in: sql) {
            return existing
        }
        let inserted = try sql.row(
            """
            INSERT INTO release (project_id, version, created_at, first_event, last_event)
            VALUES (\(projectID), \(version), \(received), \(first), \(last)) RETURNING id
            """)
        guard let releaseID = try inserted?.decode(Int64.self) else {
            throw DomainError(.unavailable, "release \(version) was not stored")
        }
        try releaseCreated(version, projectID: projectID, in: sql)
        return releaseID
    }

    /// Widens an existing release's first/last event times to include `first...last` and creates or widens its
    /// environments' rows, in one statement; nil when the project has no such release yet (nothing is written).
    static func widenStoredRelease(
        _ version: String, first: Double, last: Double, environments: [(name: String, seen: ClosedRange<Double>)],
        projectID: Int64, in sql: IngestSQL
    ) throws -> Int64? {
        try sql.prepared(
            """
            WITH found AS (
                UPDATE release SET first_event = LEAST(coalesce(first_event, \(first)::float8), \(first)::float8),
                    last_event = GREATEST(coalesce(last_event, \(last)::float8), \(last)::float8)
                WHERE project_id = \(projectID)::bigint AND version = \(version)::text
                RETURNING id
            ), environments AS (
                INSERT INTO release_environment (release_id, environment, first_seen, last_seen)
                SELECT found.id, v.environment, v.first_seen, v.last_seen
                FROM found, unnest(\(environments.map(\.name))::text[], \(environments.map(\.seen.lowerBound))::float8[],
                    \(environments.map(\.seen.upperBound))::float8[]) AS v(environment, first_seen, last_seen)
                ON CONFLICT (release_id, environment) DO UPDATE SET
                    first_seen = LEAST(release_environment.first_seen, excluded.first_seen),
                    last_seen = GREATEST(release_environment.last_seen, excluded.last_seen)
                RETURNING 1
            )
            SELECT id FROM found
            """
        ).first?.decode(0, as: Int64.self)
    }

    /// Widens a release's first/last event times to include `first...last`.
    static func widenRelease(_ releaseID: Int64, first: Double, last: Double, in sql: IngestSQL) throws {
        try sql.run(
            """
            UPDATE release SET first_event = LEAST(coalesce(first_event, \(first)), \(first)),
                last_event = GREATEST(coalesce(last_event, \(last)), \(last))
            WHERE id = \(releaseID)
            """)
    }

    /// Creates the release's row for an environment, or widens its first/last seen times to include `first...last`.
    static func recordEnvironment(
        _ environment: String, releaseID: Int64, first: Double, last: Double, in sql: IngestSQL
    ) throws {
        try sql.run(
            """
            INSERT INTO release_environment (release_id, environment, first_seen, last_seen)
            VALUES (\(releaseID), \(environment), \(first), \(last))
            ON CONFLICT (release_id, environment) DO UPDATE SET
                first_seen = LEAST(release_environment.first_seen, excluded.first_seen),
                last_seen = GREATEST(release_environment.last_seen, excluded.last_seen)
            """)
    }

    /// A new release exists: "in next release" resolutions older than it now mean "in this release".
    static func releaseCreated(_ version: String, projectID: Int64, in sql: IngestSQL) throws {
        let pending = try sql.rows(
            """
            SELECT id, resolution_release FROM issue
            WHERE project_id = \(projectID) AND status = 'resolved' AND resolution = 'in_next_release'
            ORDER BY id
            """
        ).map { try $0.decode((Int64, String?).self) }
        guard !pending.isEmpty else { return }
        let currents = pending.compactMap(\.1)
        let book = try releaseBook(projectID: projectID, versions: currents + [version], in: sql)
        guard let created = book.release(version) else { return }
        for (id, current) in pending {
            if let current, let currentRef = book.release(current), current == version || !book.ordering.isNewer(created, than: currentRef) {
                continue
            }
            try sql.run("UPDATE issue SET resolution = 'in_release', resolution_release = \(version) WHERE id = \(id)")
        }
    }

    /// A new issue: counts it for its release and logs that it was first seen.
    static func issueCreated(_ issueID: Int64, releaseID: Int64?, event: NormalizedEvent, in sql: IngestSQL) throws {
        if let releaseID {
            try sql.run("UPDATE release SET new_issues = new_issues + 1 WHERE id = \(releaseID)")
            if let environment = event.environment {
                try sql.run(
                    """
                    UPDATE release_environment SET new_issues = new_issues + 1
                    WHERE release_id = \(releaseID) AND environment = \(environment)
                    """)
            }
        }
        try addActivity(
            issueID, kind: .firstSeen, data: ["release": event.release.map(JSONValue.string) ?? .null], at: event.received, in: sql)
    }

    /// The issue as the event left it: what the lifecycle decisions read.
    struct JoinedIssue {
        var status: IssueStatus?
        var resolution: String?
        var resolutionRelease: String?
        var ignoreState: String?
        var timesSeen: Int
        var userCount: Int
    }

    /// An event joined an existing issue (counters already include it): regression, or the end of ignoring.
    /// Returns what changed, for alert rules.
    static func eventJoined(
        _ issueID: Int64, issue: JoinedIssue, eventRowID: Int64, event: NormalizedEvent, projectID: Int64,
        batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> AlertTrigger? {
        guard let status = issue.status, status != .unresolved else { return nil }
        let now = event.received
        switch status {
        case .resolved:
            let resolution = Resolution(storedType: issue.resolution, release: issue.resolutionRelease)
            if resolution != .now {
                var versions = [event.release].compactMap { $0 }
                switch resolution {
                case .inRelease(let version), .inNextRelease(current: let version?): versions.append(version)
                default: break
                }
                let book = try releaseBook(projectID: projectID, versions: versions, in: sql)
                let eventRelease = event.release.flatMap { book.release($0) }
                if Lifecycle.isCovered(resolution, eventRelease: eventRelease, release: book.release, ordering: book.ordering) {
                    return nil
                }
            }
            try sql.run(
                """
                UPDATE issue SET status = 'unresolved', substatus = 'regressed', substatus_since = \(now.timeIntervalSince1970),
                    status_changed_at = \(now.timeIntervalSince1970), resolution = NULL, resolution_release = NULL
                WHERE id = \(issueID)
                """)
            try sql.run("UPDATE event SET pinned = 1 WHERE id = \(eventRowID)")
            var data: JSONObject = ["version": event.release.map(JSONValue.string) ?? .null]
            if case .inRelease(let fixed) = resolution { data["resolved_in_version"] = .string(fixed) }
            if case .inNextRelease(let current?) = resolution { data["resolved_in_version"] = .string(current) }
            try addActivity(issueID, kind: .setRegression, data: .object(data), at: now, in: sql)
            return .regression
        case .ignored:
            guard let text = issue.ignoreState, let ignore = IgnoreState(storedJSON: text) else { return nil }
            let hour = Int64((event.timestamp.timeIntervalSince1970 / 3600).rounded(.down))  // issue_hour's clock
            try batch.flushHours(sql)
            let thisHour =
                try sql.row("SELECT count FROM issue_hour WHERE issue_id = \(issueID) AND hour = \(hour)")?
                .decode(Int64.self) ?? 0
            guard
                let escalating = Lifecycle.unignores(
                    ignore, timesSeen: issue.timesSeen, userCount: issue.userCount, eventsThisHour: Int(thisHour), now: now)
            else { return nil }
            try sql.run(
                """
                UPDATE issue SET status = 'unresolved', substatus = 'escalating', substatus_since = \(now.timeIntervalSince1970),
                    status_changed_at = \(now.timeIntervalSince1970), ignore_state = NULL
                WHERE id = \(issueID)
                """)
            try sql.run("UPDATE event SET pinned = 1 WHERE id = \(eventRowID)")
            try addActivity(
                issueID, kind: escalating ? .setEscalating : .setUnresolved,
                data: ["reason": escalating ? "escalating" : "ignore condition met"], at: now, in: sql)
            return .escalating
        case .unresolved:
            return nil
        }
    }

    static func addActivity(
        _ issueID: Int64, kind: ActivityKind, data: JSONValue, at date: Date, in sql: IngestSQL
    ) throws {
        try sql.run(
            """
            INSERT INTO issue_activity (issue_id, type, user_id, data, created_at)
            VALUES (\(issueID), \(kind.rawValue), NULL, \(JSONWriter.string(data)), \(date.timeIntervalSince1970))
            """)
    }

    /// The project's newest releases and the named ones (``ReleaseBook``).
    static func releaseBook(projectID: Int64, versions: [String] = [], in sql: IngestSQL) throws -> ReleaseBook {
        let recent = try sql.rows(
            """
            SELECT version, created_at FROM release WHERE project_id = \(projectID)
            ORDER BY created_at DESC, id DESC LIMIT \(ReleaseBook.recentLimit)
            """
        ).map { row in
            let (version, createdAt) = try row.decode((String, Double).self)
            return ReleaseRef(version: version, createdAt: createdAt)
        }
        let book = ReleaseBook(recentNewestFirst: recent)
        var named: [String: ReleaseRef] = [:]
        for version in versions where book.lacks(version) && named[version] == nil {
            if let row = try sql.row(
                "SELECT version, created_at FROM release WHERE project_id = \(projectID) AND version = \(version)")
            {
                let (found, createdAt) = try row.decode((String, Double).self)
                named[version] = ReleaseRef(version: found, createdAt: createdAt)
            }
        }
        return named.isEmpty ? book : ReleaseBook(recentNewestFirst: recent, named: Array(named.values))
    }
}
