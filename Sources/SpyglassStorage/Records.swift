import Foundation
import GRDB

/// A person who can log in.
public struct User: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64?
    public var email: String
    /// bcrypt hash; never shown.
    public var passwordHash: String
    public var isAdmin: Bool
    public var isActive: Bool
    /// Set for the generated first password: the UI asks for a new one at login.
    public var mustChangePassword: Bool
    public var createdAt: Date

    public enum Columns {
        public static let id = Column("id")
        public static let email = Column("email")
        public static let isAdmin = Column("is_admin")
    }
}

/// A project: the unit events are sent to (one DSN or more) and issues are grouped in.
public struct Project: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64?
    public var slug: String
    public var name: String
    public var createdAt: Date

    public enum Columns {
        public static let id = Column("id")
        public static let slug = Column("slug")
    }
}

/// Membership of a user in a project.
public struct ProjectMember: Codable, Sendable, Hashable {
    public var projectId: Int64
    public var userId: Int64
    /// `admin` or `member`.
    public var role: String
    public var createdAt: Date
}

/// A client key of a project: the public part of its DSN.
public struct ProjectKey: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64?
    public var projectId: Int64
    public var publicKey: String
    public var label: String
    public var isActive: Bool
    public var createdAt: Date

    public enum Columns {
        public static let projectId = Column("project_id")
        public static let isActive = Column("is_active")
    }
}

/// An API token of a user, stored as the SHA-256 of the token.
public struct APITokenRecord: Codable, Sendable, Hashable, Identifiable {
    public var id: Int64?
    public var userId: Int64
    public var name: String
    public var tokenHash: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var scope: String
}

extension User: FetchableRecord, MutablePersistableRecord, SnakeCaseColumns {
    public static let databaseTableName = "user"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension Project: FetchableRecord, MutablePersistableRecord, SnakeCaseColumns {
    public static let databaseTableName = "project"
    public static let keys = hasMany(ProjectKey.self)
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension ProjectMember: FetchableRecord, PersistableRecord, SnakeCaseColumns {
    public static let databaseTableName = "project_member"
}

extension ProjectKey: FetchableRecord, MutablePersistableRecord, SnakeCaseColumns {
    public static let databaseTableName = "project_key"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

extension APITokenRecord: FetchableRecord, MutablePersistableRecord, SnakeCaseColumns {
    public static let databaseTableName = "api_token"
    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// Records whose columns are snake_case in SQL and camelCase in Swift.
protocol SnakeCaseColumns: FetchableRecord, EncodableRecord {}

extension SnakeCaseColumns {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}
