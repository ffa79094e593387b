import GRDB
import SpyglassCore

extension AppDatabase: KeyDirectory {
    public func keysVersion() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT keys_version FROM instance") ?? 0 }
    }

    public func activeKeys() async throws -> [ClientKey] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT public_key, project_id, rate_limit_per_minute FROM project_key WHERE is_active = 1"
            ).map { row in
                ClientKey(publicKey: row[0], projectID: row[1], rateLimitPerMinute: row[2])
            }
        }
    }

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
