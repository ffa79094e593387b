import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// Releases, deploys and session health in SQLite: the ``ReleaseStore`` port.
public struct SQLiteReleases: ReleaseStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    public func releases(projectIDs: [Int64], limit: Int, offset: Int) async throws -> [ReleaseInfo] {
        guard !projectIDs.isEmpty else { return [] }
        return try await writer.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT release.id FROM release WHERE project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))
                    ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?
                    """,
                arguments: StatementArguments(projectIDs) + [limit + 1, offset])
            return try rows.compactMap { try AppDatabase.releaseInfo(id: $0["id"], in: db) }
        }
    }

    public func release(projectID: Int64, version: String) async throws -> ReleaseInfo? {
        try await writer.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM release WHERE project_id = ? AND version = ?", arguments: [projectID, version]) else {
                return nil
            }
            return try AppDatabase.releaseInfo(id: id, in: db)
        }
    }

    public func createRelease(version: String, projectIDs: [Int64], change: ReleaseChange, now: Date) async throws -> Bool {
        guard EventNormalizer.isValidRelease(version) else {
            throw DomainError(.invalidInput, "version: \"\(version)\" is not a valid release (no /, \\, newlines or tabs; not . .. or latest; at most 200 characters)")
        }
        return try await writer.write { db in
            var created = false
            for projectID in projectIDs {
                try db.execute(
                    sql: "INSERT INTO release (project_id, version, created_at) VALUES (?, ?, ?) ON CONFLICT (project_id, version) DO NOTHING",
                    arguments: [projectID, version, now.timeIntervalSince1970])
                if db.changesCount > 0 {
                    created = true
                    try LifecycleRows.releaseCreated(version, projectID: projectID, in: db)
                }
            }
            try AppDatabase.apply(change, version: version, projectIDs: projectIDs, in: db)
            return created
        }
    }

    public func updateRelease(version: String, projectIDs: [Int64], change: ReleaseChange) async throws {
        try await writer.write { db in try AppDatabase.apply(change, version: version, projectIDs: projectIDs, in: db) }
    }

    public func setCommits(version: String, projectIDs: [Int64], commits: [ReleaseCommit]) async throws {
        guard !projectIDs.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
        try await writer.write { db in
            let ids = try Int64.fetchAll(
                db, sql: "SELECT id FROM release WHERE version = ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))",
                arguments: [version] + StatementArguments(projectIDs))
            guard !ids.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO release_commit (release_id, position, sha, repository, message, author_name, author_email,
                        committed_at, files)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for id in ids {
                try db.execute(sql: "DELETE FROM release_commit WHERE release_id = ?", arguments: [id])
                for (position, commit) in commits.enumerated() {
                    try insert.execute(arguments: [
                        id, position, commit.sha, commit.repository, commit.message, commit.authorName, commit.authorEmail,
                        commit.date?.timeIntervalSince1970, commit.filesJSON,
                    ])
                }
            }
        }
    }

    public func commits(version: String, projectIDs: [Int64]) async throws -> [ReleaseCommit] {
        guard !projectIDs.isEmpty else { return [] }
        return try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.sha, c.repository, c.message, c.author_name, c.author_email, c.committed_at, c.files
                    FROM release_commit c
                    WHERE c.release_id = (SELECT id FROM release WHERE version = ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))
                        ORDER BY project_id LIMIT 1)
                    ORDER BY c.position
                    """,
                arguments: [version] + StatementArguments(projectIDs)
            ).map {
                ReleaseCommit(
                    sha: $0["sha"], repository: $0["repository"], message: $0["message"], authorName: $0["author_name"],
                    authorEmail: $0["author_email"], date: ($0["committed_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
                    files: ReleaseCommit.files(json: $0["files"]))
            }
        }
    }

    public func previousReleaseWithCommits(version: String, projectIDs: [Int64]) async throws -> (version: String, lastCommit: String)? {
        guard !projectIDs.isEmpty else { return nil }
        let placeholders = databaseQuestionMarks(count: projectIDs.count)
        return try await writer.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT r.version, c.sha FROM release r JOIN release_commit c ON c.release_id = r.id AND c.position = 0
                    WHERE r.project_id IN (\(placeholders)) AND r.version <> ?
                        AND r.created_at <= coalesce(
                            (SELECT max(created_at) FROM release WHERE version = ? AND project_id IN (\(placeholders))), r.created_at)
                    ORDER BY r.created_at DESC, r.id DESC LIMIT 1
                    """,
                arguments: StatementArguments(projectIDs) + [version, version] + StatementArguments(projectIDs)
            ).map { (version: $0["version"], lastCommit: $0["sha"]) }
        }
    }

    public func repositories() async throws -> [RepositoryInfo] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name, url, provider, created_at FROM repository ORDER BY name").map {
                RepositoryInfo(
                    id: $0["id"], name: $0["name"], url: $0["url"], provider: $0["provider"],
                    createdAt: Date(timeIntervalSince1970: $0["created_at"]))
            }
        }
    }

    public func createRepository(name: String, url: String?, provider: String, now: Date) async throws -> RepositoryInfo {
        try await writer.write { db in
            guard try Int64.fetchOne(db, sql: "SELECT id FROM repository WHERE name = ?", arguments: [name]) == nil else {
                throw DomainError(.conflict, "a repository named \"\(name)\" exists")
            }
            try db.execute(
                sql: "INSERT INTO repository (name, url, provider, created_at) VALUES (?, ?, ?, ?)",
                arguments: [name, url, provider, now.timeIntervalSince1970])
            return RepositoryInfo(id: db.lastInsertedRowID, name: name, url: url, provider: provider, createdAt: now)
        }
    }

    public func deleteRelease(version: String, projectIDs: [Int64]) async throws -> ReleaseDeletion {
        guard !projectIDs.isEmpty else { return .notFound }
        let placeholders = databaseQuestionMarks(count: projectIDs.count)
        return try await writer.write { db in
            let ids = try Int64.fetchAll(
                db, sql: "SELECT id FROM release WHERE version = ? AND project_id IN (\(placeholders))",
                arguments: [version] + StatementArguments(projectIDs))
            guard !ids.isEmpty else { return .notFound }
            if try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM issue WHERE first_release = ? AND project_id IN (\(placeholders)))",
                arguments: [version] + StatementArguments(projectIDs)) == true
            {
                return .referencedByIssues
            }
            // Deploys and environments go with it (ON DELETE CASCADE).
            try db.execute(
                sql: "DELETE FROM release WHERE id IN (\(databaseQuestionMarks(count: ids.count)))", arguments: StatementArguments(ids))
            return .deleted
        }
    }

    public func createDeploy(version: String, projectIDs: [Int64], deploy: ReleaseInfo.Deploy) async throws -> ReleaseInfo.Deploy {
        guard !deploy.environment.isEmpty, deploy.environment.count <= 64, !deploy.environment.contains(where: { $0.isNewline || $0 == "/" }) else {
            throw DomainError(.invalidInput, "environment: \"\(deploy.environment)\" is not a valid environment name")
        }
        return try await writer.write { db in
            let ids = try Int64.fetchAll(
                db, sql: "SELECT id FROM release WHERE version = ? AND project_id IN (\(databaseQuestionMarks(count: projectIDs.count)))",
                arguments: [version] + StatementArguments(projectIDs))
            guard !ids.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
            var stored = deploy
            for id in ids {
                try db.execute(
                    sql: "INSERT INTO deploy (release_id, environment, name, url, date_started, date_finished) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [id, deploy.environment, deploy.name, deploy.url, deploy.dateStarted?.timeIntervalSince1970, deploy.dateFinished.timeIntervalSince1970])
                stored.id = db.lastInsertedRowID
                try db.execute(
                    sql: "UPDATE release SET date_released = coalesce(date_released, ?) WHERE id = ?",
                    arguments: [deploy.dateFinished.timeIntervalSince1970, id])
            }
            return stored
        }
    }
}
