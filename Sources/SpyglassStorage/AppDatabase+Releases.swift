import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

extension AppDatabase {
    public func activities(issueID: Int64) async throws -> [ActivityInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT a.id, a.type, a.data, a.created_at, u.id, u.email, u.is_admin FROM issue_activity a
                    LEFT JOIN user u ON u.id = a.user_id WHERE a.issue_id = ? ORDER BY a.id
                    """,
                arguments: [issueID]
            ).map(Self.activity)
        }
    }

    static func activity(_ row: Row) -> ActivityInfo {
        let userID: Int64? = row[4]
        return ActivityInfo(
            id: row[0], type: row[1], user: userID.map { APIUser(id: $0, email: row[5], isAdmin: row[6]) },
            data: (try? JSONParser.parse(row[2] as String)) ?? .object([:]), date: Date(timeIntervalSince1970: row[3]))
    }

    public func addComment(issueID: Int64, userID: Int64, text: String, now: Date) async throws -> ActivityInfo {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 10_000 else {
            throw DomainError(.invalidInput, "text: a comment needs 1 to 10000 characters")
        }
        return try await writer.write { db in
            try LifecycleStore.addActivity(issueID, type: "note", userID: userID, data: ["text": .string(trimmed)], at: now, in: db)
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT a.id, a.type, a.data, a.created_at, u.id, u.email, u.is_admin FROM issue_activity a
                    LEFT JOIN user u ON u.id = a.user_id WHERE a.id = ?
                    """,
                arguments: [db.lastInsertedRowID])
            guard let row else { throw DomainError(.unavailable, "comment was not stored") }
            return Self.activity(row)
        }
    }

    public func releases(projectIDs: [Int64], limit: Int, offset: Int) async throws -> [ReleaseInfo] {
        guard !projectIDs.isEmpty else { return [] }
        return try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT release.id FROM release WHERE project_id IN (\(projectIDs.map { _ in "?" }.joined(separator: ",")))
                    ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
                    """,
                arguments: StatementArguments(projectIDs) + [limit + 1, offset])
            return try rows.compactMap { try Self.releaseInfo(id: $0[0], in: db) }
        }
    }

    public func release(projectID: Int64, version: String) async throws -> ReleaseInfo? {
        try await writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM release WHERE project_id = ? AND version = ?", arguments: [projectID, version]) else {
                return nil
            }
            return try Self.releaseInfo(id: id, in: db)
        }
    }

    static func releaseInfo(id: Int64, in db: Database) throws -> ReleaseInfo? {
        guard
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.version, r.created_at, r.date_released, r.first_event, r.last_event, r.new_issues, r.ref, r.url,
                        p.id, p.slug, p.name, p.created_at FROM release r JOIN project p ON p.id = r.project_id WHERE r.id = ?
                    """,
                arguments: [id])
        else { return nil }
        let version: String = row[0]
        let projectID: Int64 = row[8]
        func date(_ value: Double?) -> Date? { value.map(Date.init(timeIntervalSince1970:)) }
        let environments = try String.fetchAll(
            db, sql: "SELECT environment FROM release_environment WHERE release_id = ? ORDER BY environment", arguments: [id])
        let deploys = try Row.fetchAll(
            db, sql: "SELECT id, environment, name, url, date_started, date_finished FROM deploy WHERE release_id = ? ORDER BY date_finished DESC, id DESC",
            arguments: [id]
        ).map {
            ReleaseInfo.Deploy(
                id: $0[0], environment: $0[1], name: $0[2], url: $0[3], dateStarted: date($0[4]), dateFinished: Date(timeIntervalSince1970: $0[5]))
        }
        let health = try Row.fetchAll(
            db,
            sql: "SELECT environment, started, crashed, errored, abnormal FROM release_sessions WHERE project_id = ? AND release = ? ORDER BY environment",
            arguments: [projectID, version]
        ).map { ReleaseInfo.Health(environment: $0[0], started: $0[1], crashed: $0[2], errored: $0[3], abnormal: $0[4]) }
        return ReleaseInfo(
            project: ProjectInfo(id: projectID, slug: row[9], name: row[10], createdAt: row[11]), version: version,
            createdAt: Date(timeIntervalSince1970: row[1]), dateReleased: date(row[2]), firstEvent: date(row[3]), lastEvent: date(row[4]),
            newIssues: row[5], ref: row[6], url: row[7], environments: environments, deploys: deploys, health: health)
    }

    public func createRelease(version: String, projectIDs: [Int64], change: ReleaseChange, now: Date) async throws -> Bool {
        guard EventNormalizer.isValidRelease(version) else {
            throw DomainError(.invalidInput, "version: \"\(version)\" is not a valid release (no /, \\, newlines or tabs; not . .. or latest; at most 200 characters)")
        }
        return try await writer.write { db in
            var created = false
            for projectID in projectIDs {
                try db.execute(
                    sql: "INSERT INTO release (project_id, version, created_at) VALUES (?, ?, ?) ON CONFLICT (project_id, version) DO NOTHING",
                    arguments: [projectID, version, now.timeIntervalSince1970])
                if db.changesCount > 0 {
                    created = true
                    try LifecycleStore.releaseCreated(version, projectID: projectID, in: db)
                }
            }
            try Self.apply(change, version: version, projectIDs: projectIDs, in: db)
            return created
        }
    }

    public func updateRelease(version: String, projectIDs: [Int64], change: ReleaseChange) async throws {
        try await writer.write { db in try Self.apply(change, version: version, projectIDs: projectIDs, in: db) }
    }

    private static func apply(_ change: ReleaseChange, version: String, projectIDs: [Int64], in db: Database) throws {
        let list = projectIDs.map { _ in "?" }.joined(separator: ",")
        try db.execute(
            sql: """
                UPDATE release SET ref = coalesce(?, ref), url = coalesce(?, url), date_released = coalesce(?, date_released)
                WHERE version = ? AND project_id IN (\(list))
                """,
            arguments: [change.ref, change.url, change.dateReleased?.timeIntervalSince1970, version] + StatementArguments(projectIDs))
    }

    public func createDeploy(version: String, projectIDs: [Int64], deploy: ReleaseInfo.Deploy) async throws -> ReleaseInfo.Deploy {
        guard !deploy.environment.isEmpty, deploy.environment.count <= 64, !deploy.environment.contains(where: { $0.isNewline || $0 == "/" }) else {
            throw DomainError(.invalidInput, "environment: \"\(deploy.environment)\" is not a valid environment name")
        }
        return try await writer.write { db in
            let ids = try Int64.fetchAll(
                db, sql: "SELECT id FROM release WHERE version = ? AND project_id IN (\(projectIDs.map { _ in "?" }.joined(separator: ",")))",
                arguments: [version] + StatementArguments(projectIDs))
            guard !ids.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
            var stored = deploy
            for id in ids {
                try db.execute(
                    sql: "INSERT INTO deploy (release_id, environment, name, url, date_started, date_finished) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [id, deploy.environment, deploy.name, deploy.url, deploy.dateStarted?.timeIntervalSince1970, deploy.dateFinished.timeIntervalSince1970])
                stored.id = db.lastInsertedRowID
                try db.execute(
                    sql: "UPDATE release SET date_released = coalesce(date_released, ?) WHERE id = ?",
                    arguments: [deploy.dateFinished.timeIntervalSince1970, id])
            }
            return stored
        }
    }

    public func setResolveAge(projectID: Int64, hours: Int?) async throws {
        if let hours, hours <= 0 { throw DomainError(.invalidInput, "resolveAge: expected a positive number of hours, or 0 for off") }
        try await writer.write { db in
            try db.execute(sql: "UPDATE project SET resolve_age_hours = ? WHERE id = ?", arguments: [hours, projectID])
        }
    }

    public func resolveAge(projectID: Int64) async throws -> Int? {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT resolve_age_hours FROM project WHERE id = ?", arguments: [projectID]) }
    }

    /// Periodic lifecycle work: new and regressed issues turn ongoing after 7 days; projects with an auto-resolve
    /// age resolve issues without events for that long; ignore periods that ended unignore their issues.
    @discardableResult
    public func agePeriodically(now: Date) async throws -> Int {
        let time = now.timeIntervalSince1970
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE issue SET substatus = 'ongoing', substatus_since = ? WHERE status = 'unresolved'
                        AND substatus IN ('new', 'regressed') AND substatus_since <= ?
                    """,
                arguments: [time, time - Lifecycle.ongoingAfter])
            var changed = db.changesCount
            let stale = try Row.fetchAll(
                db,
                sql: """
                    SELECT issue.id, project.resolve_age_hours FROM issue JOIN project ON project.id = issue.project_id
                    WHERE issue.status = 'unresolved' AND project.resolve_age_hours IS NOT NULL
                        AND issue.last_seen < ? - project.resolve_age_hours * 3600.0
                    """,
                arguments: [time])
            for row in stale {
                let id: Int64 = row[0]
                try db.execute(
                    sql: """
                        UPDATE issue SET status = 'resolved', substatus = NULL, resolution = 'now', resolution_release = NULL,
                            status_changed_at = ? WHERE id = ?
                        """,
                    arguments: [time, id])
                try LifecycleStore.addActivity(id, type: "auto_resolved", data: ["hours": .number(JSONNumber(Int64(row[1] as Int)))], at: now, in: db)
            }
            changed += stale.count
            for row in try Row.fetchAll(db, sql: "SELECT id, ignore_state FROM issue WHERE status = 'ignored' AND ignore_state IS NOT NULL") {
                guard let text: String = row[1], let state = LifecycleStore.decodeIgnore(text), case .untilDate(let date) = state.condition,
                    now >= date
                else { continue }
                try db.execute(
                    sql: """
                        UPDATE issue SET status = 'unresolved', substatus = 'escalating', substatus_since = ?, ignore_state = NULL,
                            status_changed_at = ? WHERE id = ?
                        """,
                    arguments: [time, time, row[0] as Int64])
                try LifecycleStore.addActivity(row[0], type: "set_unresolved", data: ["reason": "ignore period ended"], at: now, in: db)
                changed += 1
            }
            return changed
        }
    }
}
