import Foundation
import SpyglassProtocol

/// A user as the API sees them (from a bearer token).
public struct APIUser: Sendable, Hashable {
    public var id: Int64
    public var email: String
    public var isAdmin: Bool

    public init(id: Int64, email: String, isAdmin: Bool) {
        self.id = id
        self.email = email
        self.isAdmin = isAdmin
    }
}

/// A project and its client keys, for the API.
public struct ProjectInfo: Sendable, Hashable {
    public var id: Int64
    public var slug: String
    public var name: String
    public var createdAt: Date

    public init(id: Int64, slug: String, name: String, createdAt: Date) {
        self.id = id
        self.slug = slug
        self.name = name
        self.createdAt = createdAt
    }
}

/// A client key, for the API.
public struct KeyInfo: Sendable, Hashable {
    public var id: Int64
    public var publicKey: String
    public var label: String
    public var isActive: Bool
    public var createdAt: Date
    public var rateLimitPerMinute: Int?

    public init(id: Int64, publicKey: String, label: String, isActive: Bool, createdAt: Date, rateLimitPerMinute: Int?) {
        self.id = id
        self.publicKey = publicKey
        self.label = label
        self.isActive = isActive
        self.createdAt = createdAt
        self.rateLimitPerMinute = rateLimitPerMinute
    }
}

/// An issue with its counters.
public struct IssueInfo: Sendable, Hashable {
    public var id: Int64
    public var project: ProjectInfo
    public var shortID: Int64
    public var title: String
    public var culprit: String
    public var type: String
    public var metadata: JSONValue
    public var level: String
    public var status: String
    public var substatus: String?
    public var firstSeen: Date
    public var lastSeen: Date
    public var timesSeen: Int
    public var userCount: Int
    public var firstRelease: String?
    public var lastRelease: String?
    public var assignee: APIUser?
    /// How a resolved issue was resolved.
    public var resolution: Resolution?
    /// What ends an ignored issue's ignoring.
    public var ignore: IgnoreState?

    public init(
        id: Int64, project: ProjectInfo, shortID: Int64, title: String, culprit: String, type: String,
        metadata: JSONValue, level: String, status: String, substatus: String?, firstSeen: Date, lastSeen: Date,
        timesSeen: Int, userCount: Int, firstRelease: String?, lastRelease: String?, assignee: APIUser?,
        resolution: Resolution? = nil, ignore: IgnoreState? = nil
    ) {
        self.id = id
        self.project = project
        self.shortID = shortID
        self.title = title
        self.culprit = culprit
        self.type = type
        self.metadata = metadata
        self.level = level
        self.status = status
        self.substatus = substatus
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.timesSeen = timesSeen
        self.userCount = userCount
        self.firstRelease = firstRelease
        self.lastRelease = lastRelease
        self.assignee = assignee
        self.resolution = resolution
        self.ignore = ignore
    }

    /// `SLUG-N`, upper-cased, as Sentry shows it.
    public var shortIDText: String { "\(project.slug.uppercased())-\(shortID)" }
}

/// A stored event.
public struct EventInfo: Sendable {
    public var eventID: String
    public var projectID: Int64
    public var issueID: Int64?
    public var timestamp: Date
    public var received: Date
    public var payload: JSONValue
    public var hash: String?

    public init(eventID: String, projectID: Int64, issueID: Int64?, timestamp: Date, received: Date, payload: JSONValue, hash: String?) {
        self.eventID = eventID
        self.projectID = projectID
        self.issueID = issueID
        self.timestamp = timestamp
        self.received = received
        self.payload = payload
        self.hash = hash
    }
}

/// A tag key of an issue with its most frequent values.
public struct TagSummary: Sendable, Hashable {
    public struct Value: Sendable, Hashable {
        public var value: String
        public var count: Int
        public var firstSeen: Date
        public var lastSeen: Date

        public init(value: String, count: Int, firstSeen: Date, lastSeen: Date) {
            self.value = value
            self.count = count
            self.firstSeen = firstSeen
            self.lastSeen = lastSeen
        }
    }

    public var key: String
    public var totalValues: Int
    public var uniqueValues: Int
    public var topValues: [Value]

    public init(key: String, totalValues: Int, uniqueValues: Int, topValues: [Value]) {
        self.key = key
        self.totalValues = totalValues
        self.uniqueValues = uniqueValues
        self.topValues = topValues
    }
}

/// How an issue list is ordered: `date` (last seen), `new` (first seen), `freq` (events), `user` (users).
public enum IssueSort: String, Sendable, CaseIterable {
    case date, new, freq, user
}

/// One page of an issue list.
public struct IssueListRequest: Sendable {
    public var projectIDs: [Int64]
    public var query: IssueQuery
    public var sort: IssueSort
    public var limit: Int
    public var offset: Int
    /// The user `assigned:me` means.
    public var userID: Int64

    public init(projectIDs: [Int64], query: IssueQuery, sort: IssueSort, limit: Int, offset: Int, userID: Int64) {
        self.projectIDs = projectIDs
        self.query = query
        self.sort = sort
        self.limit = limit
        self.offset = offset
        self.userID = userID
    }
}

