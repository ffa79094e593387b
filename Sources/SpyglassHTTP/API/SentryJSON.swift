import Foundation
import SpyglassCore
import SpyglassProtocol

/// The REST API's answers in Sentry's shapes, one type each: camelCase, ids as strings, dates as ISO 8601 with
/// milliseconds (``APIJSON/response(encoding:status:headers:)``), and, as Sentry writes them, absent values as
/// explicit nulls (``Null``). An event's detail stays a JSON tree (``event(_:previous:next:)``): it is the event's
/// own payload rearranged.
enum SentryJSON {
    struct Organization: Encodable {
        var slug: String
        var name: String
    }

    struct Project: Encodable {
        var id: String
        var slug: String
        var name: String
        var dateCreated: Date
        var isMember = true
        var status = "active"
        var organization: Organization
        /// Hours until an unseen issue resolves itself (0: never); only in the answer to a settings change.
        var resolveAge: Int?

        init(_ project: ProjectInfo, organization: String, resolveAge: Int? = nil) {
            id = String(project.id)
            slug = project.slug
            name = project.name
            dateCreated = project.createdAt
            self.organization = Organization(slug: organization, name: organization)
            self.resolveAge = resolveAge
        }
    }

    struct Key: Encodable {
        struct RateLimit: Encodable {
            var window = 60
            var count: Int
        }

        struct Endpoints: Encodable {
            var `public`: String
            var secret: String
            var store: String
            var envelope: String
        }

        var id: String
        var name: String
        var label: String
        var `public`: String
        var isActive: Bool
        var projectId: Int64
        var dateCreated: Date
        @Null var rateLimit: RateLimit?
        var dsn: Endpoints

        init(_ key: KeyInfo, project: ProjectInfo, baseURL: URL) {
            let dsn = DSN(baseURL: baseURL, publicKey: key.publicKey, projectID: Int(project.id))?.description ?? ""
            let base = SentryJSON.base(baseURL)
            id = key.publicKey
            name = key.label
            label = key.label
            `public` = key.publicKey
            isActive = key.isActive
            projectId = project.id
            dateCreated = key.createdAt
            rateLimit = key.rateLimitPerMinute.map { RateLimit(count: $0) }
            self.dsn = Endpoints(
                public: dsn, secret: dsn, store: "\(base)/api/\(project.id)/store/", envelope: "\(base)/api/\(project.id)/envelope/")
        }
    }

    struct User: Encodable {
        var type = "user"
        var id: String
        var name: String
        var email: String

        init(_ user: APIUser) {
            id = String(user.id)
            name = user.email
            email = user.email
        }
    }

    /// `GET /api/0/`: the token's user and, as Sentry's scopes, what it may do.
    struct Index: Encodable {
        struct Auth: Encodable { var scopes: [String] }
        var version = "0"
        var auth: Auth
        var user: User
    }

    /// Sentry's user report: who wrote what, when, about which event and issue.
    struct UserFeedback: Encodable {
        struct EventRef: Encodable {
            var id: String
            var eventID: String
        }

        var id: String
        @Null var eventID: String?
        var name: String
        var email: String
        var comments: String
        var dateCreated: Date
        var user = JSONValue.null
        @Null var event: EventRef?
        @Null var issue: IssueRef?

        init(_ report: UserFeedbackInfo) {
            id = String(report.id)
            eventID = report.eventID
            name = report.name
            email = report.email
            comments = report.comments
            dateCreated = report.received
            event = report.eventID.map { EventRef(id: $0, eventID: $0) }
            issue = report.issueID.map { IssueRef(id: String($0)) }
        }
    }

    struct IssueRef: Encodable {
        var id: String
    }

    struct ProjectRef: Encodable {
        var id: String
        var slug: String
        var name: String
    }

    struct VersionRef: Encodable {
        var version: String
    }

