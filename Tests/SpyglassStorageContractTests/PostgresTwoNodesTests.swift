import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassPostgres
import SpyglassStorageKit
import Synchronization
import Testing

/// Two `spyglass serve` nodes on one PostgreSQL database, each with its own pool: ingest writers committing batches
/// at the same moment that make the same new issues and repeat each other's event ids, outbox workers claiming at
/// the same moment, and the periodic jobs.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresTwoNodesTests {
    /// Two nodes' log writers committing at once: lines become visible in the order of their ids. The live tail
    /// asks for the lines after the newest id it showed, so a line whose lower id became visible after a higher one
    /// would never be shown. Without the batches' turn (``PostgresLogCommitter``'s advisory lock) two statements
    /// running at once take ids in turns and commit apart: with 20 batches a node this test failed 4 times in 5.
    @Test func twoNodesLinesBecomeVisibleInTheOrderOfTheirIDs() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    try await first.migrate()
                    try await PostgresSchemaTests.execute(
                        first, "INSERT INTO project (id, slug, name, created_at) VALUES (1, 'web', 'Web', 'x')")
                    let written = DispatchSemaphore(value: 0)
                    let failures = Mutex<[String]>([])
                    for database in [first, second] {
                        // Each node's committer on a thread of its own, as its log writer runs it.
                        Thread {
                            let committer = PostgresLogCommitter(database: database)
                            for batch in 0..<30 {
                                let lines = (0..<1000).map { LogRecord(timestamp: Date(), level: .info, body: "\(batch).\($0)") }
                                do {
                                    let outcomes = try committer.commit([PreparedLogLines(projectID: 1, received: Date(), lines: lines)])
                                    if let error = outcomes.compactMap({ $0 }).first { failures.withLock { $0.append("\(error)") } }
                                } catch {
                                    failures.withLock { $0.append("\(error)") }
                                }
                            }
                            committer.finish()
                            written.signal()
                        }.start()
                    }
                    var (seen, newest, ended) = (Set<Int64>(), Int64(0), 0)
                    while ended < 2 {
                        while written.wait(timeout: .now()) == .success { ended += 1 }
                        // As the live tail asks: the lines after the newest id shown.
                        for id in try await Self.ids(first, after: newest) {
                            seen.insert(id)
                            newest = max(newest, id)
                        }
                    }
                    for id in try await Self.ids(first, after: newest) { seen.insert(id) }
                    #expect(failures.withLock { $0 }.isEmpty)
                    let stored = Set(try await Self.ids(first, after: 0))
                    #expect(stored.count == 2 * 30 * 1000)
                    #expect(stored.subtracting(seen).count == 0, "lines never shown")
                }
            }
        }
    }

    static func ids(_ database: PostgresAppDatabase, after: Int64) async throws -> [Int64] {
        try await database.withConnection { connection in
            var ids: [Int64] = []
            for try await id in try await connection.query(
                "SELECT id FROM log_entry WHERE id > \(after) ORDER BY id", logger: TestPostgres.logger
            ).decode(Int64.self) {
                ids.append(id)
            }
            return ids
        }
    }

    /// One issue per fingerprint with its hash, every event id stored once, and counters, users and first/last seen
    /// that match the stored events, whichever node wrote what. Batches go through the set path and, with an
    /// attachment, through the one-by-one path.
    @Test func twoNodesWritingTheSameNewIssuesLeaveOneIssuePerHashWithExactCounters() async throws {
        try await Self.withTwoNodes { nodes, project in
            let rounds = 25
            for round in 0..<rounds {
                async let a = nodes[0].commitBatch(
                    try Self.batch(round: round, node: 0, project: project, store: nodes[0]), dictionaries: PayloadDictionaryCache())
                async let b = nodes[1].commitBatch(
                    try Self.batch(round: round, node: 1, project: project, store: nodes[1]), dictionaries: PayloadDictionaryCache())
                _ = try await (a, b)
            }
            let store = nodes[0]
            // Per round: three messages on both nodes (6 events), one event id sent to both, one new issue
            // made one by one on both nodes (2 events), and one such event id sent to both.
            let (events, issues) = (try await store.value("SELECT count(*) FROM event"), try await store.value("SELECT count(*) FROM issue"))
            #expect(events == "\(rounds * 10)")
            #expect(issues == "\(rounds * 6)")
            let hashed = try await store.value("SELECT count(DISTINCT issue_id) FROM grouping_hash")
            #expect(hashed == "\(rounds * 6)")
            #expect(
                try await store.value(
                    "SELECT count(*) FROM issue WHERE NOT EXISTS (SELECT 1 FROM grouping_hash h WHERE h.issue_id = issue.id)")
                    == "0")
            #expect(try await store.value(Self.inexactIssues) == "0")
            // The users of each round's three messages: u0 and u1 on both nodes, counted once per issue.
            let users = try await store.value("SELECT sum(user_count)::bigint FROM issue")
            #expect(users == "\(rounds * 3 * 2)")
            #expect(try await store.value("SELECT count(*) FROM attachment") == "\(rounds * 3)")
            #expect(
                try await store.value("SELECT count(DISTINCT short_id) FROM issue") == "\(rounds * 6)")
            #expect(try await Self.deadlocks(nodes, project: project) == "0")
        }
    }

    /// Batches of plain events only, each one statement that commits by itself (no `BEGIN`), written by two nodes at
    /// once: the same new issues and a shared event id every round, exact counters, gapless short ids, and no
    /// deadlock (each statement takes its projects' ingest locks before it writes).
    @Test func twoNodesWritingPlainEventsInOneStatementEachLeaveExactIssuesWithoutDeadlocks() async throws {
        try await Self.withTwoNodes { nodes, project in
            let rounds = 25
            for round in 0..<rounds {
                func plain(_ node: Int) throws -> [IngestWork] {
                    try Self.batch(round: round, node: node, project: project, store: nodes[node])
                        .filter(\.attachments.isEmpty)
                }
                async let a = nodes[0].commitBatch(try plain(0), dictionaries: PayloadDictionaryCache())
                async let b = nodes[1].commitBatch(try plain(1), dictionaries: PayloadDictionaryCache())
                _ = try await (a, b)
            }
            let store = nodes[0]
            // Per round: three messages on both nodes (6 events, 3 issues) and one event id sent to both.
            #expect(try await store.value("SELECT count(*) FROM event") == "\(rounds * 7)")
            #expect(try await store.value("SELECT count(*) FROM issue") == "\(rounds * 4)")
            #expect(try await store.value(Self.inexactIssues) == "0")
            #expect(try await store.value("SELECT sum(user_count)::bigint FROM issue") == "\(rounds * 3 * 2)")
            #expect(try await store.value("SELECT max(short_id) FROM issue") == "\(rounds * 4)")
            #expect(try await store.value("SELECT count(DISTINCT short_id) FROM issue") == "\(rounds * 4)")
            #expect(try await Self.deadlocks(nodes, project: project) == "0")
        }
    }

    /// Counts the issues whose counters, first/last seen, first event or hashes do not match their stored events.
    static let inexactIssues = """
        SELECT count(*) FROM issue WHERE times_seen <> (SELECT count(*) FROM event WHERE issue_id = issue.id)
            OR user_count <> (SELECT count(*) FROM issue_user WHERE issue_id = issue.id)
            OR first_seen <> (SELECT min(timestamp) FROM event WHERE issue_id = issue.id)
            OR last_seen <> (SELECT max(timestamp) FROM event WHERE issue_id = issue.id)
            OR (SELECT timestamp FROM event WHERE id = issue.first_event_id) <> first_seen
            OR NOT EXISTS (SELECT 1 FROM grouping_hash h WHERE h.issue_id = issue.id)
        """

    /// Two stores on one fresh database (two pools, two writers: two nodes), and a project.
    static func withTwoNodes(_ body: ([TestStore], Int64) async throws -> Void) async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    try await first.migrate()
                    let nodes = [TestStore(database: .postgres(first)), TestStore(database: .postgres(second))]
                    try await body(nodes, try await nodes[0].createProject(slug: "alpha"))
                }
            }
        }
    }

    /// Two nodes making new issues of their own at once, in batches of plain events: the second statement to take
    /// the project's short ids waits for the first one's commit under the project row's lock, and neither is rolled
    /// back and tried again (when each took short ids it had read before, the later one failed almost every round
    /// and, under load, a batch sometimes five times: its requests were answered 503).
    @Test func twoNodesMakingTheirOwnNewIssuesAtOnceWaitForEachOtherInsteadOfFailing() async throws {
        try await Self.withTwoNodes { nodes, project in
            let before = try await Self.flushedStatistics(nodes, project: project, "xact_rollback", round: 0)
            let rounds = 25
            for round in 0..<rounds {
                func own(_ node: Int) throws -> [IngestWork] {
                    try (0..<3).map { kind in
                        let id = String(format: "%08x%08x%08x%08x", round + 1, kind, node, 8)
                        let message = "own \(Self.word(node)) \(Self.word(round)) \(Self.word(kind))"
                        let json = #"{"event_id": "\#(id)", "message": "\#(message)", "level": "error"}"#
                        return IngestWork(projectID: project, event: try nodes[node].event(json))
                    }
                }
                async let a = nodes[0].commitBatch(try own(0), dictionaries: PayloadDictionaryCache())
                async let b = nodes[1].commitBatch(try own(1), dictionaries: PayloadDictionaryCache())
                _ = try await (a, b)
            }
            let after = try await Self.flushedStatistics(nodes, project: project, "xact_rollback", round: 1)
            #expect(after == before, "no statement of the writers was rolled back")
            let store = nodes[0]
            #expect(try await store.value("SELECT count(*) FROM issue") == "\(rounds * 6 + 4)")
            #expect(try await store.value("SELECT count(DISTINCT short_id) FROM issue") == "\(rounds * 6 + 4)")
            #expect(try await store.value("SELECT max(short_id) FROM issue") == "\(rounds * 6 + 4)")
            // Every new issue's outbox row names its own short id.
            #expect(
                try await store.value(
                    """
                    SELECT count(*) FROM notification n JOIN issue i ON i.id = n.issue_id
                    WHERE n.content NOT LIKE '%"shortId":"ALPHA-' || i.short_id || '"%'
                    """) == "0")
            #expect(try await store.value("SELECT count(*) FROM notification") == "\(rounds * 6 + 4)")
        }
    }

    /// A counter of `pg_stat_database` for the database. A backend reports its counters at the end of a
    /// transaction a second or more after its last report: each node's writer commits one more event first (a new
    /// issue of its own).
    static func flushedStatistics(
        _ nodes: [TestStore], project: Int64, _ column: String, round: Int
    ) async throws -> String? {
        try await Task.sleep(for: .milliseconds(1_100))
        for (index, node) in nodes.enumerated() {
            let id = String(format: "%08x%08x%08x%08x", 999, round, index, 7)
            let message = "flush \(word(index)) \(word(round))"
            let event = try node.event(#"{"event_id": "\#(id)", "message": "\#(message)", "timestamp": 1789990000}"#)
            _ = try await node.commitBatch(
                [IngestWork(projectID: project, event: event)], dictionaries: PayloadDictionaryCache())
        }
        return try await nodes[0].value("SELECT \(column) FROM pg_stat_database WHERE datname = current_database()")
    }

    /// Grouping replaces numbers in messages: each message is told apart by words.
    static func word(_ n: Int) -> String {
        String(UnicodeScalar(UInt8(97 + n / 26))) + String(UnicodeScalar(UInt8(97 + n % 26)))
    }

    /// The deadlocks PostgreSQL detected in the database.
    static func deadlocks(_ nodes: [TestStore], project: Int64) async throws -> String? {
        try await flushedStatistics(nodes, project: project, "deadlocks", round: 2)
    }

    /// Two nodes claiming the outbox at once never get the same notification (`FOR UPDATE SKIP LOCKED`), and between
    /// them get every due one.
    @Test func twoNodesClaimingAtOnceShareTheOutboxWithoutOverlap() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    try await first.migrate()
                    let nodes = [TestStore(database: .postgres(first)), TestStore(database: .postgres(second))]
                    let project = try await nodes[0].createProject(slug: "alpha")
                    var enqueued: Set<Int64> = []
                    for n in 0..<200 {
                        enqueued.insert(
                            try await nodes[0].enqueueNotification(
                                projectID: project, ruleID: nil, due: nodes[0].now.addingTimeInterval(Double(n % 7))))
                    }
                    let now = nodes[0].now.addingTimeInterval(10)
                    var claims: [[Int64]] = [[], []]
                    // Small claims, many rounds, both nodes at once.
                    while claims[0].count + claims[1].count < enqueued.count {
                        async let a = nodes[0].outbox.claimDueNotifications(now: now, limit: 7, lease: 60)
                        async let b = nodes[1].outbox.claimDueNotifications(now: now, limit: 7, lease: 60)
                        let (fromA, fromB) = try await (a, b)
                        if fromA.isEmpty && fromB.isEmpty { break }
                        claims[0] += fromA.map(\.id)
                        claims[1] += fromB.map(\.id)
                    }
                    #expect(Set(claims[0]).isDisjoint(with: claims[1]))
                    #expect(claims[0].count + claims[1].count == enqueued.count)
                    #expect(Set(claims[0] + claims[1]) == enqueued)
                    #expect(!claims[0].isEmpty && !claims[1].isEmpty)
                }
            }
        }
    }

    /// The periodic jobs run on one node at a time: while one node runs them, another's turn is skipped, not
    /// queued; once they end (or the node's connection does), the next turn runs.
    @Test func thePeriodicJobsRunOnOneNodeAtATime() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    try await first.migrate()
                    let (started, startedSignal) = AsyncStream<Void>.makeStream()
                    let (release, releaseSignal) = AsyncStream<Void>.makeStream()
                    async let running = PostgresMaintenance(first).exclusively {
                        startedSignal.yield()
                        for await _ in release { break }
                    }
                    for await _ in started { break }
                    var secondRan = false
                    #expect(try await PostgresMaintenance(second).exclusively { secondRan = true } == false)
                    #expect(!secondRan)
                    releaseSignal.yield()
                    #expect(try await running == true)
                    #expect(try await PostgresMaintenance(second).exclusively { secondRan = true } == true)
                    #expect(secondRan)
                    // A node whose jobs fail releases the lock too.
                    struct Failure: Error {}
                    await #expect(throws: Failure.self) { _ = try await PostgresMaintenance(first).exclusively { throw Failure() } }
                    #expect(try await PostgresMaintenance(second).exclusively {} == true)
                }
            }
        }
    }

    /// A node's batch of one round: three new messages both nodes send (users u0 and u1), an event both nodes send
    /// with the same id, and two events with an attachment (written one by one), one of them sent by both.
    static func batch(round: Int, node: Int, project: Int64, store: TestStore) throws -> [IngestWork] {
        func id(_ kind: Int, shared: Bool = false) -> String {
            String(format: "%08x%08x%08x%08x", round + 1, kind, shared ? 9 : node, 7)
        }
        func event(_ id: String, _ message: String, user: String? = nil, second: Int) throws -> NormalizedEvent {
            let userField = user.map { #", "user": {"id": "\#($0)"}"# } ?? ""
            return try store.event(
                #"{"event_id": "\#(id)", "message": "\#(message)", "level": "error", "platform": "python", "timestamp": \#(1_789_990_000 + round * 100 + second)\#(userField)}"#
            )
        }
        func attachment(_ id: String) -> SpyglassCore.Attachment {
            SpyglassCore.Attachment(eventID: id, filename: "a.txt", contentType: "text/plain", attachmentType: "event.attachment", data: [1, 2, 3])
        }
        var works: [IngestWork] = []
        for kind in 0..<3 {
            works.append(
                IngestWork(
                    projectID: project,
                    event: try event(id(kind), "boom \(word(round)) \(word(kind))", user: "u\((kind + node) % 2)", second: kind * 10 + node)))
        }
        works.append(IngestWork(projectID: project, event: try event(id(3, shared: true), "shared \(word(round))", second: 40)))
        let alone = id(4)
        works.append(
            IngestWork(projectID: project, event: try event(alone, "alone \(word(round))", second: 50 + node), attachments: [attachment(alone)]))
        let aloneShared = id(5, shared: true)
        works.append(
            IngestWork(
                projectID: project, event: try event(aloneShared, "alone shared \(word(round))", second: 60),
                attachments: [attachment(aloneShared)]))
        return node == 0 ? works : works.reversed()
    }
}
