import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol

extension WebController {
    struct TagValue {
        var value: String
        var percent: Int
        /// The stream of the issue's project filtered to this value (nil when the value cannot be written as a query).
        var url: String?
    }

    struct TagView {
        var key: String
        var values: [TagValue]
    }

    struct ActivityView {
        var who: String
        var what: String
        var text: String?
        var date: String
        var dateISO: String
    }

    struct FeedbackView {
        var name: String
        var email: String?
        var comments: String
        var date: String
        var dateISO: String
        var eventURL: String?
    }

    struct DeliveryView {
        var state: String
        var channel: String
        var rule: String
        var when: String
        var lastError: String?
    }

    /// Strings, never nil: a missing field of a user must not fall back to the issue's field of the same name in
    /// Mustache's context stack.
    struct UserView {
        var idLabel: String
        var email: String
        var username: String
        var ipAddress: String
        var events: String
        var userSeen: String
        /// Optional fields have names the issue's view does not use.
        var userSeenISO: String?
        /// The stream of the project's issues that reached this user.
        var userStreamURL: String?
    }

    struct IssueView {
        var id: Int64
        var url: String
        var projectID: Int64
        var projectSlug: String
        var shortID: String
        var title: String
        var culprit: String
        var level: String
        var status: String
        var statusLabel: String
        var badges: [String]
        var isResolved: Bool
        var isIgnored: Bool
        var assignee: String?
        var canAssignToMe: Bool
        var events: String
        var users: String
        var firstSeen: String
        var firstSeenISO: String
        var lastSeen: String
        var lastSeenISO: String
        var firstRelease: String?
        /// The first release's page, and how many commits came with it (nil without any).
        var firstReleaseURL: String?
        /// "3 commits" that came with the first release, when it has any.
        var firstReleaseCommits: String?
        var lastRelease: String?
        /// Events over time: the range's, or (all time) the last 24 hours and 30 days.
        var histograms: [Histogram]
        /// "in the last 7 days" beside the counts when a range is picked, with the all-time totals.
        var rangeLabel: String?
        var totalEvents: String
        var totalUsers: String
        /// Events per release and per environment (all time), most first.
        var releaseBreakdown: [BreakdownRow]
        var environmentBreakdown: [BreakdownRow]
        var tags: [TagView]
        var activities: [ActivityView]
        var deliveries: [DeliveryView]
        /// What users wrote about the issue's events (user reports and feedback items), newest first.
        var feedback: [FeedbackView]
        var hasFeedback: Bool
        var similar: [IssueRow]
        var members: [MemberChoice]
        /// The most recently seen affected users (up to ``affectedUserLimit``), and a line saying how many are shown.
        var affectedUsers: [UserView]
        var hasAffectedUsers: Bool
        var affectedUsersNote: String?
        /// The project's releases, newest first: "Resolve in release…" offers them.
        var releases: [String]
        /// Why "Resolve in release…" did nothing, in place.
        var releaseError: String?
        /// The hashes the issue's events came by, with Unmerge when there is more than one.
        var hashes: [HashView]
        var canUnmerge: Bool
    }

    /// How many affected users the issue page lists.
    static let affectedUserLimit = 100

    struct IssueModel {
        var chrome: Chrome
        var issue: IssueView
        var event: EventView?
        var confirmation: Confirmation?
        /// The time range picker (WebController+Stream's).
        var ranges: [Filter]
        var custom: CustomRange
    }

    /// A bar chart with its axes: the peak and 0 on the left, the first and last bucket's time below; each bar's
    /// count in its tooltip.
    struct Histogram {
        var title: String
        var bars: [Formatting.Bar]
        var peak: String
        var startLabel: String
        var endLabel: String
    }

    struct BreakdownRow {
        var value: String
        var events: String
        var percent: Int
        var lastSeen: String
        var lastSeenISO: String
        var streamURL: String?
    }

