import Foundation
import SpyglassProtocol

/// A release of one project, with its counters, deploys and session health.
public struct ReleaseInfo: Sendable {
    public struct Deploy: Sendable {
        public var id: Int64
        public var environment: String
        public var name: String?
        public var url: String?
        public var dateStarted: Date?
        public var dateFinished: Date

        public init(id: Int64, environment: String, name: String?, url: String?, dateStarted: Date?, dateFinished: Date) {
            self.id = id
            self.environment = environment
            self.name = name
            self.url = url
            self.dateStarted = dateStarted
            self.dateFinished = dateFinished
        }
    }

    public struct Health: Sendable, Hashable {
        public var environment: String
        public var started: Int
        public var crashed: Int
        public var errored: Int
        public var abnormal: Int

        public init(environment: String, started: Int, crashed: Int, errored: Int, abnormal: Int) {
            self.environment = environment
            self.started = started
            self.crashed = crashed
            self.errored = errored
            self.abnormal = abnormal
        }

        /// The sum over environments, saturating: stored counters saturate at Int64.max, so two may not add up.
        public static func total(_ health: [Health]) -> Health {
            func sum(_ count: (Health) -> Int) -> Int {
                health.reduce(0) { total, entry in
                    let (value, overflow) = total.addingReportingOverflow(max(0, count(entry)))
                    return overflow ? .max : value
                }
            }
            return Health(
                environment: "", started: sum(\.started), crashed: sum(\.crashed), errored: sum(\.errored),
                abnormal: sum(\.abnormal))
        }

        /// Percentage of sessions that did not crash; `nil` without sessions.
        public var crashFreeRate: Double? {
            started > 0 ? max(0, 100 * (1 - Double(crashed) / Double(started))) : nil
        }
    }

    public var project: ProjectInfo
    public var version: String
    public var createdAt: Date
    public var dateReleased: Date?
    public var firstEvent: Date?
    public var lastEvent: Date?
    public var newIssues: Int
    public var ref: String?
    public var url: String?
    public var environments: [String]
    public var deploys: [Deploy]
    public var health: [Health]
    /// How many commits came with the release (``ReleaseStore/setCommits(version:projectIDs:commits:)``).
    public var commitCount: Int
    /// The newest of them, by sha.
    public var lastCommit: String?

    public init(
        project: ProjectInfo, version: String, createdAt: Date, dateReleased: Date?, firstEvent: Date?, lastEvent: Date?,
        newIssues: Int, ref: String?, url: String?, environments: [String], deploys: [Deploy], health: [Health],
        commitCount: Int = 0, lastCommit: String? = nil
    ) {
        self.commitCount = commitCount
        self.lastCommit = lastCommit
        self.project = project
        self.version = version
        self.createdAt = createdAt
        self.dateReleased = dateReleased
        self.firstEvent = firstEvent
        self.lastEvent = lastEvent
        self.newIssues = newIssues
        self.ref = ref
        self.url = url
        self.environments = environments
        self.deploys = deploys
        self.health = health
    }
}

/// A commit that came with a release, as `sentry-cli releases set-commits` sends it: from local git (with message,
/// author and changed files) or as a repository's head (`--auto`, `--commit repo@sha`: the sha alone).
public struct ReleaseCommit: Sendable, Hashable {
    public var sha: String
    public var repository: String?
    public var message: String?
    public var authorName: String?
    public var authorEmail: String?
    public var date: Date?
    public var files: [ChangedFile]

    /// A file the commit changed: its path and Sentry's change type (`A` added, `M` modified, `D` deleted).
    public struct ChangedFile: Sendable, Hashable {
        public var path: String
        public var type: String

        public init(path: String, type: String) {
            self.path = path
            self.type = type
        }
    }

    public init(
        sha: String, repository: String? = nil, message: String? = nil, authorName: String? = nil, authorEmail: String? = nil,
        date: Date? = nil, files: [ChangedFile] = []
    ) {
        self.sha = sha
        self.repository = repository
        self.message = message
        self.authorName = authorName
        self.authorEmail = authorEmail
        self.date = date
        self.files = files
    }

    /// Files as stored: a JSON array of `{path, type}`.
    public var filesJSON: String {
        JSONWriter.string(.array(files.map { ["path": .string($0.path), "type": .string($0.type)] }))
    }

    /// Files from their stored JSON (nothing from text that is not such an array).
    public static func files(json: String) -> [ChangedFile] {
        guard let array = (try? JSONParser.parse(json))?.arrayValue else { return [] }
        return array.compactMap { item in
            guard let path = item["path"]?.stringValue, let type = item["type"]?.stringValue else { return nil }
            return ChangedFile(path: path, type: type)
        }
    }
}

/// A source repository commits name (`GET/POST /organizations/{org}/repos/`): sentry-cli checks `--commit repo@sha`
/// and `--auto` against these.
public struct RepositoryInfo: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var url: String?
    public var provider: String
    public var createdAt: Date

    public init(id: Int64, name: String, url: String?, provider: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.url = url
        self.provider = provider
        self.createdAt = createdAt
    }
}

/// Changes to a release through the API.
public struct ReleaseChange: Sendable {
    public var ref: String?
    public var url: String?
    public var dateReleased: Date?

    public init(ref: String? = nil, url: String? = nil, dateReleased: Date? = nil) {
        self.ref = ref
        self.url = url
        self.dateReleased = dateReleased
    }
}

/// Releases of projects, their deploys and session health.
public protocol ReleaseStore: Sendable {
    /// Releases of the projects, newest first; up to `limit + 1`, so the caller knows whether there is a next page.
    func releases(projectIDs: [Int64], limit: Int, offset: Int) async throws -> [ReleaseInfo]
    func release(projectID: Int64, version: String) async throws -> ReleaseInfo?
    /// Creates the release in each project where it does not exist yet (and applies `change`); returns whether any was created.
    func createRelease(version: String, projectIDs: [Int64], change: ReleaseChange, now: Date) async throws -> Bool
    func updateRelease(version: String, projectIDs: [Int64], change: ReleaseChange) async throws
    func createDeploy(version: String, projectIDs: [Int64], deploy: ReleaseInfo.Deploy) async throws -> ReleaseInfo.Deploy
    /// Deletes the release from the projects, with its deploys and environments, unless an issue of theirs was
    /// first seen in it (Sentry refuses those too); its events and session counts stay.
    func deleteRelease(version: String, projectIDs: [Int64]) async throws -> ReleaseDeletion
    /// Replaces the commits of the release in each of the projects (newest first, as sent); throws `notFound` when no
    /// project has the release.
    func setCommits(version: String, projectIDs: [Int64], commits: [ReleaseCommit]) async throws
    /// The release's commits, newest first, from the first of the projects that has it.
    func commits(version: String, projectIDs: [Int64]) async throws -> [ReleaseCommit]
    /// The newest release created before `version` in the projects that has commits: its version and newest commit
    /// (sentry-cli starts the next release's commit range there).
    func previousReleaseWithCommits(version: String, projectIDs: [Int64]) async throws -> (version: String, lastCommit: String)?
    func repositories() async throws -> [RepositoryInfo]
    /// Adds a repository; throws `conflict` when one has the name.
    func createRepository(name: String, url: String?, provider: String, now: Date) async throws -> RepositoryInfo
}

/// What ``ReleaseStore/deleteRelease(version:projectIDs:)`` did.
public enum ReleaseDeletion: Sendable, Hashable {
    case deleted
    /// No project has the release.
    case notFound
    /// An issue of the projects was first seen in the release: nothing was deleted.
    case referencedByIssues
}
