import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// Accounts, sessions and API tokens in SQLite: the ``AccountStore`` port.
public struct SQLiteAccounts: AccountStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func user(tokenHash: String, now: Date) async throws -> APIUser? {
        let found = try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT user.id, user.email, user.is_admin, api_token.scope, api_token.last_used_at
                    FROM user JOIN api_token ON api_token.user_id = user.id
                    WHERE api_token.token_hash = ? AND user.is_active = 1
                    """,
                arguments: [tokenHash]
            ).map { row -> (APIUser, Date?) in
                (
                    APIUser(
                        id: row["id"], email: row["email"], isAdmin: row["is_admin"],
                        tokenScope: TokenScope(rawValue: row["scope"]) ?? .read),
                    row["last_used_at"]
                )
            }
        }
        guard let (user, lastUsed) = found else { return nil }
        // Written once a minute at most: a script calling the API in a loop costs one write a minute.
        if lastUsed.map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            try await writer.write { db in
                try db.execute(sql: "UPDATE api_token SET last_used_at = ? WHERE token_hash = ?", arguments: [now, tokenHash])
            }
        }
        return user
    }

    public func account(email: String) async throws -> WebAccount? {
        let email = (try? EmailAddress.normalize(email)) ?? email
        return try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, email, is_admin, password_hash, is_active FROM user WHERE email = ?", arguments: [email]
            ).map { row in
                WebAccount(
                    user: APIUser(id: row["id"], email: row["email"], isAdmin: row["is_admin"]),
                    passwordHash: row["password_hash"], isActive: row["is_active"])
            }
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
                    user: APIUser(id: $0["id"], email: $0["email"], isAdmin: $0["is_admin"]), csrfToken: $0["csrf_token"],
                    expires: Date(timeIntervalSince1970: $0["expires_at"]), mustChangePassword: $0["must_change_password"])
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
                token.id.map {
                    TokenInfo(
                        id: $0, name: token.name, createdAt: token.createdAt, lastUsedAt: token.lastUsedAt,
                        scope: TokenScope(rawValue: token.scope) ?? .read)
                }
            }
        }
    }

    @discardableResult
    public func createAPIToken(userID: Int64, name: String, tokenHash: String, scope: TokenScope, now: Date) async throws -> TokenInfo {
        try await writer.write { db in
            var token = APITokenRecord(userId: userID, name: name, tokenHash: tokenHash, createdAt: now, scope: scope.rawValue)
            try token.insert(db)
            return TokenInfo(id: token.id ?? 0, name: name, createdAt: now, lastUsedAt: nil, scope: scope)
        }
    }

    public func theme(userID: Int64) async throws -> String {
        try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT theme FROM user WHERE id = ?", arguments: [userID]) ?? "auto"
        }
    }

    public func setTheme(userID: Int64, theme: String) async throws {
        guard ["auto", "light", "dark"].contains(theme) else { throw DomainError(.invalidInput, "theme: expected auto, light or dark") }
        try await writer.write { db in
            try db.execute(sql: "UPDATE user SET theme = ? WHERE id = ?", arguments: [theme, userID])
        }
    }

    public func revokeAPIToken(id: Int64, userID: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM api_token WHERE id = ? AND user_id = ?", arguments: [id, userID])
            return db.changesCount > 0
        }
    }

    public func accounts() async throws -> [AccountInfo] {
        try await writer.read { db in
            try User.order(User.Columns.email).fetchAll(db).compactMap { user in
                user.id.map { AccountInfo(id: $0, email: user.email, isAdmin: user.isAdmin, isActive: user.isActive, createdAt: user.createdAt) }
            }
        }
    }

    @discardableResult
    public func createAccount(
        email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date
    ) async throws -> AccountInfo {
        let email = try EmailAddress.normalize(email)
        let user = try await writer.write { db in
            try AppDatabase.insertUser(
                email: email, passwordHash: passwordHash, isAdmin: isAdmin, mustChangePassword: mustChangePassword, now: now,
                in: db)
        }
        guard let id = user.id else { throw DomainError(.unavailable, "the account was not stored") }
        return AccountInfo(id: id, email: user.email, isAdmin: user.isAdmin, isActive: user.isActive, createdAt: user.createdAt)
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
}
