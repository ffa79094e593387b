import Foundation
import SpyglassProtocol

/// An issue with its counters.
public struct IssueInfo: Sendable, Hashable {
    public var id: Int64
    public var project: ProjectInfo
    public var shortID: Int64
    public var title: String
    public var culprit: String
    public var type: String
    public var metadata: JSONValue
    public var level: Level
    public var status: IssueStatus
    public var substatus: IssueSubstatus?
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
        metadata: JSONValue, level: Level, status: IssueStatus, substatus: IssueSubstatus?, firstSeen: Date, lastSeen: Date,
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

/// A tag key of an issue with its most frequent values.
/// A tag value and the events of the projects' issues that carried it.
public struct TagValueCount: Sendable, Hashable {
    public var key: String
    public var value: String
    public var count: Int

    public init(key: String, value: String, count: Int) {
        self.key = key
        self.value = value
        self.count = count
    }
}

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

/// A user an issue's events named (`user` in the event, or the client IP address when it names nobody).
public struct AffectedUser: Sendable, Hashable {
    /// The key the user is counted by: `id:…`, `email:…`, `username:…` or `ip:…`.
    public var key: String
    public var id: String?
    public var email: String?
    public var username: String?
    public var ipAddress: String?
    /// Events of the issue that named the user.
    public var timesSeen: Int
    /// Nil for users counted before last-seen times were kept.
    public var lastSeen: Date?

    public init(key: String, id: String?, email: String?, username: String?, ipAddress: String?, timesSeen: Int, lastSeen: Date?) {
        self.key = key
        self.id = id
        self.email = email
        self.username = username
        self.ipAddress = ipAddress
        self.timesSeen = timesSeen
        self.lastSeen = lastSeen
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
    public var status: IssueStatus?
    /// How a `resolved` status applies (default: now). `inNextRelease`'s current release is filled in by the store.
    public var resolution: Resolution?
    /// How long an `ignored` status lasts (default: forever).
    public var ignore: IgnoreCondition?
    /// Assign to the user with this e-mail, or unassign (`.some(nil)`).
    public var assigneeEmail: String??
    /// Who makes the change (for the activity log).
    public var actorID: Int64?

    public init(
        status: IssueStatus? = nil, resolution: Resolution? = nil, ignore: IgnoreCondition? = nil, assigneeEmail: String?? = nil,
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
    public var kind: ActivityKind
    public var user: APIUser?
    public var data: JSONValue
    public var date: Date

    public init(id: Int64, kind: ActivityKind, user: APIUser?, data: JSONValue, date: Date) {
        self.id = id
        self.kind = kind
        self.user = user
        self.data = data
        self.date = date
    }
}

/// Issues: their state and lifecycle, merges, activity and comments, tags and counts.
public protocol IssueStore: Sendable {
    /// Issues matching the request; up to `limit + 1`, so the caller knows whether there is a next page.
    func issues(_ request: IssueListRequest) async throws -> [IssueInfo]
    func issue(id: Int64) async throws -> IssueInfo?
    /// Event counts per hour (epoch hour → count) of each issue since `since`.
    func hourlyCounts(issueIDs: [Int64], since: Date) async throws -> [Int64: [Int64: Int]]
    func tags(issueID: Int64, top: Int) async throws -> [TagSummary]
    /// Stored events of each issue from `from` (inclusive) to `to` (exclusive) per bucket of `bucketSeconds`
    /// (bucket index → count, index 0 starting at `from`): the short time ranges, finer than ``hourlyCounts``.
    func eventCounts(issueIDs: [Int64], from: Date, to: Date, bucketSeconds: Int) async throws -> [Int64: [Int64: Int]]
    /// How many of each issue's affected users were last seen from `from` to `to` (both inclusive).
    func userCounts(issueIDs: [Int64], from: Date, to: Date) async throws -> [Int64: Int]
    /// How many issues the request's projects and query select (sort, limit and offset aside), counting up to
    /// `upTo` at most: the "26–50 of 312" of a list.
    func countIssues(_ request: IssueListRequest, upTo limit: Int) async throws -> Int
    /// The tag values seen most across the projects' 500 most recently seen issues (the search box's suggestions:
    /// a bounded read on every stream page), most events first.
    func tagValues(projectIDs: [Int64], limit: Int) async throws -> [TagValueCount]
    /// The issue's affected users, most recently seen first.
    func affectedUsers(issueID: Int64, limit: Int) async throws -> [AffectedUser]
    /// The grouping hashes that lead to the issue.
    func hashes(issueID: Int64) async throws -> [String]
    /// The issue's stored events per grouping hash they came by (the events an unmerge of that hash moves).
    func eventCountsByHash(issueID: Int64) async throws -> [String: Int]
    /// Other issues of the project that look like this one: the same title, or the same type and culprit.
    func similarIssueIDs(of issue: IssueInfo, limit: Int) async throws -> [Int64]
    /// Issues of a project that regressed in `version` (newest regression first).
    func regressedIssueIDs(projectID: Int64, version: String, limit: Int) async throws -> [Int64]

    func updateIssues(ids: [Int64], change: IssueChange, now: Date) async throws
    func deleteIssue(id: Int64) async throws
    /// Merges issues into the one with the most events; returns (parent, children). The parent's activity names
    /// who merged (`actorID`, nil: Spyglass) and the short ids of the issues merged into it.
    func mergeIssues(ids: [Int64], actorID: Int64?) async throws -> (parent: Int64, children: [Int64])
    /// Moves each hash, and the events that came by it, into a new issue of its own; returns their ids in the order
    /// of `hashes`. One transaction: when one hash cannot be split out, nothing is.
    func unmerge(issueID: Int64, hashes: [String]) async throws -> [Int64]

    /// The issue's activity, oldest first.
    func activities(issueID: Int64) async throws -> [ActivityInfo]
    func addComment(issueID: Int64, userID: Int64, text: String, now: Date) async throws -> ActivityInfo
}

extension IssueStore {
    /// Merges issues, by nobody in particular (tests, tools).
    public func mergeIssues(ids: [Int64]) async throws -> (parent: Int64, children: [Int64]) {
        try await mergeIssues(ids: ids, actorID: nil)
    }

    /// Moves a hash, and the events that came by it, into a new issue; returns its id.
    public func unmerge(issueID: Int64, hash: String) async throws -> Int64 {
        guard let created = try await unmerge(issueID: issueID, hashes: [hash]).first else {
            throw DomainError(.notFound, "issue \(issueID) has no hash \(hash)")
        }
        return created
    }
}
