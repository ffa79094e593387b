import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

extension APIController {
    @Sendable func projectIssues(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        return try await listIssues(request, context: context, projectIDs: [project.id])
    }

    @Sendable func organizationIssues(_ request: Request, context: Context) async throws -> Response {
        let visible = try access(context).projects().map(\.id)
        let requested = FormQuery(request).getAll("project").compactMap { Int64($0) }.filter { $0 != -1 }
        return try await listIssues(request, context: context, projectIDs: requested.isEmpty ? visible : visible.filter(requested.contains))
    }

    private func listIssues(_ request: Request, context: Context, projectIDs: [Int64]) async throws -> Response {
        let parameters = FormQuery(request)
        let now = Date.now
        let query = try IssueQuery.parse(parameters.get("query") ?? "is:unresolved", now: now)
        let sortText = parameters.get("sort") ?? "date"
        guard let sort = IssueSort(rawValue: sortText) else {
            throw APIError.badRequest("sort: \"\(sortText)\" is not one of date, new, freq, user")
        }
        let statsPeriod = parameters.get("statsPeriod") ?? "24h"
        guard ["", "24h", "14d"].contains(statsPeriod) else {
            throw APIError.badRequest("statsPeriod: \"\(statsPeriod)\" is not one of 24h, 14d or empty")
        }
        let limit = try APIJSON.limit(request)
        let offset = try APIJSON.offset(request)
        var issues = try await storage.issues.issues(
            IssueListRequest(projectIDs: projectIDs, query: query, sort: sort, limit: limit, offset: offset, userID: user(context).id))
        let hasNext = issues.count > limit
        issues = Array(issues.prefix(limit))
        let stats = statsPeriod.isEmpty ? [:] : try await stats(issues.map(\.id), period: statsPeriod, now: now)
        let base = baseURL(request)
        let body = issues.map { issue in
            SentryJSON.Issue(issue, organization: organization, baseURL: base, stats: stats[issue.id].map { (statsPeriod, $0) })
        }
        let headers = APIJSON.link(request, baseURL: base.absoluteString, offset: offset, limit: limit, hasNext: hasNext)
        return try APIJSON.response(encoding: body, headers: headers)
    }

    /// `[[bucket start, count], …]` per issue: 24 hourly buckets, or 14 daily ones.
    func stats(_ ids: [Int64], period: String, now: Date) async throws -> [Int64: [[Int64]]] {
        let (buckets, size): (Int64, Int64) = period == "14d" ? (14, 24) : (24, 1)
        let currentHour = Int64((now.timeIntervalSince1970 / 3600).rounded(.down))
        let firstHour = (currentHour / size - buckets + 1) * size
        let counts = try await storage.issues.hourlyCounts(issueIDs: ids, since: Date(timeIntervalSince1970: Double(firstHour * 3600)))
        return Dictionary(uniqueKeysWithValues: ids.map { id in
            let hours = counts[id] ?? [:]
            let series = (0..<buckets).map { index -> [Int64] in
                let start = firstHour + index * size
                let total = (start..<(start + size)).reduce(0) { $0 + (hours[$1] ?? 0) }
                return [start * 3600, Int64(total)]
            }
            return (id, series)
        })
    }

    @Sendable func issueDetail(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let stats = try await stats([issue.id], period: "24h", now: .now)
        var json = SentryJSON.Issue(issue, organization: organization, baseURL: baseURL(request), stats: stats[issue.id].map { ("24h", $0) })
        json.activity = try await storage.issues.activities(issueID: issue.id).reversed().map(SentryJSON.Activity.init)
        return try APIJSON.response(encoding: json)
    }

    @Sendable func updateIssue(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let change = try issueChange(try await APIJSON.decode(IssueUpdateRequest.self, request, context: context), context: context)
        try await storage.issues.updateIssues(ids: [issue.id], change: change, now: .now)
        guard let updated = try await storage.issues.issue(id: issue.id) else { throw APIError.notFound("issue \(issue.id) not found") }
        return try APIJSON.response(encoding: SentryJSON.Issue(updated, organization: organization, baseURL: baseURL(request)))
    }