    struct Issue: Encodable {
        var id: String
        var shortId: String
        var title: String
        var culprit: String
        var permalink: String
        var level: String
        var status: String
        @Null var substatus: String?
        var statusDetails: StatusDetails
        var isPublic = false
        var type: String
        var metadata: JSONValue
        var project: ProjectRef
        /// Events, as a string (Sentry's).
        var count: String
        var userCount: Int
        var firstSeen: Date
        var lastSeen: Date
        @Null var firstRelease: VersionRef?
        @Null var lastRelease: VersionRef?
        @Null var assignedTo: User?
        var numComments = 0
        var isBookmarked = false
        var isSubscribed = false
        var hasSeen = false
        var annotations: [String] = []
        var logger = JSONValue.null
        /// `{"24h": [[bucket start, count], …]}` (or `"14d"`), in lists only when asked for.
        var stats: [String: [[Int64]]]?
        /// Newest first; in the issue's detail only.
        var activity: [Activity]?

        init(_ issue: IssueInfo, organization: String, baseURL: URL, stats: (period: String, series: [[Int64]])? = nil) {
            id = String(issue.id)
            shortId = issue.shortIDText
            title = issue.title
            culprit = issue.culprit
            permalink = "\(SentryJSON.base(baseURL))/issues/\(issue.id)/"
            level = issue.level.rawValue
            status = issue.status.rawValue
            substatus = issue.substatus?.rawValue
            statusDetails = StatusDetails(issue)
            type = issue.type
            metadata = issue.metadata
            project = ProjectRef(id: String(issue.project.id), slug: issue.project.slug, name: issue.project.name)
            count = String(issue.timesSeen)
            userCount = issue.userCount
            firstSeen = issue.firstSeen
            lastSeen = issue.lastSeen
            firstRelease = issue.firstRelease.map(VersionRef.init)
            lastRelease = issue.lastRelease.map(VersionRef.init)
            assignedTo = issue.assignee.map(User.init)
            self.stats = stats.map { [$0.period: $0.series] }
        }
    }

    /// `{"inNextRelease": true}`, `{"inRelease": "1.2.0"}`, `{"ignoreCount": 10}`, … as Sentry writes them.
    struct StatusDetails: Encodable {
        var inNextRelease: Bool?
        var inRelease: String?
        var ignoreCount: Int?
        var ignoreUserCount: Int?
        var ignoreUntil: Date?
        var ignoreUntilEscalating: Bool?

        init(_ issue: IssueInfo) {
            switch issue.resolution {
            case .inNextRelease?: inNextRelease = true
            case .inRelease(let version)?: inRelease = version
            default: break
            }
            switch issue.ignore?.condition {
            case .untilCount(let count)?: ignoreCount = count
            case .untilUserCount(let count)?: ignoreUserCount = count
            case .untilDate(let date)?: ignoreUntil = date
            case .untilEscalating?: ignoreUntilEscalating = true
            case .forever?, nil: break
            }
        }
    }

    struct Activity: Encodable {
        var id: String
        var type: String
        var data: JSONValue
        @Null var user: User?
        var dateCreated: Date

        init(_ activity: ActivityInfo) {
            id = String(activity.id)
            type = activity.kind.rawValue
            data = activity.data
            user = activity.user.map(User.init)
            dateCreated = activity.date
        }
    }

    /// `GET /issues/{id}/activities/`.
    struct Activities: Encodable {
        var activity: [Activity]
    }

    /// One release across the projects that have it.
    struct Release: Encodable {
        struct CommitRef: Encodable { var id: String }

        struct ReleaseProject: Encodable {
            var id: Int64
            var slug: String
            var name: String
            var newGroups: Int
        }

        var version: String
        var shortVersion: String
        @Null var ref: String?
        @Null var url: String?
        var dateCreated: Date
        @Null var dateReleased: Date?
        @Null var firstEvent: Date?
        @Null var lastEvent: Date?
        var newGroups: Int
        var commitCount: Int
        @Null var lastCommit: CommitRef?
        var authors: [String] = []
        var deployCount: Int
        @Null var lastDeploy: Deploy?
        var environments: [String]
        var projects: [ReleaseProject]
        var healthData: HealthData
        var status = "open"
        var data = JSONValue.object([:])

