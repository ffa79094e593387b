import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassProtocol
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``NotificationOutbox`` of this backend.
    var outbox: any NotificationOutbox {
        switch database {
        case .sqlite(let database): SQLiteOutbox(database)
        case .postgres(let database): PostgresOutbox(database)
        }
    }

    /// An outbox row as the writer stores one when a rule fires (only ingest writes them), due at `due`.
    @discardableResult
    func enqueueNotification(
        projectID: Int64, ruleID: Int64?, issueID: Int64 = 7,
        action: AlertAction = .slack(url: "https://hooks.example/1"),
        actionJSON: String? = nil, due: Date
    ) async throws -> Int64 {
        let content = NotificationContent(
            projectID: projectID, projectSlug: "shop", projectName: "Shop", issueID: issueID,
            shortID: "SHOP-\(issueID)",
            title: "boom", culprit: "main", level: "error", status: "unresolved", count: 1, userCount: 0,
            firstSeen: now,
            lastSeen: now, eventID: String(repeating: "e", count: 32), release: nil, environment: nil)
        try await execute(
            """
            INSERT INTO notification (project_id, rule_id, rule_name, issue_id, trigger, channel, target, action, content,
                created_at, next_attempt)
            VALUES (?, ?, 'rule', NULL, 'new_issue', ?, 'target', ?, ?, ?, ?)
            """,
            [
                .int(projectID), ruleID.map(SQLValue.int) ?? .null, .text(action.channel),
                .text(actionJSON ?? JSONWriter.string(.object(action.json))), .text(JSONWriter.string(content.json)),
                .double(now.timeIntervalSince1970), .double(due.timeIntervalSince1970),
            ])
        let ids = try await strings("SELECT CAST(max(id) AS TEXT) FROM notification")
        return Int64(try #require(ids.first ?? nil)) ?? 0
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct NotificationOutboxContractTests {
    @Test(arguments: Backend.allCases)
    func claimsComeOldestFirstHoldRowsForTheLeaseAndAFailedAttemptIsRetriedAtItsTime(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let outbox = store.outbox
            let lease = 60.0
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let rule = try #require(try await store.alertRules.alertRules(projectID: shop.id).first?.id)
            let later = try await store.enqueueNotification(
                projectID: shop.id, ruleID: rule, due: store.now.addingTimeInterval(5))
            let first = try await store.enqueueNotification(
                projectID: shop.id, ruleID: nil, action: .email(.addresses(["a@example.com"])), due: store.now)
            #expect(try await outbox.pendingNotificationCount() == 2)
            #expect(try await outbox.nextNotificationDue() == store.now)
            // Only what is due; a claimed row is not claimed again while its lease lasts.
            #expect(try await outbox.claimDueNotifications(now: store.now, limit: 10, lease: lease).map(\.id) == [first])
            #expect(
                try await outbox.claimDueNotifications(now: store.now.addingTimeInterval(5), limit: 10, lease: lease).map(\.id)
                    == [later])
            #expect(try await outbox.claimDueNotifications(now: store.now.addingTimeInterval(59), limit: 10, lease: lease).isEmpty)
            #expect(try await outbox.pendingNotificationCount() == 2)
            #expect(try await outbox.nextNotificationDue() == store.now.addingTimeInterval(lease))
            // The claimer recorded nothing (it died): after the lease both come back, oldest first, up to the limit.
            let afterLease = store.now.addingTimeInterval(5 + lease)
            let due = try await outbox.claimDueNotifications(now: afterLease, limit: 1, lease: lease)
                + outbox.claimDueNotifications(now: afterLease, limit: 10, lease: lease)
            #expect(due.map(\.id) == [first, later])
            #expect(
                due[0].action == .email(.addresses(["a@example.com"])) && due[0].ruleID == nil
                    && due[0].trigger == .newIssue)
            #expect(
                due[1].action == .slack(url: "https://hooks.example/1") && due[1].ruleID == rule && due[1].attempts == 0
            )
            #expect(
                due[1].content.shortID == "SHOP-7" && due[1].content.firstSeen == store.now && due[1].ruleName == "rule"
            )

            // Recording an attempt ends the claim: a failed one is due again at its retry time, not the lease's end.
            let retry = afterLease.addingTimeInterval(10)
            try await outbox.recordAttempt(
                first, DeliveryAttempt(date: afterLease, succeeded: false, detail: "connection refused"), retryAt: retry)
            #expect(try await outbox.nextNotificationDue() == retry)
            #expect(try await outbox.claimDueNotifications(now: retry.addingTimeInterval(-1), limit: 10, lease: lease).isEmpty)
            let again = try await outbox.claimDueNotifications(now: retry, limit: 10, lease: lease)
            #expect(again.map(\.id) == [first] && again.map(\.attempts) == [1])

            try await outbox.recordAttempts([
                RecordedAttempt(
                    notificationID: first,
                    attempt: DeliveryAttempt(date: retry, succeeded: true, detail: "ok"),
                    retryAt: nil),
                RecordedAttempt(
                    notificationID: later,
                    attempt: DeliveryAttempt(date: retry, succeeded: false, detail: "gone"),
                    retryAt: nil),
            ])
            #expect(try await outbox.pendingNotificationCount() == 0)
            #expect(try await outbox.nextNotificationDue() == nil)
            #expect(try await outbox.claimDueNotifications(now: store.now.addingTimeInterval(3600), limit: 10, lease: 60).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func theDeliveryHistoryShowsAttemptsNewestNotificationFirstPerIssueOrRule(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let outbox = store.outbox
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let rule = try #require(try await store.alertRules.alertRules(projectID: shop.id).first?.id)
            let delivered = try await store.enqueueNotification(projectID: shop.id, ruleID: rule, due: store.now)
            let pending = try await store.enqueueNotification(projectID: shop.id, ruleID: rule, due: store.now)
            let failed = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            let issue = try await store.issueResolvedInNextRelease(projectID: shop.id, shortID: 7, current: nil)
            try await store.execute(
                "UPDATE notification SET issue_id = ? WHERE id = ?", [.int(issue), .int(delivered)])
            try await outbox.recordAttempt(
                delivered, DeliveryAttempt(date: store.now, succeeded: false, detail: "connection refused"),
                retryAt: store.now.addingTimeInterval(30))
            try await outbox.recordAttempt(
                delivered, DeliveryAttempt(date: store.now.addingTimeInterval(30), succeeded: true, detail: "200"),
                retryAt: nil)
            try await outbox.recordAttempt(
                pending, DeliveryAttempt(date: store.now, succeeded: false, detail: "503"),
                retryAt: store.now.addingTimeInterval(60))
            try await outbox.recordAttempt(
                failed, DeliveryAttempt(date: store.now, succeeded: false, detail: String(repeating: "x", count: 1500)),
                retryAt: nil)

            let history = try await store.alertRules.deliveries(issueID: nil, ruleID: rule, limit: 10)
            #expect(history.map(\.id) == [pending, delivered])
            #expect(history.map(\.status) == ["pending", "delivered"] && history.map(\.attempts) == [1, 2])
            #expect(history[0].nextAttempt == store.now.addingTimeInterval(60) && history[0].delivered == nil)
            #expect(history[1].nextAttempt == nil && history[1].delivered == store.now.addingTimeInterval(30))
            #expect(
                history[1].history.map(\.succeeded) == [false, true]
                    && history[1].history.map(\.detail) == ["connection refused", "200"])
            #expect(
                history[1].lastError == "connection refused" && history[1].shortID == "SHOP-7"
                    && history[1].ruleName == "rule")
            #expect(history[1].channel == "slack" && history[1].target == "target" && history[1].trigger == "new_issue")
            #expect(history[1].created == store.now && history[1].issueID == issue && history[1].ruleID == rule)
            #expect(try await store.alertRules.deliveries(issueID: nil, ruleID: rule, limit: 1).map(\.id) == [pending])

            #expect(
                try await store.alertRules.deliveries(issueID: issue, ruleID: nil, limit: 10).map(\.id) == [delivered])
            #expect(try await store.alertRules.deliveries(issueID: nil, ruleID: nil, limit: 10).isEmpty)
            let given = try #require(
                try await store.strings(
                    "SELECT status || ':' || last_error FROM notification WHERE id = ?", [.int(failed)]
                ).first ?? nil)
            // Errors are kept to 1000 characters.
            #expect(given.hasPrefix("failed:x") && given.count < "failed:".count + 1010)
        }
    }

    @Test(arguments: Backend.allCases)
    func anUnreadableOutboxRowIsGivenUpOnInsteadOfBlockingTheQueue(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let broken = try await store.enqueueNotification(
                projectID: shop.id, ruleID: nil, actionJSON: "not json", due: store.now)
            let fine = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            #expect(try await store.outbox.claimDueNotifications(now: store.now, limit: 10, lease: 60).map(\.id) == [fine])
            #expect(try await store.outbox.pendingNotificationCount() == 1)
            let row = try await store.strings(
                """
                SELECT notification.status || ':' || notification_attempt.outcome || ':' || notification_attempt.detail
                FROM notification JOIN notification_attempt ON notification_attempt.notification_id = notification.id
                WHERE notification.id = ?
                """, [.int(broken)])
            #expect(row == ["failed:error:unreadable outbox row"])
        }
    }

    /// A round's attempts are recorded together (PostgreSQL: in one statement); one notification's two attempts in
    /// one call count both, in their order.
    @Test(arguments: Backend.allCases)
    func attemptsRecordedTogetherCountEachInTheirOrder(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let twice = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            let once = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            let later = store.now.addingTimeInterval(30)
            try await store.outbox.recordAttempts([
                RecordedAttempt(
                    notificationID: twice, attempt: DeliveryAttempt(date: store.now, succeeded: false, detail: "refused"),
                    retryAt: later),
                RecordedAttempt(
                    notificationID: once, attempt: DeliveryAttempt(date: store.now, succeeded: false, detail: "503"),
                    retryAt: later),
                RecordedAttempt(
                    notificationID: twice, attempt: DeliveryAttempt(date: later, succeeded: true, detail: "200"),
                    retryAt: nil),
            ])
            #expect(
                try await store.strings(
                    "SELECT status || ':' || CAST(attempts AS TEXT) || ':' || last_error FROM notification ORDER BY id")
                    == ["delivered:2:refused", "pending:1:503"])
            #expect(try await store.outbox.nextNotificationDue() == later)
            #expect(
                try await store.strings(
                    """
                    SELECT CAST(notification_id AS TEXT) || ':' || outcome || ':' || detail FROM notification_attempt
                    ORDER BY id
                    """) == ["\(twice):error:refused", "\(once):error:503", "\(twice):ok:200"])
        }
    }

    @Test(arguments: Backend.allCases)
    func anAttemptForANotificationDeletedMeanwhileDoesNotFailTheOthers(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let kept = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            let deleted = try await store.enqueueNotification(projectID: shop.id, ruleID: nil, due: store.now)
            try await store.execute("DELETE FROM notification WHERE id = ?", [.int(deleted)])
            let ok = DeliveryAttempt(date: store.now, succeeded: true, detail: "ok")
            try await store.outbox.recordAttempts([
                RecordedAttempt(notificationID: deleted, attempt: ok, retryAt: nil),
                RecordedAttempt(notificationID: kept, attempt: ok, retryAt: nil),
            ])
            #expect(try await store.outbox.pendingNotificationCount() == 0)
            #expect(
                try await store.strings("SELECT CAST(notification_id AS TEXT) FROM notification_attempt") == ["\(kept)"]
            )
        }
    }
}
