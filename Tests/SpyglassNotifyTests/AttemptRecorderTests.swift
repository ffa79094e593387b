import Foundation
import Logging
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit
import Synchronization
import Testing

@testable import SpyglassNotify

/// The real database as outbox, counting its writes; the first write waits until the test opens a gate.
final class GatedOutbox: NotificationOutbox {
    let database: AppDatabase
    let batches = Mutex<[[Int64]]>([])
    let (firstWriteStarted, started) = AsyncStream<Void>.makeStream()
    let (gate, opener) = AsyncStream<Void>.makeStream()

    init(database: AppDatabase) { self.database = database }

    func recordAttempts(_ attempts: [RecordedAttempt]) async throws {
        let first = batches.withLock { batches in
            batches.append(attempts.map(\.notificationID))
            return batches.count == 1
        }
        if first {
            started.yield()
            for await _ in gate { break }
        }
        try await database.storage.outbox.recordAttempts(attempts)
    }

    func claimDueNotifications(now: Date, limit: Int, lease: Double) async throws -> [PendingNotification] {
        try await database.storage.outbox.claimDueNotifications(now: now, limit: limit, lease: lease)
    }

    func pendingNotificationCount() async throws -> Int { try await database.storage.outbox.pendingNotificationCount() }

    func nextNotificationDue() async throws -> Date? { try await database.storage.outbox.nextNotificationDue() }
}

@Suite struct AttemptRecorderTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// A database with `count` new issues, each with a pending notification from the default rule.
    func pendingNotifications(_ count: Int) async throws -> (AppDatabase, [PendingNotification]) {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now)
        try database.createProject(name: "Default", slug: "default", now: now)
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let runner = Task { try await writer.run() }
        // Distinct exception types: distinct issues (numbers in a message would be grouped as one).
        for n in 0..<count {
            let event = try EventNormalizer().normalize(
                JSONParser.parse(#"{"exception":{"values":[{"type":"Failure\#(n)Error","value":"v"}]}}"#),
                context: .init(received: now))
            _ = try await writer.ingest(IngestWork(projectID: 1, event: event))
        }
        runner.cancel()
        return (database, try await database.storage.outbox.claimDueNotifications(now: now.addingTimeInterval(60), limit: 100, lease: 60))
    }

    @Test func attemptsFinishingWhileOneIsWrittenAreWrittenTogether() async throws {
        let (database, due) = try await pendingNotifications(5)
        try #require(due.count == 5)
        let outbox = GatedOutbox(database: database)
        let recorder = AttemptRecorder(outbox: outbox, logger: Logger(label: "test"))
        func attempt(_ notification: PendingNotification) -> RecordedAttempt {
            RecordedAttempt(
                notificationID: notification.id, attempt: DeliveryAttempt(date: now, succeeded: true, detail: "ok"),
                retryAt: nil)
        }
        let first = Task { await recorder.record(attempt(due[0])) }
        for await _ in outbox.firstWriteStarted { break }
        // While the first write waits, the others only queue: each call returns before anything is written.
        for notification in due.dropFirst() { await recorder.record(attempt(notification)) }
        #expect(try await database.storage.outbox.pendingNotificationCount() == 5)
        outbox.opener.yield()
        await first.value
        #expect(outbox.batches.withLock { $0 } == [[due[0].id], due.dropFirst().map(\.id)])
        #expect(try await database.storage.outbox.pendingNotificationCount() == 0)
        let history = try await database.storage.alertRules.deliveries(issueID: nil, ruleID: 1, limit: 10)
        #expect(history.count == 5 && history.allSatisfy { $0.status == "delivered" && $0.history.count == 1 })
    }

    /// A round's deliveries that end together are recorded in one write, not the first alone and then the rest; one
    /// that ends later than the recorder waits (``AttemptRecorder/gathering``) gets a write of its own.
    @Test func aRoundsAttemptsEndingTogetherAreWrittenInOneTransaction() async throws {
        let (database, due) = try await pendingNotifications(6)
        try #require(due.count == 6)
        let outbox = GatedOutbox(database: database)
        outbox.opener.yield()  // no gate: every write goes through at once
        func attempt(_ notification: PendingNotification) -> RecordedAttempt {
            RecordedAttempt(
                notificationID: notification.id, attempt: DeliveryAttempt(date: now, succeeded: true, detail: "ok"),
                retryAt: nil)
        }
        let together = AttemptRecorder(outbox: outbox, logger: Logger(label: "test"), expected: 4)
        await withTaskGroup(of: Void.self) { group in
            for notification in due.prefix(4) { group.addTask { await together.record(attempt(notification)) } }
        }
        #expect(outbox.batches.withLock { $0.map { Set($0) } } == [Set(due.prefix(4).map(\.id))])
        // Two rounds' worth: the last of its round ends long after the first, which is written without it.
        let apart = AttemptRecorder(outbox: outbox, logger: Logger(label: "test"), expected: 2)
        await apart.record(attempt(due[4]))
        try await Task.sleep(for: .milliseconds(50))
        await apart.record(attempt(due[5]))
        #expect(outbox.batches.withLock { Array($0.dropFirst()) } == [[due[4].id], [due[5].id]])
        #expect(try await database.storage.outbox.pendingNotificationCount() == 0)
    }

    @Test func oneTransactionRecordsDeliveriesRetriesAndFailures() async throws {
        let (database, due) = try await pendingNotifications(3)
        try #require(due.count == 3)
        try await database.storage.outbox.recordAttempts([
            RecordedAttempt(notificationID: due[0].id, attempt: DeliveryAttempt(date: now, succeeded: true, detail: "ok"), retryAt: nil),
            RecordedAttempt(
                notificationID: due[1].id, attempt: DeliveryAttempt(date: now, succeeded: false, detail: "timed out"),
                retryAt: now.addingTimeInterval(30)),
            RecordedAttempt(
                notificationID: due[2].id, attempt: DeliveryAttempt(date: now, succeeded: false, detail: "550 no such user"),
                retryAt: nil),
        ])
        let byID = Dictionary(
            uniqueKeysWithValues: try await database.storage.alertRules.deliveries(issueID: nil, ruleID: 1, limit: 10).map { ($0.id, $0) })
        #expect(byID[due[0].id]?.status == "delivered" && byID[due[0].id]?.delivered == now)
        #expect(byID[due[1].id]?.status == "pending" && byID[due[1].id]?.nextAttempt == now.addingTimeInterval(30))
        #expect(byID[due[1].id]?.lastError == "timed out" && byID[due[1].id]?.attempts == 1)
        #expect(byID[due[2].id]?.status == "failed" && byID[due[2].id]?.lastError == "550 no such user")
        #expect(try await database.storage.outbox.pendingNotificationCount() == 1)
        #expect(try await database.storage.outbox.nextNotificationDue() == now.addingTimeInterval(30))
    }

    @Test func aNotificationDeletedMeanwhileDoesNotTakeTheOtherAttemptsWithIt() async throws {
        // Deleting or merging an issue deletes its notifications while their deliveries may be under way.
        let (database, due) = try await pendingNotifications(3)
        try #require(due.count == 3)
        try await database.storage.issues.deleteIssue(id: due[1].content.issueID)
        try await database.storage.outbox.recordAttempts(
            due.map {
                RecordedAttempt(
                    notificationID: $0.id, attempt: DeliveryAttempt(date: now, succeeded: true, detail: "ok"), retryAt: nil)
            })
        let history = try await database.storage.alertRules.deliveries(issueID: nil, ruleID: 1, limit: 10)
        #expect(Set(history.map(\.id)) == [due[0].id, due[2].id])
        #expect(history.allSatisfy { $0.status == "delivered" && $0.history.count == 1 })
        #expect(try await database.storage.outbox.pendingNotificationCount() == 0)
    }
}