    @Sendable func deleteIssue(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        try await storage.issues.deleteIssue(id: issue.id)
        return Response(status: .accepted)
    }

    /// `PUT /projects/{org}/{project}/issues/?id=1&id=2` with a status change, an assignee, or `{"merge": 1}`.
    /// `PUT /projects/{org}/{project}/issues/`: the issues named by `?id=…`, else (as Sentry, and sentry-cli's
    /// `issues resolve --status …` / `--all`) the first 1 000 that `?status=` or `?query=` (default `is:unresolved`)
    /// selects, change together.
    @Sendable func bulkUpdate(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let parameters = FormQuery(request)
        let idTexts = parameters.getAll("id")
        var ids: [Int64] = []
        for text in idTexts {
            guard let id = Int64(text), let issue = try await storage.issues.issue(id: id), issue.project.id == project.id else {
                throw APIError.badRequest("id: issue \"\(text)\" is not an issue of project \(project.slug)")
            }
            ids.append(id)
        }
        let body = try await APIJSON.decode(IssueUpdateRequest.self, request, context: context)
        let merge = body.merge
        if idTexts.isEmpty {
            // Merging is only ever asked of issues a person picked.
            guard !merge else { throw APIError.badRequest("merge: name the issues to merge with ?id=…") }
            var queryText = parameters.get("query") ?? "is:unresolved"
            if let status = parameters.get("status") {
                let statuses = ["unresolved": "unresolved", "resolved": "resolved", "ignored": "ignored", "muted": "ignored", "archived": "ignored"]
                guard let name = statuses[status] else {
                    throw APIError.badRequest("status: \"\(status)\" is not one of unresolved, resolved, ignored (muted, archived)")
                }
                queryText = "is:\(name)"
            }
            let query = try IssueQuery.parse(queryText, now: .now)
            ids = try await storage.issues.issues(
                IssueListRequest(projectIDs: [project.id], query: query, sort: .date, limit: 1000, offset: 0, userID: user(context).id)
            ).prefix(1000).map(\.id)
            guard !ids.isEmpty else { return try APIJSON.response(encoding: BulkIssueChange()) }
        }
        if merge {
            let (parent, children) = try await storage.issues.mergeIssues(ids: ids, actorID: user(context).id)
            return try APIJSON.response(encoding: BulkIssueChange(merge: .init(parent: String(parent), children: children.map(String.init))))
        }
        let change = try issueChange(body, context: context)
        try await storage.issues.updateIssues(ids: ids, change: change, now: .now)
        return try APIJSON.response(
            encoding: BulkIssueChange(
                status: change.status?.rawValue, statusDetails: change.status.map { _ in [:] }, assignedTo: change.assigneeEmail))
    }

