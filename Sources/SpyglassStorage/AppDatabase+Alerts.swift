import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

// Alert rules for the API, and the notification outbox for the delivery worker.
extension AppDatabase: NotificationOutbox {
    public func alertRules(projectID: Int64) async throws -> [AlertRule] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT id, spec, created_at FROM alert_rule WHERE project_id = ? ORDER BY id", arguments: [projectID]
            ).compactMap(Self.rule)
        }
    }

    public func alertRule(id: Int64, projectID: Int64) async throws -> AlertRule? {
        try await writer.read { db in
            try Row.fetchOne(
                db, sql: "SELECT id, spec, created_at FROM alert_rule WHERE id = ? AND project_id = ?", arguments: [id, projectID]
            ).flatMap(Self.rule)
        }
    }

    public func createAlertRule(_ rule: AlertRule, projectID: Int64, now: Date) async throws -> Int64 {
        try await writer.write { db in try AlertStore.insertRule(rule, projectID: projectID, now: now, in: db) }
    }

    public func updateAlertRule(_ rule: AlertRule, id: Int64, projectID: Int64, now: Date) async throws -> Bool {
        try await writer.write { db in try AlertStore.updateRule(rule, id: id, projectID: projectID, now: now, in: db) }
    }

    public func deleteAlertRule(id: Int64, projectID: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM alert_rule WHERE id = ? AND project_id = ?", arguments: [id, projectID])
            return db.changesCount > 0
        }
    }

    private static func rule(_ row: Row) -> AlertRule? {
        guard var rule = try? AlertRule(json: JSONParser.parse(row[1] as String), id: row[0], secret: { "" }) else { return nil }
        rule.created = Date(timeIntervalSince1970: row[2])
        return rule
    }

    public func deliveries(issueID: Int64?, ruleID: Int64?, limit: Int) async throws -> [DeliveryInfo] {
        try await writer.read { db in
            let filter = issueID != nil ? "issue_id = ?" : "rule_id = ?"
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, rule_id, rule_name, issue_id, trigger, channel, target, status, attempts, created_at, delivered_at,
                        next_attempt, last_error, content
                    FROM notification WHERE \(filter) ORDER BY id DESC LIMIT ?
                    """,
                arguments: [issueID ?? ruleID, limit])
            let attempts = try db.cachedStatement(
                sql: "SELECT at, outcome, detail FROM notification_attempt WHERE notification_id = ? ORDER BY id")
            return try rows.map { row in
                let id: Int64 = row[0]
                let history = try Row.fetchAll(attempts, arguments: [id]).map {
                    DeliveryAttempt(date: Date(timeIntervalSince1970: $0[0]), succeeded: ($0[1] as String) == "ok", detail: $0[2])
                }
                let content = (try? JSONParser.parse(row[13] as String)).flatMap(NotificationContent.init(json:))
                let status: String = row[7]
                return DeliveryInfo(
                    id: id, ruleID: row[1], ruleName: row[2], issueID: row[3], shortID: content?.shortID ?? "", trigger: row[4],
                    channel: row[5], target: row[6], status: status, attempts: row[8], created: Date(timeIntervalSince1970: row[9]),
                    delivered: (row[10] as Double?).map(Date.init(timeIntervalSince1970:)),
                    nextAttempt: status == "pending" ? (row[11] as Double?).map(Date.init(timeIntervalSince1970:)) : nil,
                    lastError: row[12], history: history)
            }
        }
    }

    // MARK: - NotificationOutbox

    public func dueNotifications(now: Date, limit: Int) async throws -> [PendingNotification] {
        let rows = try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, rule_id, rule_name, trigger, action, content, attempts FROM notification
                    WHERE status = 'pending' AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?
                    """,
                arguments: [now.timeIntervalSince1970, limit]
            ).map { row -> (Int64, Int64?, String, String, String, String, Int) in (row[0], row[1], row[2], row[3], row[4], row[5], row[6]) }
        }
        var due: [PendingNotification] = []
        for row in rows {
            let id = row.0
            guard let trigger = AlertTrigger(rawValue: row.3),
                let action = try? AlertRule.action(JSONParser.parse(row.4).objectValue ?? [:], field: "action", secret: { "" }),
                let content = (try? JSONParser.parse(row.5)).flatMap(NotificationContent.init(json:))
            else {
                // Unreadable rows are given up on, so they don't block the queue.
                try await recordAttempt(id, DeliveryAttempt(date: now, succeeded: false, detail: "unreadable outbox row"), retryAt: nil)
                continue
            }
            due.append(PendingNotification(id: id, ruleID: row.1, ruleName: row.2, trigger: trigger, action: action, content: content, attempts: row.6))
        }
        return due
    }

    public func recordAttempts(_ attempts: [RecordedAttempt]) async throws {
        guard !attempts.isEmpty else { return }
        try await writer.write { db in
            // A notification deleted meanwhile (its issue deleted or merged) gets no attempt row: the others of the
            // batch must not fail with it.
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO notification_attempt (notification_id, at, outcome, detail)
                    SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM notification WHERE id = ?1)
                    """)
            let delivered = try db.cachedStatement(
                sql: """
                    UPDATE notification SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, next_attempt = NULL
                    WHERE id = ?
                    """)
            let failed = try db.cachedStatement(
                sql: "UPDATE notification SET status = ?, attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?")
            for recorded in attempts {
                let (id, attempt) = (recorded.notificationID, recorded.attempt)
                let at = attempt.date.timeIntervalSince1970
                try insert.execute(arguments: [id, at, attempt.succeeded ? "ok" : "error", attempt.detail.limited(to: 1000)])
                if attempt.succeeded {
                    try delivered.execute(arguments: [at, id])
                } else {
                    try failed.execute(arguments: [
                        recorded.retryAt == nil ? "failed" : "pending", attempt.detail.limited(to: 1000),
                        recorded.retryAt?.timeIntervalSince1970, id,
                    ])
                }
            }
        }
    }

    public func pendingNotificationCount() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM notification WHERE status = 'pending'") ?? 0 }
    }

    public func nextNotificationDue() async throws -> Date? {
        try await writer.read { db in
            try Double.fetchOne(db, sql: "SELECT min(next_attempt) FROM notification WHERE status = 'pending'")
                .map(Date.init(timeIntervalSince1970:))
        }
    }
}

extension AppDatabase {
    /// Deletes per-minute counts older than two hours (frequency conditions look back one hour at most; longer
    /// intervals use hourly counts) and settled notifications older than `maxAge` seconds.
    @discardableResult
    public func pruneAlertData(now: Date, maxAge: Double) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM issue_minute WHERE minute < ?", arguments: [Int64((now.timeIntervalSince1970 / 60).rounded(.down)) - 120])
            var deleted = db.changesCount
            try db.execute(
                sql: "DELETE FROM notification WHERE status != 'pending' AND created_at < ?",
                arguments: [now.timeIntervalSince1970 - maxAge])
            deleted += db.changesCount
            return deleted
        }
    }
}
