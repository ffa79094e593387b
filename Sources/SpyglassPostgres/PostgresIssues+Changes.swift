import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

extension PostgresIssues {
    public func updateIssues(ids: [Int64], change: IssueChange, now: Date) async throws {
        let logger = database.logger
        try await database.withTransaction { connection in
            for id in ids {
                guard
                    let projectID = try await connection.scalar(
                        "SELECT project_id FROM issue WHERE id = \(id)", as: Int64.self, logger: logger)
                else {
                    throw DomainError(.notFound, "no issue \(id)")
                }
                var assignee: (id: Int64, email: String)??
                if let email = change.assigneeEmail {
                    if let email {
                        // Only active members of the issue's project; the message does not tell whether the address exists.
                        guard
                            let row = try await connection.row(
                                """
                                SELECT "user".id, "user".email FROM "user" JOIN project_member ON project_member.user_id = "user".id
                                WHERE "user".email = \(email.lowercased()) AND "user".is_active = 1 AND project_member.project_id = \(projectID)
                                """, logger: logger)
                        else {
                            throw DomainError(
                                .invalidInput, "assignedTo: \(email) is not an active member of this project")
                        }
                        assignee = .some((try row.decode("id"), try row.decode("email")))
                    } else {
                        assignee = .some(nil)
                    }
                }
                if let status = change.status {
                    try await setStatus(
                        status, change: change, issueID: id, projectID: projectID, now: now, on: connection)
                }
                if let assignee {
                    // The row locked first: two nodes assigning at once tell the assignee once.
                    let previous = try await connection.scalar(
                        "SELECT assignee_id FROM issue WHERE id = \(id) FOR UPDATE", as: Int64.self, logger: logger)
                    try await connection.execute(
                        "UPDATE issue SET assignee_id = \(assignee?.id) WHERE id = \(id)", logger: logger)
                    // The new assignee is told, unless they assigned it to themselves.
                    if let assignee, assignee.id != previous, assignee.id != change.actorID {
                        try await enqueueAssignment(
                            issueID: id, projectID: projectID, assigneeEmail: assignee.email, actorID: change.actorID, now: now,
                            on: connection)
                    }
                    try await PostgresIssueRows.addActivity(
                        id, kind: assignee == nil ? .unassigned : .assigned, userID: change.actorID,
                        data: ["assigneeEmail": assignee.map { .string($0.email) } ?? .null], at: now, on: connection,
                        logger: logger)
                }
            }
        }
    }

    /// Tells a new assignee by e-mail through the outbox, as SQLite's `AlertRows.enqueueAssignment` does.
    private func enqueueAssignment(
        issueID: Int64, projectID: Int64, assigneeEmail: String, actorID: Int64?, now: Date, on connection: PostgresConnection
    ) async throws {
        let logger = database.logger
        guard
            let row = try await connection.row(
                """
                SELECT p.slug, p.name AS project_name, i.short_id, i.title, i.culprit, i.level, i.status, i.times_seen,
                    i.user_count, i.first_seen, i.last_seen, i.last_release,
                    (SELECT e.event_id FROM event e WHERE e.id = i.last_event_id) AS event_id,
                    (SELECT u.email FROM "user" u WHERE u.id = \(actorID)) AS actor
                FROM issue i JOIN project p ON p.id = i.project_id WHERE i.id = \(issueID)
                """, logger: logger)
        else { return }
        let slug: String = try row.decode("slug")
        let content = NotificationContent(
            projectID: projectID, projectSlug: slug, projectName: try row.decode("project_name"), issueID: issueID,
            shortID: "\(slug.uppercased())-\(try row.decode("short_id", as: Int64.self))", title: try row.decode("title"),
            culprit: try row.decode("culprit"), level: try row.decode("level"), status: try row.decode("status"),
            count: Int(try row.decode("times_seen", as: Int64.self)), userCount: Int(try row.decode("user_count", as: Int64.self)),
            firstSeen: Date(timeIntervalSince1970: try row.decode("first_seen")),
            lastSeen: Date(timeIntervalSince1970: try row.decode("last_seen")),
            eventID: try row.decode("event_id", as: String?.self) ?? "", release: try row.decode("last_release"), environment: nil)
        let action = AlertAction.email(.addresses([assigneeEmail]))
        let time = now.timeIntervalSince1970
        try await connection.execute(
            """
            INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                created_at, next_attempt)
            VALUES (\(projectID), NULL, \(try row.decode("actor", as: String?.self) ?? "Spyglass"), \(issueID),
                \(AlertTrigger.assigned.rawValue), \(action.channel), \(assigneeEmail), \(JSONWriter.string(.object(action.json))),
                \(JSONWriter.string(content.json)), \(time), \(time))
            """, logger: logger)
    }

