import Foundation
import GRDB
import SpyglassCore

extension AppDatabase {
    /// Creates a user. `passwordHash` is already bcrypt (hash outside any transaction: it is slow).
    @discardableResult
    public func createUser(email: String, passwordHash: String, isAdmin: Bool, now: Date) throws -> User {
        let email = try EmailAddress.normalize(email)
        return try writer.write { db in
            try Self.insertUser(email: email, passwordHash: passwordHash, isAdmin: isAdmin, mustChangePassword: false, now: now, in: db)
        }
    }

    /// Inserts a user (e-mail already normalized); an admin becomes a member of every project, as
    /// `createProject` makes every admin a member of a new one.
    static func insertUser(
        email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date, in db: Database
    ) throws -> User {
        if try User.filter(User.Columns.email == email).fetchCount(db) > 0 {
            throw DomainError(.conflict, "a user with e-mail \(email) already exists")
        }
        var user = User(
            email: email, passwordHash: passwordHash, isAdmin: isAdmin, isActive: true, mustChangePassword: mustChangePassword,
            createdAt: now)
        try user.insert(db)
        if isAdmin, let id = user.id {
            for projectId in try Int64.fetchAll(db, sql: "SELECT id FROM project") {
                try ProjectMember(projectId: projectId, userId: id, role: ProjectRole.admin.rawValue, createdAt: now).insert(db)
            }
        }
        return user
    }

    /// All users, oldest first.
    public func users() throws -> [User] {
        try writer.read { db in try User.order(User.Columns.id).fetchAll(db) }
    }

    /// The user with `email`, if any.
    public func user(email: String) throws -> User? {
        let email = (try? EmailAddress.normalize(email)) ?? email
        return try writer.read { db in try User.filter(User.Columns.email == email).fetchOne(db) }
    }

    /// Stores a new API token of the user with `email`. The token itself is never stored, only its hash.
    @discardableResult
    public func createAPIToken(
        userEmail: String, name: String, tokenHash: String, scope: TokenScope = .admin, now: Date
    ) throws -> APITokenRecord {
        try writer.write { db in
            let email = (try? EmailAddress.normalize(userEmail)) ?? userEmail
            guard let user = try User.filter(User.Columns.email == email).fetchOne(db), let userId = user.id else {
                throw DomainError(.notFound, "no user with e-mail \(userEmail)")
            }
            var token = APITokenRecord(userId: userId, name: name, tokenHash: tokenHash, createdAt: now, scope: scope.rawValue)
            try token.insert(db)
            return token
        }
    }
}
