import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``ReleaseStore`` of this backend.
    var releases: any ReleaseStore {
        switch database {
        case .sqlite(let database): SQLiteReleases(database)
        case .postgres(let database): PostgresReleases(database)
        }
    }

    /// An issue of the project resolved "in the next release" after `current` (nil: no release known then).
    func issueResolvedInNextRelease(projectID: Int64, shortID: Int64, current: String?) async throws -> Int64 {
        try await execute(
            """
            INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, first_seen, last_seen,
                resolution, resolution_release)
            VALUES (?, ?, 'boom', '', 'error', '{}', 'error', 'resolved', ?, ?, 'in_next_release', ?)
            """,
            [
                .int(projectID), .int(shortID), .double(now.timeIntervalSince1970), .double(now.timeIntervalSince1970),
                current.map(SQLValue.text) ?? .null,
            ])
        let id = try await strings(
            "SELECT CAST(id AS TEXT) FROM issue WHERE project_id = ? AND short_id = ?",
            [.int(projectID), .int(shortID)])
        return Int64(try #require(id.first ?? nil)) ?? 0
    }

    /// How an issue is resolved: `resolution:release`.
    func resolution(ofIssue id: Int64) async throws -> String? {
        try await strings(
            "SELECT resolution || ':' || coalesce(resolution_release, '') FROM issue WHERE id = ?", [.int(id)]
        ).first ?? nil
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct ReleaseStoreContractTests {
    @Test(arguments: Backend.allCases)
    func aReleaseIsCreatedOncePerProjectAndChangedWithoutLosingWhatIsNotGiven(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            #expect(
                try await releases.createRelease(
                    version: "1.0", projectIDs: [shop.id], change: ReleaseChange(ref: "abc"), now: store.now))
            #expect(
                try await releases.createRelease(
                    version: "1.0", projectIDs: [shop.id, blog.id], change: ReleaseChange(), now: store.now))
            #expect(
                try await !releases.createRelease(
                    version: "1.0", projectIDs: [shop.id, blog.id], change: ReleaseChange(), now: store.now))
            let created = try #require(try await releases.release(projectID: shop.id, version: "1.0"))
            #expect(created.project == shop && created.version == "1.0" && created.createdAt == store.now)
            #expect(created.ref == "abc" && created.url == nil && created.dateReleased == nil && created.newIssues == 0)
            #expect(created.environments.isEmpty && created.deploys.isEmpty && created.health.isEmpty)
            #expect(try await releases.release(projectID: blog.id, version: "1.0")?.ref == nil)

            let released = store.now.addingTimeInterval(600)
            try await releases.updateRelease(
                version: "1.0", projectIDs: [shop.id],
                change: ReleaseChange(url: "https://example.com/1.0", dateReleased: released))
            let updated = try #require(try await releases.release(projectID: shop.id, version: "1.0"))
            #expect(
                updated.ref == "abc" && updated.url == "https://example.com/1.0" && updated.dateReleased == released)
            #expect(try await releases.release(projectID: blog.id, version: "1.0")?.url == nil)
            #expect(try await releases.release(projectID: shop.id, version: "2.0") == nil)

            for version in ["", "a/b", "latest", String(repeating: "x", count: 201)] {
                let error = await #expect(throws: DomainError.self) {
                    try await releases.createRelease(
                        version: version, projectIDs: [shop.id], change: ReleaseChange(), now: store.now)
                }
                #expect(error?.kind == .invalidInput)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func releasesAreListedNewestFirstWithOneMoreThanTheLimit(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            for (offset, version) in ["1.0", "1.1", "1.2", "1.3"].enumerated() {
                _ = try await releases.createRelease(
                    version: version, projectIDs: [shop.id], change: ReleaseChange(),
                    now: store.now.addingTimeInterval(Double(offset)))
            }
            _ = try await releases.createRelease(
                version: "blog-1", projectIDs: [blog.id], change: ReleaseChange(), now: store.now.addingTimeInterval(10)
            )
            #expect(
                try await releases.releases(projectIDs: [shop.id], limit: 2, offset: 0).map(\.version) == [
                    "1.3", "1.2", "1.1",
                ])
            #expect(
                try await releases.releases(projectIDs: [shop.id], limit: 2, offset: 2).map(\.version) == [
                    "1.1", "1.0",
                ])
            #expect(
                try await releases.releases(projectIDs: [shop.id, blog.id], limit: 1, offset: 0).map(\.version) == [
                    "blog-1", "1.3",
                ])
            #expect(try await releases.releases(projectIDs: [], limit: 10, offset: 0).isEmpty)
        }
    }

    /// `sentry-cli releases delete`: the release goes with its deploys from the projects named, not from others; one
    /// that an issue was first seen in stays (as Sentry refuses it).
    @Test(arguments: Backend.allCases)
    func aReleaseIsDeletedWithItsDeploysUnlessAnIssueWasFirstSeenInIt(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            for version in ["1.0", "2.0"] {
                _ = try await releases.createRelease(
                    version: version, projectIDs: [shop.id, blog.id], change: ReleaseChange(), now: store.now)
            }
            let deploy = ReleaseInfo.Deploy(
                id: 0, environment: "production", name: "d", url: nil, dateStarted: nil, dateFinished: store.now)
            _ = try await releases.createDeploy(version: "1.0", projectIDs: [shop.id, blog.id], deploy: deploy)
            #expect(try await releases.deleteRelease(version: "1.0", projectIDs: [shop.id]) == .deleted)
            #expect(try await releases.release(projectID: shop.id, version: "1.0") == nil)
            #expect(try await releases.release(projectID: blog.id, version: "1.0")?.deploys.count == 1)
            #expect(try await store.strings("SELECT CAST(count(*) AS TEXT) FROM deploy") == ["1"])
            #expect(try await releases.deleteRelease(version: "1.0", projectIDs: [shop.id]) == .notFound)
            #expect(try await releases.deleteRelease(version: "9.9", projectIDs: [shop.id, blog.id]) == .notFound)

            try await store.execute(
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, first_seen, last_seen,
                    first_release)
                VALUES (?, 1, 'boom', '', 'error', '{}', 'error', 'unresolved', 0, 0, '2.0')
                """, [.int(blog.id)])
            #expect(try await releases.deleteRelease(version: "2.0", projectIDs: [shop.id, blog.id]) == .referencedByIssues)
            #expect(try await releases.release(projectID: shop.id, version: "2.0") != nil)
            #expect(try await releases.deleteRelease(version: "2.0", projectIDs: [shop.id]) == .deleted)
        }
    }

    /// Commits replace the release's commits in each project named, read back newest first with their files; the
    /// previous release with commits is found for the next one; repositories are listed by name, once each; a
    /// deleted release takes its commits.
    @Test(arguments: Backend.allCases)
    func commitsAreStoredPerReleaseAndThePreviousReleaseWithCommitsIsFound(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            for (offset, version) in ["1.0", "1.1", "2.0"].enumerated() {
                _ = try await releases.createRelease(
                    version: version, projectIDs: [shop.id, blog.id], change: ReleaseChange(),
                    now: store.now.addingTimeInterval(Double(offset) * 60))
            }
            let newest = ReleaseCommit(
                sha: "c3", repository: "acme/shop", message: "Fix checkout\n\nLonger text", authorName: "Ann",
                authorEmail: "ann@example.com", date: store.now, files: [.init(path: "shop/cart.py", type: "M"), .init(path: "new.py", type: "A")])
            let older = ReleaseCommit(sha: "c2", message: "Refactor", authorEmail: "bob@example.com")
            try await releases.setCommits(version: "1.1", projectIDs: [shop.id, blog.id], commits: [older])
            try await releases.setCommits(version: "1.1", projectIDs: [shop.id], commits: [newest, older])
            #expect(try await releases.commits(version: "1.1", projectIDs: [shop.id]) == [newest, older])
            #expect(try await releases.commits(version: "1.1", projectIDs: [blog.id]) == [older])
            #expect(try await releases.commits(version: "1.0", projectIDs: [shop.id]) == [])
            let release = try #require(try await releases.release(projectID: shop.id, version: "1.1"))
            #expect(release.commitCount == 2 && release.lastCommit == "c3")
            #expect(try await releases.release(projectID: shop.id, version: "1.0")?.commitCount == 0)
            await #expect(throws: DomainError.self) {
                try await releases.setCommits(version: "9.9", projectIDs: [shop.id], commits: [older])
            }

            // sentry-cli starts 2.0's range after 1.1's newest commit; a release not yet created looks at them all.
            #expect(try await releases.previousReleaseWithCommits(version: "2.0", projectIDs: [shop.id])?.lastCommit == "c3")
            #expect(try await releases.previousReleaseWithCommits(version: "2.0", projectIDs: [shop.id])?.version == "1.1")
            #expect(try await releases.previousReleaseWithCommits(version: "3.0", projectIDs: [shop.id])?.version == "1.1")
            #expect(try await releases.previousReleaseWithCommits(version: "1.0", projectIDs: [shop.id]) == nil)

            #expect(try await releases.repositories() == [])
            let repository = try await releases.createRepository(
                name: "acme/shop", url: "https://github.com/acme/shop", provider: "integrations:github", now: store.now)
            _ = try await releases.createRepository(name: "acme/api", url: nil, provider: "integrations:custom", now: store.now)
            #expect(try await releases.repositories().map(\.name) == ["acme/api", "acme/shop"])
            #expect(try await releases.repositories().last == repository)
            await #expect(throws: DomainError.self) {
                _ = try await releases.createRepository(name: "acme/shop", url: nil, provider: "git", now: store.now)
            }

            #expect(try await releases.deleteRelease(version: "1.1", projectIDs: [shop.id, blog.id]) == .deleted)
            #expect(try await store.strings("SELECT CAST(count(*) AS TEXT) FROM release_commit") == ["0"])
        }
    }

    @Test(arguments: Backend.allCases)
    func deploysAreStoredForTheReleaseInEachProjectAndDateAnUnreleasedRelease(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            _ = try await releases.createRelease(
                version: "1.0", projectIDs: [shop.id, blog.id], change: ReleaseChange(), now: store.now)
            let released = store.now.addingTimeInterval(60)
            try await releases.updateRelease(
                version: "1.0", projectIDs: [blog.id], change: ReleaseChange(dateReleased: released))
            let first = ReleaseInfo.Deploy(
                id: 0, environment: "staging", name: "first", url: nil, dateStarted: store.now.addingTimeInterval(100),
                dateFinished: store.now.addingTimeInterval(120))
            let stored = try await releases.createDeploy(version: "1.0", projectIDs: [shop.id, blog.id], deploy: first)
            #expect(stored.id > 0 && stored.environment == "staging" && stored.name == "first")
            let second = ReleaseInfo.Deploy(
                id: 0, environment: "production", name: nil, url: "https://ci.example/2", dateStarted: nil,
                dateFinished: store.now.addingTimeInterval(200))
            _ = try await releases.createDeploy(version: "1.0", projectIDs: [shop.id], deploy: second)

            let shopRelease = try #require(try await releases.release(projectID: shop.id, version: "1.0"))
            #expect(shopRelease.deploys.map(\.environment) == ["production", "staging"])
            #expect(shopRelease.deploys.map(\.url) == ["https://ci.example/2", nil])
            #expect(shopRelease.deploys.map(\.dateStarted) == [nil, store.now.addingTimeInterval(100)])
            #expect(
                shopRelease.deploys.map(\.dateFinished) == [
                    store.now.addingTimeInterval(200), store.now.addingTimeInterval(120),
                ])
            // The first deploy dates a release not yet released; a released one keeps its date.
            #expect(shopRelease.dateReleased == store.now.addingTimeInterval(120))
            #expect(try await releases.release(projectID: blog.id, version: "1.0")?.dateReleased == released)
            #expect(try await releases.release(projectID: blog.id, version: "1.0")?.deploys.map(\.name) == ["first"])

            let missing = await #expect(throws: DomainError.self) {
                try await releases.createDeploy(version: "9.9", projectIDs: [shop.id], deploy: first)
            }
            #expect(missing?.kind == .notFound)
            for environment in ["", "a/b", "two\nlines", String(repeating: "e", count: 65)] {
                var invalid = first
                invalid.environment = environment
                let error = await #expect(throws: DomainError.self) {
                    try await releases.createDeploy(version: "1.0", projectIDs: [shop.id], deploy: invalid)
                }
                #expect(error?.kind == .invalidInput)
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func aReleaseShowsItsEnvironmentsAndSessionHealthByEnvironment(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            _ = try await store.releases.createRelease(
                version: "1.0", projectIDs: [shop.id], change: ReleaseChange(), now: store.now)
            let releaseID = try await store.strings(
                "SELECT CAST(id AS TEXT) FROM release WHERE project_id = ? AND version = '1.0'", [.int(shop.id)])
            let id = Int64(try #require(releaseID.first ?? nil)) ?? 0
            for environment in ["staging", "Production", "_canary"] {
                try await store.execute(
                    "INSERT INTO release_environment (release_id, environment, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                    [
                        .int(id), .text(environment), .double(store.now.timeIntervalSince1970),
                        .double(store.now.timeIntervalSince1970),
                    ])
            }
            try await store.execute(
                """
                INSERT INTO release_sessions (project_id, release, environment, started, exited, errored, crashed, abnormal)
                VALUES (?, '1.0', 'staging', 10, 5, 2, 1, 0), (?, '1.0', 'Production', 100, 90, 5, 3, 1),
                    (?, '1.1', 'production', 7, 7, 0, 0, 0)
                """, [.int(shop.id), .int(shop.id), .int(shop.id)])
            let release = try #require(try await store.releases.release(projectID: shop.id, version: "1.0"))
            #expect(release.environments == ["Production", "_canary", "staging"])
            #expect(
                release.health == [
                    ReleaseInfo.Health(environment: "Production", started: 100, crashed: 3, errored: 5, abnormal: 1),
                    ReleaseInfo.Health(environment: "staging", started: 10, crashed: 1, errored: 2, abnormal: 0),
                ])
        }
    }

    @Test(arguments: Backend.allCases)
    func aNewReleaseTurnsResolvedInNextReleaseIntoResolvedInThatRelease(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let releases = store.releases
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            _ = try await releases.createRelease(
                version: "1.0", projectIDs: [shop.id], change: ReleaseChange(), now: store.now)
            let afterOne = try await store.issueResolvedInNextRelease(projectID: shop.id, shortID: 1, current: "1.0")
            let withoutRelease = try await store.issueResolvedInNextRelease(
                projectID: shop.id, shortID: 2, current: nil)
            let elsewhere = try await store.issueResolvedInNextRelease(projectID: blog.id, shortID: 1, current: nil)

            // Creating the current release again changes nothing.
            #expect(
                try await !releases.createRelease(
                    version: "1.0", projectIDs: [shop.id], change: ReleaseChange(), now: store.now))
            #expect(try await store.resolution(ofIssue: afterOne) == "in_next_release:1.0")

            _ = try await releases.createRelease(
                version: "1.1", projectIDs: [shop.id], change: ReleaseChange(), now: store.now.addingTimeInterval(60))
            #expect(try await store.resolution(ofIssue: afterOne) == "in_release:1.1")
            #expect(try await store.resolution(ofIssue: withoutRelease) == "in_release:1.1")
            #expect(try await store.resolution(ofIssue: elsewhere) == "in_next_release:")
        }
    }
}
