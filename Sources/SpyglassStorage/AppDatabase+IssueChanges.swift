import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

extension AppDatabase {
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
                        assignee = .some((row[0], row[1]))
                    } else {
                        assignee = .some(nil)
                    }
                }
                if let status = change.status {
                    try Self.setStatus(status, change: change, issueID: id, projectID: projectID, now: now, in: db)
                }
                if let assignee {
                    try db.execute(sql: "UPDATE issue SET assignee_id = ? WHERE id = ?", arguments: [assignee?.id, id])
                    try LifecycleStore.addActivity(
                        id, type: assignee == nil ? "unassigned" : "assigned", userID: change.actorID,
                        data: ["assigneeEmail": assignee.map { .string($0.email) } ?? .null], at: now, in: db)
                }
            }
        }
    }

    private static func setStatus(
        _ status: String, change: IssueChange, issueID: Int64, projectID: Int64, now: Date, in db: Database
    ) throws {
        let time = now.timeIntervalSince1970
        switch status {
        case "resolved":
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
            let (type, release): (String, String?) =
                switch resolution {
                case .now: ("now", nil)
                case .inNextRelease(let current): ("in_next_release", current)
                case .inRelease(let version): ("in_release", version)
                }
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
            try LifecycleStore.addActivity(
                issueID, type: "set_resolved", userID: change.actorID,
                data: ["how": .string(type), "version": release.map(JSONValue.string) ?? .null], at: now, in: db)
        case "ignored":
            let condition = change.ignore ?? .forever
            guard let counts = try Row.fetchOne(db, sql: "SELECT times_seen, user_count FROM issue WHERE id = ?", arguments: [issueID]) else { return }
            let weekAgo = Int64((time / 3600).rounded(.down)) - 7 * 24
            let lastWeek = try Int.fetchOne(
                db, sql: "SELECT coalesce(sum(count), 0) FROM issue_hour WHERE issue_id = ? AND hour >= ?", arguments: [issueID, weekAgo]) ?? 0
            let state = IgnoreState(
                condition: condition, timesSeenAtIgnore: counts[0], usersAtIgnore: counts[1], hourlyBaseline: Double(lastWeek) / (7 * 24))
            let substatus =
                switch condition {
                case .forever: "archived_forever"
                case .untilEscalating: "archived_until_escalating"
                default: "archived_until_condition_met"
                }
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'ignored', substatus = ?, ignore_state = ?, resolution = NULL, resolution_release = NULL,
                        status_changed_at = ? WHERE id = ?
                    """,
                arguments: [substatus, LifecycleStore.encodeIgnore(state), time, issueID])
            try LifecycleStore.addActivity(
                issueID, type: "set_ignored", userID: change.actorID,
                data: (try? JSONParser.parse(LifecycleStore.encodeIgnore(state))) ?? .null, at: now, in: db)
        case "unresolved":
            try db.execute(
                sql: """
                    UPDATE issue SET status = 'unresolved', substatus = 'ongoing', substatus_since = ?, resolution = NULL,
                        resolution_release = NULL, ignore_state = NULL, status_changed_at = ? WHERE id = ? AND status != 'unresolved'
                    """,
                arguments: [time, time, issueID])
            if db.changesCount > 0 {
                try LifecycleStore.addActivity(issueID, type: "set_unresolved", userID: change.actorID, data: .object([:]), at: now, in: db)
            }
        default:
            throw DomainError(.invalidInput, "status: \"\(status)\" is not resolved, unresolved or ignored")
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

    public func mergeIssues(ids: [Int64]) async throws -> (parent: Int64, children: [Int64]) {
        try await writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, project_id FROM issue WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY times_seen DESC, id",
                arguments: StatementArguments(ids))
            guard rows.count >= 2 else { throw DomainError(.invalidInput, "merge needs at least two existing issues") }
            guard Set(rows.map { $0[1] as Int64 }).count == 1 else {
                throw DomainError(.invalidInput, "merge: the issues belong to different projects")
            }
            let parent: Int64 = rows[0][0]
            let children: [Int64] = rows.dropFirst().map { $0[0] }
            let list = children.map { _ in "?" }.joined(separator: ",")
            let childArgs = StatementArguments(children)
            try db.execute(sql: "UPDATE grouping_hash SET issue_id = ? WHERE issue_id IN (\(list))", arguments: [parent] + childArgs)
            try db.execute(sql: "UPDATE event SET issue_id = ? WHERE issue_id IN (\(list))", arguments: [parent] + childArgs)
            try db.execute(
                sql: "INSERT OR IGNORE INTO issue_user (issue_id, user_key) SELECT ?, user_key FROM issue_user WHERE issue_id IN (\(list))",
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
            try db.execute(sql: "DELETE FROM issue WHERE id IN (\(list))", arguments: childArgs)
            try Self.refreshProtectedEvents(parent, in: db)
            try LifecycleStore.addActivity(
                parent, type: "merge", data: ["children": .array(children.map { .string(String($0)) })], at: .now, in: db)
            return (parent, children)
        }
    }

    public func unmerge(issueID: Int64, hash: String) async throws -> Int64 {
        try await writer.write { db in
            let hashes = try String.fetchAll(db, sql: "SELECT hash FROM grouping_hash WHERE issue_id = ?", arguments: [issueID])
            guard hashes.contains(hash) else { throw DomainError(.notFound, "issue \(issueID) has no hash \(hash)") }
            guard hashes.count > 1 else { throw DomainError(.invalidInput, "hash \(hash) is the issue's only hash; nothing to split") }
            guard let projectID = try Int64.fetchOne(db, sql: "SELECT project_id FROM issue WHERE id = ?", arguments: [issueID]) else {
                throw DomainError(.notFound, "no issue \(issueID)")
            }
            let moved = try Row.fetchAll(
                db, sql: "SELECT id, \(Self.eventColumns) WHERE issue_id = ? AND primary_hash = ? ORDER BY timestamp",
                arguments: [issueID, hash]
            ).map { row in (rowID: row[0] as Int64, event: try Self.eventInfo(row, offset: 1, in: db)) }
            guard !moved.isEmpty else {
                throw DomainError(.invalidInput, "no stored event of issue \(issueID) came by hash \(hash); split out the hash its events came by")
            }
            // The new issue takes its title from the newest moved event, else from the old issue.
            let template = moved.last.map { Self.normalized($0.event) }
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
                    moved.first.flatMap { Self.normalized($0.event).release }, template?.release, Date.now.timeIntervalSince1970, issueID,
                ])
            let newIssue = db.lastInsertedRowID
            try db.execute(
                sql: "INSERT INTO issue_search (rowid, title, culprit, message) SELECT ?, title, culprit, '' FROM issue WHERE id = ?",
                arguments: [newIssue, newIssue])
            try db.execute(sql: "UPDATE grouping_hash SET issue_id = ? WHERE project_id = ? AND hash = ?", arguments: [newIssue, projectID, hash])
            for (rowID, info) in moved {
                let event = Self.normalized(info)
                try db.execute(sql: "UPDATE event SET issue_id = ? WHERE id = ?", arguments: [newIssue, rowID])
                try Self.count(event, into: newIssue, sign: 1, in: db)
                try Self.count(event, into: issueID, sign: -1, in: db)
            }
            // Users of the old issue: those still seen in its remaining events.
            let remaining = try Row.fetchAll(db, sql: "SELECT \(Self.eventColumns) WHERE issue_id = ?", arguments: [issueID])
            let users = Set(try remaining.compactMap { try Self.normalized(Self.eventInfo($0, in: db)).userKey })
            let movedUsers = Set(moved.compactMap { Self.normalized($0.event).userKey })
            for user in movedUsers where !users.contains(user) {
                try db.execute(sql: "DELETE FROM issue_user WHERE issue_id = ? AND user_key = ?", arguments: [issueID, user])
            }
            for issue in [issueID, newIssue] {
                try db.execute(
                    sql: "UPDATE issue SET user_count = (SELECT count(*) FROM issue_user WHERE issue_id = ?) WHERE id = ?",
                    arguments: [issue, issue])
            }
            try Self.refreshProtectedEvents(issueID, in: db)
            try Self.refreshProtectedEvents(newIssue, in: db)
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

    /// A stored event seen again through the normalizer's derived fields (tags, user, summary).
    static func normalized(_ info: EventInfo) -> NormalizedEvent {
        let payload = info.payload
        return NormalizedEvent(
            eventID: info.eventID, timestamp: info.timestamp, received: info.received,
            level: payload["level"]?.stringValue ?? "error", platform: payload["platform"]?.stringValue ?? "other",
            release: payload["release"]?.stringValue, environment: payload["environment"]?.stringValue, payload: payload)
    }

    /// Adds (`sign` 1) or removes (-1) one event's contribution to an issue's counters.
    private static func count(_ event: NormalizedEvent, into issueID: Int64, sign: Int, in db: Database) throws {
        let timestamp = event.timestamp.timeIntervalSince1970
        try db.execute(
            sql: """
                UPDATE issue SET times_seen = max(0, times_seen + ?),
                    first_seen = CASE WHEN ? > 0 THEN min(first_seen, ?) ELSE first_seen END,
                    last_seen = CASE WHEN ? > 0 THEN max(last_seen, ?) ELSE last_seen END WHERE id = ?
                """,
            arguments: [sign, sign, timestamp, sign, timestamp, issueID])
        if sign > 0, let user = event.userKey {
            try db.execute(sql: "INSERT OR IGNORE INTO issue_user (issue_id, user_key) VALUES (?, ?)", arguments: [issueID, user])
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
