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
        // One statement for a round's attempts, not two for each, which PostgreSQL parsed and planned one by one
        // (docs/performance.md: the benchmark's new issues each fail an e-mail). A statement updates each
        // notification once, so one recorded twice in a call goes into the next statement, after the first.
        var chunks: [[RecordedAttempt]] = []
        var inChunk: Set<Int64> = []
        for recorded in attempts {
            if chunks.isEmpty || !inChunk.insert(recorded.notificationID).inserted {
                chunks.append([])
                inChunk = [recorded.notificationID]
            }
            chunks[chunks.count - 1].append(recorded)
        }
        func write(_ connection: PostgresConnection) async throws {
            for chunk in chunks {
                let ids = chunk.map(\.notificationID)
                let dates = chunk.map { $0.attempt.date.timeIntervalSince1970 }
                let succeeded = chunk.map(\.attempt.succeeded)
                let details = chunk.map { $0.attempt.detail.limited(to: 1000) }
                let retrying = chunk.map { $0.retryAt != nil }
                let retryDates = chunk.map { $0.retryAt?.timeIntervalSince1970 ?? 0 }
                // A notification deleted meanwhile (its issue deleted or merged) gets no attempt row: the others of
                // the batch must not fail with it. After a failure, no retry date means: give up (`failed`).
                try await connection.execute(
                    """
                    WITH v AS (
                        SELECT * FROM unnest(\(ids)::bigint[], \(dates)::float8[], \(succeeded)::boolean[],
                            \(details)::text[], \(retrying)::boolean[], \(retryDates)::float8[]) WITH ORDINALITY
                            AS v(id, at, succeeded, detail, retrying, retry_at, position)
                    ), recorded AS (
                        INSERT INTO notification_attempt (notification_id, at, outcome, detail)
                        SELECT n.id, v.at, CASE WHEN v.succeeded THEN 'ok' ELSE 'error' END, v.detail
                        FROM v JOIN notification n ON n.id = v.id ORDER BY v.position
                    )
                    UPDATE notification n SET
                        status = CASE WHEN v.succeeded THEN 'delivered' WHEN v.retrying THEN 'pending' ELSE 'failed' END,
                        attempts = n.attempts + 1,
                        delivered_at = CASE WHEN v.succeeded THEN v.at ELSE n.delivered_at END,
                        last_error = CASE WHEN v.succeeded THEN n.last_error ELSE v.detail END,
                        next_attempt = CASE WHEN v.retrying AND NOT v.succeeded THEN v.retry_at END
                    FROM v WHERE n.id = v.id
                    """, logger: logger)
            }
        }
        // One statement commits by itself; more go in one transaction.
        if chunks.count == 1 {
            try await database.withConnection(write)
        } else {
            try await database.withTransaction(write)
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
