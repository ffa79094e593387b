import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// Alert rules inside the writer's transaction: which rules an event fires, and the outbox rows they write.
///
/// The rows are written in the transaction that stores the event, so an alert exists exactly when its event
/// does. A project's rules are read once per batch (``WriterBatch``); an event for which none can fire (the usual
/// case: joining an unresolved issue while only new-issue and regression rules exist) costs no statement.
enum AlertRows {
    /// Evaluates the project's rules for an event just stored in `issueID` and queues what fires.
    static func evaluate(
        _ event: NormalizedEvent, issueID: Int64, transitions: Set<AlertTrigger>, projectID: Int64, batch: WriterBatch,
        in db: Database
    ) throws {
        let rules = try batch.rules(projectID: projectID, in: db).filter { $0.applies(to: transitions) }
        guard !rules.isEmpty else { return }
        let timestamp = event.timestamp.timeIntervalSince1970
        if rules.contains(where: \.countsEvents) {
            try db.cachedStatement(
                sql: "INSERT INTO issue_minute (issue_id, minute, count) VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET count = count + 1"
            ).execute(arguments: [issueID, Int64((timestamp / 60).rounded(.down))])
        }
        // issue_user.last_seen, which user-frequency conditions count, is kept by the event's own upsert.
        let now = event.received
        var issueFirstSeen: Date?
        for entry in rules {
            let ruleID = entry.id
            let frequency = entry.frequencyMinutes
            let rule = entry.rule
            if issueFirstSeen == nil {
                let firstSeen = try WriterStatement("SELECT first_seen FROM issue WHERE id = ?", in: db)
                    .fetchOne(issueID) { $0.isNull(0) ? nil : Date(timeIntervalSince1970: $0.double(0)) }
                issueFirstSeen = (firstSeen ?? nil) ?? now
            }
            let context = AlertContext(
                transitions: transitions, level: event.level, environment: event.environment, tags: event.tags,
                issueFirstSeen: issueFirstSeen ?? now, now: now)
            guard let trigger = try rule.evaluate(context, count: { try count($0, issueID: issueID, now: now, in: db) }) else { continue }
            // The throttle: at most once per rule, issue and trigger within the rule's frequency.
            if let lastFired = try WriterStatement(
                "SELECT last_fired FROM alert_rule_issue WHERE rule_id = ? AND issue_id = ? AND trigger = ?", in: db
            ).fetchOne(ruleID, issueID, trigger.rawValue, read: { $0.isNull(0) ? nil : $0.double(0) }) ?? nil,
                now.timeIntervalSince1970 - lastFired < Double(frequency) * 60
            {
                continue
            }
            try WriterStatement(
                """
                INSERT INTO alert_rule_issue (rule_id, issue_id, trigger, last_fired) VALUES (?, ?, ?, ?)
                ON CONFLICT DO UPDATE SET last_fired = excluded.last_fired
                """, in: db
            ).execute(ruleID, issueID, trigger.rawValue, now.timeIntervalSince1970)
            try enqueue(rule, trigger: trigger, event: event, issueID: issueID, projectID: projectID, in: db)
        }
    }

