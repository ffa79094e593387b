import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol

extension WebController {
    struct IssueRow {
        var id: Int64
        var url: String
        var shortID: String
        var title: String
        var culprit: String
        var level: String
        var badges: [String]
        var events: String
        var users: String
        var lastSeen: String
        var lastSeenISO: String
        var firstSeen: String
        var firstSeenISO: String
        var sparkline: String
        /// "event" or "events", "user" or "users", as the counts need.
        var eventsNoun: String
        var usersNoun: String
        /// Who the issue is assigned to (their e-mail), and whether that is the reader.
        var assignee: String?
        var assignedToMe: Bool
    }

    struct Choice {
        var value: String
        var label: String
        var selected: Bool
    }

    struct Filter {
        var label: String
        var url: String
        var current: Bool
    }

    struct StreamModel {
        var chrome: Chrome
        var projectID: Int64?
        var projectSlug: String?
        var query: String
        var hasQuery: Bool
        var sorts: [Choice]
        var filters: [Filter]
        var issues: [IssueRow]
        var error: String?
        var selfURL: String
        var previousURL: String?
        var nextURL: String?
        var pollURL: String
        var savedSearches: [SavedSearchLink]
        var hasSavedSearches: Bool
        /// "26–50 of 312" (nil without issues).
        var range: String?
        /// The query box's suggestions: search keys, then the project's tag keys and values.
        var suggestions: [String]
        /// What the last bulk change did, with Undo.
        var confirmation: Confirmation?
        /// The time range picker; the graph column's heading.
        var ranges: [Filter]
        var custom: CustomRange
        var graphLabel: String
    }

    /// The custom range's form: its days, and the parameters the page keeps.
    struct CustomRange {
        var start: String
        var end: String
        var current: Bool
        var keep: [HiddenField]
    }

    struct SavedSearchLink {
        var id: Int64
        var name: String
        var query: String
        var url: String
        var pinned: Bool
        var current: Bool
        /// Saved for every project, not this one.
        var everywhere: Bool
    }

    func issueRow(_ issue: IssueInfo, hours: [Int], now: Date, userID: Int64? = nil) -> IssueRow {
        IssueRow(
            id: issue.id, url: issueURL(issue.id), shortID: issue.shortIDText, title: issue.title, culprit: issue.culprit,
            level: issue.level.rawValue, badges: Self.badges(issue), events: Formatting.count(issue.timesSeen),
            users: Formatting.count(issue.userCount), lastSeen: Formatting.ago(issue.lastSeen, now: now),
            lastSeenISO: Formatting.iso(issue.lastSeen), firstSeen: Formatting.age(issue.firstSeen, now: now),
            firstSeenISO: Formatting.iso(issue.firstSeen), sparkline: Formatting.sparkline(hours),
            eventsNoun: issue.timesSeen == 1 ? "event" : "events", usersNoun: issue.userCount == 1 ? "user" : "users",
            assignee: issue.assignee?.email, assignedToMe: issue.assignee?.id == userID)
    }

    static func badges(_ issue: IssueInfo) -> [String] {
        var badges: [String] = []
        if issue.status != .unresolved { badges.append(issue.status.rawValue) }
        if let substatus = issue.substatus, [.new, .regressed, .escalating].contains(substatus) { badges.append(substatus.rawValue) }
        return badges
    }

    /// The issue stream: one project (`?project=ID`) or every visible one.
    @Sendable func stream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let projects = try access(context).projects()
        let parameters = FormQuery(request)
        let now = Date.now
        var project: ProjectInfo?
        if let text = parameters.get("project"), !text.isEmpty {
            guard let found = projects.first(where: { String($0.id) == text || $0.slug == text }) else {
                throw PageError.notFound("There is no project \(text), or you are not a member of it.")
            }
            project = found
        }
        let saved = try await storage.savedSearches.savedSearches(userID: session.user.id, projectID: project?.id)
        // Without a query, the search pinned for this project (or, failing that, for every project) opens.
        let pinned = saved.first { $0.pinned && $0.projectID == project?.id } ?? saved.first { $0.pinned && $0.projectID == nil }
        let queryText = parameters.get("query") ?? pinned?.query ?? "is:unresolved"
        let sort = IssueSort(rawValue: parameters.get("sort") ?? "date") ?? .date
        let offset = max(0, min(Int(parameters.get("cursor") ?? "0") ?? 0, 1_000_000))
        let timeRange = try TimeRange.parse(parameters, now: now)

