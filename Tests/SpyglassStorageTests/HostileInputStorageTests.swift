import Foundation
import GRDB
import Logging
import MetricsTestKit
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassStorage
import SpyglassStorageKit

/// What attacker-controlled numbers and side items can do to stored data: nothing that costs an event.
@Suite struct HostileInputStorageTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func event(_ id: String) -> NormalizedEvent {
        NormalizedEvent(
            eventID: id, timestamp: now, received: now, level: "error", platform: "python", release: "app@1",
            environment: "prod", payload: ["event_id": .string(id), "logentry": ["formatted": "boom"]])
    }

    @Test func countersSaturateInsteadOfFailingEveryLaterEnvelope() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url)
        let project = try database.createProject(name: "App", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let most = Int(Int64.max)
        try await withRunningWriter(writer) {
            for _ in 0..<3 {
                var work = IngestWork(projectID: project, event: event(EventID.generate()))
                work.discarded = [DiscardedCount(reason: "queue_overflow", category: "error", quantity: most)]
                work.sessions = [SessionCount(release: "app@1", environment: "prod", started: most, crashed: most)]
                let receipt = try await writer.ingest(work)
                #expect(receipt.eventStored)
            }
        }
        let (quantity, started, events) = try await database.writer.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT quantity FROM discarded_events"),
                try Int64.fetchOne(db, sql: "SELECT started FROM release_sessions"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event")
            )
        }
        #expect(quantity == .max && started == .max && events == 3)
    }

    @Test func aSideItemThatCannotBeStoredDoesNotCostItsEvent() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url)
        let project = try database.createProject(name: "App", now: now).project.id!
        // Whatever makes a user report fail to store (here: a trigger), its envelope's event is stored.
        try await database.writer.write { db in
            try db.execute(sql: "CREATE TRIGGER refuse_reports BEFORE INSERT ON user_report BEGIN SELECT RAISE(ABORT, 'refused'); END")
        }
        let metrics = TestMetrics()
        let writer = IngestWriter(database: database, metrics: metrics)
        let id = EventID.generate()
        try await withRunningWriter(writer) {
            var work = IngestWork(projectID: project, event: event(id))
            work.userReports = [UserReport(eventID: id, name: "a", email: "a@example.com", comments: "c", received: now)]
            work.attachments = [
                Attachment(eventID: id, filename: "a.txt", contentType: "text/plain", attachmentType: "event.attachment", data: [1])
            ]
            let receipt = try await writer.ingest(work)
            #expect(receipt.eventStored)
        }
        let (events, reports, attachments) = try await database.writer.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM user_report"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM attachment")
            )
        }
        #expect(events == 1 && reports == 0 && attachments == 1)
        #expect(try metrics.expectCounter("spyglass_ingest_side_items_dropped_total").totalValue == 1)
    }

    @Test func theDataDirectoryAndDatabaseAreReadableByTheirOwnerOnly() throws {
        let directory = try TemporaryDirectory()
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? -1) & 0o777
        }
        let fresh = directory.path("fresh")
        let database = try AppDatabase.open(directory: directory.url.appending(path: "fresh"))
        try database.writer.write { db in try db.execute(sql: "UPDATE instance SET ready_checked_at = 'x'") }
        #expect(try mode(fresh) == 0o700)
        for file in ["spyglass.sqlite", "spyglass.sqlite-wal", "spyglass.sqlite-shm"] {
            #expect(try mode(fresh + "/" + file) == 0o600, "\(file)")
        }
        #expect(database.tightenedPaths.isEmpty)
        try database.close()

        // An existing directory from before: made private at the next start, and said so.
        let old = directory.path("old")
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: false)
        try AppDatabase.open(directory: directory.url.appending(path: "old")).close()
        chmod(old, 0o755)
        chmod(old + "/spyglass.sqlite", 0o644)
        let reopened = try AppDatabase.open(directory: directory.url.appending(path: "old"))
        #expect(try mode(old) == 0o700 && mode(old + "/spyglass.sqlite") == 0o600)
        #expect(Set(reopened.tightenedPaths) == [old, old + "/spyglass.sqlite"])
        try reopened.close()
    }
}