    /// Events (or distinct users) of the issue within the condition's interval before `now`.
    static func count(_ condition: AlertCondition, issueID: Int64, now: Date, in db: Database) throws -> Int {
        switch condition {
        case .eventFrequency(_, let interval):
            let start = now.timeIntervalSince1970 - interval.seconds
            if interval.seconds <= 3600 {
                return try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT coalesce(sum(count), 0) FROM issue_minute WHERE issue_id = ? AND minute >= ?"),
                    arguments: [issueID, Int64((start / 60).rounded(.down))]) ?? 0
            }
            return try Int.fetchOne(
                db.cachedStatement(sql: "SELECT coalesce(sum(count), 0) FROM issue_hour WHERE issue_id = ? AND hour >= ?"),
                arguments: [issueID, Int64((start / 3600).rounded(.down))]) ?? 0
        case .uniqueUserFrequency(let threshold, let interval):
            // Only "more than threshold" matters: stop counting there.
            return try Int.fetchOne(
                db.cachedStatement(
                    sql: "SELECT count(*) FROM (SELECT 1 FROM issue_user WHERE issue_id = ? AND last_seen >= ? LIMIT ?)"),
                arguments: [issueID, now.timeIntervalSince1970 - interval.seconds, min(threshold, AlertCondition.maxCount) + 1]) ?? 0
        default:
            return 0
        }
    }

    /// The columns ``content(_:projectID:issueID:eventID:release:environment:)`` reads, first in a query's list, from
    /// `issue i JOIN project p`.
    static let contentColumns = """
        p.slug, p.name, i.short_id, i.title, i.culprit, i.level, i.status, i.times_seen, i.user_count, i.first_seen,
            i.last_seen
        """

    /// A notification's content from a row that starts with ``contentColumns``.
    static func content(
        _ column: WriterStatement.Columns, projectID: Int64, issueID: Int64, eventID: String, release: String?,
        environment: String?
    ) -> NotificationContent {
        let slug = column.string(0) ?? ""
        return NotificationContent(
            projectID: projectID, projectSlug: slug, projectName: column.string(1) ?? "", issueID: issueID,
            shortID: "\(slug.uppercased())-\(column.int64(2))", title: column.string(3) ?? "",
            culprit: column.string(4) ?? "", level: column.string(5) ?? "", status: column.string(6) ?? "",
            count: Int(truncatingIfNeeded: column.int64(7)), userCount: Int(truncatingIfNeeded: column.int64(8)),
            firstSeen: Date(timeIntervalSince1970: column.double(9)), lastSeen: Date(timeIntervalSince1970: column.double(10)),
            eventID: eventID, release: release, environment: environment)
    }

    /// Tells a new assignee by e-mail, through the outbox (delivered once, as alerts are): the issue as it is now,
    /// and who assigned it (`ruleName` of the row).
    static func enqueueAssignment(
        issueID: Int64, projectID: Int64, assigneeEmail: String, actorID: Int64?, now: Date, in db: Database
    ) throws {
        guard
            let (content, actor) = try WriterStatement(
                """
                SELECT \(contentColumns), i.last_release,
                    (SELECT e.event_id FROM event e WHERE e.id = i.last_event_id),
                    (SELECT u.email FROM user u WHERE u.id = ?)
                FROM issue i JOIN project p ON p.id = i.project_id WHERE i.id = ?
                """, in: db
            ).fetchOne(actorID, issueID, read: { column in
                (
                    content(
                        column, projectID: projectID, issueID: issueID, eventID: column.string(12) ?? "",
                        release: column.string(11), environment: nil),
                    column.string(13)
                )
            })
        else { return }
        let action = AlertAction.email(.addresses([assigneeEmail]))
        try db.execute(
            sql: """
                INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                    created_at, next_attempt)
                VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                projectID, actor ?? "Spyglass", issueID, AlertTrigger.assigned.rawValue, action.channel, assigneeEmail,
                JSONWriter.string(.object(action.json)), JSONWriter.string(content.json), now.timeIntervalSince1970,
                now.timeIntervalSince1970,
            ])
    }

    static func enqueue(
        _ rule: AlertRule, trigger: AlertTrigger, event: NormalizedEvent, issueID: Int64, projectID: Int64, in db: Database
    ) throws {
        // Bound and read through the C API as the event's own statements are (``WriterStatement``): GRDB's rows and
        // argument arrays cost more here than SQLite's work (docs/performance.md).
        guard
            let content = try WriterStatement(
                "SELECT \(contentColumns) FROM issue i JOIN project p ON p.id = i.project_id WHERE i.id = ?", in: db
            ).fetchOne(issueID, read: { column in
                Self.content(
                    column, projectID: projectID, issueID: issueID, eventID: event.eventID, release: event.release,
                    environment: event.environment)
            })
        else { return }
        let contentText = JSONWriter.string(content.json)
        let now = event.received.timeIntervalSince1970
        for var action in rule.actions {
            let target: String
            switch action {
            case .email(.members):
                let addresses = try String.fetchAll(
                    db.cachedStatement(
                        sql: """
                            SELECT u.email FROM project_member m JOIN user u ON u.id = m.user_id
                            WHERE m.project_id = ? AND u.is_active = 1 ORDER BY u.id
                            """),
                    arguments: [projectID])
                guard !addresses.isEmpty else { continue }
                action = .email(.addresses(addresses))
                target = addresses.joined(separator: ", ")
            case .email(.addresses(let addresses)): target = addresses.joined(separator: ", ")
            case .webhook(let url, _), .slack(let url), .discord(let url): target = url
            }
            try WriterStatement(
                """
                INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                    created_at, next_attempt)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, in: db
            ).execute(
                projectID, rule.id, rule.name, issueID, trigger.rawValue, action.channel, target,
                JSONWriter.string(.object(action.json)), contentText, now, now)
        }
    }

    /// Stores a rule for a project; returns its id.
    @discardableResult
    static func insertRule(_ rule: AlertRule, projectID: Int64, now: Date, in db: Database) throws -> Int64 {
        let flags = rule.storedFlags
        try db.execute(
            sql: """
                INSERT INTO alert_rule (project_id, name, enabled, spec, frequency_minutes, on_new, on_regression, on_reappeared,
                    counts_events, counts_users, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                projectID, rule.name, rule.enabled, JSONWriter.string(.object(rule.json)), rule.frequencyMinutes, flags.onNew,
                flags.onRegression, flags.onReappeared, flags.countsEvents, flags.countsUsers, now.timeIntervalSince1970, now.timeIntervalSince1970,
            ])
        return db.lastInsertedRowID
    }

    /// Replaces a stored rule; false when it does not exist in the project.
    static func updateRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date, in db: Database) throws -> Bool {
        let flags = rule.storedFlags
        try db.execute(
            sql: """
                UPDATE alert_rule SET name = ?, enabled = ?, spec = ?, frequency_minutes = ?, on_new = ?, on_regression = ?,
                    on_reappeared = ?, counts_events = ?, counts_users = ?, updated_at = ?
                WHERE id = ? AND project_id = ?
                """,
            arguments: [
                rule.name, rule.enabled, JSONWriter.string(.object(rule.json)), rule.frequencyMinutes, flags.onNew, flags.onRegression,
                flags.onReappeared, flags.countsEvents, flags.countsUsers, now.timeIntervalSince1970, id, projectID,
            ])
        return db.changesCount > 0
    }
}