        func url(query: String? = nil, sort newSort: IssueSort? = nil, cursor: Int? = nil, range newRange: TimeRange?? = nil) -> String {
            var items: [URLQueryItem] = []
            if let project { items.append(URLQueryItem(name: "project", value: String(project.id))) }
            items.append(URLQueryItem(name: "query", value: query ?? queryText))
            items.append(URLQueryItem(name: "sort", value: (newSort ?? sort).rawValue))
            items += (newRange ?? timeRange)?.queryItems ?? []
            if let cursor, cursor > 0 { items.append(URLQueryItem(name: "cursor", value: String(cursor))) }
            var components = URLComponents()
            components.path = "/organizations/\(organization)/issues/"
            components.queryItems = items
            // `+` in a query means a space to us: encode it.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
            return components.string ?? components.path
        }

        var rows: [IssueRow] = []
        var error: String?
        var hasNext = false
        var range: String?
        var status: HTTPResponse.Status = .ok
        do {
            var query = try IssueQuery.parse(queryText, now: now)
            if let range = timeRange {
                // Issues seen in the range: the query's terms and the range's, together.
                let bounds = "lastSeen:>=\(Formatting.iso(range.from)) firstSeen:<\(Formatting.iso(range.to))"
                let text = queryText.trimmingCharacters(in: .whitespaces)
                query = try IssueQuery.parse(text.isEmpty ? bounds : "(\(text)) \(bounds)", now: now)
            }
            let ids = project.map { [$0.id] } ?? projects.map(\.id)
            var issues = ids.isEmpty ? [] : try await storage.issues.issues(
                IssueListRequest(projectIDs: ids, query: query, sort: sort, limit: Self.pageSize, offset: offset, userID: session.user.id))
            hasNext = issues.count > Self.pageSize
            issues = Array(issues.prefix(Self.pageSize))
            if !issues.isEmpty {
                // Counted up to a bound: a total past it reads "10 000+".
                let bound = 10_000
                let total = try await storage.issues.countIssues(
                    IssueListRequest(projectIDs: ids, query: query, sort: sort, limit: 0, offset: 0, userID: session.user.id), upTo: bound)
                let shown = "\(Formatting.count(offset + 1))–\(Formatting.count(offset + issues.count))"
                range = "\(shown) of \(total >= bound ? Formatting.count(bound) + "+" : Formatting.count(max(total, offset + issues.count)))"
            }
            if let range = timeRange {
                // Counts of the range: events per bucket (the sparkline, and their sum) and the users seen in it.
                let counts = try await rangeCounts(issues.map(\.id), range: range)
                let users = try await storage.issues.userCounts(issueIDs: issues.map(\.id), from: range.from, to: range.to)
                rows = issues.map { issue in
                    var ranged = issue
                    ranged.timesSeen = counts[issue.id]?.reduce(0, +) ?? 0
                    ranged.userCount = users[issue.id] ?? 0
                    return issueRow(ranged, hours: counts[issue.id] ?? [], now: now, userID: session.user.id)
                }
            } else {
                let hours = try await hourly(issues.map(\.id), hours: 24, now: now)
                rows = issues.map { issueRow($0, hours: hours[$0.id] ?? [], now: now, userID: session.user.id) }
            }
        } catch let failure as DomainError {
            error = failure.message
            status = .badRequest
        }
        let filters = [
            ("Unresolved", "is:unresolved"), ("Assigned to me", "is:unresolved assigned:me"), ("Ignored", "is:ignored"),
            ("Resolved", "is:resolved"), ("All", ""),
        ].map { Filter(label: $0.0, url: url(query: $0.1, cursor: 0), current: $0.1 == queryText) }
        let sorts = [(IssueSort.date, "Last seen"), (.new, "First seen"), (.freq, "Events"), (.user, "Users")].map {
            Choice(value: $0.0.rawValue, label: $0.1, selected: $0.0 == sort)
        }
        var poll = "/organizations/\(organization)/live/?since=\(try await storage.events.eventMark())"
        if let project { poll += "&project=\(project.id)" }
        let links = saved.map {
            SavedSearchLink(
                id: $0.id, name: $0.name, query: $0.query, url: url(query: $0.query, cursor: 0), pinned: $0.pinned,
                current: $0.query == queryText, everywhere: $0.projectID == nil)
        }
        let tagValues = try await storage.issues.tagValues(projectIDs: project.map { [$0.id] } ?? projects.map(\.id), limit: 200)
        let model = StreamModel(
            chrome: try await chrome(context, session, projects: projects, current: project?.id), projectID: project?.id,
            projectSlug: project?.slug, query: queryText, hasQuery: !queryText.isEmpty, sorts: sorts, filters: filters, issues: rows, error: error,
            selfURL: url(cursor: offset), previousURL: offset > 0 ? url(cursor: max(0, offset - Self.pageSize)) : nil,
            nextURL: hasNext ? url(cursor: offset + Self.pageSize) : nil, pollURL: poll, savedSearches: links,
            hasSavedSearches: !links.isEmpty, range: range, suggestions: Self.suggestions(tagValues),
            confirmation: try await confirmation(
                parameters, returnURL: url(cursor: offset), session: session, visible: Set(projects.map(\.id))),
            ranges: [Filter(label: "All time", url: url(cursor: 0, range: .some(nil)), current: timeRange == nil)]
                + TimeRange.periods.map { period in
                    Filter(
                        label: period.id,
                        url: url(cursor: 0, range: TimeRange(from: now, to: now, period: period.id, label: period.label)),
                        current: timeRange?.period == period.id)
                },
            custom: CustomRange(
                start: timeRange.map { TimeRange.dayText($0.from) } ?? "",
                end: timeRange.map { TimeRange.dayText($0.to.addingTimeInterval(-1)) } ?? "",
                current: timeRange != nil && timeRange?.period == nil,
                keep: (project.map { [HiddenField(name: "project", value: String($0.id))] } ?? [])
                    + [HiddenField(name: "query", value: queryText), HiddenField(name: "sort", value: sort.rawValue)]),
            graphLabel: timeRange?.label ?? "Last 24 hours")
        return render("issues", model, status: status)
    }

    /// Events of each issue per bucket of the range, oldest first: from the events for buckets under an hour,
    /// else from the hourly counts.
    func rangeCounts(_ ids: [Int64], range: TimeRange) async throws -> [Int64: [Int]] {
        guard !ids.isEmpty else { return [:] }
        let buckets = range.bucketStarts.count
        if range.bucketSeconds < 3600 {
            let counts = try await storage.issues.eventCounts(
                issueIDs: ids, from: range.from, to: range.to, bucketSeconds: range.bucketSeconds)
            return Dictionary(uniqueKeysWithValues: ids.map { id in (id, (0..<buckets).map { counts[id]?[Int64($0)] ?? 0 }) })
        }
        let hourly = try await storage.issues.hourlyCounts(issueIDs: ids, since: range.alignedFrom)
        let firstHour = Int64((range.alignedFrom.timeIntervalSince1970 / 3600).rounded(.down))
        let lastHour = Int64((range.to.timeIntervalSince1970.nextDown / 3600).rounded(.down))
        let hoursPerBucket = Int64(range.bucketSeconds / 3600)
        return Dictionary(uniqueKeysWithValues: ids.map { id in
            var perBucket = [Int](repeating: 0, count: buckets)
            for (hour, count) in hourly[id] ?? [:] where hour >= firstHour && hour <= lastHour {
                let index = Int((hour - firstHour) / hoursPerBucket)
                if index < buckets { perBucket[index] += count }
            }
            return (id, perBucket)
        })
    }

    /// Events per hour of each issue over the last `hours` hours, oldest first.
    func hourly(_ ids: [Int64], hours: Int, now: Date) async throws -> [Int64: [Int]] {
        guard !ids.isEmpty else { return [:] }
        let currentHour = Int64((now.timeIntervalSince1970 / 3600).rounded(.down))
        let firstHour = currentHour - Int64(hours) + 1
        let counts = try await storage.issues.hourlyCounts(issueIDs: ids, since: Date(timeIntervalSince1970: Double(firstHour * 3600)))
        return Dictionary(uniqueKeysWithValues: ids.map { id in
            let perHour = counts[id] ?? [:]
            return (id, (firstHour...currentHour).map { perHour[$0] ?? 0 })
        })
    }

    /// How many events arrived since the page was rendered (the stream's "N new events — refresh").
    @Sendable func live(_ request: Request, context: AppRequestContext) async throws -> Response {
        let parameters = FormQuery(request)
        var projects = try access(context).projects().map(\.id)
        if let project = parameters.get("project").flatMap({ Int64($0) }) { projects = projects.filter { $0 == project } }
        let since = Int64(parameters.get("since") ?? "") ?? .max
        let count = try await storage.events.eventsStored(after: since, projectIDs: projects)
        var headers: HTTPFields = [.contentType: "application/json"]
        WebResponse.securityHeaders(&headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{\"count\":\(count)}")))
    }

    /// Resolve, ignore or merge the selected issues of the stream (or the issue page's similar issues), or undo
    /// one of those; comes back to the page with a confirmation line and Undo (WebController+Undo).
    @Sendable func bulk(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let fields = try await form(request, session: session)
        let visible = Set(try access(context).projects().map(\.id))
        let back = WebResponse.localPath(fields.get("return"), fallback: "/organizations/\(organization)/issues/")
        func done(_ items: [URLQueryItem]) -> Response { WebResponse.redirect(Self.appending(items, to: back)) }
        let action = fields.get("action") ?? ""
        switch action {
        case "undo":
            try await undoStatuses(fields.getAll("undo"), signature: fields.get("sig"), session: session, visible: visible)
            return done([URLQueryItem(name: "done", value: "undone")])
        case "unmerge":
            guard let parent = fields.get("parent").flatMap({ Int64($0) }) else {
                throw PageError(status: .badRequest, heading: "Cannot undo the merge", text: "parent: the merged issue is missing.")
            }
            let created = try await undoMerge(
                parent: parent, hashes: fields.getAll("unmerge"), signature: fields.get("sig"), session: session, visible: visible)
            return done([URLQueryItem(name: "done", value: "split"), URLQueryItem(name: "n", value: String(created))])
        default: break
        }
        let selected = fields.getAll("id")
        guard selected.count <= 100 else {
            throw PageError(status: .badRequest, heading: "Too many issues", text: "Select at most 100 issues at a time.")
        }
        var issues: [IssueInfo] = []
        for text in selected {
            guard let id = Int64(text), let issue = try await storage.issues.issue(id: id), visible.contains(issue.project.id) else {
                throw PageError.notFound("There is no issue \(text), or you are not a member of its project.")
            }
            issues.append(issue)
        }
        let ids = issues.map(\.id)
        guard !ids.isEmpty else { return done([URLQueryItem(name: "done", value: "nothing")]) }
        let states = issues.map { "\($0.id)~\(Self.undoState($0))" }
        let previous = states.map { URLQueryItem(name: "undo", value: $0) }
            + [URLQueryItem(name: "sig", value: Self.undoSignature(["undo"] + states, session: session))]
        switch action {
        case "resolve":
            try await storage.issues.updateIssues(ids: ids, change: IssueChange(status: .resolved, actorID: session.user.id), now: .now)
            return done([URLQueryItem(name: "done", value: "resolve")] + previous)
        case "ignore":
            try await storage.issues.updateIssues(ids: ids, change: IssueChange(status: .ignored, ignore: .forever, actorID: session.user.id), now: .now)
            return done([URLQueryItem(name: "done", value: "ignore")] + previous)
        case "merge":
            guard Set(ids).count >= 2 else { return done([URLQueryItem(name: "done", value: "one")]) }
            guard Set(issues.map(\.project.id)).count == 1 else { return done([URLQueryItem(name: "done", value: "projects")]) }
            // Each issue's grouping hashes: Undo splits those of the issues merged away out again.
            var hashesByIssue: [Int64: [String]] = [:]
            for id in Set(ids) { hashesByIssue[id] = try await storage.issues.hashes(issueID: id) }
            let (parent, children) = try await storage.issues.mergeIssues(ids: ids, actorID: session.user.id)
            let hashes = children.flatMap { hashesByIssue[$0] ?? [] }
            let split = hashes.map { URLQueryItem(name: "unmerge", value: $0) }
                + [URLQueryItem(name: "sig", value: Self.undoSignature(["unmerge", String(parent)] + hashes, session: session))]
            // An issue merged away has no page left: its page comes back to the parent's.
            let merged = children.map { issueURL($0) }
            let target = merged.contains(where: { back.hasPrefix($0) }) ? issueURL(parent) : back
            let items = [
                URLQueryItem(name: "done", value: "merge"), URLQueryItem(name: "parent", value: String(parent)),
                URLQueryItem(name: "n", value: String(children.count + 1)),
            ] + split
            return WebResponse.redirect(Self.appending(items, to: target))
        default:
            throw PageError(status: .badRequest, heading: "Unknown action", text: "action: expected resolve, ignore, merge or undo.")
        }
    }

    /// What the query box suggests: the language's keys, then `key:value` for the tags seen most.
    static func suggestions(_ tagValues: [TagValueCount]) -> [String] {
        var suggestions = IssueQuery.keys + ["is:unresolved", "is:resolved", "is:ignored", "is:assigned", "is:unassigned", "assigned:me", "has:user"]
        suggestions += ["fatal", "error", "warning", "info", "debug"].map { "level:" + $0 }
        var keys: [String] = []
        for entry in tagValues where !keys.contains(entry.key) && !IssueQuery.keys.contains(entry.key + ":") { keys.append(entry.key) }
        suggestions += keys.map { $0 + ":" } + keys.map { "has:" + $0 }
        suggestions += tagValues.compactMap { filterQuery(key: $0.key, value: $0.value) }
        var seen = Set<String>()
        return suggestions.filter { seen.insert($0).inserted }
    }

    /// `POST /organizations/{org}/searches/`: `action` save (`name`, `query`, `project`), delete, pin or unpin (`id`)
    /// one of the user's saved searches; back to the stream.
    @Sendable func searches(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let fields = try await form(request, session: session)
        var project: ProjectInfo?
        if let text = fields.get("project"), !text.isEmpty {
            guard let found = try access(context).projects().first(where: { String($0.id) == text }) else {
                throw PageError.notFound("There is no project \(text), or you are not a member of it.")
            }
            project = found
        }
        func back(_ query: String?) -> Response {
            var components = URLComponents()
            components.path = "/organizations/\(organization)/issues/"
            var items: [URLQueryItem] = []
            if let project { items.append(URLQueryItem(name: "project", value: String(project.id))) }
            if let query { items.append(URLQueryItem(name: "query", value: query)) }
            components.queryItems = items.isEmpty ? nil : items
            return WebResponse.redirect((components.string ?? components.path).replacingOccurrences(of: "+", with: "%2B"))
        }
        let action = fields.get("action") ?? ""
        switch action {
        case "save":
            let query = fields.get("query") ?? ""
            // A query that does not parse is not saved: the stream would open on an error.
            _ = try IssueQuery.parse(query, now: .now)
            let search = try await storage.savedSearches.saveSearch(
                userID: session.user.id, projectID: project?.id, name: fields.get("name") ?? "", query: query, now: .now)
            return back(search.query)
        case "delete", "pin", "unpin":
            guard let id = Int64(fields.get("id") ?? "") else {
                throw PageError(status: .badRequest, heading: "No search named", text: "id: name the saved search to \(action).")
            }
            let done =
                action == "delete"
                ? try await storage.savedSearches.deleteSavedSearch(id: id, userID: session.user.id)
                : try await storage.savedSearches.pinSavedSearch(id: id, userID: session.user.id, pinned: action == "pin")
            guard done else { throw PageError.notFound("You have no saved search \(id).") }
            return back(fields.get("query"))
        default:
            throw PageError(status: .badRequest, heading: "Unknown action", text: "action: expected save, delete, pin or unpin.")
        }
    }
}
