import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// Projects, keys, members and project settings in SQLite: the ``ProjectStore`` port.
public struct SQLiteProjects: ProjectStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func memberships(userID: Int64) async throws -> [Int64: ProjectRole] {
        try await writer.read { db in
            var roles: [Int64: ProjectRole] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT project_id, role FROM project_member WHERE user_id = ?", arguments: [userID]) {
                roles[row["project_id"]] = ProjectRole(rawValue: row["role"]) ?? .member
            }
            return roles
        }
    }

    public func keys(projectID: Int64) async throws -> [KeyInfo] {
        try await writer.read { db in try Self.keys(projectID: projectID, in: db) }
    }

    static func keys(projectID: Int64, in db: Database) throws -> [KeyInfo] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT id, public_key, label, is_active, created_at, rate_limit_per_minute FROM project_key
                WHERE project_id = ? ORDER BY id
                """,
            arguments: [projectID]
        ).map { row in
            KeyInfo(
                id: row["id"], publicKey: row["public_key"], label: row["label"], isActive: row["is_active"],
                createdAt: row["created_at"], rateLimitPerMinute: row["rate_limit_per_minute"])
        }
    }

    public func project(slug: String) async throws -> ProjectInfo? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT id, slug, name, created_at FROM project WHERE slug = ?", arguments: [slug])
                .map(AppDatabase.projectInfo)
        }
    }

    public func createProject(name: String, slug: String?, id: Int64?, publicKey: String?, now: Date) async throws -> ProjectInfo {
        let created = try database.createProject(name: name, slug: slug?.isEmpty == true ? nil : slug, id: id, publicKey: publicKey, now: now)
        guard let id = created.project.id else { throw DomainError(.unavailable, "project was not stored") }
        return ProjectInfo(id: id, slug: created.project.slug, name: created.project.name, createdAt: created.project.createdAt)
    }

    @discardableResult
    public func setRateLimit(projectID: Int64, perMinute: Int?) async throws -> Int {
        if let perMinute, perMinute <= 0 {
            throw DomainError(.invalidInput, "rate limit must be a positive number of events per minute")
        }
        return try await writer.write { db in
            try db.execute(
                sql: "UPDATE project_key SET rate_limit_per_minute = ? WHERE project_id = ?", arguments: [perMinute, projectID])
            return db.changesCount
        }
    }

    public func keysVersion() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT keys_version FROM instance") ?? 0 }
    }

    public func activeKeys() async throws -> [ClientKey] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT public_key, project_id, rate_limit_per_minute FROM project_key WHERE is_active = 1"
            ).map { row in
                ClientKey(publicKey: row["public_key"], projectID: row["project_id"], rateLimitPerMinute: row["rate_limit_per_minute"])
            }
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

    public func members(projectID: Int64) async throws -> [MemberInfo] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT user.id, user.email, project_member.role, user.is_active FROM project_member
                    JOIN user ON user.id = project_member.user_id WHERE project_member.project_id = ? ORDER BY user.email
                    """,
                arguments: [projectID]
            ).map { row in
                MemberInfo(
                    userID: row["id"], email: row["email"], role: ProjectRole(rawValue: row["role"]) ?? .member,
                    isActive: row["is_active"])
            }
        }
    }

    public func addMember(projectID: Int64, email: String, role: ProjectRole, now: Date) async throws {
        try await writer.write { db in try AppDatabase.upsertMember(projectID: projectID, email: email, role: role, now: now, in: db) }
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
            try Row.fetchAll(db, sql: "SELECT id, slug, name, created_at FROM project ORDER BY id").map(AppDatabase.projectInfo)
        }
    }
}