    /// Sentry's issue update body: `status` with `statusDetails` (`inNextRelease`, `inRelease`, `ignoreCount`,
    /// `ignoreUserCount`, `ignoreDuration` in minutes, `ignoreUntil`, `ignoreUntilEscalating`), `substatus`, `assignedTo`.
    func issueChange(_ body: IssueUpdateRequest, context: Context) throws -> IssueChange {
        var change = IssueChange(actorID: try user(context).id)
        if let text = body.status {
            switch text {
            case "archived", "muted": change.status = .ignored
            case "resolvedInNextRelease":
                change.status = .resolved
                change.resolution = .inNextRelease(current: nil)
            default:
                guard let status = IssueStatus(rawValue: text) else {
                    throw APIError.badRequest("status: expected \"resolved\", \"resolvedInNextRelease\", \"unresolved\" or \"ignored\"")
                }
                change.status = status
            }
        }
        let details = body.statusDetails ?? .init()
        if details.inNextRelease == true { change.resolution = .inNextRelease(current: nil) }
        if let version = details.inRelease {
            guard !version.isEmpty else { throw APIError.badRequest("statusDetails.inRelease: expected a version") }
            change.resolution = .inRelease(version)  // "latest": the store resolves it to the newest release
        }
        func positive(_ value: Int64?, _ key: String) throws -> Int? {
            guard let value else { return nil }
            guard value > 0, value <= Int64(Int32.max) else { throw APIError.badRequest("statusDetails.\(key): expected a positive whole number") }
            return Int(value)
        }
        if let count = try positive(details.ignoreCount, "ignoreCount") { change.ignore = .untilCount(count) }
        if let count = try positive(details.ignoreUserCount, "ignoreUserCount") { change.ignore = .untilUserCount(count) }
        if let minutes = try positive(details.ignoreDuration, "ignoreDuration") {
            change.ignore = .untilDate(Date.now.addingTimeInterval(Double(minutes) * 60))
        }
        if let until = details.ignoreUntil { change.ignore = .untilDate(until.date) }
        if details.ignoreUntilEscalating == true || body.substatus == IssueSubstatus.archivedUntilEscalating.rawValue {
            change.ignore = .untilEscalating
        }
        if (change.resolution != nil && change.status != .resolved) || (change.ignore != nil && change.status != .ignored) {
            throw APIError.badRequest("statusDetails do not fit status \"\(change.status?.rawValue ?? "")\"")
        }
        if let assignee = body.assignedTo {
            switch assignee {
            case nil, ""?: change.assigneeEmail = .some(nil)
            case "me"?: change.assigneeEmail = .some(try user(context).email)
            case let text?: change.assigneeEmail = .some(text.hasPrefix("user:") ? String(text.dropFirst(5)) : text)
            }
        }
        guard change.status != nil || change.assigneeEmail != nil else {
            throw APIError.badRequest("nothing to change: send status, assignedTo or merge")
        }
        return change
    }

    @Sendable func issueActivities(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let activities = try await storage.issues.activities(issueID: issue.id)
        return try APIJSON.response(encoding: SentryJSON.Activities(activity: activities.reversed().map(SentryJSON.Activity.init)))
    }

    @Sendable func addComment(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let text = try await APIJSON.decode(CommentRequest.self, request, context: context).text
        let activity = try await storage.issues.addComment(issueID: issue.id, userID: user(context).id, text: text, now: .now)
        return try APIJSON.response(encoding: SentryJSON.Activity(activity), status: .created)
    }

    @Sendable func issueTags(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let tags = try await storage.issues.tags(issueID: issue.id, top: 9)
        return try APIJSON.response(encoding: tags.map(SentryJSON.Tag.init))
    }

    @Sendable func issueHashes(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let hashes = try await storage.issues.hashes(issueID: issue.id)
        return try APIJSON.response(encoding: hashes.map(SentryJSON.IssueRef.init))
    }

    /// `DELETE /issues/{id}/hashes/?id=HASH`: split the hash (and its events) out into a new issue.
    @Sendable func unmergeHashes(_ request: Request, context: Context) async throws -> Response {
        let issue = try issue(context)
        let hashes = FormQuery(request).getAll("id")
        guard !hashes.isEmpty else { throw APIError.badRequest("name the hashes to split out with ?id=…") }
        guard hashes.count <= 100 else { throw APIError.badRequest("id: at most 100 hashes in one request (\(hashes.count) given)") }
        // One transaction: when one hash cannot be split out, none is.
        let created = try await storage.issues.unmerge(issueID: issue.id, hashes: hashes)
        return try APIJSON.response(encoding: ["issues": created.map(String.init)], status: .accepted)
    }
}

/// A bulk change's answer, as Sentry's: what changed (`assignedTo: null` when unassigned), or the merge.
struct BulkIssueChange: Encodable {
    struct Merge: Encodable {
        var parent: String
        var children: [String]
    }

    var status: String?
    var statusDetails: [String: String]?
    var assignedTo: String??
    var merge: Merge?
}
