import Foundation
import GRDB
import SpyglassCore

/// A project with its client keys.
public struct ProjectWithKeys: Sendable, Hashable {
    public var project: Project
    public var keys: [ProjectKey]
}

extension AppDatabase {
    /// Creates a project, its first client key and default alert rule, and makes every admin a member.
    ///
    /// - Parameters:
    ///   - slug: taken as is when given (validated), else derived from `name`.
    ///   - id: an explicit project id, to keep a DSN from Sentry or GlitchTip; else the next free one.
    ///   - publicKey: an explicit key (32 hex digits), likewise; else a random one.
    @discardableResult
    public func createProject(
        name: String, slug: String? = nil, id: Int64? = nil, publicKey: String? = nil, now: Date
    ) throws -> ProjectWithKeys {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw DomainError(.invalidInput, "project name must not be empty") }
        guard let slug = slug ?? Slug.derive(from: name) else {
            throw DomainError(.invalidInput, "cannot derive a slug from \"\(name)\": give one with --slug")
        }
        try Slug.validate(slug)
        if let id, id <= 0 { throw DomainError(.invalidInput, "project id must be a positive number, not \(id)") }
        var key = PublicKey.generate()
        if let publicKey { key = try PublicKey.normalize(publicKey) }
        return try writer.write { db in
            try insertProject(db, name: name, slug: slug, id: id, publicKey: key, now: now)
        }
    }

    func insertProject(
        _ db: Database, name: String, slug: String, id: Int64?, publicKey: String, now: Date
    ) throws -> ProjectWithKeys {
        if let taken = try Project.filter(Project.Columns.slug == slug).fetchOne(db) {
            throw DomainError(.conflict, "slug \"\(slug)\" is taken by project \(taken.id ?? 0)")
        }
        if let id, let taken = try Project.fetchOne(db, key: id) {
            throw DomainError(.conflict, "project id \(id) is taken by project \"\(taken.slug)\"")
        }
        if try ProjectKey.filter(Column("public_key") == publicKey).fetchCount(db) > 0 {
            throw DomainError(.conflict, "public key \(publicKey) is already in use")
        }
        var project = Project(id: id, slug: slug, name: name, createdAt: now)
        try project.insert(db)
        guard let projectId = project.id else { throw DomainError(.unavailable, "project was not stored") }
        var key = ProjectKey(
            projectId: projectId, publicKey: publicKey, label: "Default", isActive: true, createdAt: now)
        try key.insert(db)
        for admin in try User.filter(User.Columns.isAdmin == true).fetchAll(db) {
            guard let userId = admin.id else { continue }
            try ProjectMember(projectId: projectId, userId: userId, role: ProjectRole.admin.rawValue, createdAt: now).insert(db)
        }
        try AlertRows.insertRule(.projectDefault, projectID: projectId, now: now, in: db)
        return ProjectWithKeys(project: project, keys: [key])
    }

    /// Adds a user to a project (or changes their role there).
    public func addMember(projectSlug: String, email: String, role: ProjectRole, now: Date) throws {
        try writer.write { db in
            guard let projectId = try Project.filter(Project.Columns.slug == projectSlug).fetchOne(db)?.id else {
                throw DomainError(.notFound, "no project with slug \"\(projectSlug)\"")
            }
            try Self.upsertMember(projectID: projectId, email: email, role: role, now: now, in: db)
        }
    }

    /// The user with `email` becomes a member of the project with `role` (or gets that role there).
    static func upsertMember(projectID: Int64, email: String, role: ProjectRole, now: Date, in db: Database) throws {
        let email = try EmailAddress.normalize(email)
        guard let userId = try User.filter(User.Columns.email == email).fetchOne(db)?.id else {
            throw DomainError(.notFound, "email: no user with e-mail \(email) (an admin creates accounts)")
        }
        try db.execute(
            sql: """
                INSERT INTO project_member (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role
                """,
            arguments: [projectID, userId, role.rawValue, now])
    }

    /// All projects with their keys, by id.
    public func projects() throws -> [ProjectWithKeys] {
        try writer.read { db in
            let projects = try Project.order(Project.Columns.id).fetchAll(db)
            let keys = try ProjectKey.order(Column("id")).fetchAll(db)
            let byProject = Dictionary(grouping: keys, by: \.projectId)
            return projects.map { ProjectWithKeys(project: $0, keys: byProject[$0.id ?? 0] ?? []) }
        }
    }

    /// The project with `slug` and its keys, if any.
    public func project(slug: String) throws -> ProjectWithKeys? {
        try writer.read { db in
            guard let project = try Project.filter(Project.Columns.slug == slug).fetchOne(db) else { return nil }
            let keys = try ProjectKey.filter(ProjectKey.Columns.projectId == project.id).order(Column("id")).fetchAll(db)
            return ProjectWithKeys(project: project, keys: keys)
        }
    }

    /// The user ids of a project's members.
    public func memberIDs(projectID: Int64) throws -> [Int64] {
        try writer.read { db in
            try Int64.fetchAll(
                db, sql: "SELECT user_id FROM project_member WHERE project_id = ? ORDER BY user_id",
                arguments: [projectID])
        }
    }
}

extension AppDatabase {
    /// Sets the events-per-minute limit of every key of a project (`nil` removes it); returns how many keys changed.
    @discardableResult
    public func setRateLimit(projectSlug: String, perMinute: Int?) throws -> Int {
        if let perMinute, perMinute <= 0 {
            throw DomainError(.invalidInput, "rate limit must be a positive number of events per minute")
        }
        return try writer.write { db in
            guard let project = try Project.filter(Project.Columns.slug == projectSlug).fetchOne(db) else {
                throw DomainError(.notFound, "no project with slug \"\(projectSlug)\"")
            }
            try db.execute(
                sql: "UPDATE project_key SET rate_limit_per_minute = ? WHERE project_id = ?",
                arguments: [perMinute, project.id])
            return db.changesCount
        }
    }
}
