import Foundation
import GRDB
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassStorage
import SpyglassStorageKit

/// Log lines in their own SQLite file, written by a thread of the lowest priority (``LogWriter``).
@Suite struct LogDatabaseTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func line(_ body: String, at seconds: Double, level: LogLevel = .info) -> LogRecord {
        LogRecord(
            timestamp: now.addingTimeInterval(seconds), level: level, body: body, template: nil, traceID: nil, spanID: nil,
            release: "shop@1", environment: "production", sdk: "sentry.python 2.75.0",
            attributes: [LogAttribute(name: "order_id", value: .integer(Int64(seconds)))])
    }

    func bodies(_ database: AppDatabase, _ project: Int64) async throws -> [String] {
        try await database.storage.logs.logs(LogListRequest(projectID: project, limit: 100)).map(\.record.body)
    }

    func items(_ bodies: [String]) -> [UInt8] {
        let lines = bodies.enumerated().map { index, body in
            #"{"timestamp": \#(1_790_000_000 + index), "level": "warn", "body": "\#(body)"}"#
        }
        return Array(#"{"items": [\#(lines.joined(separator: ","))]}"#.utf8)
    }

    @Test func aDatabaseWhoseLinesAreInTheMainFileMovesThemToTheirOwnOnce() async throws {
        let directory = try TemporaryDirectory()
        let data = directory.url.appending(path: "data")
        let project = try AppDatabase.open(directory: data).createProject(name: "Shop", now: now).project.id!
        // The main file as a server before the move left it: the table of migration v15, with lines.
        let mainPath = data.appending(path: AppDatabase.fileName).path(percentEncoded: false)
        let columns = AppDatabase.logColumns.joined(separator: ", ")
        let main = try DatabaseQueue(path: mainPath)
        try await main.write { db in
            try db.execute(sql: AppDatabase.logTableSQL)
            for (id, body) in ["first", "second", "third"].enumerated() {
                try db.execute(
                    sql: "INSERT INTO log_entry (\(columns)) VALUES (?, ?, ?, ?, 9, ?, NULL, NULL, NULL, NULL, NULL, NULL, '{}', 10)",
                    arguments: [id + 1, project, now.timeIntervalSince1970 + Double(id), now.timeIntervalSince1970, body])
            }
        }
        try main.close()

        let reopened = try AppDatabase.open(directory: data)
        #expect(try await bodies(reopened, project) == ["third", "second", "first"])
        #expect(try await reopened.writer.read { db in try db.tableExists("log_entry") } == false)
        let logsFile = data.appending(path: LogDatabase.fileName).path(percentEncoded: false)
        #expect(FileManager.default.fileExists(atPath: logsFile))
        try reopened.close()

        // A move cut short (the lines copied, the main table not dropped yet) is done again without doubling lines.
        let again = try DatabaseQueue(path: mainPath)
        try await again.write { db in
            try db.execute(sql: AppDatabase.logTableSQL)
            try db.execute(sql: "ATTACH DATABASE ? AS moved", arguments: [logsFile])
            try db.execute(sql: "INSERT INTO main.log_entry SELECT * FROM moved.log_entry")
        }
        try again.close()
        let third = try AppDatabase.open(directory: data)
        #expect(try await bodies(third, project) == ["third", "second", "first"])
        try third.close()
    }

    @Test func aBackupCarriesTheLinesAndTheRestoredDatabaseMovesThemBack() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url.appending(path: "data"))
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        try await withRunningWriter(writer) {
            _ = try await writer.ingest(IngestWork(projectID: project, logs: [line("kept", at: 1), line("also", at: 2)]))
        }
        let backup = directory.url.appending(path: "backup.sqlite")
        try await database.storage.maintenance.backup(to: backup)
        try database.close()

        let restored = directory.url.appending(path: "restored")
        try FileManager.default.createDirectory(at: restored, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: backup, to: restored.appending(path: AppDatabase.fileName))
        let reopened = try AppDatabase.open(directory: restored)
        #expect(try await bodies(reopened, project) == ["also", "kept"])
        #expect(try await reopened.writer.read { db in try db.tableExists("log_entry") } == false)
        // Lines written after the backup, some of a project the backup does not know.
        let later = try reopened.createProject(name: "Later", now: now).project.id!
        let writerAfter = IngestWriter(database: reopened, metrics: TestMetrics())
        try await withRunningWriter(writerAfter) {
            _ = try await writerAfter.ingest(IngestWork(projectID: project, logs: [line("after the backup", at: 3)]))
            _ = try await writerAfter.ingest(IngestWork(projectID: later, logs: [line("of a later project", at: 4)]))
        }
        try reopened.close()

        // Restored again, the lines' file left in place: the backup's lines replace it (a project created next takes
        // the later project's id, and must not see its lines).
        let mainFile = restored.appending(path: AppDatabase.fileName)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(at: URL(filePath: mainFile.path(percentEncoded: false) + suffix))
        }
        try FileManager.default.copyItem(at: backup, to: mainFile)
        let again = try AppDatabase.open(directory: restored)
        #expect(try await bodies(again, project) == ["also", "kept"])
        let next = try again.createProject(name: "Next", now: now).project.id!
        #expect(next == later)
        #expect(try await bodies(again, next) == [])
        try again.close()
    }

    @Test func linesAreReadAndStoredByAThreadOfTheLowestPriority() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        try await withRunningWriter(writer) {
            let unread = UnreadLogItems(items: [.init(index: 0, payload: items(["a", "b"]))], limits: LogItems.Limits())
            let receipt = try await writer.ingest(IngestWork(projectID: project, unreadLogs: unread))
            #expect(receipt.logLines == [.warn: 2])
            // Linux keeps a scheduling policy per thread: /proc/self/task/<tid>/stat, field 41 (5: SCHED_IDLE).
            var policy: [String: Int] = [:]
            for task in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") {
                // Threads of other tests may end meanwhile.
                guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                    let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8)
                else { continue }
                let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
                let fields = stat[stat.range(of: ")", options: .backwards)!.upperBound...].split(separator: " ")
                policy[name] = Int(fields[38])
            }
            #expect(policy["spyglass-logrd"] == 5 && policy["spyglass-logs"] == 5)
            #expect(policy["spyglass-ingest"] == 0)
        }
        #expect(try await bodies(database, project) == ["b", "a"])
    }

    @Test func anItemThatCannotBeReadStoresNothingOfItsRequest() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let bad = UnreadLogItems(
            items: [.init(index: 0, payload: items(["fine"])), .init(index: 2, payload: Array(#"{"items": 3}"#.utf8))],
            limits: LogItems.Limits())
        let event = try EventNormalizer().normalize(
            JSONParser.parse(Array(#"{"event_id": "0123456789abcdef0123456789abcdef", "message": "boom"}"#.utf8)),
            context: .init(received: now))
        try await withRunningWriter(writer) {
            // Read on the log writer's thread (lines only), or before anything is stored (with an event): the same
            // error, naming the item.
            for work in [IngestWork(projectID: project, unreadLogs: bad), IngestWork(projectID: project, event: event, unreadLogs: bad)] {
                let failure = await #expect(throws: UnreadLogItems.Failure.self) { try await writer.ingest(work) }
                #expect(failure?.description == #"item 2 (log): expected {"items": [log lines]}"#)
            }
            let fine = UnreadLogItems(items: [.init(index: 1, payload: items(["fine"]))], limits: LogItems.Limits())
            let receipt = try await writer.ingest(IngestWork(projectID: project, event: event, unreadLogs: fine))
            #expect(receipt.eventStored && receipt.logLines == [.warn: 1])
        }
        #expect(try await bodies(database, project) == ["fine"])
        #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") } == 1)
    }

    /// The lines' committer of the SQLite file, held until `open` is signalled.
    struct GatedCommitter: LogBatchCommitter {
        let inner: SQLiteLogCommitter
        let open = DispatchSemaphore(value: 0)
        func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
            open.wait()
            open.signal()
            return try inner.commit(jobs)
        }
    }

    /// The ingest committer of the SQLite file, held until `open` is signalled; signals `entered` at each batch.
    struct GatedIngestCommitter: IngestBatchCommitter {
        let inner: SQLiteIngestCommitter
        let open = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        func commit(_ jobs: [PreparedIngest], dictionaries: PayloadDictionaryCache) throws -> CommittedBatch {
            entered.signal()
            open.wait()
            open.signal()
            return try inner.commit(jobs, dictionaries: dictionaries)
        }
    }

    /// Error ingest counts as busy for the log writer once the ingest writer takes a batch of several requests (they
    /// came while the one before committed), not for requests one at a time.
    @Test func aBatchOfSeveralEventsMakesErrorIngestBusyForTheLogWriter() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let committer = GatedIngestCommitter(inner: SQLiteIngestCommitter(database: database, metrics: TestMetrics()))
        let logWriter = LogWriter(committer: SQLiteLogCommitter(database: database.logs), busyWindow: .seconds(600))
        let writer = IngestWriter(committer: committer, logWriter: logWriter, metrics: TestMetrics())
        let busyLogWriter = LogWriter(committer: SQLiteLogCommitter(database: database.logs), busyWindow: .seconds(600))
        let events = try (0..<8).map { index in
            let json = Array(#"{"event_id": "\#(String(format: "%032x", index + 1))", "message": "boom"}"#.utf8)
            return try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: now))
        }
        try await withRunningWriter(writer) {
            // One at a time: never busy.
            committer.open.signal()
            for event in events[0..<3] {
                let receipt = try await writer.ingest(IngestWork(projectID: project, event: event))
                #expect(receipt.eventStored)
            }
            #expect(!logWriter.errorIngestIsBusy)
        }
        let gated = GatedIngestCommitter(inner: SQLiteIngestCommitter(database: database, metrics: TestMetrics()))
        let busyWriter = IngestWriter(committer: gated, logWriter: busyLogWriter, metrics: TestMetrics())
        try await withRunningWriter(busyWriter) {
            // The first request's batch waits in its commit while four more queue: they are the next batch.
            let first = Task { try await busyWriter.ingest(IngestWork(projectID: project, event: events[3])) }
            while gated.entered.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(1)) }
            let more = events[4...].map { event in
                Task { try await busyWriter.ingest(IngestWork(projectID: project, event: event)) }
            }
            while busyWriter.depth < 4 { try await Task.sleep(for: .milliseconds(1)) }
            #expect(!busyLogWriter.errorIngestIsBusy, "a batch of one")
            gated.open.signal()
            #expect(try await first.value.eventStored)
            for task in more { #expect(try await task.value.eventStored) }
            #expect(busyLogWriter.errorIngestIsBusy, "a batch of four")
        }
    }

    /// While error ingest is busy the log writer's threads pause after their work (so that each keeps to its share of
    /// a CPU), never while it is not, nor at a share of 1; the lines are stored either way.
    @Test func whileErrorIngestIsBusyTheLogWriterPausesAfterItsWork() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let unread = UnreadLogItems(
            items: [.init(index: 0, payload: items((0..<500).map { "n\($0)" }))], limits: LogItems.Limits())
        for share in [0.01, 1] {
            let writer = LogWriter(committer: SQLiteLogCommitter(database: database.logs), busyShare: share)
            writer.start()
            #expect(try await writer.store(projectID: project, received: now, lines: [], unread: unread) == [.warn: 500])
            #expect(writer.pausedNanoseconds == 0, "error ingest not busy")
            writer.errorIngestBusy(for: .seconds(600))
            #expect(try await writer.store(projectID: project, received: now, lines: [], unread: unread) == [.warn: 500])
            if share < 1 {
                // The threads pause after answering: the reader while the lines commit, the committer after.
                for _ in 0..<2000 where writer.pausedNanoseconds == 0 { try await Task.sleep(for: .milliseconds(5)) }
                #expect(writer.pausedNanoseconds > 0)
            }
            writer.stopAndWait()
            if share == 1 { #expect(writer.pausedNanoseconds == 0) }
        }
        let stored = try await database.logs.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM log_entry") }
        #expect(stored == 2000)
    }

    /// A committer whose work a database server does (PostgreSQL): its commits take time, not this thread's CPU.
    struct RemoteCommitter: LogBatchCommitter {
        let inner: SQLiteLogCommitter
        func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
            Thread.sleep(forTimeInterval: 0.02)
            return try inner.commit(jobs)
        }
        var worksElsewhere: Bool { true }
    }

    /// Where a database server does a commit's work, the log writer paces its commits by the time they take: a
    /// 20-ms commit owes a second at 1 % (its thread's CPU time alone would owe a few milliseconds).
    @Test func commitsDoneElsewhereArePacedByTheirTime() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let committer = RemoteCommitter(inner: SQLiteLogCommitter(database: database.logs))
        let writer = LogWriter(committer: committer, busyShare: 0.01)
        writer.start()
        writer.errorIngestBusy(for: .seconds(600))
        let stored = try await writer.store(projectID: project, received: now, lines: [line("a", at: 1)], unread: nil)
        #expect(stored == [.info: 1])
        for _ in 0..<2000 where writer.pausedNanoseconds < 500_000_000 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(writer.pausedNanoseconds >= 500_000_000)
        writer.stopAndWait()
    }

    /// The queue's bytes count a request's lines once read, not only its item as received: a queue of tiny lines
    /// stays bounded in memory (a line takes a few times more read than received).
    @Test func linesReadCountInTheQueuesBytes() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let committer = GatedCommitter(inner: SQLiteLogCommitter(database: database.logs))
        let received = items((0..<2000).map { "n\($0)" })
        let writer = LogWriter(committer: committer, maxQueuedBytes: 4096 + received.count * 2)
        writer.start()
        let unread = UnreadLogItems(items: [.init(index: 0, payload: received)], limits: LogItems.Limits())
        let first = Task { try await writer.store(projectID: project, received: now, lines: [], unread: unread) }
        for _ in 0..<1000 where writer.queuedBytes < 4096 + received.count * 2 {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(writer.queuedBytes > 4096 + received.count * 2, "read, the lines cost more than their item")
        // A second request the size of the first would fit if only items counted.
        let refusal = await #expect(throws: IngestRefusal.self) {
            try await writer.store(projectID: project, received: self.now, lines: [], unread: unread)
        }
        #expect(refusal?.reason == .logQueueFull)
        committer.open.signal()
        #expect(try await first.value == [.warn: 2000])
        #expect(writer.queuedBytes == 0 && writer.depth == 0)
        writer.stopAndWait()
    }

    /// An envelope with an event and lines, while the log writer's queue is full: refused whole before anything is
    /// stored (its SDK sends it again; stored, its event's sessions and client reports would count twice).
    @Test func anEnvelopeWithMoreThanLinesIsRefusedWholeWhileTheLinesQueueIsFull() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let committer = GatedCommitter(inner: SQLiteLogCommitter(database: database.logs))
        let writer = IngestWriter(
            committer: SQLiteIngestCommitter(database: database, metrics: TestMetrics()),
            logWriter: LogWriter(committer: committer, capacity: 1), metrics: TestMetrics())
        func event(_ id: String) throws -> NormalizedEvent {
            let json = Array(#"{"event_id": "\#(id)", "message": "boom"}"#.utf8)
            return try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: now))
        }
        let (a, b) = (try event(String(repeating: "a", count: 32)), try event(String(repeating: "b", count: 32)))
        try await withRunningWriter(writer) {
            let first = IngestWork(projectID: project, logs: [line("waits", at: 1)])
            let waiting = Task { try await writer.ingest(first) }
            while writer.logWriter.depth == 0 { try await Task.sleep(for: .milliseconds(1)) }
            let whole = IngestWork(projectID: project, event: a, logs: [line("x", at: 2)])
            let refusal = await #expect(throws: IngestRefusal.self) { try await writer.ingest(whole) }
            #expect(refusal?.reason == .logQueueFull)
            #expect(try await writer.ingest(IngestWork(projectID: project, event: b)).eventStored)
            committer.open.signal()
            #expect(try await waiting.value.logLines == [.info: 1])
        }
        let events = try await database.writer.read { db in try String.fetchAll(db, sql: "SELECT event_id FROM event") }
        #expect(events == [String(repeating: "b", count: 32)])
        #expect(try await bodies(database, project) == ["waits"])
    }

    /// A place taken in the queue (an envelope with more than lines takes it before its event is stored) holds: a
    /// request that comes meanwhile finds the queue full, the place's lines are stored whatever came, a place
    /// dropped unused is given back, and a stopping writer waits for the lines of a place taken.
    @Test func aPlaceTakenInTheQueueHoldsUntilItsLinesComeOrItIsGivenBack() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let writer = LogWriter(committer: SQLiteLogCommitter(database: database.logs), capacity: 1)
        writer.start()
        do {
            let dropped = try writer.reserve(projectID: project, received: now, lines: [line("dropped", at: 0)], unread: nil)
            #expect(writer.depth == 1 && writer.queuedBytes > 0)
            withExtendedLifetime(dropped) {}
        }
        #expect(writer.depth == 0 && writer.queuedBytes == 0)
        let place = try writer.reserve(projectID: project, received: now, lines: [line("placed", at: 1)], unread: nil)
        let refusal = await #expect(throws: IngestRefusal.self) {
            try await writer.store(projectID: project, received: self.now, lines: [self.line("refused", at: 2)], unread: nil)
        }
        #expect(refusal?.reason == .logQueueFull)
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            writer.stopAndWait()
            stopped.signal()
        }.start()
        try await Task.sleep(for: .milliseconds(100))
        #expect(stopped.wait(timeout: .now()) == .timedOut, "stopping waits for the lines of a place taken")
        #expect(try await writer.store(place) == [.info: 1])
        var ended = false
        for _ in 0..<1000 where !ended {
            ended = stopped.wait(timeout: .now()) == .success
            if !ended { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(ended)
        #expect(try await bodies(database, project) == ["placed"])
    }

    @Test func aFullQueueRefusesAtOnceAndWhatWaitsIsStoredOnceTheWriterRuns() async throws {
        let database = try AppDatabase.inMemory()
        let project = try database.createProject(name: "Shop", now: now).project.id!
        let writer = LogWriter(committer: SQLiteLogCommitter(database: database.logs), capacity: 1)
        let waiting = Task { try await writer.store(projectID: project, received: now, lines: [line("waits", at: 1)], unread: nil) }
        // The first request is queued (the thread has not started): the second finds the queue full.
        while writer.depth == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let refusal = await #expect(throws: IngestRefusal.self) {
            try await writer.store(projectID: project, received: self.now, lines: [self.line("refused", at: 2)], unread: nil)
        }
        #expect(refusal?.reason == .logQueueFull && refusal?.retryAfter == 1)
        writer.start()
        #expect(try await waiting.value == [.info: 1])
        writer.stopAndWait()
        #expect(try await bodies(database, project) == ["waits"])
    }
}
