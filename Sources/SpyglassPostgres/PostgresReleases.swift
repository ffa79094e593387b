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

    public func setCommits(version: String, projectIDs: [Int64], commits: [ReleaseCommit]) async throws {
        let logger = logger
        try await database.withTransaction { connection in
            let ids = try await connection.column(
                "SELECT id FROM release WHERE version = \(version) AND project_id = ANY(\(projectIDs)) ORDER BY id FOR UPDATE",
                as: Int64.self, logger: logger)
            guard !ids.isEmpty else { throw DomainError(.notFound, "release \"\(version)\" not found") }
            try await connection.execute("DELETE FROM release_commit WHERE release_id = ANY(\(ids))", logger: logger)
            guard !commits.isEmpty else { return }
            let repositories = Nullable(commits.map(\.repository), placeholder: "")
            let messages = Nullable(commits.map(\.message), placeholder: "")
            let names = Nullable(commits.map(\.authorName), placeholder: "")
            let emails = Nullable(commits.map(\.authorEmail), placeholder: "")
            let dates = Nullable(commits.map { $0.date?.timeIntervalSince1970 }, placeholder: 0)
            try await connection.execute(
                """
                INSERT INTO release_commit (release_id, position, sha, repository, message, author_name, author_email,
                    committed_at, files)
                SELECT r.id, v.position - 1, v.sha, CASE WHEN v.has_repository THEN v.repository END,
                    CASE WHEN v.has_message THEN v.message END, CASE WHEN v.has_name THEN v.author_name END,
                    CASE WHEN v.has_email THEN v.author_email END, CASE WHEN v.has_date THEN v.committed_at END, v.files
                FROM unnest(\(ids)::bigint[]) AS r(id)
                CROSS JOIN unnest(\(commits.map(\.sha))::text[], \(repositories.values)::text[], \(repositories.present)::boolean[],
                    \(messages.values)::text[], \(messages.present)::boolean[], \(names.values)::text[], \(names.present)::boolean[],
                    \(emails.values)::text[], \(emails.present)::boolean[], \(dates.values)::float8[], \(dates.present)::boolean[],
                    \(commits.map(\.filesJSON))::text[])
                    WITH ORDINALITY AS v(sha, repository, has_repository, message, has_message, author_name, has_name,
                        author_email, has_email, committed_at, has_date, files, position)
                """, logger: logger)
        }
    }

    public func commits(version: String, projectIDs: [Int64]) async throws -> [ReleaseCommit] {
        try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT c.sha, c.repository, c.message, c.author_name, c.author_email, c.committed_at, c.files
                FROM release_commit c
                WHERE c.release_id = (SELECT id FROM release WHERE version = \(version) AND project_id = ANY(\(projectIDs))
                    ORDER BY project_id LIMIT 1)
                ORDER BY c.position
                """, logger: logger
            ).map { row in
                ReleaseCommit(
                    sha: try row.decode("sha"), repository: try row.decode("repository"), message: try row.decode("message"),
                    authorName: try row.decode("author_name"), authorEmail: try row.decode("author_email"),
                    date: try row.optionalDate("committed_at"), files: ReleaseCommit.files(json: try row.decode("files")))
            }
        }
    }

    public func previousReleaseWithCommits(version: String, projectIDs: [Int64]) async throws -> (version: String, lastCommit: String)? {
        try await database.withConnection { connection in
            try await connection.row(
                """
                SELECT r.version, c.sha FROM release r JOIN release_commit c ON c.release_id = r.id AND c.position = 0
                WHERE r.project_id = ANY(\(projectIDs)) AND r.version <> \(version)
                    AND r.created_at <= coalesce(
                        (SELECT max(created_at) FROM release WHERE version = \(version) AND project_id = ANY(\(projectIDs))), r.created_at)
                ORDER BY r.created_at DESC, r.id DESC LIMIT 1
                """, logger: logger
            ).map { (version: try $0.decode("version"), lastCommit: try $0.decode("sha")) }
        }
    }

    public func repositories() async throws -> [RepositoryInfo] {
        try await database.withConnection { connection in
            try await connection.rows(
                #"SELECT id, name, url, provider, created_at FROM repository ORDER BY name COLLATE "C""#, logger: logger
            ).map { row in
                RepositoryInfo(
                    id: try row.decode("id"), name: try row.decode("name"), url: try row.decode("url"),
                    provider: try row.decode("provider"), createdAt: try row.date("created_at"))
            }
        }
    }

    public func createRepository(name: String, url: String?, provider: String, now: Date) async throws -> RepositoryInfo {
        try await database.withConnection { connection in
            guard
                let id = try await connection.scalar(
                    """
                    INSERT INTO repository (name, url, provider, created_at) VALUES (\(name), \(url), \(provider), \(now.timeIntervalSince1970))
                    ON CONFLICT (name) DO NOTHING RETURNING id
                    """, as: Int64.self, logger: logger)
            else { throw DomainError(.conflict, "a repository named \"\(name)\" exists") }
            return RepositoryInfo(id: id, name: name, url: url, provider: provider, createdAt: now)
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
            try await connection.execute("DELETE FROM release WHERE id = ANY(\(ids))", logger: logger)
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
        let commitRow = try await connection.row(
            """
            SELECT count(*) AS n, (SELECT sha FROM release_commit WHERE release_id = \(id) AND position = 0) AS last
            FROM release_commit WHERE release_id = \(id)
            """, logger: logger)
        let commits: (count: Int64, last: String?) = (
            try commitRow?.decode("n", as: Int64.self) ?? 0, try commitRow?.decode("last", as: String?.self) ?? nil
        )
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
            environments: environments, deploys: deploys, health: health, commitCount: Int(commits.count),
            lastCommit: commits.last)
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
