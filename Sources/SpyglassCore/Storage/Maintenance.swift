import Foundation

/// What the first start (or any later start) found or created.
public struct BootstrapReport: Sendable {
    /// The admin account created on this start, if one was.
    public var createdAdmin: AccountInfo?
    /// The generated one-time password of `createdAdmin`, when none was configured.
    public var generatedPassword: String?
    /// Whether the `default` project was created on this start.
    public var createdProject: Bool
    /// The project whose DSN is shown at start: `default` if it exists, else the oldest one.
    public var project: ProjectInfo?
    /// That project's active keys, oldest first.
    public var keys: [KeyInfo]

    public init(
        createdAdmin: AccountInfo? = nil, generatedPassword: String? = nil, createdProject: Bool = false,
        project: ProjectInfo? = nil, keys: [KeyInfo] = []
    ) {
        self.createdAdmin = createdAdmin
        self.generatedPassword = generatedPassword
        self.createdProject = createdProject
        self.project = project
        self.keys = keys
    }
}

/// The instance as a whole: first start, readiness, the periodic jobs, backup and checks.
public protocol MaintenanceStore: ReadinessProbe {
    /// Makes sure an admin account and a project exist; idempotent, so every start calls it.
    ///
    /// An admin is created when there is none (with `adminPassword`, else a generated one-time password);
    /// the `default` project when there is no project at all.
    func bootstrap(adminEmail: String, adminPassword: String?, now: Date) async throws -> BootstrapReport
    /// Deletes events beyond the policy, in short transactions. The first and the latest event of every issue,
    /// and pinned events (regressions), are kept whatever their age; issue counters keep their totals.
    /// Returns the number of events deleted.
    func enforceRetention(_ policy: RetentionPolicy, now: Date) async throws -> Int
    /// Drops per-minute counters and delivered notifications older than they are useful; returns rows deleted.
    func pruneAlertData(now: Date, maxAge: Double) async throws -> Int
    /// Ages substatuses (`new`/`regressed` → `ongoing`), auto-resolves idle issues and ends timed ignores;
    /// returns how many issues changed.
    func agePeriodically(now: Date) async throws -> Int
    /// Runs `jobs` unless another process on the same database is running its own at this moment; returns whether
    /// it ran them. The periodic jobs go through this, so with several nodes on one PostgreSQL database one node
    /// at a time runs them (a session-level advisory lock, released when the jobs end or the node's connection
    /// does). SQLite has one server process: the jobs always run.
    func exclusively(_ jobs: () async throws -> Void) async throws -> Bool
    /// Writes a consistent copy of the database to `destination`, safe while the server runs.
    func backup(to destination: URL) async throws
    /// The database's own consistency checks; an empty list means it is sound.
    func integrityProblems() async throws -> [String]
    /// Records the base URL the server serves under (its DSNs' host), for the CLI's `project dsn` and `list`.
    func recordServedBaseURL(_ url: String) async throws
    /// The base URL the server last recorded, nil before any server ran on this database.
    func servedBaseURL() async throws -> String?
}

/// Every port of one storage backend: what the composition root hands to controllers and services.
public struct Storage: Sendable {
    public var projects: any ProjectStore
    public var accounts: any AccountStore
    public var issues: any IssueStore
    public var events: any EventStore
    public var releases: any ReleaseStore
    public var alertRules: any AlertRuleStore
    public var outbox: any NotificationOutbox
    public var maintenance: any MaintenanceStore
    public var artifacts: any ArtifactStore
    public var savedSearches: any SavedSearchStore
    public var logs: any LogStore

    public init(
        projects: any ProjectStore, accounts: any AccountStore, issues: any IssueStore, events: any EventStore,
        releases: any ReleaseStore, alertRules: any AlertRuleStore, outbox: any NotificationOutbox,
        maintenance: any MaintenanceStore, artifacts: any ArtifactStore, savedSearches: any SavedSearchStore,
        logs: any LogStore
    ) {
        self.logs = logs
        self.artifacts = artifacts
        self.savedSearches = savedSearches
        self.projects = projects
        self.accounts = accounts
        self.issues = issues
        self.events = events
        self.releases = releases
        self.alertRules = alertRules
        self.outbox = outbox
        self.maintenance = maintenance
    }
}