    private func setStatus(
        _ status: IssueStatus, change: IssueChange, issueID: Int64, projectID: Int64, now: Date,
        on connection: PostgresConnection
    ) async throws {
        let logger = database.logger
        let time = now.timeIntervalSince1970
        switch status {
        case .resolved:
            var resolution = change.resolution ?? .now
            if case .inNextRelease = resolution {
                resolution = .inNextRelease(
                    current: try await Self.latestRelease(projectID: projectID, on: connection, logger: logger))
            }
            if case .inRelease("latest") = resolution {
                guard let latest = try await Self.latestRelease(projectID: projectID, on: connection, logger: logger)
                else {
                    throw DomainError(
                        .invalidInput, "statusDetails.inRelease: \"latest\", but the project has no release")
                }
                resolution = .inRelease(latest)
            }
            let (type, release) = resolution.stored
            if case .inRelease(let version) = resolution,
                try await connection.scalar(
                    "SELECT count(*) FROM release WHERE project_id = \(projectID) AND version = \(version)",
                    as: Int64.self, logger: logger)
                    == 0
            {
                throw DomainError(.invalidInput, "statusDetails.inRelease: the project has no release \"\(version)\"")
            }
            try await connection.execute(
                """
                UPDATE issue SET status = 'resolved', substatus = NULL, resolution = \(type), resolution_release = \(release),
                    ignore_state = NULL, status_changed_at = \(time) WHERE id = \(issueID)
                """, logger: logger)
            try await PostgresIssueRows.addActivity(
                issueID, kind: .setResolved, userID: change.actorID,
                data: ["how": .string(type), "version": release.map(JSONValue.string) ?? .null], at: now,
                on: connection, logger: logger)
        case .ignored:
            let condition = change.ignore ?? .forever
            guard
                let counts = try await connection.row(
                    "SELECT times_seen, user_count FROM issue WHERE id = \(issueID)", logger: logger)
            else { return }
            let weekAgo = Int64((time / 3600).rounded(.down)) - 7 * 24
            let lastWeek =
                try await connection.scalar(
                    """
                    SELECT LEAST(coalesce(sum(count), 0), 9223372036854775807)::bigint FROM issue_hour
                    WHERE issue_id = \(issueID) AND hour >= \(weekAgo)
                    """, as: Int64.self, logger: logger) ?? 0
            let state = IgnoreState(
                condition: condition, timesSeenAtIgnore: try counts.decode("times_seen"),
                usersAtIgnore: try counts.decode("user_count"),
                hourlyBaseline: Double(lastWeek) / (7 * 24))
            let substatus: IssueSubstatus =
                switch condition {
                case .forever: .archivedForever
                case .untilEscalating: .archivedUntilEscalating
                default: .archivedUntilConditionMet
                }
            try await connection.execute(
                """
                UPDATE issue SET status = 'ignored', substatus = \(substatus.rawValue), ignore_state = \(state.storedJSON),
                    resolution = NULL, resolution_release = NULL, status_changed_at = \(time) WHERE id = \(issueID)
                """, logger: logger)
            try await PostgresIssueRows.addActivity(
                issueID, kind: .setIgnored, userID: change.actorID,
                data: (try? JSONParser.parse(state.storedJSON)) ?? .null, at: now,
                on: connection, logger: logger)
        case .unresolved:
            let changed = try await connection.row(
                """
                UPDATE issue SET status = 'unresolved', substatus = 'ongoing', substatus_since = \(time), resolution = NULL,
                    resolution_release = NULL, ignore_state = NULL, status_changed_at = \(time)
                WHERE id = \(issueID) AND status <> 'unresolved' RETURNING id
                """, logger: logger)
            if changed != nil {
                try await PostgresIssueRows.addActivity(
                    issueID, kind: .setUnresolved, userID: change.actorID, data: .object([:]), at: now, on: connection,
                    logger: logger)
            }
        }
    }

