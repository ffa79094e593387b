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

@Suite struct IngestWriterTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func event(_ id: String, message: String = "boom") -> NormalizedEvent {
        NormalizedEvent(
            eventID: id, timestamp: now, received: now, level: "error", platform: "python", release: "app@1",
            environment: "prod", payload: ["event_id": .string(id), "logentry": ["formatted": .string(message)]])
    }

    @Test func concurrentEventsAreCommittedInSharedTransactions() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url)
        let project = try database.createProject(name: "App", now: now).project.id!
        let metrics = TestMetrics()
        let writer = IngestWriter(database: database, metrics: metrics)
        let ids = (0..<200).map { _ in EventID.generate() }
        try await withRunningWriter(writer) {
            try await withThrowingTaskGroup(of: IngestReceipt.self) { group in
                for id in ids { group.addTask { try await writer.ingest(IngestWork(projectID: project, event: event(id))) } }
                for try await receipt in group { #expect(receipt.eventStored) }
            }
        }
        let stored = try await database.writer.read { db in try String.fetchSet(db, sql: "SELECT event_id FROM event") }
        #expect(stored == Set(ids))
        let commits = try metrics.expectTimer("spyglass_ingest_commit_seconds").values.count
        #expect(commits >= 1 && commits < ids.count, "\(commits) commits for \(ids.count) events: no group commit")
    }

    @Test func theSameEventIDIsStoredOnceAndAttachmentsOnlyWithTheFirstCopy() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let id = EventID.generate()
        let attachment = Attachment(eventID: id, filename: "a.txt", contentType: "text/plain", attachmentType: "event.attachment", data: [1, 2, 3])
        try await withRunningWriter(writer) {
            let first = try await writer.ingest(IngestWork(projectID: project, event: event(id), attachments: [attachment]))
            let second = try await writer.ingest(IngestWork(projectID: project, event: event(id, message: "copy"), attachments: [attachment]))
            #expect(first.eventStored && !second.eventStored)
        }
        let (events, attachments, payload) = try await database.writer.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event"),
                try Int.fetchOne(db, sql: "SELECT count(*) FROM attachment"),
                try EventPayloadCodec.decode(Array(Data.fetchOne(db, sql: "SELECT payload FROM event") ?? Data())) {
                    try AppDatabase.dictionaryPayload($0, in: db)
                }
            )
        }
        #expect(events == 1 && attachments == 1)
        #expect(payload["logentry"]?["formatted"] == "boom")
    }

    @Test func rawPayloadsAreStoredAsSentAndReadBackNormalized() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let raw = Array(#"{"message":"raw one","tags":{"t":"v"},"timestamp":1789992800,"custom":{"kept":true},"user":{"ip_address":"{{auto}}"}}"#.utf8)
        let sentAt = now.addingTimeInterval(-7200)  // two hours of clock drift
        var event = try EventNormalizer().normalize(
            JSONParser.parse(raw), context: .init(envelopeEventID: EventID.generate(), sentAt: sentAt, received: now, clientIP: "10.1.2.3"))
        event.raw = raw
        let work = IngestWork(projectID: project, event: event)
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        try await withRunningWriter(writer) { _ = try await writer.ingest(work) }
        let stored = try #require(try await database.storage.events.events(ids: [event.eventID]).first)
        #expect(stored.payload == event.payload)
        #expect(stored.payload["user"]?["ip_address"] == "10.1.2.3")
        #expect(stored.payload["errors"]?.arrayValue?.first?["type"] == "clock_drift")
        let sent = try await database.writer.read { db in
            try EventPayloadCodec.decode(Array(Data.fetchOne(db, sql: "SELECT payload FROM event") ?? Data())) {
                try AppDatabase.dictionaryPayload($0, in: db)
            }
        }
        #expect(try sent == JSONParser.parse(raw))  // the original, as sent
    }

    @Test func eventsOfOneBatchKeepTheirReleaseSpanAndDuplicatesInItAreStoredOnce() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        func event(_ id: String, at offset: TimeInterval, message: String = "boom") -> NormalizedEvent {
            NormalizedEvent(
                eventID: id, timestamp: now.addingTimeInterval(offset), received: now, level: "error", platform: "python",
                release: "app@1", environment: "prod", payload: ["event_id": .string(id), "logentry": ["formatted": .string(message)]])
        }
        let joining = EventID.generate()
        let creating = EventID.generate()
        let works = [
            event(EventID.generate(), at: 0), event(EventID.generate(), at: -30), event(joining, at: 50),
            event(EventID.generate(), at: 20), event(joining, at: 60),  // a copy joining the issue of the first
            event(creating, at: 5, message: "new"), event(creating, at: 6, message: "new"),  // a copy of a new issue's event
        ].map { IngestWork(projectID: project, event: $0) }
        // Queued before the writer runs, so they are committed in one transaction.
        let tasks = works.map { work in Task { try await writer.ingest(work) } }
        while writer.depth < works.count { try await Task.sleep(for: .milliseconds(1)) }
        try await withRunningWriter(writer) {
            var stored = 0
            for task in tasks where try await task.value.eventStored { stored += 1 }
            #expect(stored == 5)
        }
        let (release, environment, issues) = try await database.writer.read { db in
            (
                try Row.fetchOne(db, sql: "SELECT first_event, last_event, count(*) OVER () FROM release"),
                try Row.fetchOne(db, sql: "SELECT first_seen, last_seen FROM release_environment"),
                try Row.fetchAll(db, sql: "SELECT times_seen, first_seen, last_seen FROM issue ORDER BY id")
            )
        }
        let start = now.timeIntervalSince1970
        #expect(release?[0] == start - 30 && release?[1] == start + 50 && release?[2] == 1)
        #expect(environment?[0] == start - 30 && environment?[1] == start + 50)
        #expect(issues.map { $0[0] as Int } == [4, 1])
        #expect(issues.first?[1] == start - 30 && issues.first?[2] == start + 50)
        let events = try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") }
        #expect(events == 5)
    }

    @Test func countersAddUpAcrossRequests() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        try await withRunningWriter(writer) {
            for _ in 0..<2 {
                _ = try await writer.ingest(
                    IngestWork(
                        projectID: project,
                        sessions: [SessionCount(release: "app@1", environment: "prod", started: 2, crashed: 1)],
                        discarded: [DiscardedCount(reason: "queue_overflow", category: "error", quantity: 3)]))
            }
        }
        let (sessions, discarded) = try await database.writer.read { db in
            (
                try Row.fetchOne(db, sql: "SELECT started, crashed FROM release_sessions"),
                try Int.fetchOne(db, sql: "SELECT quantity FROM discarded_events")
            )
        }
        #expect(sessions?[0] == 4 && sessions?[1] == 2)
        #expect(discarded == 6)
    }

    @Test func theQueueIsBoundedByBytesToo() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        // Not running: jobs stay queued. The first job always fits; the second exceeds the byte budget.
        let writer = IngestWriter(database: database, maxQueuedBytes: 10_000, metrics: TestMetrics())
        let big = Attachment(eventID: EventID.generate(), filename: "a", contentType: "x", attachmentType: "event.attachment", data: [UInt8](repeating: 1, count: 8000))
        let first = Task { try await writer.ingest(IngestWork(projectID: project, attachments: [big])) }
        while writer.depth == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let refusal = await #expect(throws: IngestRefusal.self) {
            try await writer.ingest(IngestWork(projectID: project, attachments: [big]))
        }
        #expect(refusal?.reason == .queueFull)
        try await withRunningWriter(writer) { _ = try await first.value }
    }

    @Test func shutdownDrainsTheQueueThenRefusesNewWork() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "App", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let group = ServiceGroup(services: [writer], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let pending = Task {
                try await withThrowingTaskGroup(of: Bool.self) { inner in
                    for _ in 0..<50 {
                        inner.addTask {
                            do {
                                return try await writer.ingest(IngestWork(projectID: project, event: event(EventID.generate()))).eventStored
                            } catch is IngestRefusal {
                                return false  // arrived after the shutdown began: refused, not lost
                            }
                        }
                    }
                    return try await inner.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
            }
            try await Task.sleep(for: .milliseconds(5))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            let stored = try await pending.value
            let rows = try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") }
            // Everything the writer accepted was committed before it stopped.
            #expect(rows == stored)
            #expect(stored > 0)
        }
        let refusal = await #expect(throws: IngestRefusal.self) {
            try await writer.ingest(IngestWork(projectID: project, event: event(EventID.generate())))
        }
        #expect(refusal?.reason == .shuttingDown)
    }
}
