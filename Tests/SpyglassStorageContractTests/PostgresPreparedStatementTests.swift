import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassPostgres
import SpyglassStorageKit
import Testing

/// The PostgreSQL writer prepares its set statements once per connection (`IngestSQL.prepared`).
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresPreparedStatementTests {
    /// A connection whose statements were dropped behind the writer's back (`DISCARD ALL` or `DEALLOCATE ALL`, as a
    /// connection pooler does) fails one batch, then prepares them again: the writer's retry stores the event.
    @Test func statementsDroppedBehindTheWritersBackArePreparedAgain() async throws {
        try await withOneWriterConnection { database, store, project, dictionaries in
            // The DEALLOCATE below runs on the writer's one connection.
            func work(_ n: Int) throws -> IngestWork {
                let id = String(format: "%032x", n)
                return IngestWork(
                    projectID: project,
                    event: try store.event(
                        #"{"event_id": "\#(id)", "message": "boom", "level": "error", "platform": "python"}"#))
            }
            #expect(
                try await store.commitBatch([work(1)], dictionaries: dictionaries).receipts.map(\.eventStored) == [true]
            )
            store.committer.finish()  // the writer keeps its connection between batches: the test borrows it
            try await database.withIngestConnection {
                _ = try await $0.query("DEALLOCATE ALL", logger: TestPostgres.logger)
            }
            await #expect(throws: (any Error).self) {
                try await store.commitBatch([work(2)], dictionaries: dictionaries)
            }
            #expect(
                try await store.commitBatch([work(2)], dictionaries: dictionaries).receipts.map(\.eventStored) == [true]
            )
            #expect(try await store.value("SELECT count(*) FROM event") == "2")
            #expect(try await store.value("SELECT times_seen FROM issue") == "2")
        }
    }

    /// The writer's plans hold when the tables grow under them: a statement prepared while the tables were empty
    /// (a new database) must not scan `event`, `issue` or `grouping_hash` whole in every batch once they are not,
    /// before autovacuum's ANALYZE replans it. Counted by PostgreSQL's own statistics of the writer's connection.
    @Test func theWritersPlansLookRowsUpByKeyAfterTheTablesGrow() async throws {
        try await withOneWriterConnection { database, store, project, dictionaries in
            func batch(_ first: Int, _ count: Int) async throws {
                let works = try (first..<first + count).map { n in
                    let id = String(format: "%032x", n)
                    // Every other event a new issue, the rest joining a known one: both kinds of set.
                    return IngestWork(
                        projectID: project,
                        event: try store.event(
                            #"{"event_id": "\#(id)", "message": "boom \#(n % 2 == 0 ? n : 1)", "level": "error", "platform": "python", "release": "r1", "environment": "prod", "user": {"id": "u\#(n % 3)"}}"#
                        ))
                }
                #expect(
                    try await store.commitBatch(works, dictionaries: dictionaries).receipts.allSatisfy(\.eventStored))
            }
            // PostgreSQL plans a prepared statement generically from its sixth execution on: on empty tables.
            for round in 0..<8 { try await batch(1 + round * 4, 4) }
            // Tables of a few thousand rows, without statistics (no ANALYZE), as a busy new database has.
            try await store.execute(
                """
                INSERT INTO issue (project_id, short_id, title, culprit, type, metadata, level, status, substatus,
                    first_seen, last_seen, times_seen, user_count, substatus_since)
                SELECT \(project), 1000 + n, 'filler', '', 'error', '{}', 'error', 'unresolved', 'new', 0, 0, 1, 0, 0
                FROM generate_series(1, 3000) AS n
                """)
            try await store.execute(
                """
                INSERT INTO grouping_hash (project_id, hash, config, issue_id)
                SELECT project_id, 'filler' || id, 'filler', id FROM issue WHERE title = 'filler'
                """)
            try await store.execute(
                """
                INSERT INTO event (project_id, event_id, timestamp, received, level, platform, payload, issue_id)
                SELECT project_id, lpad(to_hex(id + 1000000), 32, '0'), 0, 0, 'error', 'python', '\\x00', id
                FROM issue WHERE title = 'filler'
                """)
            func scans() async throws -> [String: Int64] {
                store.committer.finish()  // the writer keeps its connection between batches: the test borrows it
                return try await database.withIngestConnection { connection in
                    // This backend's own counts reach the shared statistics at the end of the transaction that asks.
                    try await connection.query("SELECT pg_stat_force_next_flush()", logger: TestPostgres.logger)
                    var counts: [String: Int64] = [:]
                    // Whole-table scans, and the rows read through the index of a project's events by time (a plan
                    // that takes it to find an event id reads every event of the project).
                    for try await (table, count) in try await connection.query(
                        """
                        SELECT relname, seq_scan FROM pg_stat_user_tables
                        WHERE relname IN ('event', 'issue', 'grouping_hash')
                        UNION ALL
                        SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes
                        WHERE indexrelname = 'event_project_timestamp'
                        """, logger: TestPostgres.logger
                    ).decode((String, Int64).self) {
                        counts[table] = count
                    }
                    return counts
                }
            }
            let before = try await scans()
            #expect(before.count == 4)
            for round in 0..<3 { try await batch(1_000 + round * 4, 4) }
            #expect(try await scans() == before)
            #expect(try await store.value("SELECT count(*) FROM event") == "\(32 + 3_000 + 12)")
        }
    }

    /// The writer's prepared statements run on their generic plans from the first execution on: PostgreSQL plans
    /// each once per connection. (A plan made with the batch's values looked cheaper to it for the statement of the
    /// batch's ids, which it then planned at every execution.) The batch's first read of hashes, rules and
    /// projects is one of them.
    @Test func theWritersPreparedStatementsArePlannedOnce() async throws {
        try await withOneWriterConnection { database, store, project, dictionaries in
            for round in 0..<8 {
                let works = try (0..<4).map { n in
                    let id = String(format: "%032x", round * 4 + n + 1)
                    return IngestWork(
                        projectID: project,
                        event: try store.event(
                            #"{"event_id": "\#(id)", "message": "boom \#(n % 2 == 0 ? round * 4 + n : 1)", "level": "error", "platform": "python", "release": "r1"}"#
                        ))
                }
                #expect(
                    try await store.commitBatch(works, dictionaries: dictionaries).receipts.allSatisfy(\.eventStored))
            }
            store.committer.finish()  // the writer keeps its connection between batches: the test borrows it
            let plans = try await database.withIngestConnection { connection in
                var plans: [(statement: String, generic: Int64, custom: Int64)] = []
                for try await row in try await connection.query(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements", logger: TestPostgres.logger
                ).decode((String, Int64, Int64).self) {
                    plans.append(row)
                }
                return plans
            }
            #expect(plans.contains { $0.statement.contains("FROM grouping_hash g JOIN unnest") && $0.generic >= 8 })
            #expect(plans.contains { $0.statement.contains("nextval(s.event) FROM sequences s") })
            for plan in plans {
                #expect(plan.custom == 0, "planned with its values: \(plan.statement.prefix(200))")
            }
        }
    }

    /// A fresh database, migrated, with project "alpha", whose writer has one connection: the test's statements on
    /// `withIngestConnection` run on the connection the writer used.
    /// A batch's stored event ids are looked up only for a while after a batch met one: until then a set's own
    /// insert finds a stored id (its check fails, and the batch is tried again with the lookup). Counted as index scans
    /// of `event` by the writer's connection: one per event inserted (its unique key's check), two once the lookup
    /// is on.
    @Test func eventIDsAreLookedUpOnlyAfterABatchMetAStoredOne() async throws {
        try await withOneWriterConnection { database, store, project, dictionaries in
            func commit(_ numbers: [Int]) async throws -> [Bool] {
                let works = try numbers.map { n in
                    let id = String(format: "%032x", n)
                    return IngestWork(
                        projectID: project,
                        event: try store.event(
                            #"{"event_id": "\#(id)", "message": "boom", "level": "error", "platform": "python"}"#))
                }
                return try await store.commitBatch(works, dictionaries: dictionaries).receipts.map(\.eventStored)
            }
            func probes() async throws -> Int64 {
                try await writersNumber(
                    "SELECT sum(idx_scan)::bigint FROM pg_stat_user_indexes WHERE relname = 'event'", database, store)
            }
            #expect(try await commit([1, 2, 3, 4]) == [true, true, true, true])
            var before = try await probes()
            #expect(try await commit([5, 6, 7]) == [true, true, true])
            #expect(try await probes() - before == 3)
            // A stored id in the set: tried again with the lookup, answered as a duplicate, the other one stored.
            #expect(try await commit([7, 8]) == [false, true])
            #expect(try await store.value("SELECT count(*) FROM event") == "8")
            #expect(try await store.value("SELECT times_seen FROM issue") == "8")
            before = try await probes()
            #expect(try await commit([9, 10, 11]) == [true, true, true])
            #expect(try await probes() - before == 6)
        }
    }

    /// A batch of plain events costs its first read and one statement: the set's statement draws the ids of the rows
    /// it creates (issues, dictionaries, events) itself, where they were drawn by a statement of their own before it.
    /// Counted as executions of the prepared statements of the writer's connection (`pg_prepared_statements`). The
    /// ids come out in the order the rows are created, each new dictionary's first event refers to the id drawn for
    /// it, and the outbox row of a new issue's alert names the issue's id and short id.
    @Test func aSetOfEventsCostsTheFirstReadAndOneStatementThatDrawsItsIDs() async throws {
        try await withOneWriterConnection { database, store, project, dictionaries in
            func commit(_ events: [(number: Int, message: String)]) async throws -> [Bool] {
                let works = try events.map { event in
                    let json = """
                        {"event_id": "\(String(format: "%032x", event.number))", "message": "\(event.message)",
                         "level": "error", "platform": "python", "release": "app@1.0", "environment": "prod"}
                        """
                    var normalized = try store.event(json)
                    normalized.raw = Array(json.utf8)  // as received: its payload may become its hash's dictionary
                    return IngestWork(projectID: project, event: normalized)
                }
                return try await store.commitBatch(works, dictionaries: dictionaries).receipts.map(\.eventStored)
            }
            func executions() async throws -> Int64 {
                try await writersNumber(
                    "SELECT coalesce(sum(generic_plans + custom_plans), 0)::bigint FROM pg_prepared_statements",
                    database, store)
            }
            #expect(try await commit([(1, "alpha failed"), (2, "beta failed")]) == [true, true])
            let before = try await executions()
            #expect(
                try await commit([(3, "alpha failed"), (4, "gamma failed"), (5, "gamma failed")]) == [true, true, true])
            #expect(try await executions() - before == 2)

            let issues = try await store.rows(
                "SELECT id, short_id, times_seen, first_event_id, last_event_id FROM issue ORDER BY id")
            #expect(issues.map { $0["id"] } == ["1", "2", "3"])
            #expect(issues.map { $0["short_id"] } == ["1", "2", "3"])
            #expect(issues.map { $0["times_seen"] } == ["2", "1", "2"])
            let events = try await store.rows("SELECT id, event_id, issue_id FROM event ORDER BY id")
            #expect(events.map { $0["id"] } == ["1", "2", "3", "4", "5"])
            #expect(events.map { $0["event_id"] } == (1...5).map { String(format: "%032x", $0) })
            #expect(events.map { $0["issue_id"] } == ["1", "2", "1", "3", "3"])
            #expect(issues.map { $0["first_event_id"] } == ["1", "2", "4"])
            #expect(issues.map { $0["last_event_id"] } == ["3", "2", "5"])
            // The new issue's first event refers to its dictionary by the id drawn for it; the second is stored whole.
            let dictionary = try #require(
                try await store.value("SELECT dictionary_id FROM grouping_hash WHERE issue_id = 3"))
            let reference = [UInt8(1)] + (0..<8).map { UInt8(truncatingIfNeeded: Int64(dictionary)! >> (8 * $0)) }
            #expect(
                try await store.value("SELECT encode(payload, 'hex') FROM event WHERE id = 4")
                    == reference.map { String(format: "%02x", $0) }.joined())
            let payloads = try await store.payloads()
            for (number, message) in zip(1...5, ["alpha", "beta", "alpha", "gamma", "gamma"]) {
                let payload = try #require(payloads[String(format: "%032x", number)])
                #expect(payload.contains(#""logentry":{"formatted":"\#(message) failed"}"#))
            }
            // The release found by the batch's first read is widened by the set's statement, with its new issue.
            #expect(try await store.value("SELECT new_issues FROM release WHERE version = 'app@1.0'") == "3")
            // The default alert rule's outbox row for the new issue names its id and short id.
            let content = try #require(
                try await store.value("SELECT content FROM notification WHERE issue_id = 3"))
            #expect(content.contains(#""issueId":3,"#))
            #expect(content.contains(#""shortId":"ALPHA-3""#))
            #expect(try await store.value("SELECT count(*) FROM alert_rule_issue WHERE issue_id = 3") == "1")
        }
    }

    /// The number `query` reads on the writer's own connection (borrowed: the writer keeps it between batches), once
    /// that backend's statistics are flushed to the shared ones (a backend's own counts reach them at the end of the
    /// transaction that asks).
    private func writersNumber(
        _ query: PostgresQuery, _ database: PostgresAppDatabase, _ store: TestStore
    ) async throws -> Int64 {
        store.committer.finish()
        return try await database.withIngestConnection { connection in
            try await connection.query("SELECT pg_stat_force_next_flush()", logger: TestPostgres.logger)
            var number: Int64 = -1
            for try await value in try await connection.query(query, logger: TestPostgres.logger).decode(Int64.self) {
                number = value
            }
            return number
        }
    }

    private func withOneWriterConnection(
        _ body: (PostgresAppDatabase, TestStore, Int64, PayloadDictionaryCache) async throws -> Void
    ) async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url, ingestConnections: 1) { database in
                try await database.migrate()
                let store = TestStore(database: .postgres(database))
                try await body(database, store, try await store.createProject(slug: "alpha"), PayloadDictionaryCache())
            }
        }
    }
}
