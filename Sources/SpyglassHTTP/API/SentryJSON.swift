import Foundation
import SpyglassCore
import SpyglassProtocol

/// Sentry-shaped JSON of projects, keys, issues, events and tags (camelCase, ids as strings).
enum SentryJSON {
    static func project(_ project: ProjectInfo, organization: String) -> JSONValue {
        [
            "id": .string(String(project.id)), "slug": .string(project.slug), "name": .string(project.name),
            "dateCreated": APIJSON.date(project.createdAt), "isMember": true, "status": "active",
            "organization": ["slug": .string(organization), "name": .string(organization)],
        ]
    }

    static func key(_ key: KeyInfo, project: ProjectInfo, baseURL: URL) -> JSONValue {
        let dsn = DSN(baseURL: baseURL, publicKey: key.publicKey, projectID: Int(project.id))?.description ?? ""
        let base = baseURL.absoluteString.hasSuffix("/") ? String(baseURL.absoluteString.dropLast()) : baseURL.absoluteString
        return [
            "id": .string(key.publicKey), "name": .string(key.label), "label": .string(key.label),
            "public": .string(key.publicKey), "isActive": .bool(key.isActive), "projectId": .number(JSONNumber(project.id)),
            "dateCreated": APIJSON.date(key.createdAt),
            "rateLimit": key.rateLimitPerMinute.map { ["window": 60, "count": .number(JSONNumber(Int64($0)))] } ?? .null,
            "dsn": [
                "public": .string(dsn), "secret": .string(dsn),
                "store": .string("\(base)/api/\(project.id)/store/"),
                "envelope": .string("\(base)/api/\(project.id)/envelope/"),
            ],
        ]
    }

    /// Sentry's user report: who wrote what, when, about which event and issue.
    static func userFeedback(_ report: UserFeedbackInfo) -> JSONValue {
        [
            "id": .string(String(report.id)), "eventID": APIJSON.optional(report.eventID), "name": .string(report.name),
            "email": .string(report.email), "comments": .string(report.comments), "dateCreated": APIJSON.date(report.received),
            "user": .null, "event": report.eventID.map { ["id": .string($0), "eventID": .string($0)] } ?? .null,
            "issue": report.issueID.map { ["id": .string(String($0))] } ?? .null,
        ]
    }

    static func user(_ user: APIUser) -> JSONValue {
        ["type": "user", "id": .string(String(user.id)), "name": .string(user.email), "email": .string(user.email)]
    }

    static func issue(_ issue: IssueInfo, organization: String, baseURL: URL, stats: [[Int64]]? = nil) -> JSONValue {
        let base = baseURL.absoluteString.hasSuffix("/") ? String(baseURL.absoluteString.dropLast()) : baseURL.absoluteString
        var json: JSONObject = [
            "id": .string(String(issue.id)), "shortId": .string(issue.shortIDText), "title": .string(issue.title),
            "culprit": .string(issue.culprit), "permalink": .string("\(base)/issues/\(issue.id)/"),
            "level": .string(issue.level.rawValue), "status": .string(issue.status.rawValue),
            "substatus": APIJSON.optional(issue.substatus?.rawValue), "statusDetails": statusDetails(issue), "isPublic": false,
            "type": .string(issue.type), "metadata": issue.metadata,
            "project": ["id": .string(String(issue.project.id)), "slug": .string(issue.project.slug), "name": .string(issue.project.name)],
            "count": .string(String(issue.timesSeen)), "userCount": .number(JSONNumber(Int64(issue.userCount))),
            "firstSeen": APIJSON.date(issue.firstSeen), "lastSeen": APIJSON.date(issue.lastSeen),
            "firstRelease": issue.firstRelease.map { ["version": .string($0)] } ?? .null,
            "lastRelease": issue.lastRelease.map { ["version": .string($0)] } ?? .null,
            "assignedTo": issue.assignee.map(user) ?? .null, "numComments": 0, "isBookmarked": false,
            "isSubscribed": false, "hasSeen": false, "annotations": [], "logger": .null,
        ]
        if let stats {
            json["stats"] = ["24h": .array(stats.map { .array($0.map { .number(JSONNumber($0)) }) })]
        }
        return .object(json)
    }

    /// `{"inNextRelease": true}`, `{"inRelease": "1.2.0"}`, `{"ignoreCount": 10}`, … as Sentry serializes them.
    static func statusDetails(_ issue: IssueInfo) -> JSONValue {
        var details: JSONObject = [:]
        switch issue.resolution {
        case .inNextRelease?: details["inNextRelease"] = true
        case .inRelease(let version)?: details["inRelease"] = .string(version)
        default: break
        }
        if let ignore = issue.ignore {
            switch ignore.condition {
            case .untilCount(let count): details["ignoreCount"] = .number(JSONNumber(Int64(count)))
            case .untilUserCount(let count): details["ignoreUserCount"] = .number(JSONNumber(Int64(count)))
            case .untilDate(let date): details["ignoreUntil"] = APIJSON.date(date)
            case .untilEscalating: details["ignoreUntilEscalating"] = true
            case .forever: break
            }
        }
        return .object(details)
    }