    struct HashView {
        var hash: String
        var events: String
    }

    struct AttachmentRow {
        var url: String
        var filename: String
        var size: String
        var contentType: String
    }

    struct MemberChoice {
        var email: String
        var selected: Bool
    }

    /// The issue page with one of its events: the latest, or the one in the path (`…/events/{id}/`) or in
    /// `?event=` (jump by id).
    @Sendable func issuePage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let projects = try access(context).projects(allowing: .readProject)
        let issue = try issue(context)
        let now = Date.now
        let url = issueURL(issue.id)

        var event: EventInfo?
        if let wanted = context.parameters.get("event_id") ?? FormQuery(request).get("event").flatMap({ $0.isEmpty ? nil : $0 }) {
            let id = wanted.replacingOccurrences(of: "-", with: "").lowercased()
            guard let found = try await storage.events.event(projectID: issue.project.id, eventID: id), found.issueID == issue.id else {
                throw PageError.notFound("Issue \(issue.shortIDText) has no event \(wanted).")
            }
            event = found
        } else {
            event = try await storage.events.latestEvent(issueID: issue.id)
        }
        var eventView: EventView?
        if let event {
            let (previous, next) = try await storage.events.neighbours(of: event)
            var view = EventView(event, issueURL: url, previous: previous, next: next)
            view.attachments = try await storage.events.attachments(projectID: issue.project.id, eventID: event.eventID).map {
                AttachmentRow(
                    url: "\(url)events/\(event.eventID)/attachments/\($0.id)/", filename: $0.filename,
                    size: ByteCountFormatter.string(fromByteCount: Int64($0.size), countStyle: .file), contentType: $0.contentType)
            }
            view.hasAttachments = !view.attachments.isEmpty
            view.traceLogs = try await traceLogs(of: event, projectID: issue.project.id)
            eventView = view
        }