        /// `releases`: the version's release in each project (at least one).
        init?(_ releases: [ReleaseInfo]) {
            guard let first = releases.first else { return nil }
            let deploys = releases.flatMap(\.deploys).sorted { $0.dateFinished > $1.dateFinished }
            version = first.version
            shortVersion = first.version
            ref = first.ref
            url = first.url
            dateCreated = releases.map(\.createdAt).min() ?? first.createdAt
            dateReleased = releases.compactMap(\.dateReleased).max()
            firstEvent = releases.compactMap(\.firstEvent).min()
            lastEvent = releases.compactMap(\.lastEvent).max()
            newGroups = releases.reduce(0) { $0 + $1.newIssues }
            commitCount = first.commitCount
            lastCommit = first.lastCommit.map(CommitRef.init)
            deployCount = deploys.count
            lastDeploy = deploys.first.map(Deploy.init)
            environments = Set(releases.flatMap(\.environments)).sorted()
            projects = releases.map { ReleaseProject(id: $0.project.id, slug: $0.project.slug, name: $0.project.name, newGroups: $0.newIssues) }
            let health = releases.flatMap(\.health)
            healthData = HealthData(
                total: Health(ReleaseInfo.Health.total(health), environment: nil),
                byEnvironment: health.map { Health($0, environment: $0.environment) })
        }
    }

    /// A release's session counts, in total and per environment.
    struct Health: Encodable {
        var environment: String?
        var sessionsStarted: Int
        var sessionsCrashed: Int
        var sessionsErrored: Int
        var sessionsAbnormal: Int
        @Null var crashFreeSessions: Double?

        /// `environment`: nil for the total.
        init(_ health: ReleaseInfo.Health, environment: String?) {
            self.environment = environment
            sessionsStarted = health.started
            sessionsCrashed = health.crashed
            sessionsErrored = health.errored
            sessionsAbnormal = health.abnormal
            crashFreeSessions = health.crashFreeRate
        }
    }

    /// The total's counts beside `hasHealthData` and `byEnvironment`, in one object (Sentry's).
    struct HealthData: Encodable {
        var total: Health
        var byEnvironment: [Health]

        enum CodingKeys: String, CodingKey { case hasHealthData, byEnvironment }

        func encode(to encoder: any Encoder) throws {
            try total.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(total.sessionsStarted > 0, forKey: .hasHealthData)
            try container.encode(byEnvironment, forKey: .byEnvironment)
        }
    }

    /// Sentry's commit: `id` (the sha), `message`, `dateCreated`, `author` and `repository` when known, and the files
    /// it changed (`{filename, type}`, Spyglass's addition).
    struct Commit: Encodable {
        struct Author: Encodable {
            @Null var name: String?
            @Null var email: String?
        }

        struct RepositoryRef: Encodable { var name: String }

        struct File: Encodable {
            var filename: String
            var type: String
        }

        var id: String
        @Null var message: String?
        @Null var dateCreated: Date?
        @Null var author: Author?
        @Null var repository: RepositoryRef?
        var files: [File]

        init(_ commit: ReleaseCommit) {
            id = commit.sha
            message = commit.message
            dateCreated = commit.date
            if commit.authorName != nil || commit.authorEmail != nil {
                author = Author(name: commit.authorName, email: commit.authorEmail)
            }
            repository = commit.repository.map(RepositoryRef.init)
            files = commit.files.map { File(filename: $0.path, type: $0.type) }
        }
    }

    struct Repository: Encodable {
        struct Provider: Encodable {
            var id: String
            var name: String
        }

        var id: String
        var name: String
        @Null var url: String?
        var provider: Provider
        var status = "active"
        var dateCreated: Date
        var externalSlug: String

