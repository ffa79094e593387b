import Foundation
import Logging
import PostgresNIO
import SpyglassCore

/// Releases, deploys and session health in PostgreSQL: the ``ReleaseStore`` port.
public struct PostgresReleases: ReleaseStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    public func releases(projectIDs: [Int64], limit: Int, offset: Int) async throws -> [ReleaseInfo] {
        guard !projectIDs.isEmpty else { return [] }
        return try await database.withConnection { connection in
            // One more than asked, as SQLite's adapter reads: the caller learns that there is a next page.
            let rows = try await connection.rows(
                """
                SELECT id FROM release WHERE project_id = ANY(\(projectIDs))
                ORDER BY created_at DESC, id DESC LIMIT \(limit + 1) OFFSET \(offset)
                """, logger: logger)
            var releases: [ReleaseInfo] = []
            for row in rows {
                if let release = try await releaseInfo(id: try row.decode("id"), on: connection) {
                    releases.append(release)
                }
            }
            return releases
        }
    }

    public func release(projectID: Int64, version: String) async throws -> ReleaseInfo? {
        try await database.withConnection { connection in
            guard
                let row = try await connection.row(
                    "SELECT id FROM release WHERE project_id = \(projectID) AND version = \(version)", logger: logger)
            else { return nil }
            return try await releaseInfo(id: try row.decode("id"), on: connection)
        }
    }

    public func createRelease(version: String, projectIDs: [Int64], change: ReleaseChange, now: Date) async throws
        -> Bool
    {
        guard EventNormalizer.isValidRelease(version) else {
            throw DomainError(
                .invalidInput,
                "version: \"\(version)\" is not a valid release (no /, \\, newlines or tabs; not . .. or latest; at most 200 characters)"
            )
        }
        return try await database.withTransaction { connection in
            var created = false
            for projectID in projectIDs {
                let inserted = try await connection.row(
                    """
                    INSERT INTO release (project_id, version, created_at) VALUES (\(projectID), \(version), \(now.timeIntervalSince1970))
                    ON CONFLICT (project_id, version) DO NOTHING RETURNING id
                    """, logger: logger)
                if inserted != nil {
                    created = true
                    try await releaseCreated(version, projectID: projectID, on: connection)
                }
            }
            try await apply(change, version: version, projectIDs: projectIDs, on: connection)
            return created
        }
    }

    public func updateRelease(version: String, projectIDs: [Int64], change: ReleaseChange) async throws {
        try await database.withConnection { connection in
            try await apply(change, version: version, projectIDs: projectIDs, on: connection)
        }
    }

    public func deleteRelease(version: String, projectIDs: [Int64]) async throws -> ReleaseDeletion {
        let logger = database.logger
        return try await database.withTransaction { connection in
            let ids = try await connection.column(
                "SELECT id FROM release WHERE version = \(version) AND project_id = ANY(\(projectIDs)) FOR UPDATE",
                as: Int64.self, logger: logger)
            guard !ids.isEmpty else { return .notFound }
            if try await connection.scalar(
                "SELECT EXISTS (SELECT 1 FROM issue WHERE first_release = \(version) AND project_id = ANY(\(projectIDs)))",
                as: Bool.self, logger: logger) == true
            {
                return .referencedByIssues
            }
            // Deploys and environments go with it (ON DELETE CASCADE).
            try await connection.query("DELETE FROM release WHERE id = ANY(\(ids))", logger: logger)
            return .deleted
        }
    }

    public func createDeploy(version: String, projectIDs: [Int64], deploy: ReleaseInfo.Deploy) async throws
        -> ReleaseInfo.Deploy
    {
        guard !deploy.environment.isEmpty, deploy.environment.count <= 64,
            !deploy.environment.contains(where: { $0.isNewline || $0 == "/" })
        else {
            throw DomainError(.invalidInput, "environment: \"\(deploy.environment)\" is not a valid environment name")
        }
        return try await database.withTransaction { connection in
            let ids = try await connection.rows(
                "SELECT id FROM release WHERE version = \(version) AND project_id = ANY(\(projectIDs)) ORDER BY id",
                logger: logger
            ).map { try $0.decode("id", as: Int64.self) }
            guard !ids.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
            var stored = deploy
            let finished = deploy.dateFinished.timeIntervalSince1970
            for id in ids {
                let row = try await connection.row(
                    """
                    INSERT INTO deploy (release_id, environment, name, url, date_started, date_finished)
                    VALUES (\(id), \(deploy.environment), \(deploy.name), \(deploy.url), \(deploy.dateStarted?.timeIntervalSince1970),
                        \(finished))
                    RETURNING id
                    """, logger: logger)
                stored.id = try row?.decode("id", as: Int64.self) ?? stored.id
                try await connection.execute(
                    "UPDATE release SET date_released = coalesce(date_released, \(finished)) WHERE id = \(id)",
                    logger: logger)
            }
            return stored
        }
    }

    // MARK: - Rows

    private func apply(_ change: ReleaseChange, version: String, projectIDs: [Int64], on connection: PostgresConnection)
        async throws
    {
        try await connection.execute(
            """
            UPDATE release SET ref = coalesce(\(change.ref), ref), url = coalesce(\(change.url), url),
                date_released = coalesce(\(change.dateReleased?.timeIntervalSince1970), date_released)
            WHERE version = \(version) AND project_id = ANY(\(projectIDs))
            """, logger: logger)
    }

    private func releaseInfo(id: Int64, on connection: PostgresConnection) async throws -> ReleaseInfo? {
        guard
            let row = try await connection.row(
                """
                SELECT r.version, r.created_at, r.date_released, r.first_event, r.last_event, r.new_issues, r.ref, r.url,
                    p.id AS project_id, p.slug AS project_slug, p.name AS project_name, p.created_at AS project_created_at
                FROM release r JOIN project p ON p.id = r.project_id WHERE r.id = \(id)
                """, logger: logger)
        else { return nil }
        let version: String = try row.decode("version")
        let projectID: Int64 = try row.decode("project_id")
        let environments = try await connection.rows(
            #"SELECT environment FROM release_environment WHERE release_id = \#(id) ORDER BY environment COLLATE "C""#,
            logger: logger
        ).map { try $0.decode("environment", as: String.self) }
        let deploys = try await connection.rows(
            """
            SELECT id, environment, name, url, date_started, date_finished FROM deploy WHERE release_id = \(id)
            ORDER BY date_finished DESC, id DESC
            """, logger: logger
        ).map { deploy in
            ReleaseInfo.Deploy(
                id: try deploy.decode("id"), environment: try deploy.decode("environment"),
                name: try deploy.decode("name"),
                url: try deploy.decode("url"), dateStarted: try deploy.optionalDate("date_started"),
                dateFinished: try deploy.date("date_finished"))
        }
        let health = try await connection.rows(
            """
            SELECT environment, started, crashed, errored, abnormal FROM release_sessions
            WHERE project_id = \(projectID) AND release = \(version) ORDER BY environment COLLATE "C"
            """, logger: logger
        ).map { row in
            ReleaseInfo.Health(
                environment: try row.decode("environment"), started: try row.decode("started"),
                crashed: try row.decode("crashed"),
                errored: try row.decode("errored"), abnormal: try row.decode("abnormal"))
        }
        return ReleaseInfo(
            project: ProjectInfo(
                id: projectID, slug: try row.decode("project_slug"), name: try row.decode("project_name"),
                createdAt: try row.textDate("project_created_at")),
            version: version, createdAt: try row.date("created_at"),
            dateReleased: try row.optionalDate("date_released"),
            firstEvent: try row.optionalDate("first_event"), lastEvent: try row.optionalDate("last_event"),
            newIssues: try row.decode("new_issues"), ref: try row.decode("ref"), url: try row.decode("url"),
            environments: environments, deploys: deploys, health: health)
    }

    /// A new release exists: "in next release" resolutions older than it now mean "in this release" (SQLite's
    /// `LifecycleRows.releaseCreated`; it touches only issue rows).
    private func releaseCreated(_ version: String, projectID: Int64, on connection: PostgresConnection) async throws {
        let pending = try await connection.rows(
            """
            SELECT id, resolution_release FROM issue
            WHERE project_id = \(projectID) AND status = \(IssueStatus.resolved.rawValue) AND resolution = 'in_next_release'
            """, logger: logger)
        guard !pending.isEmpty else { return }
        let currents = try pending.compactMap { try $0.decode("resolution_release", as: String?.self) }
        let book = try await releaseBook(projectID: projectID, versions: currents + [version], on: connection)
        guard let created = book.releases[version] else { return }
        for row in pending {
            let current: String? = try row.decode("resolution_release")
            if let current, let currentRef = book.releases[current],
                current == version || !book.ordering.isNewer(created, than: currentRef)
            {
                continue
            }
            try await connection.execute(
                """
                UPDATE issue SET resolution = 'in_release', resolution_release = \(version)
                WHERE id = \(try row.decode("id", as: Int64.self))
                """, logger: logger)
        }
    }

    /// The project's 10 newest releases (for the ordering) and the named ones, as SQLite's `ReleaseBook` loads them.
    private func releaseBook(
        projectID: Int64, versions: [String], on connection: PostgresConnection
    ) async throws -> (ordering: ReleaseOrdering, releases: [String: ReleaseRef]) {
        func ref(_ row: PostgresRandomAccessRow) throws -> ReleaseRef {
            ReleaseRef(version: try row.decode("version"), createdAt: try row.decode("created_at"))
        }
        let recent = try await connection.rows(
            "SELECT version, created_at FROM release WHERE project_id = \(projectID) ORDER BY created_at DESC, id DESC LIMIT 10",
            logger: logger
        ).map(ref)
        var releases = Dictionary(recent.map { ($0.version, $0) }, uniquingKeysWith: { first, _ in first })
        for version in versions where releases[version] == nil {
            if let row = try await connection.row(
                "SELECT version, created_at FROM release WHERE project_id = \(projectID) AND version = \(version)",
                logger: logger)
            {
                releases[version] = try ref(row)
            }
        }
        return (ReleaseOrdering(recentNewestFirst: recent.map(\.version)), releases)
    }
}