        let parameters = FormQuery(request)
        let timeRange = try TimeRange.parse(parameters, now: now)
        let histograms: [Histogram]
        var rangeLabel: String?
        var events = issue.timesSeen
        var users = issue.userCount
        if let range = timeRange {
            let counts = try await rangeCounts([issue.id], range: range)[issue.id] ?? []
            histograms = [
                Self.histogram(
                    range.label, zip(range.bucketStarts, counts).map { (Formatting.timestamp($0), $1) }, short: range.to.timeIntervalSince(range.from) <= 86_400)
            ]
            rangeLabel = range.label.prefix(1).lowercased() + range.label.dropFirst()
            events = counts.reduce(0, +)
            users = try await storage.issues.userCounts(issueIDs: [issue.id], from: range.from, to: range.to)[issue.id] ?? 0
        } else {
            // Hourly counts from the start of the UTC day 29 days ago: the last 24 hours, and 30 calendar days.
            let currentHour = Int64((now.timeIntervalSince1970 / 3600).rounded(.down))
            let firstDay = currentHour / 24 - 29
            let hourly = try await self.hourly([issue.id], hours: Int(currentHour - firstDay * 24 + 1), now: now)[issue.id] ?? []
            let lastDay = hourly.suffix(24).enumerated().map { index, count in
                (label: Formatting.timestamp(Date(timeIntervalSince1970: Double((currentHour - 23 + Int64(index)) * 3600))), count: count)
            }
            let days = (0..<30).map { day in
                let start = day * 24
                let date = Date(timeIntervalSince1970: Double((firstDay + Int64(day)) * 86_400))
                return (label: String(Formatting.timestamp(date).prefix(10)), count: hourly[min(start, hourly.count)..<min(start + 24, hourly.count)].reduce(0, +))
            }
            histograms = [
                Self.histogram("Last 24 hours", lastDay.map { ($0.label, $0.count) }, short: true),
                Self.histogram("Last 30 days", days.map { ($0.label, $0.count) }, short: false),
            ]
        }
        let allTags = try await storage.issues.tags(issueID: issue.id, top: 10)
        func breakdown(_ key: String) -> [BreakdownRow] {
            guard let tag = allTags.first(where: { $0.key == key }) else { return [] }
            return tag.topValues.map { value in
                BreakdownRow(
                    value: value.value, events: Formatting.counted(value.count, "event"),
                    percent: tag.totalValues > 0 ? Int((Double(value.count) * 100 / Double(tag.totalValues)).rounded()) : 0,
                    lastSeen: Formatting.ago(value.lastSeen, now: now),
                    lastSeenISO: Formatting.iso(value.lastSeen),
                    streamURL: Self.filterQuery(key: key, value: value.value).map { streamURL(projectID: issue.project.id, query: $0) })
            }
        }
        let tags = allTags.map { tag -> TagView in
            TagView(
                key: tag.key,
                values: tag.topValues.prefix(5).map {
                    TagValue(
                        value: $0.value,
                        percent: tag.totalValues > 0 ? Int((Double($0.count) * 100 / Double(tag.totalValues)).rounded()) : 0,
                        url: Self.filterQuery(key: tag.key, value: $0.value).map { streamURL(projectID: issue.project.id, query: "is:unresolved " + $0) })
                })
        }
        let activities = try await storage.issues.activities(issueID: issue.id).reversed().map { activity in
            ActivityView(
                who: activity.user?.email ?? "Spyglass", what: Self.describe(activity),
                text: activity.kind == .note ? activity.data["text"]?.stringValue : nil,
                date: Formatting.ago(activity.date, now: now), dateISO: Formatting.iso(activity.date))
        }
        let deliveries = try await storage.alertRules.deliveries(issueID: issue.id, ruleID: nil, limit: 10).map { delivery in
            DeliveryView(
                state: delivery.status, channel: delivery.channel, rule: delivery.ruleName,
                when: Formatting.ago(delivery.delivered ?? delivery.created, now: now), lastError: delivery.lastError)
        }
        var firstReleaseCommits: String?
        if let version = issue.firstRelease, let release = try await storage.releases.release(projectID: issue.project.id, version: version),
            release.commitCount > 0
        {
            firstReleaseCommits = release.commitCount > 0 ? Formatting.counted(release.commitCount, "commit") : nil
        }
        let feedback = try await storage.events.userFeedback(projectID: issue.project.id, issueID: issue.id, limit: 20, offset: 0)
            .prefix(20).map { report in
                FeedbackView(
                    name: report.name.isEmpty ? "Someone" : report.name, email: report.email.isEmpty ? nil : report.email,
                    comments: report.comments, date: Formatting.ago(report.received, now: now), dateISO: Formatting.iso(report.received),
                    eventURL: report.eventID.map { "\(url)events/\($0)/" })
            }
        let affectedUsers = try await storage.issues.affectedUsers(issueID: issue.id, limit: Self.affectedUserLimit).map { user in
            UserView(
                idLabel: user.id ?? "—", email: user.email ?? "", username: user.username ?? "", ipAddress: user.ipAddress ?? "",
                events: Formatting.count(user.timesSeen), userSeen: user.lastSeen.map { Formatting.ago($0, now: now) } ?? "—",
                userSeenISO: user.lastSeen.map(Formatting.iso),
                userStreamURL: Self.filterQuery(key: "user", value: user.key).map { streamURL(projectID: issue.project.id, query: $0) })
        }
        let affectedUsersNote =
            issue.userCount > affectedUsers.count
            ? "The \(affectedUsers.count) most recently seen of \(Formatting.counted(issue.userCount, "user"))." : nil
        let releases = try await storage.releases.releases(projectIDs: [issue.project.id], limit: 100, offset: 0).map(\.version)
        var releaseError: String?
        if let wanted = parameters.get("release_error") {
            releaseError =
                wanted.isEmpty ? "Enter the release that fixes it."
                : releases.isEmpty
                    ? "There is no release “\(wanted.prefix(200))” in this project: it has no releases yet. A release exists once an event names it (the SDK's release option) or it is created (sentry-cli releases new)."
                    : "There is no release “\(wanted.prefix(200))” in this project. Pick one of its releases (the box offers them), or create it first (sentry-cli releases new)."
        }
        // Counting events per hash reads every stored event of the issue: done only when there is a choice to make
        // (Unmerge), not on every page of an issue that came by one hash.
        let issueHashes = try await storage.issues.hashes(issueID: issue.id)
        let byHash = issueHashes.count > 1 ? try await storage.issues.eventCountsByHash(issueID: issue.id) : [:]
        let hashes = issueHashes.map {
            HashView(hash: $0, events: issueHashes.count > 1 ? Formatting.counted(byHash[$0] ?? 0, "event") : "all events")
        }
        let view = IssueView(
            id: issue.id, url: url, projectID: issue.project.id, projectSlug: issue.project.slug, shortID: issue.shortIDText,
            title: issue.title, culprit: issue.culprit, level: issue.level.rawValue, status: issue.status.rawValue,
            statusLabel: Self.statusLabel(issue), badges: Self.badges(issue).filter { $0 != issue.status.rawValue },
            isResolved: issue.status == .resolved, isIgnored: issue.status == .ignored, assignee: issue.assignee?.email,
            canAssignToMe: issue.assignee?.id != session.user.id, events: Formatting.count(events),
            users: Formatting.count(users), firstSeen: Formatting.ago(issue.firstSeen, now: now),
            firstSeenISO: Formatting.iso(issue.firstSeen), lastSeen: Formatting.ago(issue.lastSeen, now: now),
            lastSeenISO: Formatting.iso(issue.lastSeen), firstRelease: issue.firstRelease,
            firstReleaseURL: issue.firstRelease.map { releaseURL($0, projectID: issue.project.id) },
            firstReleaseCommits: firstReleaseCommits, lastRelease: issue.lastRelease,
            histograms: histograms, rangeLabel: rangeLabel, totalEvents: Formatting.count(issue.timesSeen),
            totalUsers: Formatting.count(issue.userCount), releaseBreakdown: breakdown("release"),
            environmentBreakdown: breakdown("environment"), tags: tags, activities: activities, deliveries: deliveries,
            feedback: Array(feedback), hasFeedback: !feedback.isEmpty,
            similar: try await similar(issue, now: now),
            members: try await storage.projects.members(projectID: issue.project.id).filter(\.isActive).map {
                MemberChoice(email: $0.email, selected: $0.userID == issue.assignee?.id)
            },
            affectedUsers: affectedUsers, hasAffectedUsers: !affectedUsers.isEmpty, affectedUsersNote: affectedUsersNote,
            releases: releases, releaseError: releaseError, hashes: hashes, canUnmerge: hashes.count > 1)
        let model = IssueModel(
            chrome: try await chrome(context, session, projects: projects, current: issue.project.id), issue: view, event: eventView,
            confirmation: try await confirmation(parameters, returnURL: url, session: session, visible: Set(projects.map(\.id))),
            ranges: [Filter(label: "All time", url: url, current: timeRange == nil)]
                + TimeRange.periods.map { period in
                    Filter(label: period.id, url: url + "?statsPeriod=" + period.id, current: timeRange?.period == period.id)
                },
            custom: CustomRange(
                start: timeRange.map { TimeRange.dayText($0.from) } ?? "",
                end: timeRange.map { TimeRange.dayText($0.to.addingTimeInterval(-1)) } ?? "",
                current: timeRange != nil && timeRange?.period == nil, keep: []))
        return render("issue", model)
    }

    /// A histogram of `counts` (bucket label, events), 240×48 with its axes' labels.
    static func histogram(_ title: String, _ counts: [(label: String, count: Int)], short: Bool) -> Histogram {
        func axis(_ label: String?) -> String {
            guard let label else { return "" }
            // "2026-12-04 10:00:00 UTC" → "12-04 10:00" for short spans, "2026-12-04" for long ones.
            return short ? String(label.dropFirst(5).prefix(11)) : String(label.prefix(10))
        }
        return Histogram(
            title: title, bars: Formatting.bars(counts), peak: Formatting.count(counts.map(\.count).max() ?? 0),
            startLabel: axis(counts.first?.label), endLabel: axis(counts.last?.label))
    }

    func similar(_ issue: IssueInfo, now: Date) async throws -> [IssueRow] {
        var rows: [IssueRow] = []
        for id in try await storage.issues.similarIssueIDs(of: issue, limit: 5) {
            if let other = try await storage.issues.issue(id: id) { rows.append(issueRow(other, hours: [], now: now)) }
        }
        return rows
    }

    /// An attachment, always as a download: never shown inline, whatever content type the SDK claimed.
    @Sendable func attachmentFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        let issue = try issue(context)
        let eventID = context.parameters.get("event_id") ?? ""
        guard let event = try await storage.events.event(projectID: issue.project.id, eventID: eventID), event.issueID == issue.id,
            let id = context.parameters.get("attachment_id").flatMap({ Int64($0) }),
            let (info, bytes) = try await storage.events.attachment(id: id, projectID: issue.project.id, eventID: event.eventID)
        else { throw PageError.notFound("There is no such attachment.") }
        let safeName = String(info.filename.unicodeScalars.map { $0.isASCII && ($0.properties.isAlphabetic || "0123456789._-".unicodeScalars.contains($0)) ? Character($0) : "_" })
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        WebResponse.securityHeaders(&headers)
        headers[HTTPField.Name("Content-Security-Policy")!] = "sandbox; default-src 'none'"
        headers[.contentDisposition] = "attachment; filename=\"\(safeName.isEmpty ? "attachment" : safeName)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The status with its condition: "Ignored until 100 more events, 37 to go", "Resolved in the next release
    /// after app@1.1.0".
    static func statusLabel(_ issue: IssueInfo, now: Date = .now) -> String {
        switch (issue.status, issue.resolution) {
        case (.resolved, .inNextRelease(let current)?):
            return "Resolved in the next release" + (current.map { " after \($0)" } ?? "")
        case (.resolved, .inRelease(let version)?): return "Resolved in \(version)"
        case (.resolved, _): return "Resolved"
        case (.unresolved, _): return "Unresolved"
        case (.ignored, _):
            guard let state = issue.ignore else { return "Ignored" }
            var label = "Ignored " + ignoreCondition(state.condition)
            switch state.condition {
            case .untilCount(let count):
                label += ", \(Formatting.count(max(0, count - max(0, issue.timesSeen - state.timesSeenAtIgnore)))) to go"
            case .untilUserCount(let count):
                label += ", \(Formatting.count(max(0, count - max(0, issue.userCount - state.usersAtIgnore)))) to go"
            default: break
            }
            return label
        }
    }

    /// "until 100 more events", "until 10 more users", "until 2026-12-05 10:00 UTC", "until it escalates", "forever".
    static func ignoreCondition(_ condition: IgnoreCondition) -> String {
        switch condition {
        case .forever: "forever"
        case .untilCount(let count): "until \(Formatting.count(count)) more \(count == 1 ? "event" : "events")"
        case .untilUserCount(let count): "until \(Formatting.count(count)) more \(count == 1 ? "user" : "users")"
        case .untilDate(let date): "until \(Formatting.timestamp(date))"
        case .untilEscalating: "until it escalates"
        }
    }

    /// The condition a `setIgnored` activity stored (the issue's ignore state as JSON: `condition`, `value`).
    static func ignoreCondition(_ data: JSONValue) -> IgnoreCondition? {
        let value = data["value"]
        switch data["condition"]?.stringValue {
        case "forever": return .forever
        case "count": return value?.int64Value.flatMap { Int(exactly: $0) }.map(IgnoreCondition.untilCount)
        case "users": return value?.int64Value.flatMap { Int(exactly: $0) }.map(IgnoreCondition.untilUserCount)
        case "until":
            return value?.doubleValue.flatMap { (0...253_402_300_799).contains($0) ? IgnoreCondition.untilDate(Date(timeIntervalSince1970: $0)) : nil }
        case "escalating": return .untilEscalating
        default: return nil
        }
    }

    static func describe(_ activity: ActivityInfo) -> String {
        switch activity.kind {
        case .firstSeen: return "first saw this issue"
        case .setRegression: return "marked it as a regression" + (activity.data["version"]?.stringValue.map { " in \($0)" } ?? "")
        case .setResolved:
            let version = activity.data["version"]?.stringValue
            switch activity.data["how"]?.stringValue {
            case "in_next_release": return "resolved it in the next release" + (version.map { " after \($0)" } ?? "")
            case "in_release": return "resolved it in " + (version ?? "a release")
            default: return "resolved it"
            }
        case .setIgnored: return "ignored it " + (ignoreCondition(activity.data).map(ignoreCondition) ?? "forever")
        case .setUnresolved: return "unresolved it"
        case .setEscalating: return "marked it as escalating"
        case .assigned: return "assigned it" + (activity.data["assigneeEmail"]?.stringValue.map { " to \($0)" } ?? "")
        case .unassigned: return "unassigned it"
        case .merge:
            let merged = (activity.data["shortIds"]?.arrayValue ?? []).compactMap(\.stringValue)
            return merged.isEmpty ? "merged issues into this issue" : "merged \(merged.joined(separator: ", ")) into this issue"
        case .note: return "commented"
        case .autoResolved: return "resolved it after a period of inactivity"
        }
    }

    /// The stored event as JSON (normalized), for the "JSON" link.
    @Sendable func eventJSON(_ request: Request, context: AppRequestContext) async throws -> Response {
        let issue = try issue(context)
        let wanted = context.parameters.get("event_id") ?? ""
        guard let event = try await storage.events.event(projectID: issue.project.id, eventID: wanted), event.issueID == issue.id else {
            throw PageError.notFound("Issue \(issue.shortIDText) has no event \(wanted).")
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        WebResponse.securityHeaders(&headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(event.payload))))
    }

    /// The status buttons of the issue page.
    @Sendable func changeStatus(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let issue = try issue(context)
        let fields = try await form(request, session: session)
        var change = IssueChange(actorID: session.user.id)
        switch fields.get("action") ?? "" {
        case "resolve":
            change.status = .resolved
        case "resolve_next_release":
            change.status = .resolved
            change.resolution = .inNextRelease(current: nil)
        case "resolve_in_release":
            // A release the project does not have is said in place, with its releases offered.
            let version = fields.get("release")?.trimmingCharacters(in: .whitespaces) ?? ""
            let known = try await storage.releases.release(projectID: issue.project.id, version: version) != nil
            guard !version.isEmpty, version == "latest" || known else {
                return WebResponse.redirect(Self.appending([URLQueryItem(name: "release_error", value: String(version.prefix(200)))], to: issueURL(issue.id)) + "#resolve-in-release")
            }
            change.status = .resolved
            change.resolution = .inRelease(version)
        case "unresolve":
            change.status = .unresolved
        case "ignore":
            change.status = .ignored
            change.ignore = try Self.ignoreCondition(fields.get("ignore") ?? "", now: .now)
        case "assign_me":
            change.assigneeEmail = .some(session.user.email)
        case "assign":
            let email = fields.get("assignee") ?? ""
            change.assigneeEmail = .some(email.isEmpty ? nil : email)
        case "unassign":
            change.assigneeEmail = .some(nil)
        case let other:
            throw PageError(status: .badRequest, heading: "Unknown action", text: "action: \"\(other)\" is not a status change.")
        }
        try await storage.issues.updateIssues(ids: [issue.id], change: change, now: .now)
        return WebResponse.redirect(issueURL(issue.id))
    }

    /// Unmerge on the issue page: the events that came by one hash move to a new issue.
    @Sendable func unmergeHash(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let issue = try issue(context)
        let fields = try await form(request, session: session)
        let hash = fields.get("hash") ?? ""
        guard !hash.isEmpty else { throw PageError(status: .badRequest, heading: "Nothing to unmerge", text: "hash: name the hash to split out.") }
        let moved = try await storage.issues.eventCountsByHash(issueID: issue.id)[hash] ?? 0
        let created: Int64
        do {
            created = try await storage.issues.unmerge(issueID: issue.id, hash: hash)
        } catch let error as DomainError {
            throw PageError(status: error.kind == .notFound ? .notFound : .badRequest, heading: "Cannot unmerge", text: error.message)
        }
        return WebResponse.redirect(
            Self.appending(
                [URLQueryItem(name: "done", value: "unmerged"), URLQueryItem(name: "new", value: String(created)),
                 URLQueryItem(name: "n", value: String(moved))],
                to: issueURL(issue.id)))
    }

    /// `""` forever, `minutes:N`, `count:N`, `users:N`, `escalating`.
    static func ignoreCondition(_ text: String, now: Date) throws -> IgnoreCondition {
        if text.isEmpty { return .forever }
        if text == "escalating" { return .untilEscalating }
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let number = Int(parts[1]), number > 0, number <= 1_000_000 else {
            throw PageError(status: .badRequest, heading: "Unknown ignore option", text: "ignore: \"\(text)\" is not an ignore option.")
        }
        switch parts[0] {
        case "minutes": return .untilDate(now.addingTimeInterval(Double(number) * 60))
        case "count": return .untilCount(number)
        case "users": return .untilUserCount(number)
        default: throw PageError(status: .badRequest, heading: "Unknown ignore option", text: "ignore: \"\(text)\" is not an ignore option.")
        }
    }

    @Sendable func comment(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let issue = try issue(context)
        let fields = try await form(request, session: session)
        let text = fields.get("text")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !text.isEmpty else { throw PageError(status: .badRequest, heading: "Empty comment", text: "text: write something first.") }
        _ = try await storage.issues.addComment(issueID: issue.id, userID: session.user.id, text: text, now: .now)
        return WebResponse.redirect(issueURL(issue.id))
    }

    /// The stream of a project with `query`.
    func streamURL(projectID: Int64, query: String) -> String {
        var components = URLComponents()
        components.path = "/organizations/\(organization)/issues/"
        components.queryItems = [URLQueryItem(name: "project", value: String(projectID)), URLQueryItem(name: "query", value: query)]
        return (components.string ?? components.path).replacingOccurrences(of: "+", with: "%2B")
    }

    /// The search term that finds issues with this tag value: `user.email:…` for the user tag's `email:…`, the value
    /// quoted where it holds what the query language reads (spaces, parentheses, `*`…); nil for a value with a quote
    /// or a key that is not a tag name, which no query can name.
    static func filterQuery(key: String, value: String) -> String? {
        var key = key
        var value = value
        if key == "user", let colon = value.firstIndex(of: ":") {
            let field = value[..<colon]
            guard ["id", "email", "username", "ip"].contains(field) else { return nil }
            key = "user.\(field)"
            value = String(value[value.index(after: colon)...])
        }
        guard !value.isEmpty, !value.contains("\""), !key.isEmpty,
            key.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) })
        else { return nil }
        let plain = value.unicodeScalars.allSatisfy { !$0.properties.isWhitespace && !"()[]*!\\,".unicodeScalars.contains($0) }
        return plain ? "\(key):\(value)" : "\(key):\"\(value)\""
    }
}
