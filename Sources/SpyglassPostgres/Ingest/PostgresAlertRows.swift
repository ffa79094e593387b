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
    ) async throws {
        let rules = try await batch.rules(projectID: projectID, in: sql).filter { $0.applies(to: transitions) }
        guard !rules.isEmpty else { return }
        let timestamp = event.timestamp.timeIntervalSince1970
        if rules.contains(where: \.countsEvents) {
            try await sql.run(
                """
                INSERT INTO issue_minute (issue_id, minute, count) VALUES (\(issueID), \(Int64((timestamp / 60).rounded(.down))), 1)
                ON CONFLICT (issue_id, minute) DO UPDATE SET count = issue_minute.count + 1
                """)
        }
        if let userKey = event.userKey, rules.contains(where: \.countsUsers) {
            try await sql.run(
                """
                UPDATE issue_user SET last_seen = GREATEST(coalesce(last_seen, 0), \(timestamp))
                WHERE issue_id = \(issueID) AND user_key = \(userKey)
                """)
        }
        let now = event.received
        var issueFirstSeen: Date?
        for entry in rules {
            if issueFirstSeen == nil {
                issueFirstSeen =
                    try await sql.row("SELECT first_seen FROM issue WHERE id = \(issueID)")
                    .map { Date(timeIntervalSince1970: try $0.decode(Double.self)) } ?? now
            }
            let context = AlertContext(
                transitions: transitions, level: event.level, environment: event.environment, tags: event.tags,
                issueFirstSeen: issueFirstSeen ?? now, now: now)
            guard
                let trigger = try await evaluate(
                    entry.rule, context, count: { try await count($0, issueID: issueID, now: now, batch: batch, in: sql) })
            else { continue }
            // The throttle: at most once per rule, issue and trigger within the rule's frequency.
            if let lastFired = try await sql.row(
                """
                SELECT last_fired FROM alert_rule_issue
                WHERE rule_id = \(entry.id) AND issue_id = \(issueID) AND trigger = \(trigger.rawValue)
                """)?.decode(Double.self), now.timeIntervalSince1970 - lastFired < Double(entry.frequencyMinutes) * 60
            {
                continue
            }
            try await sql.run(
                """
                INSERT INTO alert_rule_issue (rule_id, issue_id, trigger, last_fired)
                VALUES (\(entry.id), \(issueID), \(trigger.rawValue), \(now.timeIntervalSince1970))
                ON CONFLICT (rule_id, issue_id, trigger) DO UPDATE SET last_fired = excluded.last_fired
                """)
            try await enqueue(entry.rule, trigger: trigger, event: event, issueID: issueID, projectID: projectID, in: sql)
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
        _ rule: AlertRule, _ context: AlertContext, count: (AlertCondition) async throws -> Int
    ) async throws -> AlertTrigger? {
        var counts: [AlertCondition: Int] = [:]
        while true {
            do {
                return try rule.evaluate(context) { condition in
                    guard let known = counts[condition] else { throw CountNeeded(condition: condition) }
                    return known
                }
            } catch let needed as CountNeeded {
                counts[needed.condition] = try await count(needed.condition)
            }
        }
    }

    /// Events (or distinct users) of the issue within the condition's interval before `now`.
    static func count(
        _ condition: AlertCondition, issueID: Int64, now: Date, batch: PostgresWriterBatch, in sql: IngestSQL
    ) async throws -> Int {
        switch condition {
        case .eventFrequency(_, let interval):
            let start = now.timeIntervalSince1970 - interval.seconds
            if interval.seconds <= 3600 {
                let minute = Int64((start / 60).rounded(.down))
                return Int(
                    try await sql.row(
                        "SELECT coalesce(sum(count), 0)::bigint FROM issue_minute WHERE issue_id = \(issueID) AND minute >= \(minute)"
                    )?.decode(Int64.self) ?? 0)
            }
            try await batch.flushHours(sql)
            let hour = Int64((start / 3600).rounded(.down))
            return Int(
                try await sql.row(
                    "SELECT coalesce(sum(count), 0)::bigint FROM issue_hour WHERE issue_id = \(issueID) AND hour >= \(hour)"
                )?.decode(Int64.self) ?? 0)
        case .uniqueUserFrequency(let threshold, let interval):
            // Only "more than threshold" matters: stop counting there.
            let limit = Int64(min(threshold, AlertCondition.maxCount) + 1)
            return Int(
                try await sql.row(
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

    /// One outbox row per action, with the issue as it is now.
    static func enqueue(
        _ rule: AlertRule, trigger: AlertTrigger, event: NormalizedEvent, issueID: Int64, projectID: Int64,
        in sql: IngestSQL
    ) async throws {
        guard
            let row = try await sql.row(
                """
                SELECT p.slug, p.name, i.short_id, i.title, i.culprit, i.level, i.status, i.times_seen, i.user_count,
                    i.first_seen, i.last_seen
                FROM issue i JOIN project p ON p.id = i.project_id WHERE i.id = \(issueID)
                """)
        else { return }
        let (slug, projectName, shortID, title, culprit, level, status, timesSeen, userCount, firstSeen, lastSeen) =
            try row.decode((String, String, Int64, String, String, String, String, Int64, Int64, Double, Double).self)
        let content = NotificationContent(
            projectID: projectID, projectSlug: slug, projectName: projectName, issueID: issueID,
            shortID: "\(slug.uppercased())-\(shortID)", title: title, culprit: culprit, level: level, status: status,
            count: Int(timesSeen), userCount: Int(userCount), firstSeen: Date(timeIntervalSince1970: firstSeen),
            lastSeen: Date(timeIntervalSince1970: lastSeen), eventID: event.eventID, release: event.release,
            environment: event.environment)
        let contentText = JSONWriter.string(content.json)
        let now = event.received.timeIntervalSince1970
        for var action in rule.actions {
            let target: String
            switch action {
            case .email(.members):
                let addresses = try await sql.rows(
                    """
                    SELECT u.email FROM project_member m JOIN "user" u ON u.id = m.user_id
                    WHERE m.project_id = \(projectID) AND u.is_active = 1 ORDER BY u.id
                    """
                ).map { try $0.decode(String.self) }
                guard !addresses.isEmpty else { continue }
                action = .email(.addresses(addresses))
                target = addresses.joined(separator: ", ")
            case .email(.addresses(let addresses)): target = addresses.joined(separator: ", ")
            case .webhook(let url, _), .slack(let url), .discord(let url): target = url
            }
            try await sql.run(
                """
                INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                    created_at, next_attempt)
                VALUES (\(projectID), \(rule.id)::bigint, \(rule.name), \(issueID), \(trigger.rawValue), \(action.channel),
                    \(target), \(JSONWriter.string(.object(action.json))), \(contentText), \(now), \(now))
                """)
        }
    }
}