    static func activity(_ activity: ActivityInfo) -> JSONValue {
        [
            "id": .string(String(activity.id)), "type": .string(activity.kind.rawValue), "data": activity.data,
            "user": activity.user.map(user) ?? .null, "dateCreated": APIJSON.date(activity.date),
        ]
    }

    static func release(_ releases: [ReleaseInfo]) -> JSONValue {
        guard let first = releases.first else { return .null }
        func date(_ value: Date?) -> JSONValue { value.map(APIJSON.date) ?? .null }
        let deploys = releases.flatMap(\.deploys).sorted { $0.dateFinished > $1.dateFinished }
        let health = releases.flatMap(\.health)
        let total = ReleaseInfo.Health.total(health)
        func healthJSON(_ health: ReleaseInfo.Health) -> JSONObject {
            [
                "sessionsStarted": .number(JSONNumber(Int64(health.started))), "sessionsCrashed": .number(JSONNumber(Int64(health.crashed))),
                "sessionsErrored": .number(JSONNumber(Int64(health.errored))), "sessionsAbnormal": .number(JSONNumber(Int64(health.abnormal))),
                "crashFreeSessions": health.crashFreeRate.map { .number(JSONNumber($0)) } ?? .null,
            ]
        }
        var healthData = healthJSON(total)
        healthData["hasHealthData"] = .bool(total.started > 0)
        healthData["byEnvironment"] = .array(health.map { item in
            var json = healthJSON(item)
            json["environment"] = .string(item.environment)
            return .object(json)
        })
        return [
            "version": .string(first.version), "shortVersion": .string(first.version), "ref": APIJSON.optional(first.ref),
            "url": APIJSON.optional(first.url), "dateCreated": APIJSON.date(releases.map(\.createdAt).min() ?? first.createdAt),
            "dateReleased": date(releases.compactMap(\.dateReleased).max()), "firstEvent": date(releases.compactMap(\.firstEvent).min()),
            "lastEvent": date(releases.compactMap(\.lastEvent).max()),
            "newGroups": .number(JSONNumber(Int64(releases.reduce(0) { $0 + $1.newIssues }))),
            "commitCount": .number(JSONNumber(Int64(first.commitCount))),
            "lastCommit": first.lastCommit.map { ["id": .string($0)] } ?? .null, "authors": [],
            "deployCount": .number(JSONNumber(Int64(deploys.count))),
            "lastDeploy": deploys.first.map(deploy) ?? .null,
            "environments": .array(Set(releases.flatMap(\.environments)).sorted().map(JSONValue.string)),
            "projects": .array(releases.map { ["id": .number(JSONNumber($0.project.id)), "slug": .string($0.project.slug), "name": .string($0.project.name), "newGroups": .number(JSONNumber(Int64($0.newIssues)))] }),
            "healthData": .object(healthData), "status": "open", "data": .object([:]),
        ]
    }

    /// Sentry's commit: `id` (the sha), `message`, `dateCreated`, `author` and `repository` when known, and the files
    /// it changed (`{filename, type}`, Spyglass's addition).
    static func commit(_ commit: ReleaseCommit) -> JSONValue {
        var author: JSONValue = .null
        if commit.authorName != nil || commit.authorEmail != nil {
            author = ["name": APIJSON.optional(commit.authorName), "email": APIJSON.optional(commit.authorEmail)]
        }
        return [
            "id": .string(commit.sha), "message": APIJSON.optional(commit.message),
            "dateCreated": commit.date.map(APIJSON.date) ?? .null, "author": author,
            "repository": commit.repository.map { ["name": .string($0)] } ?? .null,
            "files": .array(commit.files.map { ["filename": .string($0.path), "type": .string($0.type)] }),
        ]
    }

    static func repository(_ repository: RepositoryInfo) -> JSONValue {
        [
            "id": .string(String(repository.id)), "name": .string(repository.name), "url": APIJSON.optional(repository.url),
            "provider": ["id": .string(repository.provider), "name": .string(repository.provider)], "status": "active",
            "dateCreated": APIJSON.date(repository.createdAt), "externalSlug": .string(repository.name),
        ]
    }

    static func deploy(_ deploy: ReleaseInfo.Deploy) -> JSONValue {
        [
            "id": .string(String(deploy.id)), "environment": .string(deploy.environment), "name": APIJSON.optional(deploy.name),
            "url": APIJSON.optional(deploy.url), "dateStarted": deploy.dateStarted.map(APIJSON.date) ?? .null,
            "dateFinished": APIJSON.date(deploy.dateFinished),
        ]
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

    static func tag(_ tag: TagSummary) -> JSONValue {
        [
            "key": .string(tag.key), "name": .string(tag.key), "totalValues": .number(JSONNumber(Int64(tag.totalValues))),
            "uniqueValues": .number(JSONNumber(Int64(tag.uniqueValues))),
            "topValues": .array(tag.topValues.map { value in
                [
                    "key": .string(tag.key), "name": .string(value.value), "value": .string(value.value),
                    "count": .number(JSONNumber(Int64(value.count))), "firstSeen": APIJSON.date(value.firstSeen),
                    "lastSeen": APIJSON.date(value.lastSeen),
                ]
            }),
        ]
    }
}
