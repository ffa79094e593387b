import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassProtocol

/// The notification outbox as the delivery worker sees it in PostgreSQL: the ``NotificationOutbox`` port.
public struct PostgresOutbox: NotificationOutbox {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    public func claimDueNotifications(now: Date, limit: Int, lease: Double) async throws -> [PendingNotification] {
        // Rows another node is claiming at this moment are skipped, not waited for; the lease then keeps them from
        // every later claim until it ends or an attempt is recorded.
        let rows = try await database.rows(
            """
            WITH due AS (
                SELECT id, next_attempt FROM notification
                WHERE status = 'pending' AND next_attempt <= \(now.timeIntervalSince1970)
                ORDER BY next_attempt, id LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            ), claimed AS (
                UPDATE notification SET next_attempt = \(now.timeIntervalSince1970 + lease) FROM due WHERE notification.id = due.id
                RETURNING notification.id, rule_id, rule_name, trigger, action, content, attempts, due.next_attempt AS due_at
            )
            SELECT id, rule_id, rule_name, trigger, action, content, attempts FROM claimed ORDER BY due_at, id
            """)
        var due: [PendingNotification] = []
        for row in rows {
            let id: Int64 = try row.decode("id")
            guard let trigger = AlertTrigger(rawValue: try row.decode("trigger")),
                let action = try? AlertRule.action(
                    JSONParser.parse(try row.decode("action", as: String.self)).objectValue ?? [:], field: "action",
                    secret: { "" }),
                let content = (try? JSONParser.parse(try row.decode("content", as: String.self)))
                    .flatMap(NotificationContent.init(json:))
            else {
                // Unreadable rows are given up on, so they don't block the queue.
                try await recordAttempt(
                    id, DeliveryAttempt(date: now, succeeded: false, detail: "unreadable outbox row"), retryAt: nil)
                continue
            }
            due.append(
                PendingNotification(
                    id: id, ruleID: try row.decode("rule_id"), ruleName: try row.decode("rule_name"), trigger: trigger,
                    action: action, content: content, attempts: Int(try row.decode("attempts", as: Int64.self))))
        }
        return due
    }

    public func recordAttempts(_ attempts: [RecordedAttempt]) async throws {
        guard !attempts.isEmpty else { return }
        try await database.withTransaction { connection in
            for recorded in attempts {
                let (id, attempt) = (recorded.notificationID, recorded.attempt)
                let at = attempt.date.timeIntervalSince1970
                let detail = attempt.detail.limited(to: 1000)
                // A notification deleted meanwhile (its issue deleted or merged) gets no attempt row: the others of the
                // batch must not fail with it.
                try await connection.execute(
                    """
                    INSERT INTO notification_attempt (notification_id, at, outcome, detail)
                    SELECT id, \(at), \(attempt.succeeded ? "ok" : "error"), \(detail) FROM notification WHERE id = \(id)
                    """, logger: logger)
                if attempt.succeeded {
                    try await connection.execute(
                        """
                        UPDATE notification SET status = 'delivered', attempts = attempts + 1, delivered_at = \(at),
                            next_attempt = NULL
                        WHERE id = \(id)
                        """, logger: logger)
                } else {
                    try await connection.execute(
                        """
                        UPDATE notification SET status = \(recorded.retryAt == nil ? "failed" : "pending"), attempts = attempts + 1,
                            last_error = \(detail), next_attempt = \(recorded.retryAt?.timeIntervalSince1970)
                        WHERE id = \(id)
                        """, logger: logger)
                }
            }
        }
    }

    public func pendingNotificationCount() async throws -> Int {
        Int(
            try await database.row("SELECT count(*) AS pending FROM notification WHERE status = 'pending'")?
                .decode("pending", as: Int64.self) ?? 0)
    }

    public func nextNotificationDue() async throws -> Date? {
        try await database.row("SELECT min(next_attempt) AS due FROM notification WHERE status = 'pending'")?
            .optionalDate("due")
    }
}
