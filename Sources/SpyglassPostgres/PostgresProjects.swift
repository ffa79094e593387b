import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

/// Projects, keys, members and project settings in PostgreSQL: the ``ProjectStore`` port.
public struct PostgresProjects: ProjectStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    // MARK: - KeyDirectory

    public func keysVersion() async throws -> Int64 {
        try await database.row("SELECT keys_version FROM instance")?.decode("keys_version", as: Int64.self) ?? 0
    }

    public func activeKeys() async throws -> [ClientKey] {
        try await database.rows(
            "SELECT public_key, project_id, rate_limit_per_minute FROM project_key WHERE is_active = 1"
        )
        .map { row in
            ClientKey(
                publicKey: try row.decode("public_key"), projectID: try row.decode("project_id"),
                rateLimitPerMinute: try row.decode("rate_limit_per_minute"))
        }
    }

    // MARK: - Projects

    public func allProjects() async throws -> [ProjectInfo] {
        try await database.rows("SELECT id, slug, name, created_at FROM project ORDER BY id").map(Self.projectInfo)
    }

    public func project(slug: String) async throws -> ProjectInfo? {
        try await database.row("SELECT id, slug, name, created_at FROM project WHERE slug = \(slug)").map(
            Self.projectInfo)
    }

    public func createProject(name: String, slug: String?, id: Int64?, publicKey: String?, now: Date) async throws
        -> ProjectInfo
    {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw DomainError(.invalidInput, "project name must not be empty") }
        guard let slug = (slug?.isEmpty == true ? nil : slug) ?? Slug.derive(from: name) else {
            throw DomainError(.invalidInput, "cannot derive a slug from \"\(name)\": give one with --slug")
        }
        try Slug.validate(slug)
        if let id, id <= 0 { throw DomainError(.invalidInput, "project id must be a positive number, not \(id)") }
        var key = PublicKey.generate()
        if let publicKey { key = try PublicKey.normalize(publicKey) }
        do {
            return try await database.withTransaction { connection in
                try await insertProject(name: name, slug: slug, id: id, publicKey: key, now: now, on: connection)
            }
        } catch  where error.isUniqueViolation {
            // Another node stored the same slug, id or key between the checks and the insert.
            throw DomainError(.conflict, "project \"\(slug)\": its slug, id or public key was taken meanwhile")
        }
    }

    /// The project, its first key ("Default"), every admin as a member and the default alert rule.
    private func insertProject(
        name: String, slug: String, id: Int64?, publicKey: String, now: Date, on connection: PostgresConnection
    ) async throws -> ProjectInfo {
        if let taken = try await connection.row("SELECT id FROM project WHERE slug = \(slug)", logger: logger) {
            throw DomainError(
                .conflict, "slug \"\(slug)\" is taken by project \(try taken.decode("id", as: Int64.self))")
        }
        if let id, let taken = try await connection.row("SELECT slug FROM project WHERE id = \(id)", logger: logger) {
            throw DomainError(
                .conflict, "project id \(id) is taken by project \"\(try taken.decode("slug", as: String.self))\"")
        }
        if try await connection.row("SELECT 1 FROM project_key WHERE public_key = \(publicKey)", logger: logger) != nil
        {
            throw DomainError(.conflict, "public key \(publicKey) is already in use")
        }
        let created = StoredDate.text(now)
        let inserted: PostgresRandomAccessRow?
        if let id {
            inserted = try await connection.row(
                "INSERT INTO project (id, slug, name, created_at) VALUES (\(id), \(slug), \(name), \(created)) RETURNING id",
                logger: logger)
            // An explicit id does not move the identity on; SQLite's next rowid is max(id) + 1, so move it past this id.
            try await connection.execute(
                """
                SELECT setval(pg_get_serial_sequence('project', 'id'),
                    GREATEST(\(id), coalesce(pg_sequence_last_value(pg_get_serial_sequence('project', 'id')::regclass), 0)))
                """, logger: logger)
        } else {
            inserted = try await connection.row(
                "INSERT INTO project (slug, name, created_at) VALUES (\(slug), \(name), \(created)) RETURNING id",
                logger: logger)
        }
        guard let projectID = try inserted?.decode("id", as: Int64.self) else {
            throw DomainError(.unavailable, "project was not stored")
        }
        try await connection.execute(
            """
            INSERT INTO project_key (project_id, public_key, label, is_active, created_at)
            VALUES (\(projectID), \(publicKey), 'Default', 1, \(created))
            """, logger: logger)
        try await connection.execute(
            """
            INSERT INTO project_member (project_id, user_id, role, created_at)
            SELECT \(projectID), id, \(ProjectRole.admin.rawValue), \(created) FROM "user" WHERE is_admin = 1 ORDER BY id
            """, logger: logger)
        try await PostgresAlertRules.insertRule(
            .projectDefault, projectID: projectID, now: now, on: connection, logger: logger)
        return ProjectInfo(id: projectID, slug: slug, name: name, createdAt: now)
    }

    // MARK: - Members

    public func memberships(userID: Int64) async throws -> [Int64: ProjectRole] {
        var roles: [Int64: ProjectRole] = [:]
        for row in try await database.rows("SELECT project_id, role FROM project_member WHERE user_id = \(userID)") {
            roles[try row.decode("project_id")] = ProjectRole(rawValue: try row.decode("role")) ?? .member
        }
        return roles
    }

    public func members(projectID: Int64) async throws -> [MemberInfo] {
        try await database.rows(
            """
            SELECT "user".id, "user".email, project_member.role, "user".is_active FROM project_member
            JOIN "user" ON "user".id = project_member.user_id WHERE project_member.project_id = \(projectID)
            ORDER BY "user".email COLLATE "C"
            """
        ).map { row in
            MemberInfo(
                userID: try row.decode("id"), email: try row.decode("email"),
                role: ProjectRole(rawValue: try row.decode("role")) ?? .member, isActive: try row.flag("is_active"))
        }
    }

    public func addMember(projectID: Int64, email: String, role: ProjectRole, now: Date) async throws {
        let email = try EmailAddress.normalize(email)
        try await database.withTransaction { connection in
            guard let user = try await connection.row(#"SELECT id FROM "user" WHERE email = \#(email)"#, logger: logger)
            else {
                throw DomainError(.notFound, "email: no user with e-mail \(email) (an admin creates accounts)")
            }
            try await connection.execute(
                """
                INSERT INTO project_member (project_id, user_id, role, created_at)
                VALUES (\(projectID), \(try user.decode("id", as: Int64.self)), \(role.rawValue), \(StoredDate.text(now)))
                ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role
                """, logger: logger)
        }
    }

    public func removeMember(projectID: Int64, userID: Int64) async throws {
        try await database.execute("DELETE FROM project_member WHERE project_id = \(projectID) AND user_id = \(userID)")
    }

    // MARK: - Keys

    public func keys(projectID: Int64) async throws -> [KeyInfo] {
        try await database.rows(
            """
            SELECT id, public_key, label, is_active, created_at, rate_limit_per_minute FROM project_key
            WHERE project_id = \(projectID) ORDER BY id
            """
        ).map { row in
            KeyInfo(
                id: try row.decode("id"), publicKey: try row.decode("public_key"), label: try row.decode("label"),
                isActive: try row.flag("is_active"), createdAt: try row.textDate("created_at"),
                rateLimitPerMinute: try row.decode("rate_limit_per_minute"))
        }
    }

    public func createKey(projectID: Int64, label: String, now: Date) async throws {
        try await database.execute(
            """
            INSERT INTO project_key (project_id, public_key, label, is_active, created_at)
            VALUES (\(projectID), \(PublicKey.generate()), \(label), 1, \(StoredDate.text(now)))
            """)
    }

    public func updateKey(id: Int64, projectID: Int64, isActive: Bool?, rateLimitPerMinute: Int??) async throws -> Bool
    {
        if case .some(.some(let limit)) = rateLimitPerMinute, limit <= 0 {
            throw DomainError(.invalidInput, "rate limit: a positive number of events per minute (empty: no limit)")
        }
        return try await database.withTransaction { connection in
            guard
                try await connection.row(
                    "SELECT 1 FROM project_key WHERE id = \(id) AND project_id = \(projectID)", logger: logger)
                    != nil
            else { return false }
            if let isActive {
                try await connection.execute(
                    "UPDATE project_key SET is_active = \(isActive.flag) WHERE id = \(id)", logger: logger)
            }
            if let rateLimitPerMinute {
                try await connection.execute(
                    "UPDATE project_key SET rate_limit_per_minute = \(rateLimitPerMinute) WHERE id = \(id)",
                    logger: logger)
            }
            return true
        }
    }

    @discardableResult
    public func setRateLimit(projectID: Int64, perMinute: Int?) async throws -> Int {
        if let perMinute, perMinute <= 0 {
            throw DomainError(.invalidInput, "rate limit must be a positive number of events per minute")
        }
        return try await database.rows(
            "UPDATE project_key SET rate_limit_per_minute = \(perMinute) WHERE project_id = \(projectID) RETURNING id"
        ).count
    }

    // MARK: - Settings

    public func retentionDays(projectID: Int64) async throws -> Int? {
        try await database.row("SELECT retention_days FROM project WHERE id = \(projectID)")?.decode(
            "retention_days", as: Int?.self)
    }

    public func setRetentionDays(projectID: Int64, days: Int?) async throws {
        if let days, !(1...36_500).contains(days) {
            throw DomainError(.invalidInput, "retention: 1 to 36500 days, or empty")
        }
        try await database.execute("UPDATE project SET retention_days = \(days) WHERE id = \(projectID)")
    }

    public func resolveAge(projectID: Int64) async throws -> Int? {
        try await database.row("SELECT resolve_age_hours FROM project WHERE id = \(projectID)")?
            .decode("resolve_age_hours", as: Int?.self)
    }

    public func setResolveAge(projectID: Int64, hours: Int?) async throws {
        if let hours, hours <= 0 {
            throw DomainError(.invalidInput, "resolveAge: expected a positive number of hours, or 0 for off")
        }
        try await database.execute("UPDATE project SET resolve_age_hours = \(hours) WHERE id = \(projectID)")
    }

    // MARK: - Rows

    static func projectInfo(_ row: PostgresRandomAccessRow) throws -> ProjectInfo {
        ProjectInfo(
            id: try row.decode("id"), slug: try row.decode("slug"), name: try row.decode("name"),
            createdAt: try row.textDate("created_at"))
    }
}
