import Foundation
import GRDB
import SpyglassCore

extension AppDatabase {
    /// Browser sessions of the web UI.
    static func registerWebMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6 web sessions") { db in
            try db.execute(
                sql: """
                    -- token_hash: SHA-256 (hex) of the cookie value; the cookie itself is never stored.
                    CREATE TABLE web_session (
                        token_hash TEXT PRIMARY KEY,
                        user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
                        csrf_token TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        expires_at REAL NOT NULL
                    ) STRICT;
                    CREATE INDEX web_session_expiry ON web_session(expires_at);
                    """)
        }
        migrator.registerMigration("v7 project retention") { db in
            // Days a project keeps events when that is less than the server's retention (NULL: the server's).
            try db.execute(
                sql: "ALTER TABLE project ADD COLUMN retention_days INTEGER CHECK (retention_days IS NULL OR retention_days > 0)")
        }
    }
}

extension AppDatabase: WebStore {
    public func account(email: String) async throws -> WebAccount? {
        let email = (try? EmailAddress.normalize(email)) ?? email
        return try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, email, is_admin, password_hash, is_active FROM user WHERE email = ?", arguments: [email]
            ).map { WebAccount(user: APIUser(id: $0[0], email: $0[1], isAdmin: $0[2]), passwordHash: $0[3], isActive: $0[4]) }
        }
    }

    public func createSession(tokenHash: String, userID: Int64, csrfToken: String, now: Date, expires: Date) async throws {
        try await writer.write { db in
            // Expired sessions go when new ones come: the table stays as small as the number of browsers.
            try db.execute(sql: "DELETE FROM web_session WHERE expires_at < ?", arguments: [now.timeIntervalSince1970])
            try db.execute(
                sql: "INSERT INTO web_session (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [tokenHash, userID, csrfToken, now.timeIntervalSince1970, expires.timeIntervalSince1970])
        }
    }

    public func session(tokenHash: String, now: Date) async throws -> WebSession? {
        try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT user.id, user.email, user.is_admin, web_session.csrf_token, web_session.expires_at,
                        user.must_change_password
                    FROM web_session JOIN user ON user.id = web_session.user_id
                    WHERE web_session.token_hash = ? AND web_session.expires_at > ? AND user.is_active = 1
                    """,
                arguments: [tokenHash, now.timeIntervalSince1970]
            ).map {
                WebSession(
                    user: APIUser(id: $0[0], email: $0[1], isAdmin: $0[2]), csrfToken: $0[3],
                    expires: Date(timeIntervalSince1970: $0[4]), mustChangePassword: $0[5])
            }
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM web_session WHERE token_hash = ?", arguments: [tokenHash])
        }
    }

    public func changePassword(userID: Int64, passwordHash: String, keepingSession tokenHash: String) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE user SET password_hash = ?, must_change_password = 0 WHERE id = ?", arguments: [passwordHash, userID])
            try db.execute(sql: "DELETE FROM web_session WHERE user_id = ? AND token_hash <> ?", arguments: [userID, tokenHash])
        }
    }

    public func apiTokens(userID: Int64) async throws -> [TokenInfo] {
        try await writer.read { db in
            try APITokenRecord.filter(Column("user_id") == userID).order(Column("id")).fetchAll(db).compactMap { token in
                token.id.map { TokenInfo(id: $0, name: token.name, createdAt: token.createdAt, lastUsedAt: token.lastUsedAt) }
            }
        }
    }

    public func createAPIToken(userID: Int64, name: String, tokenHash: String, now: Date) async throws {
        try await writer.write { db in
            var token = APITokenRecord(userId: userID, name: name, tokenHash: tokenHash, createdAt: now)
            try token.insert(db)
        }
    }

    public func revokeAPIToken(id: Int64, userID: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM api_token WHERE id = ? AND user_id = ?", arguments: [id, userID])
            return db.changesCount > 0
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

    public func members(projectID: Int64) async throws -> [MemberInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT user.id, user.email, project_member.role, user.is_active FROM project_member
                    JOIN user ON user.id = project_member.user_id WHERE project_member.project_id = ? ORDER BY user.email
                    """,
                arguments: [projectID]
            ).map { MemberInfo(userID: $0[0], email: $0[1], role: $0[2], isActive: $0[3]) }
        }
    }

    public func addMember(projectID: Int64, email: String, role: String, now: Date) async throws {
        try await writer.write { db in try Self.upsertMember(projectID: projectID, email: email, role: role, now: now, in: db) }
    }

    public func removeMember(projectID: Int64, userID: Int64) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM project_member WHERE project_id = ? AND user_id = ?", arguments: [projectID, userID])
        }
    }

    public func createKey(projectID: Int64, label: String, now: Date) async throws {
        try await writer.write { db in
            var key = ProjectKey(projectId: projectID, publicKey: PublicKey.generate(), label: label, isActive: true, createdAt: now)
            try key.insert(db)
        }
    }

    public func updateKey(id: Int64, projectID: Int64, isActive: Bool?, rateLimitPerMinute: Int??) async throws -> Bool {
        if case .some(.some(let limit)) = rateLimitPerMinute, limit <= 0 {
            throw DomainError(.invalidInput, "rate limit: a positive number of events per minute (empty: no limit)")
        }
        return try await writer.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM project_key WHERE id = ? AND project_id = ?", arguments: [id, projectID]) != nil else {
                return false
            }
            if let isActive {
                try db.execute(sql: "UPDATE project_key SET is_active = ? WHERE id = ?", arguments: [isActive, id])
            }
            if let rateLimitPerMinute {
                try db.execute(sql: "UPDATE project_key SET rate_limit_per_minute = ? WHERE id = ?", arguments: [rateLimitPerMinute, id])
            }
            return true
        }
    }

    public func accounts() async throws -> [AccountInfo] {
        try await writer.read { db in
            try User.order(User.Columns.email).fetchAll(db).compactMap { user in
                user.id.map { AccountInfo(id: $0, email: user.email, isAdmin: user.isAdmin, isActive: user.isActive, createdAt: user.createdAt) }
            }
        }
    }

    public func createAccount(email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date) async throws {
        let email = try EmailAddress.normalize(email)
        try await writer.write { db in
            _ = try Self.insertUser(email: email, passwordHash: passwordHash, isAdmin: isAdmin, mustChangePassword: mustChangePassword, now: now, in: db)
        }
    }

    public func setAccountActive(id: Int64, active: Bool) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE user SET is_active = ? WHERE id = ?", arguments: [active, id])
            let changed = db.changesCount > 0
            if !active { try db.execute(sql: "DELETE FROM web_session WHERE user_id = ?", arguments: [id]) }
            return changed
        }
    }

    public func resetPassword(id: Int64, passwordHash: String) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "UPDATE user SET password_hash = ?, must_change_password = 1 WHERE id = ?", arguments: [passwordHash, id])
            let changed = db.changesCount > 0
            try db.execute(sql: "DELETE FROM web_session WHERE user_id = ?", arguments: [id])
            return changed
        }
    }

    public func addProject(name: String, slug: String?, now: Date) async throws -> ProjectInfo {
        let created = try createProject(name: name, slug: slug?.isEmpty == true ? nil : slug, id: nil, publicKey: nil, now: now)
        guard let id = created.project.id else { throw DomainError(.unavailable, "project was not stored") }
        return ProjectInfo(id: id, slug: created.project.slug, name: created.project.name, createdAt: created.project.createdAt)
    }

    public func attachments(projectID: Int64, eventID: String) async throws -> [AttachmentInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, filename, content_type, size FROM attachment WHERE project_id = ? AND event_id = ? ORDER BY id",
                arguments: [projectID, eventID]
            ).map { AttachmentInfo(id: $0[0], filename: $0[1], contentType: $0[2], size: $0[3]) }
        }
    }

    public func attachment(id: Int64, projectID: Int64, eventID: String) async throws -> (AttachmentInfo, [UInt8])? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, filename, content_type, size, data FROM attachment WHERE id = ? AND project_id = ? AND event_id = ?",
                arguments: [id, projectID, eventID]
            ).map { (AttachmentInfo(id: $0[0], filename: $0[1], contentType: $0[2], size: $0[3]), [UInt8]($0[4] as Data)) }
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

    public func retentionDays(projectID: Int64) async throws -> Int? {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT retention_days FROM project WHERE id = ?", arguments: [projectID])
        }
    }

    public func setRetentionDays(projectID: Int64, days: Int?) async throws {
        if let days, !(1...36_500).contains(days) { throw DomainError(.invalidInput, "retention: 1 to 36500 days, or empty") }
        try await writer.write { db in
            try db.execute(sql: "UPDATE project SET retention_days = ? WHERE id = ?", arguments: [days, projectID])
        }
    }

    public func allProjects() async throws -> [ProjectInfo] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, slug, name, created_at FROM project ORDER BY id").map(Self.projectInfo)
        }
    }

    public func eventMark() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM event") ?? 0 }
    }

    public func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int {
        guard !projectIDs.isEmpty else { return 0 }
        return try await writer.read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM event WHERE id > ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))",
                arguments: StatementArguments([mark] + projectIDs)) ?? 0
        }
    }
}