/// A change to issues through the API.
public struct IssueChange: Sendable {
    /// `resolved`, `unresolved` or `ignored`.
    public var status: String?
    /// How a `resolved` status applies (default: now). `inNextRelease`'s current release is filled in by the store.
    public var resolution: Resolution?
    /// How long an `ignored` status lasts (default: forever).
    public var ignore: IgnoreCondition?
    /// Assign to the user with this e-mail, or unassign (`.some(nil)`).
    public var assigneeEmail: String??
    /// Who makes the change (for the activity log).
    public var actorID: Int64?

    public init(
        status: String? = nil, resolution: Resolution? = nil, ignore: IgnoreCondition? = nil, assigneeEmail: String?? = nil,
        actorID: Int64? = nil
    ) {
        self.status = status
        self.resolution = resolution
        self.ignore = ignore
        self.assigneeEmail = assigneeEmail
        self.actorID = actorID
    }
}

/// One entry of an issue's activity log.
public struct ActivityInfo: Sendable {
    public var id: Int64
    /// `first_seen`, `set_regression`, `set_resolved`, `set_ignored`, `set_unresolved`, `set_escalating`,
    /// `assigned`, `unassigned`, `merge`, `note`, `auto_resolved`.
    public var type: String
    public var user: APIUser?
    public var data: JSONValue
    public var date: Date

    public init(id: Int64, type: String, user: APIUser?, data: JSONValue, date: Date) {
        self.id = id
        self.type = type
        self.user = user
        self.data = data
        self.date = date
    }
}

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

    public init(
        project: ProjectInfo, version: String, createdAt: Date, dateReleased: Date?, firstEvent: Date?, lastEvent: Date?,
        newIssues: Int, ref: String?, url: String?, environments: [String], deploys: [Deploy], health: [Health]
    ) {
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

/// What the REST API reads and changes.
public protocol APIStore: Sendable {
    func user(tokenHash: String) async throws -> APIUser?
    /// Every project, by id (what is visible of them is the policy's business: ``Viewer``).
    func allProjects() async throws -> [ProjectInfo]
    /// The projects `userID` is a member of, with their role there.
    func memberships(userID: Int64) async throws -> [Int64: ProjectRole]
    func keys(projectID: Int64) async throws -> [KeyInfo]
    /// Issues matching the request; up to `limit + 1`, so the caller knows whether there is a next page.
    func issues(_ request: IssueListRequest) async throws -> [IssueInfo]
    func issue(id: Int64) async throws -> IssueInfo?
    /// Event counts per hour (epoch hour → count) of each issue since `since`.
    func hourlyCounts(issueIDs: [Int64], since: Date) async throws -> [Int64: [Int64: Int]]
    func updateIssues(ids: [Int64], change: IssueChange, now: Date) async throws
    func deleteIssue(id: Int64) async throws
    /// Merges issues into the one with the most events; returns (parent, children).
    func mergeIssues(ids: [Int64]) async throws -> (parent: Int64, children: [Int64])
    /// Moves a hash, and the events that came by it, into a new issue; returns its id.
    func unmerge(issueID: Int64, hash: String) async throws -> Int64
    func hashes(issueID: Int64) async throws -> [String]
    /// Events of an issue, newest first; up to `limit + 1`.
    func events(issueID: Int64, limit: Int, offset: Int) async throws -> [EventInfo]
    func latestEvent(issueID: Int64) async throws -> EventInfo?
    /// The events just before and after `eventID` in its issue.
    func neighbours(of event: EventInfo) async throws -> (previous: String?, next: String?)
    func event(projectID: Int64, eventID: String) async throws -> EventInfo?
    func tags(issueID: Int64, top: Int) async throws -> [TagSummary]
    func activities(issueID: Int64) async throws -> [ActivityInfo]
    func addComment(issueID: Int64, userID: Int64, text: String, now: Date) async throws -> ActivityInfo

    /// Releases of the projects, newest first.
    func releases(projectIDs: [Int64], limit: Int, offset: Int) async throws -> [ReleaseInfo]
    func release(projectID: Int64, version: String) async throws -> ReleaseInfo?
    /// Creates the release in each project where it does not exist yet (and applies `change`); returns whether any was created.
    func createRelease(version: String, projectIDs: [Int64], change: ReleaseChange, now: Date) async throws -> Bool
    func updateRelease(version: String, projectIDs: [Int64], change: ReleaseChange) async throws
    func createDeploy(version: String, projectIDs: [Int64], deploy: ReleaseInfo.Deploy) async throws -> ReleaseInfo.Deploy
    /// Auto-resolve after this many hours without events (`nil`: off).
    func setResolveAge(projectID: Int64, hours: Int?) async throws
    func resolveAge(projectID: Int64) async throws -> Int?

    /// The project's alert rules, oldest first.
    func alertRules(projectID: Int64) async throws -> [AlertRule]
    func alertRule(id: Int64, projectID: Int64) async throws -> AlertRule?
    /// Stores a new rule; returns its id.
    func createAlertRule(_ rule: AlertRule, projectID: Int64, now: Date) async throws -> Int64
    /// Replaces a rule; false when the project has no such rule.
    func updateAlertRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date) async throws -> Bool
    func deleteAlertRule(id: Int64, projectID: Int64) async throws -> Bool
    /// Notifications about an issue, or of a rule, newest first, with their attempts.
    func deliveries(issueID: Int64?, ruleID: Int64?, limit: Int) async throws -> [DeliveryInfo]
}
