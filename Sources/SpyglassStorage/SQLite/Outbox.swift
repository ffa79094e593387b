import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol

/// The notification outbox as the delivery worker sees it in SQLite: the ``NotificationOutbox`` port.
public struct SQLiteOutbox: NotificationOutbox {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    // MARK: - NotificationOutbox

    public func claimDueNotifications(now: Date, limit: Int, lease: Double) async throws -> [PendingNotification] {
        // One process writes SQLite: the write transaction is the claim's lock.
        let rows = try await writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT id, rule_id, rule_name, trigger, action, content, attempts FROM notification
                    WHERE status = 'pending' AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?
                    """,
                arguments: [now.timeIntervalSince1970, limit]
            )
            let claim = try db.cachedStatement(sql: "UPDATE notification SET next_attempt = ? WHERE id = ?")
            for row in rows {
                try claim.execute(arguments: [now.timeIntervalSince1970 + lease, row["id"] as Int64])
            }
            return rows.map {
                ClaimedRow(
                    id: $0["id"], ruleID: $0["rule_id"], ruleName: $0["rule_name"], trigger: $0["trigger"], action: $0["action"],
                    content: $0["content"], attempts: $0["attempts"])
            }
        }
        var due: [PendingNotification] = []
        for row in rows {
            guard let trigger = AlertTrigger(rawValue: row.trigger),
                let action = try? AlertRule.action(
                    JSONParser.parse(row.action).objectValue ?? [:], field: "action", secret: { "" }),
                let content = (try? JSONParser.parse(row.content)).flatMap(NotificationContent.init(json:))
            else {
                // Unreadable rows are given up on, so they don't block the queue.
                try await recordAttempt(row.id, DeliveryAttempt(date: now, succeeded: false, detail: "unreadable outbox row"), retryAt: nil)
                continue
            }
            due.append(
                PendingNotification(
                    id: row.id, ruleID: row.ruleID, ruleName: row.ruleName, trigger: trigger, action: action, content: content,
                    attempts: row.attempts))
        }
        return due
    }

    /// A claimed row as read, before its JSON is parsed (rows leave the write transaction as Sendable values).
    private struct ClaimedRow: Sendable {
        var id: Int64
        var ruleID: Int64?
        var ruleName: String
        var trigger: String
        var action: String
        var content: String
        var attempts: Int
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