        init(_ repository: RepositoryInfo) {
            id = String(repository.id)
            name = repository.name
            url = repository.url
            provider = Provider(id: repository.provider, name: repository.provider)
            dateCreated = repository.createdAt
            externalSlug = repository.name
        }
    }

    struct Deploy: Encodable {
        var id: String
        var environment: String
        @Null var name: String?
        @Null var url: String?
        @Null var dateStarted: Date?
        var dateFinished: Date

        init(_ deploy: ReleaseInfo.Deploy) {
            id = String(deploy.id)
            environment = deploy.environment
            name = deploy.name
            url = deploy.url
            dateStarted = deploy.dateStarted
            dateFinished = deploy.dateFinished
        }
    }

    struct Tag: Encodable {
        struct Value: Encodable {
            var key: String
            var name: String
            var value: String
            var count: Int
            var firstSeen: Date
            var lastSeen: Date
        }

        var key: String
        var name: String
        var totalValues: Int
        var uniqueValues: Int
        var topValues: [Value]

        init(_ tag: TagSummary) {
            key = tag.key
            name = tag.key
            totalValues = tag.totalValues
            uniqueValues = tag.uniqueValues
            topValues = tag.topValues.map {
                Value(key: tag.key, name: $0.value, value: $0.value, count: $0.count, firstSeen: $0.firstSeen, lastSeen: $0.lastSeen)
            }
        }
    }

    /// One notification of an alert rule and how its delivery went.
    struct Delivery: Encodable {
        struct RuleRef: Encodable {
            @Null var id: String?
            var name: String
        }

        struct IssueRef: Encodable {
            @Null var id: String?
            var shortId: String
        }

        struct Attempt: Encodable {
            var date: Date
            var outcome: String
            var detail: String
        }

        var id: String
        var rule: RuleRef
        var issue: IssueRef
        var trigger: String
        var channel: String
        var target: String
        var status: String
        var attempts: Int
        var dateCreated: Date
        @Null var dateDelivered: Date?
        @Null var nextAttempt: Date?
        @Null var lastError: String?
        var history: [Attempt]

        init(_ delivery: DeliveryInfo) {
            id = String(delivery.id)
            rule = RuleRef(id: delivery.ruleID.map(String.init), name: delivery.ruleName)
            issue = IssueRef(id: delivery.issueID.map(String.init), shortId: delivery.shortID)
            trigger = delivery.trigger
            channel = delivery.channel
            target = delivery.target
            status = delivery.status
            attempts = delivery.attempts
            dateCreated = delivery.created
            dateDelivered = delivery.delivered
            nextAttempt = delivery.nextAttempt
            lastError = delivery.lastError
            history = delivery.history.map { Attempt(date: $0.date, outcome: $0.succeeded ? "ok" : "error", detail: $0.detail) }
        }
    }

    /// An artifact bundle of a project (`GET /projects/{org}/{project}/files/artifact-bundles/`).
    struct ArtifactBundle: Encodable {
        var bundleId: String
        @Null var release: String?
        @Null var dist: String?
        var fileCount: Int
        var date: Date

        init(_ bundle: ArtifactBundleInfo) {
            bundleId = bundle.checksum
            release = bundle.release
            dist = bundle.dist
            fileCount = bundle.fileCount
            date = bundle.created
        }
    }

    /// `GET /organizations/{org}/chunk-upload/`: how sentry-cli should cut and send chunks.
    struct ChunkUploadOptions: Encodable {
        /// Relative: sentry-cli resolves it against its own URL (a proxy in front of Spyglass needs no setting).
        var url: String
        var chunkSize = ArtifactLimits.chunkSize
        var chunksPerRequest = ArtifactLimits.chunksPerRequest
        var maxRequestSize = ArtifactLimits.maxRequestSize
        var maxFileSize = ArtifactLimits.maxBundleSize
        var maxWait = 60
        var hashAlgorithm = "sha1"
        var concurrency = 2
        var compression = ["gzip"]
        var accept = ["artifact_bundles", "sources", "debug_files", "release_files"]
    }

