import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Alert rules inside the writer's transaction (SQLite's `AlertRows`): which rules an event fires, and the outbox
/// rows they write, in the transaction that stores the event.
enum PostgresAlertRows {
    /// Evaluates the project's rules for an event just stored in `issueID` and queues what fires.
    static func evaluate(
        _ event: NormalizedEvent, issueID: Int64, transitions: Set<AlertTrigger>, projectID: Int64,
        batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws {
        let rules = try batch.rules(projectID: projectID, in: sql).filter { $0.applies(to: transitions) }
        guard !rules.isEmpty else { return }
        let timestamp = event.timestamp.timeIntervalSince1970
        if rules.contains(where: \.countsEvents) {
            try sql.run(
                """
                INSERT INTO issue_minute (issue_id, minute, count) VALUES (\(issueID), \(Int64((timestamp / 60).rounded(.down))), 1)
                ON CONFLICT (issue_id, minute) DO UPDATE SET count = issue_minute.count + 1
                """)
        }
        // issue_user.last_seen, which user-frequency conditions count, is kept by the event's own upsert.
        let now = event.received
        var issueFirstSeen: Date?
        for entry in rules {
            if issueFirstSeen == nil {
                issueFirstSeen =
                    try sql.row("SELECT first_seen FROM issue WHERE id = \(issueID)")
                    .map { Date(timeIntervalSince1970: try $0.decode(Double.self)) } ?? now
            }
            let context = AlertContext(
                transitions: transitions, level: event.level, environment: event.environment, tags: event.tags,
                issueFirstSeen: issueFirstSeen ?? now, now: now)
            guard
                let trigger = try evaluate(
                    entry.rule, context, count: { try count($0, issueID: issueID, now: now, batch: batch, in: sql) })
            else { continue }
            // The throttle: at most once per rule, issue and trigger within the rule's frequency.
            if let lastFired = try sql.row(
                """
                SELECT last_fired FROM alert_rule_issue
                WHERE rule_id = \(entry.id) AND issue_id = \(issueID) AND trigger = \(trigger.rawValue)
                """)?.decode(Double.self), now.timeIntervalSince1970 - lastFired < Double(entry.frequencyMinutes) * 60
            {
                continue
            }
            let fired = Fired(ruleID: entry.id, issueID: issueID, trigger: trigger.rawValue, at: now.timeIntervalSince1970)
            try enqueue(entry.rule, trigger: trigger, fired: fired, event: event, projectID: projectID, batch: batch, in: sql)
        }
    }

    /// A count the rule asked for and that is not read yet.
    private struct CountNeeded: Error {
        let condition: AlertCondition
    }

    /// ``AlertRule/evaluate(_:count:)`` with counts read from the database: evaluation is synchronous, so a count
    /// it asks for ends the attempt, is read, and evaluation runs again. The rule reads the counts SQLite's writer
    /// reads, no more.
    private static func evaluate(
        _ rule: AlertRule, _ context: AlertContext, count: (AlertCondition) throws -> Int
    ) throws -> AlertTrigger? {
        var counts: [AlertCondition: Int] = [:]
        while true {
            do {
                return try rule.evaluate(context) { condition in
                    guard let known = counts[condition] else { throw CountNeeded(condition: condition) }
                    return known
                }
            } catch let needed as CountNeeded {
                counts[needed.condition] = try count(needed.condition)
            }
        }
    }

    /// Events (or distinct users) of the issue within the condition's interval before `now`.
    static func count(
        _ condition: AlertCondition, issueID: Int64, now: Date, batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> Int {
        switch condition {
        case .eventFrequency(_, let interval):
            let start = now.timeIntervalSince1970 - interval.seconds
            if interval.seconds <= 3600 {
                let minute = Int64((start / 60).rounded(.down))
                return Int(
                    try sql.row(
                        "SELECT coalesce(sum(count), 0)::bigint FROM issue_minute WHERE issue_id = \(issueID) AND minute >= \(minute)"
                    )?.decode(Int64.self) ?? 0)
            }
            try batch.flushHours(sql)
            let hour = Int64((start / 3600).rounded(.down))
            return Int(
                try sql.row(
                    "SELECT coalesce(sum(count), 0)::bigint FROM issue_hour WHERE issue_id = \(issueID) AND hour >= \(hour)"
                )?.decode(Int64.self) ?? 0)
        case .uniqueUserFrequency(let threshold, let interval):
            // Only "more than threshold" matters: stop counting there.
            let limit = Int64(min(threshold, AlertCondition.maxCount) + 1)
            return Int(
                try sql.row(
                    """
                    SELECT count(*) FROM (
                        SELECT 1 FROM issue_user WHERE issue_id = \(issueID) AND last_seen >= \(now.timeIntervalSince1970 - interval.seconds)
                        LIMIT \(limit)
                    ) AS recent
                    """
                )?.decode(Int64.self) ?? 0)
        default:
            return 0
        }
    }

    /// The rule's throttle row and one outbox row per action, with the issue as it is now.
    static func enqueue(
        _ rule: AlertRule, trigger: AlertTrigger, fired: Fired, event: NormalizedEvent, projectID: Int64,
        batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws {
        let issueID = fired.issueID
        guard
            let row = try sql.row(
                """
                SELECT short_id, title, culprit, level, status, times_seen, user_count, first_seen, last_seen
                FROM issue WHERE id = \(issueID)
                """)
        else { return try insert([], fired: [fired], in: sql) }
        let (shortID, title, culprit, level, status, timesSeen, userCount, firstSeen, lastSeen) =
            try row.decode((Int64, String, String, String, String, Int64, Int64, Double, Double).self)
        let issue = IssueSnapshot(
            shortID: shortID, title: title, culprit: culprit, level: level, status: status, timesSeen: timesSeen,
            userCount: userCount, firstSeen: firstSeen, lastSeen: lastSeen)
        try insert(
            try notifications(rule, trigger: trigger, event: event, issueID: issueID, issue: issue, projectID: projectID, batch: batch, in: sql),
            fired: [fired], in: sql)
    }

    /// What an outbox row says of its issue.
    struct IssueSnapshot {
        /// nil: the issue is written by the statement that writes the row, which fills in its short id
        /// (``Notification/shortIDPlaceholder``) and its id (the row's issue id is then a placeholder of the id the
        /// statement draws: ``PostgresEventSet/Identities``).
        var shortID: Int64?
        var title: String
        var culprit: String
        var level: String
        var status: String
        var timesSeen: Int64
        var userCount: Int64
        var firstSeen: Double
        var lastSeen: Double
    }

    /// An outbox row (`notification`).
    struct Notification {
        var projectID: Int64
        var ruleID: Int64?
        var ruleName: String
        var issueID: Int64
        var trigger: String
        var channel: String
        var target: String
        var action: String
        var content: String
        var at: Double
        /// `"shortId":"SLUG-#"` in `content`, to become the issue's short id: the issue is new, written by the same
        /// statement (its `issues` common table expression returns it; ``writes(_:fired:)``), and `issueID` is the
        /// placeholder of the id that statement draws, which becomes `content`'s `"issueId"` too.
        var shortIDPlaceholder: String? = nil
    }

    /// The outbox rows of a rule that fired for an issue: one per action (none for "e-mail the members" when the
    /// project has no active member).
    static func notifications(
        _ rule: AlertRule, trigger: AlertTrigger, event: NormalizedEvent, issueID: Int64, issue: IssueSnapshot,
        projectID: Int64, batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> [Notification] {
        let project = try batch.project(projectID, in: sql)
        let content = NotificationContent(
            projectID: projectID, projectSlug: project.slug, projectName: project.name, issueID: issueID,
            shortID: "\(project.slug.uppercased())-\(issue.shortID.map(String.init) ?? "#")", title: issue.title,
            culprit: issue.culprit,
            level: issue.level, status: issue.status, count: Int(issue.timesSeen), userCount: Int(issue.userCount),
            firstSeen: Date(timeIntervalSince1970: issue.firstSeen), lastSeen: Date(timeIntervalSince1970: issue.lastSeen),
            eventID: event.eventID, release: event.release, environment: event.environment)
        let contentText = JSONWriter.string(content.json)
        // The content's `"shortId":"SLUG-#"` and `"issueId":-N`, once each (keys are sorted and strings escaped: no
        // value holds an unescaped quote, so these texts are the members themselves), for the statement to complete
        // with the issue's short id and id.
        var placeholder: String?
        if issue.shortID == nil {
            let member = "\"shortId\":" + JSONWriter.string(.string(content.shortID))
            guard issueID < 0, contentText.contains(member), contentText.contains(Self.issueIDMember(issueID)) else {
                throw DomainError(.unavailable, "an outbox row's content has no short id or issue id to fill in")
            }
            placeholder = member
        }
        var rows: [Notification] = []
        for var action in rule.actions {
            let target: String
            switch action {
            case .email(.members):
                let addresses = try batch.memberEmails(projectID, in: sql)
                guard !addresses.isEmpty else { continue }
                action = .email(.addresses(addresses))
                target = addresses.joined(separator: ", ")
            case .email(.addresses(let addresses)): target = addresses.joined(separator: ", ")
            case .webhook(let url, _), .slack(let url), .discord(let url): target = url
            }
            rows.append(
                Notification(
                    projectID: projectID, ruleID: rule.id, ruleName: rule.name, issueID: issueID, trigger: trigger.rawValue,
                    channel: action.channel, target: target, action: JSONWriter.string(.object(action.json)),
                    content: contentText, at: event.received.timeIntervalSince1970, shortIDPlaceholder: placeholder))
        }
        return rows
    }

    /// The `"issueId"` member of an outbox row's content (``NotificationContent/json``) for the issue `id`.
    static func issueIDMember(_ id: Int64) -> String {
        "\"issueId\":" + JSONWriter.string(.number(JSONNumber(id)))
    }

    /// A rule that fired for an issue: its throttle row (`alert_rule_issue`).
    struct Fired {
        var ruleID: Int64
        var issueID: Int64
        var trigger: String
        var at: Double
    }

    /// Writes outbox rows, in order, and the throttle rows of the rules that fired, in one statement.
    static func insert(_ rows: [Notification], fired: [Fired] = [], in sql: IngestSQL) throws {
        guard let writes = writes(rows, fired: fired) else { return }
        _ = try sql.prepared("WITH \(embedding: writes) SELECT 1")
    }

    /// Outbox rows, in order, and the throttle rows of the rules that fired, as common table expressions
    /// (`fired AS (…), notified AS (…)`) for a statement to carry; nil when there is nothing to write.
    ///
    /// Rows of new issues (``Notification/shortIDPlaceholder``) are completed from the statement's `issues`, and
    /// their issue ids are placeholders of the ids it draws: only the set statement, which draws them and writes the
    /// issues (``PostgresEventSet/Identities``), carries such rows.
    static func writes(_ rows: [Notification], fired: [Fired]) -> IngestStatement? {
        guard !rows.isEmpty || !fired.isEmpty else { return nil }
        let ruleIDs = Nullable(rows.map(\.ruleID), placeholder: 0)
        let placeholders = Nullable(rows.map(\.shortIDPlaceholder), placeholder: "")
        let idPlaceholders = rows.map { Self.issueIDMember($0.issueID) }
        // Short ids and ids to fill in come from the statement's `issues` and `drawn`.
        let fillsShortIDs = rows.contains { $0.shortIDPlaceholder != nil }
        let drawsIDs = fillsShortIDs || fired.contains { $0.issueID < 0 }
        let issueID = drawsIDs ? PostgresEventSet.drawnID("v.issue_id", "issues") : "v.issue_id"
        let (content, issues) =
            fillsShortIDs
            ? (
                #"CASE WHEN v.has_placeholder THEN replace(replace(v.content, v.placeholder, "#
                    + #"left(v.placeholder, -2) || i.short_id::text || '"'), "#
                    + #"v.id_placeholder, '"issueId":' || i.id::text) "#
                    + "ELSE v.content END",
                "LEFT JOIN issues i ON i.id = \(issueID)"
            ) : ("v.content", "")
        let drawn = drawsIDs ? " CROSS JOIN drawn d" : ""
        return """
            fired AS (
                INSERT INTO alert_rule_issue (rule_id, issue_id, trigger, last_fired)
                SELECT v.rule_id, \(unescaped: issueID), v.trigger, v.at
                FROM unnest(\(fired.map(\.ruleID))::bigint[], \(fired.map(\.issueID))::bigint[],
                    \(fired.map(\.trigger))::text[], \(fired.map(\.at))::float8[])
                    AS v(rule_id, issue_id, trigger, at)\(unescaped: drawn)
                ON CONFLICT (rule_id, issue_id, trigger) DO UPDATE SET last_fired = excluded.last_fired
                RETURNING 1
            ), notified AS (
                INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                    created_at, next_attempt)
                SELECT v.project_id, CASE WHEN v.has_rule_id THEN v.rule_id END, v.rule_name, \(unescaped: issueID),
                    v.trigger, v.channel, v.target, v.action, \(unescaped: content), v.at, v.at
                FROM unnest(\(rows.map(\.projectID))::bigint[], \(ruleIDs.values)::bigint[], \(ruleIDs.present)::boolean[],
                    \(rows.map(\.ruleName))::text[],
                    \(rows.map(\.issueID))::bigint[], \(rows.map(\.trigger))::text[], \(rows.map(\.channel))::text[],
                    \(rows.map(\.target))::text[], \(rows.map(\.action))::text[], \(rows.map(\.content))::text[],
                    \(rows.map(\.at))::float8[], \(placeholders.values)::text[], \(placeholders.present)::boolean[],
                    \(idPlaceholders)::text[])
                    WITH ORDINALITY AS v(project_id, rule_id, has_rule_id, rule_name, issue_id, trigger, channel, target, action,
                        content, at, placeholder, has_placeholder, id_placeholder, position)\(unescaped: drawn)
                    \(unescaped: issues)
                ORDER BY v.position
                RETURNING 1
            )
            """
    }

    /// A new issue of an event set, for its rules.
    struct NewIssue {
        var event: NormalizedEvent
        var issueID: Int64
        var projectID: Int64
        var issue: IssueSnapshot
    }

    /// Evaluates the rules of new issues (no throttle row can exist for an issue just made): what fires, for the
    /// statement that writes the issues to carry (``writes(_:fired:)``), and the issues whose rules need counts from
    /// the database, for ``evaluate(_:issueID:transitions:projectID:batch:in:)`` once the issues' events are counted.
    static func evaluateNew(
        _ issues: [NewIssue], batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> (writes: IngestStatement?, needCounts: [NewIssue]) {
        var needCounts: [NewIssue] = []
        var fired: [Fired] = []
        var notifications: [Notification] = []
        for new in issues {
            let rules = try batch.rules(projectID: new.projectID, in: sql).filter { $0.applies(to: [.newIssue]) }
            let context = AlertContext(
                transitions: [.newIssue], level: new.event.level, environment: new.event.environment, tags: new.event.tags,
                issueFirstSeen: Date(timeIntervalSince1970: new.issue.firstSeen), now: new.event.received)
            var triggers: [(WriterAlertRule, AlertTrigger)] = []
            do {
                for entry in rules {
                    if let trigger = try entry.rule.evaluate(context, count: { throw CountNeeded(condition: $0) }) {
                        triggers.append((entry, trigger))
                    }
                }
            } catch is CountNeeded {
                needCounts.append(new)
                continue
            }
            for (entry, trigger) in triggers {
                fired.append(Fired(ruleID: entry.id, issueID: new.issueID, trigger: trigger.rawValue, at: new.event.received.timeIntervalSince1970))
                notifications += try Self.notifications(
                    entry.rule, trigger: trigger, event: new.event, issueID: new.issueID, issue: new.issue,
                    projectID: new.projectID, batch: batch, in: sql)
            }
        }
        return (writes(notifications, fired: fired), needCounts)
    }
}
