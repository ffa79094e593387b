import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

extension AppDatabase {
    static func setStatus(
        _ status: IssueStatus, change: IssueChange, issueID: Int64, projectID: Int64, now: Date, in db: Database
    ) throws {
        let time = now.timeIntervalSince1970
        switch status {
        case .resolved:
            var resolution = change.resolution ?? .now
            if case .inNextRelease = resolution {
                resolution = .inNextRelease(current: try ReleaseBook(projectID: projectID, in: db).latest?.version)
            }
            if case .inRelease("latest") = resolution {
                guard let latest = try ReleaseBook(projectID: projectID, in: db).latest?.version else {
                    throw DomainError(.invalidInput, "statusDetails.inRelease: \"latest\", but the project has no release")
                }
                resolution = .inRelease(latest)
            }
            let (type, release) = resolution.stored
            if case .inRelease(let version) = resolution,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM release WHERE project_id = ? AND version = ?", arguments: [projectID, version]) == 0
            {
                throw DomainError(.invalidInput, "statusDetails.inRelease: the project has no release \"\(version)\"")
            }
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'resolved', substatus = NULL, resolution = ?, resolution_release = ?, ignore_state = NULL,
                        status_changed_at = ? WHERE id = ?
                    """,
                arguments: [type, release, time, issueID])
            try LifecycleRows.addActivity(
                issueID, kind: .setResolved, userID: change.actorID,
                data: ["how": .string(type), "version": release.map(JSONValue.string) ?? .null], at: now, in: db)
        case .ignored:
            let condition = change.ignore ?? .forever
            guard let counts = try Row.fetchOne(db, sql: "SELECT times_seen, user_count FROM issue WHERE id = ?", arguments: [issueID]) else { return }
            let weekAgo = Int64((time / 3600).rounded(.down)) - 7 * 24
            let lastWeek = try Int.fetchOne(
                db, sql: "SELECT coalesce(sum(count), 0) FROM issue_hour WHERE issue_id = ? AND hour >= ?", arguments: [issueID, weekAgo]) ?? 0
            let state = IgnoreState(
                condition: condition, timesSeenAtIgnore: counts["times_seen"], usersAtIgnore: counts["user_count"], hourlyBaseline: Double(lastWeek) / (7 * 24))
            let substatus: IssueSubstatus =
                switch condition {
                case .forever: .archivedForever
                case .untilEscalating: .archivedUntilEscalating
                default: .archivedUntilConditionMet
                }
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'ignored', substatus = ?, ignore_state = ?, resolution = NULL, resolution_release = NULL,
                        status_changed_at = ? WHERE id = ?
                    """,
                arguments: [substatus.rawValue, state.storedJSON, time, issueID])
            try LifecycleRows.addActivity(
                issueID, kind: .setIgnored, userID: change.actorID,
                data: (try? JSONParser.parse(state.storedJSON)) ?? .null, at: now, in: db)
        case .unresolved:
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'unresolved', substatus = 'ongoing', substatus_since = ?, resolution = NULL,
                        resolution_release = NULL, ignore_state = NULL, status_changed_at = ? WHERE id = ? AND status != 'unresolved'
                    """,
                arguments: [time, time, issueID])
            if db.changesCount > 0 {
                try LifecycleRows.addActivity(issueID, kind: .setUnresolved, userID: change.actorID, data: .object([:]), at: now, in: db)
            }
        }
    }

    /// Points an issue's first and latest event (which retention keeps) at its stored events after events moved.
    static func refreshProtectedEvents(_ issueID: Int64, in db: Database) throws {
        try db.execute(
            sql: """
                UPDATE issue SET
                    first_event_id = (SELECT id FROM event WHERE issue_id = ?1 ORDER BY timestamp, id LIMIT 1),
                    last_event_id = (SELECT id FROM event WHERE issue_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT 1)
                WHERE id = ?1
                """,
            arguments: [issueID])
    }

    /// Adds (`sign` 1) or removes (-1) one event's contribution to an issue's counters.
    static func count(_ event: NormalizedEvent, into issueID: Int64, sign: Int, in db: Database) throws {
        let timestamp = event.timestamp.timeIntervalSince1970
        try db.execute(
            sql: """
                UPDATE issue SET times_seen = max(0, times_seen + ?),
                    first_seen = CASE WHEN ? > 0 THEN min(first_seen, ?) ELSE first_seen END,
                    last_seen = CASE WHEN ? > 0 THEN max(last_seen, ?) ELSE last_seen END WHERE id = ?
                """,
            arguments: [sign, sign, timestamp, sign, timestamp, issueID])
        if sign > 0, let user = event.userKey {
            let identity = event.user
            try db.execute(
                sql: """
                    INSERT INTO issue_user (issue_id, user_key, user_id, email, username, ip_address, times_seen, last_seen)
                    VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                    ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = times_seen + 1,
                        last_seen = max(coalesce(last_seen, 0), excluded.last_seen)
                    """,
                arguments: [issueID, user, identity?.id, identity?.email, identity?.username, identity?.ipAddress, timestamp])
        } else if sign < 0, let user = event.userKey {
            // A user left without events is deleted by the caller.
            try db.execute(
                sql: "UPDATE issue_user SET times_seen = max(1, times_seen - 1) WHERE issue_id = ? AND user_key = ?",
                arguments: [issueID, user])
        }
        for tag in event.tags {
            try db.execute(
                sql: """
                    INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = times_seen + excluded.times_seen,
                        first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)
                    """,
                arguments: [issueID, tag.key, tag.value, sign, timestamp, timestamp])
        }
        try db.execute(
            sql: """
                INSERT INTO issue_hour (issue_id, hour, count) VALUES (?, ?, ?)
                ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count
                """,
            arguments: [issueID, Int64((timestamp / 3600).rounded(.down)), sign])
    }
}
