import Foundation
import GRDB
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import Testing

@Suite struct AlertStoreTests: StoreFixture {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func notifications(_ database: AppDatabase) throws -> [(trigger: String, channel: String, target: String)] {
        try database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT trigger, channel, target FROM notification ORDER BY id").map { ($0[0], $0[1], $0[2]) }
        }
    }

    @Test func newProjectsGetTheDefaultRuleWhichMailsMembersOnNewIssuesAndRegressions() async throws {
        let database = try setUp()
        let rules = try await database.storage.alertRules.alertRules(projectID: 1)
        #expect(rules.map(\.name) == [AlertRule.defaultName])
        #expect(rules.first?.conditions == [.firstSeen, .regression] && rules.first?.actions == [.email(.members)])

        let error = #"{"exception":{"values":[{"type":"KeyError","value":"k"}]},"event_id":"%@"}"#
        let first = try event(String(format: error, String(repeating: "1", count: 32)))
        try await store(database, [first, try event(String(format: error, String(repeating: "2", count: 32)), at: 5)])
        #expect(try notifications(database).map(\.trigger) == ["new_issue"])
        #expect(try notifications(database).first?.target == "admin@example.com")
        // The same event again (a duplicate id) is not stored, so it alerts nobody.
        try await store(database, [first])
        #expect(try notifications(database).count == 1)

        let issue = try #require(try await database.storage.issues.issues(
            IssueListRequest(projectIDs: [1], query: IssueQuery.parse("is:unresolved", now: now), sort: .date, limit: 10, offset: 0, userID: 1)).first)
        try await database.storage.issues.updateIssues(ids: [issue.id], change: IssueChange(status: .resolved), now: now.addingTimeInterval(10))
        try await store(database, [try event(String(format: error, String(repeating: "3", count: 32)), at: 20)])
        let status = try await database.storage.issues.issue(id: issue.id)?.status
        #expect(try notifications(database).map(\.trigger) == ["new_issue", "regression"], "issue is \(status?.rawValue ?? "gone")")

        let due = try await database.storage.outbox.claimDueNotifications(now: now.addingTimeInterval(30), limit: 10, lease: 60)
        #expect(due.map(\.trigger) == [.newIssue, .regression])
        #expect(due.first?.action == .email(.addresses(["admin@example.com"])))
        #expect(due.first?.content.shortID == "DEFAULT-1" && due.first?.content.title == "KeyError: k")
    }

    @Test func frequencyRulesFireOnceAboveTheThresholdWithinTheThrottle() async throws {
        let database = try setUp()
        let rule = AlertRule(
            name: "busy", frequencyMinutes: 30, conditions: [.eventFrequency(count: 3, interval: .oneHour)],
            actions: [.webhook(url: "http://hooks.example.com/", secret: "s3cret-key")])
        _ = try await database.storage.alertRules.createAlertRule(rule, projectID: 1, now: now)
        #expect(try await database.storage.alertRules.deleteAlertRule(id: 1, projectID: 1))  // the default rule: only "busy" is left
        let payload = #"{"message":"busy","level":"warning"}"#
        try await store(database, try (0..<3).map { try event(payload, at: Double($0)) })
        #expect(try notifications(database).isEmpty)
        try await store(database, [try event(payload, at: 3)])
        #expect(try notifications(database).map(\.trigger) == ["frequency"])
        try await store(database, try (4..<10).map { try event(payload, at: Double($0)) })
        #expect(try notifications(database).count == 1)
        // After the throttle interval, still above the threshold: it fires again.
        try await store(database, [try event(payload, at: 31 * 60)])
        #expect(try notifications(database).count == 2)

        // Maintenance drops minute counts older than two hours, and settled notifications past retention.
        let minutes = { try database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM issue_minute") ?? 0 } }
        #expect(try minutes() == 2)
        try await database.storage.maintenance.pruneAlertData(now: now.addingTimeInterval(3 * 3600), maxAge: 86400)
        #expect(try minutes() == 0 && notifications(database).count == 2)  // pending ones stay
        for pending in try await database.storage.outbox.claimDueNotifications(now: now.addingTimeInterval(3600), limit: 10, lease: 60) {
            try await database.storage.outbox.recordAttempt(pending.id, DeliveryAttempt(date: now, succeeded: true, detail: "ok"), retryAt: nil)
        }
        try await database.storage.maintenance.pruneAlertData(now: now.addingTimeInterval(2 * 86400), maxAge: 86400)
        #expect(try notifications(database).isEmpty)
    }

    @Test func attemptsAreRecordedAndRetriesScheduled() async throws {
        let database = try setUp()
        try await store(database, [try event(#"{"message":"boom"}"#)])
        let pending = try #require(try await database.storage.outbox.claimDueNotifications(now: now, limit: 10, lease: 60).first)
        try await database.storage.outbox.recordAttempt(
            pending.id, DeliveryAttempt(date: now, succeeded: false, detail: "connection refused"), retryAt: now.addingTimeInterval(30))
        #expect(try await database.storage.outbox.claimDueNotifications(now: now.addingTimeInterval(29), limit: 10, lease: 60).isEmpty)
        #expect(try await database.storage.outbox.nextNotificationDue() == now.addingTimeInterval(30))
        let again = try #require(try await database.storage.outbox.claimDueNotifications(now: now.addingTimeInterval(30), limit: 10, lease: 60).first)
        #expect(again.attempts == 1)
        try await database.storage.outbox.recordAttempt(again.id, DeliveryAttempt(date: now.addingTimeInterval(31), succeeded: true, detail: "ok"), retryAt: nil)
        #expect(try await database.storage.outbox.pendingNotificationCount() == 0)
        let history = try await database.storage.alertRules.deliveries(issueID: pending.content.issueID, ruleID: nil, limit: 10)
        #expect(history.count == 1 && history[0].status == "delivered" && history[0].attempts == 2)
        #expect(history[0].history.map(\.succeeded) == [false, true] && history[0].lastError == "connection refused")
        #expect(try await database.storage.alertRules.deliveries(issueID: nil, ruleID: 1, limit: 10).map(\.id) == [pending.id])
    }
}

@Suite struct AlertTriggerTests: StoreFixture {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func triggers(_ database: AppDatabase) throws -> [String] {
        try database.writer.read { db in try String.fetchAll(db, sql: "SELECT trigger FROM notification ORDER BY id") }
    }

    @Test func anIgnoredIssueComingBackFiresReappearedRules() async throws {
        let database = try setUp()
        _ = try await database.storage.alertRules.createAlertRule(
            AlertRule(name: "back", conditions: [.reappeared], actions: [.email(.addresses(["a@example.com"]))]), projectID: 1, now: now)
        let payload = #"{"message":"flaky job"}"#
        try await store(database, [try event(payload)])
        let issue = try #require(try await database.storage.issues.issues(
            IssueListRequest(projectIDs: [1], query: IssueQuery(), sort: .date, limit: 10, offset: 0, userID: 1)).first)
        try await database.storage.issues.updateIssues(ids: [issue.id], change: IssueChange(status: .ignored, ignore: .untilCount(2)), now: now)
        try await store(database, [try event(payload, at: 10)])
        #expect(try triggers(database) == ["new_issue"])  // the default rule; one more event is not enough
        try await store(database, [try event(payload, at: 20), try event(payload, at: 30)])
        #expect(try triggers(database) == ["new_issue", "escalating"])
    }

    @Test func userFrequencyCountsDistinctUsersWithinTheInterval() async throws {
        let database = try setUp()
        #expect(try await database.storage.alertRules.deleteAlertRule(id: 1, projectID: 1))
        _ = try await database.storage.alertRules.createAlertRule(
            AlertRule(name: "many users", conditions: [.uniqueUserFrequency(count: 2, interval: .oneHour)],
                      actions: [.slack(url: "https://hooks.slack.com/x")]), projectID: 1, now: now)
        let payload = #"{"message":"login broken","user":{"id":"%@"}}"#
        try await store(database, try ["u1", "u2", "u1", "u2"].enumerated().map { try event(String(format: payload, $1), at: Double($0)) })
        #expect(try triggers(database).isEmpty)  // two users are not more than two
        try await store(database, [try event(String(format: payload, "u3"), at: 10)])
        #expect(try triggers(database) == ["user_frequency"])
    }
}
