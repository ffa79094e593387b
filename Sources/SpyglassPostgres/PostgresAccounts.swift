import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

/// Accounts, sessions and API tokens in PostgreSQL: the ``AccountStore`` port.
public struct PostgresAccounts: AccountStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    // MARK: - Accounts

    public func user(tokenHash: String, now: Date) async throws -> APIUser? {
        guard
            let row = try await database.row(
                """
                SELECT "user".id, "user".email, "user".is_admin, api_token.scope, api_token.last_used_at
                FROM "user" JOIN api_token ON api_token.user_id = "user".id
                WHERE api_token.token_hash = \(tokenHash) AND "user".is_active = 1
                """)
        else { return nil }
        var user = try Self.apiUser(row)
        user.tokenScope = TokenScope(rawValue: try row.decode("scope")) ?? .read
        // Written once a minute at most: a script calling the API in a loop costs one write a minute.
        if try row.optionalTextDate("last_used_at").map({ now.timeIntervalSince($0) >= 60 }) ?? true {
            try await database.execute(
                "UPDATE api_token SET last_used_at = \(StoredDate.text(now)) WHERE token_hash = \(tokenHash)")
        }
        return user
    }

    public func account(email: String) async throws -> WebAccount? {
        let email = (try? EmailAddress.normalize(email)) ?? email
        return try await database.row(
            #"SELECT id, email, is_admin, password_hash, is_active FROM "user" WHERE email = \#(email)"#
        ).map { row in
            WebAccount(
                user: try Self.apiUser(row), passwordHash: try row.decode("password_hash"),
                isActive: try row.flag("is_active"))
        }
    }

    public func accounts() async throws -> [AccountInfo] {
        try await database.rows(
            #"SELECT id, email, is_admin, is_active, created_at FROM "user" ORDER BY email COLLATE "C""#
        )
        .map { row in
            AccountInfo(
                id: try row.decode("id"), email: try row.decode("email"), isAdmin: try row.flag("is_admin"),
                isActive: try row.flag("is_active"), createdAt: try row.textDate("created_at"))
        }
    }

    @discardableResult
    public func createAccount(
        email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date
    ) async throws -> AccountInfo {
        let email = try EmailAddress.normalize(email)
        let created = StoredDate.text(now)
        do {
            let id = try await database.withTransaction { connection -> Int64 in
                if try await connection.row(#"SELECT 1 FROM "user" WHERE email = \#(email)"#, logger: logger) != nil {
                    throw DomainError(.conflict, "a user with e-mail \(email) already exists")
                }
                let row = try await connection.row(
                    """
                    INSERT INTO "user" (email, password_hash, is_admin, is_active, must_change_password, created_at)
                    VALUES (\(email), \(passwordHash), \(isAdmin.flag), 1, \(mustChangePassword.flag), \(created))
                    RETURNING id
                    """, logger: logger)
                guard let id = try row?.decode("id", as: Int64.self) else {
                    throw DomainError(.unavailable, "the account was not stored")
                }
                // An admin is a member of every project, as a new project makes every admin a member.
                if isAdmin {
                    try await connection.execute(
                        """
                        INSERT INTO project_member (project_id, user_id, role, created_at)
                        SELECT id, \(id), \(ProjectRole.admin.rawValue), \(created) FROM project ORDER BY id
                        """, logger: logger)
                }
                return id
            }
            return AccountInfo(id: id, email: email, isAdmin: isAdmin, isActive: true, createdAt: now)
        } catch  where error.isUniqueViolation {
            // Another node created the same address between the check and the insert.
            throw DomainError(.conflict, "a user with e-mail \(email) already exists")
        }
    }

    public func setAccountActive(id: Int64, active: Bool) async throws -> Bool {
        try await database.withTransaction { connection in
            let changed = try await !connection.rows(
                #"UPDATE "user" SET is_active = \#(active.flag) WHERE id = \#(id) RETURNING id"#, logger: logger
            ).isEmpty
            if !active { try await connection.execute("DELETE FROM web_session WHERE user_id = \(id)", logger: logger) }
            return changed
        }
    }

    public func resetPassword(id: Int64, passwordHash: String) async throws -> Bool {
        try await database.withTransaction { connection in
            let changed = try await !connection.rows(
                #"UPDATE "user" SET password_hash = \#(passwordHash), must_change_password = 1 WHERE id = \#(id) RETURNING id"#,
                logger: logger
            ).isEmpty
            try await connection.execute("DELETE FROM web_session WHERE user_id = \(id)", logger: logger)
            return changed
        }
    }

    public func changePassword(userID: Int64, passwordHash: String, keepingSession tokenHash: String) async throws {
        try await database.withTransaction { connection in
            try await connection.execute(
                #"UPDATE "user" SET password_hash = \#(passwordHash), must_change_password = 0 WHERE id = \#(userID)"#,
                logger: logger)
            try await connection.execute(
                "DELETE FROM web_session WHERE user_id = \(userID) AND token_hash <> \(tokenHash)", logger: logger)
        }
    }

    // MARK: - Sessions

    public func createSession(tokenHash: String, userID: Int64, csrfToken: String, now: Date, expires: Date)
        async throws
    {
        try await database.withTransaction { connection in
            // Expired sessions go when new ones come: the table stays as small as the number of browsers.
            try await connection.execute(
                "DELETE FROM web_session WHERE expires_at < \(now.timeIntervalSince1970)", logger: logger)
            try await connection.execute(
                """
                INSERT INTO web_session (token_hash, user_id, csrf_token, created_at, expires_at)
                VALUES (\(tokenHash), \(userID), \(csrfToken), \(now.timeIntervalSince1970), \(expires.timeIntervalSince1970))
                """, logger: logger)
        }
    }

    public func session(tokenHash: String, now: Date) async throws -> WebSession? {
        try await database.row(
            """
            SELECT "user".id, "user".email, "user".is_admin, web_session.csrf_token, web_session.expires_at,
                "user".must_change_password
            FROM web_session JOIN "user" ON "user".id = web_session.user_id
            WHERE web_session.token_hash = \(tokenHash) AND web_session.expires_at > \(now.timeIntervalSince1970)
                AND "user".is_active = 1
            """
        ).map { row in
            WebSession(
                user: try Self.apiUser(row), csrfToken: try row.decode("csrf_token"),
                expires: try row.date("expires_at"),
                mustChangePassword: try row.flag("must_change_password"))
        }
    }

    public func deleteSession(tokenHash: String) async throws {
        try await database.execute("DELETE FROM web_session WHERE token_hash = \(tokenHash)")
    }

    // MARK: - API tokens

    public func theme(userID: Int64) async throws -> String {
        try await database.row(#"SELECT theme FROM "user" WHERE id = \#(userID)"#)?.decode("theme", as: String.self) ?? "auto"
    }

    public func setTheme(userID: Int64, theme: String) async throws {
        guard ["auto", "light", "dark"].contains(theme) else { throw DomainError(.invalidInput, "theme: expected auto, light or dark") }
        try await database.execute(#"UPDATE "user" SET theme = \#(theme) WHERE id = \#(userID)"#)
    }

    public func apiTokens(userID: Int64) async throws -> [TokenInfo] {
        try await database.rows(
            "SELECT id, name, created_at, last_used_at, scope FROM api_token WHERE user_id = \(userID) ORDER BY id"
        )
        .map { row in
            TokenInfo(
                id: try row.decode("id"), name: try row.decode("name"), createdAt: try row.textDate("created_at"),
                lastUsedAt: try row.optionalTextDate("last_used_at"), scope: TokenScope(rawValue: try row.decode("scope")) ?? .read)
        }
    }

    @discardableResult
    public func createAPIToken(userID: Int64, name: String, tokenHash: String, scope: TokenScope, now: Date) async throws -> TokenInfo {
        let row = try await database.row(
            """
            INSERT INTO api_token (user_id, name, token_hash, created_at, scope)
            VALUES (\(userID), \(name), \(tokenHash), \(StoredDate.text(now)), \(scope.rawValue))
            RETURNING id
            """)
        return TokenInfo(id: try row?.decode("id", as: Int64.self) ?? 0, name: name, createdAt: now, lastUsedAt: nil, scope: scope)
    }

    public func revokeAPIToken(id: Int64, userID: Int64) async throws -> Bool {
        try await !database.rows("DELETE FROM api_token WHERE id = \(id) AND user_id = \(userID) RETURNING id").isEmpty
    }

    // MARK: - Rows

    /// A user from a row with `id`, `email` and `is_admin`.
    static func apiUser(_ row: PostgresRandomAccessRow) throws -> APIUser {
        APIUser(id: try row.decode("id"), email: try row.decode("email"), isAdmin: try row.flag("is_admin"))
    }
}