/// The real database as outbox, noting when each claim starts and how many rows it took.
final class ClaimLoggingOutbox: NotificationOutbox {
    let database: AppDatabase
    let claims = Mutex<[(at: ContinuousClock.Instant, count: Int)]>([])

    init(database: AppDatabase) { self.database = database }

    func claimDueNotifications(now: Date, limit: Int, lease: Double) async throws -> [PendingNotification] {
        let at = ContinuousClock.now
        let due = try await database.storage.outbox.claimDueNotifications(now: now, limit: limit, lease: lease)
        claims.withLock { $0.append((at, due.count)) }
        return due
    }

    func recordAttempts(_ attempts: [RecordedAttempt]) async throws {
        try await database.storage.outbox.recordAttempts(attempts)
    }
    func pendingNotificationCount() async throws -> Int { try await database.storage.outbox.pendingNotificationCount() }
    func nextNotificationDue() async throws -> Date? { try await database.storage.outbox.nextNotificationDue() }
}

@Suite struct NotificationRoundTests {
    /// A round that took fewer rows than it could (the outbox drained) is followed by a short pause, so that rows
    /// arriving in a burst are claimed many to a round (each round is two write transactions with a disk sync)
    /// rather than one or two at a time; an idle outbox waits the poll interval.
    @Test func aRoundThatDrainedTheOutboxPausesBeforeTheNextClaim() async throws {
        let now = Date.now
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now)
        try database.createProject(name: "Default", slug: "default", now: now)
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let runner = Task { try await writer.run() }
        for n in 0..<3 {
            let event = try EventNormalizer().normalize(
                JSONParser.parse(#"{"exception":{"values":[{"type":"Round\#(n)Error","value":"v"}]}}"#),
                context: .init(received: now))
            _ = try await writer.ingest(IngestWork(projectID: 1, event: event))
        }
        runner.cancel()
        #expect(try await database.storage.outbox.pendingNotificationCount() == 3)
        let outbox = ClaimLoggingOutbox(database: database)
        // No SMTP: each e-mail fails at once, for good (as in the benchmark's server).
        let service = NotificationService(
            outbox: outbox,
            settings: NotifySettings(smtp: nil, emailFrom: "spyglass@example.com", pollInterval: .seconds(30)),
            renderer: { NotificationRenderer(baseURL: "https://errors.example.com/", organization: "acme") },
            logger: Logger(label: "test"), metrics: TestMetrics())
        let running = Task { try await service.run() }
        defer { running.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        while outbox.claims.withLock({ $0.count }) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let claims = outbox.claims.withLock { $0 }
        try #require(claims.count >= 2)
        #expect(claims[0].count == 3 && claims[1].count == 0)
        #expect(claims[1].at - claims[0].at >= .milliseconds(50))
        #expect(try await database.storage.outbox.pendingNotificationCount() == 0)
    }
}