    /// The project's newest release by its ordering (SQLite's `ReleaseBook.latest`: among the ten newest by creation).
    static func latestRelease(projectID: Int64, on connection: PostgresConnection, logger: Logger) async throws
        -> String?
    {
        let recent = try await connection.rows(
            "SELECT version, created_at FROM release WHERE project_id = \(projectID) ORDER BY created_at DESC, id DESC LIMIT 10",
            logger: logger
        ).map { ReleaseRef(version: try $0.decode("version"), createdAt: try $0.decode("created_at")) }
        let ordering = ReleaseOrdering(recentNewestFirst: recent.map(\.version))
        let releases = Dictionary(recent.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        return releases.values.max { ordering.isNewer($1, than: $0) }?.version
    }

    public func deleteIssue(id: Int64) async throws {
        let logger = database.logger
        try await database.withTransaction { connection in
            try await connection.execute(
                "DELETE FROM attachment WHERE (project_id, event_id) IN (SELECT project_id, event_id FROM event WHERE issue_id = \(id))",
                logger: logger)
            try await connection.execute(
                "DELETE FROM user_report WHERE (project_id, event_id) IN (SELECT project_id, event_id FROM event WHERE issue_id = \(id))",
                logger: logger)
            // Its hashes go with it (cascade), and their events: so do the dictionaries those events need.
            try await connection.execute(
                "DELETE FROM payload_dictionary WHERE id IN (SELECT dictionary_id FROM grouping_hash WHERE issue_id = \(id))",
                logger: logger)
            try await connection.execute("DELETE FROM issue WHERE id = \(id)", logger: logger)
        }
    }

    public func mergeIssues(ids: [Int64], actorID: Int64?) async throws -> (parent: Int64, children: [Int64]) {
        let logger = database.logger
        return try await database.withTransaction { connection in
            let rows = try await connection.rows(
                "SELECT id, project_id FROM issue WHERE id = ANY(\(ids)) ORDER BY times_seen DESC, id", logger: logger)
            guard rows.count >= 2 else { throw DomainError(.invalidInput, "merge needs at least two existing issues") }
            guard Set(try rows.map { try $0.decode("project_id", as: Int64.self) }).count == 1 else {
                throw DomainError(.invalidInput, "merge: the issues belong to different projects")
            }
            let parent: Int64 = try rows[0].decode("id")
            let children: [Int64] = try rows.dropFirst().map { try $0.decode("id") }
            try await connection.execute(
                "UPDATE grouping_hash SET issue_id = \(parent) WHERE issue_id = ANY(\(children))", logger: logger)
            try await connection.execute(
                "UPDATE event SET issue_id = \(parent) WHERE issue_id = ANY(\(children))", logger: logger)
            try await connection.execute(
                """
                INSERT INTO issue_user (issue_id, user_key, user_id, email, username, ip_address, times_seen, last_seen)
                SELECT \(parent), user_key,
                    -- One user's details, as SQLite keeps them: those of the lowest merged issue.
                    (array_agg(user_id ORDER BY issue_id))[1], (array_agg(email ORDER BY issue_id))[1],
                    (array_agg(username ORDER BY issue_id))[1], (array_agg(ip_address ORDER BY issue_id))[1],
                    LEAST(sum(times_seen), 9223372036854775807)::bigint, max(last_seen)
                FROM issue_user WHERE issue_id = ANY(\(children)) GROUP BY user_key
                ON CONFLICT (issue_id, user_key) DO UPDATE SET times_seen = issue_user.times_seen + excluded.times_seen,
                    last_seen = GREATEST(issue_user.last_seen, excluded.last_seen)
                """, logger: logger)
            // Grouped first: one upsert may not touch a row twice, as two children with the same tag value would.
            try await connection.execute(
                """
                INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen)
                SELECT \(parent), key, value, LEAST(sum(times_seen), 9223372036854775807)::bigint, min(first_seen), max(last_seen)
                FROM issue_tag WHERE issue_id = ANY(\(children)) GROUP BY key, value
                ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = issue_tag.times_seen + excluded.times_seen,
                    first_seen = LEAST(issue_tag.first_seen, excluded.first_seen), last_seen = GREATEST(issue_tag.last_seen, excluded.last_seen)
                """, logger: logger)
            try await connection.execute(
                """
                INSERT INTO issue_hour (issue_id, hour, count)
                SELECT \(parent), hour, LEAST(sum(count), 9223372036854775807)::bigint FROM issue_hour
                WHERE issue_id = ANY(\(children)) GROUP BY hour
                ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hour.count + excluded.count
                """, logger: logger)
            try await connection.execute(
                """
                UPDATE issue SET
                    times_seen = LEAST(times_seen + (SELECT sum(times_seen) FROM issue WHERE id = ANY(\(children))), 9223372036854775807),
                    first_seen = LEAST(first_seen, (SELECT min(first_seen) FROM issue WHERE id = ANY(\(children)))),
                    last_seen = GREATEST(last_seen, (SELECT max(last_seen) FROM issue WHERE id = ANY(\(children)))),
                    user_count = (SELECT count(*) FROM issue_user WHERE issue_id = \(parent))
                WHERE id = \(parent)
                """, logger: logger)
            let shortIDs = try await connection.column(
                """
                SELECT upper(project.slug) || '-' || issue.short_id FROM issue JOIN project ON project.id = issue.project_id
                WHERE issue.id = ANY(\(children)) ORDER BY issue.short_id
                """, as: String.self, logger: logger)
            try await connection.execute("DELETE FROM issue WHERE id = ANY(\(children))", logger: logger)
            try await Self.refreshProtectedEvents(parent, on: connection, logger: logger)
            try await PostgresIssueRows.addActivity(
                parent, kind: .merge, userID: actorID,
                data: ["children": .array(children.map { .string(String($0)) }), "shortIds": .array(shortIDs.map(JSONValue.string))],
                at: .now, on: connection, logger: logger)
            return (parent, children)
        }
    }

    /// Points an issue's first and latest event (which retention keeps) at its stored events after events moved.
    static func refreshProtectedEvents(_ issueID: Int64, on connection: PostgresConnection, logger: Logger) async throws
    {
        try await connection.execute(
            """
            UPDATE issue SET
                first_event_id = (SELECT id FROM event WHERE issue_id = \(issueID) ORDER BY timestamp, id LIMIT 1),
                last_event_id = (SELECT id FROM event WHERE issue_id = \(issueID) ORDER BY timestamp DESC, id DESC LIMIT 1)
            WHERE id = \(issueID)
            """, logger: logger)
    }
}