    /// The base URL without its trailing slash.
    static func base(_ baseURL: URL) -> String {
        let text = baseURL.absoluteString
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// Sentry's event detail: the payload's interfaces as `entries`, plus tags, contexts, user, release.
    static func event(_ event: EventInfo, previous: String? = nil, next: String? = nil) -> JSONValue {
        let payload = event.payload
        let summary = IssueSummary(event: payload)
        var entries: [JSONValue] = []
        if let values = payload["exception"]?["values"] {
            entries.append(["type": "exception", "data": ["values": Self.rawStacktraces(values)]])
        }
        if let stacktrace = payload["stacktrace"] {
            var data = stacktrace
            if case .object(var trace) = stacktrace, let raw = payload["raw_stacktrace"] {
                trace["rawStacktrace"] = raw
                data = .object(trace)
            }
            entries.append(["type": "stacktrace", "data": data])
        }
        if let threads = payload["threads"]?["values"] { entries.append(["type": "threads", "data": ["values": threads]]) }
        if let breadcrumbs = payload["breadcrumbs"]?["values"] { entries.append(["type": "breadcrumbs", "data": ["values": breadcrumbs]]) }
        if let request = payload["request"] { entries.append(["type": "request", "data": request]) }
        if let logentry = payload["logentry"] {
            entries.append(["type": "message", "data": ["formatted": logentry["formatted"] ?? .null, "message": logentry["message"] ?? .null, "params": logentry["params"] ?? .null]])
        }
        let tags: [JSONValue] = (payload["tags"]?.arrayValue ?? []).compactMap { pair in
            guard let entry = pair.arrayValue, entry.count == 2 else { return nil }
            return ["key": entry[0], "value": entry[1]]
        }
        let release = payload["release"]?.stringValue
        return [
            "id": .string(event.eventID), "eventID": .string(event.eventID),
            "groupID": event.issueID.map { .string(String($0)) } ?? .null,
            "projectID": .string(String(event.projectID)), "title": .string(summary.title),
            "message": .string(summary.message), "culprit": .string(summary.culprit),
            "location": .string(summary.culprit), "metadata": summary.metadata,
            "type": .string(summary.type), "platform": payload["platform"] ?? "other",
            "dateCreated": APIJSON.date(event.timestamp), "dateReceived": APIJSON.date(event.received),
            "entries": .array(entries), "tags": .array(tags), "contexts": payload["contexts"] ?? .object([:]),
            "user": payload["user"] ?? .null, "sdk": payload["sdk"] ?? .null,
            "release": release.map { ["version": .string($0)] } ?? .null,
            "environment": payload["environment"] ?? .null, "dist": payload["dist"] ?? .null,
            "fingerprints": event.hash.map { [.string($0)] } ?? [], "errors": payload["errors"] ?? [],
            "packages": payload["modules"] ?? .object([:]), "extra": payload["extra"] ?? .object([:]),
            "previousEventID": APIJSON.optional(previous), "nextEventID": APIJSON.optional(next),
        ]
    }

    /// Exception values as Sentry's API shows them: a symbolicated value's frames as sent under `rawStacktrace`
    /// (stored as `raw_stacktrace`, as in the event payload).
    static func rawStacktraces(_ values: JSONValue) -> JSONValue {
        guard let list = values.arrayValue else { return values }
        return .array(
            list.map { value in
                guard case .object(var object) = value, let raw = object["raw_stacktrace"] else { return value }
                object["raw_stacktrace"] = nil
                object["rawStacktrace"] = raw
                return .object(object)
            })
    }
}

/// An optional member written as `null` when absent, as Sentry's API writes it (a plain optional is left out).
@propertyWrapper
struct Null<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
