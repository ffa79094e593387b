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
