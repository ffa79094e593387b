import Foundation
import SpyglassCore
import SpyglassStorageKit
import Testing

/// Log lines written by the ingest writer and read back with the Logs page's filters, alike on both backends.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct LogStoreContractTests {
    func line(
        _ body: String, _ level: LogLevel, at seconds: Double, store: TestStore, trace: String? = nil, release: String? = "shop@1",
        attributes: [LogAttribute] = []
    ) -> LogRecord {
        LogRecord(
            timestamp: store.now.addingTimeInterval(seconds), level: level, body: body, template: nil, traceID: trace,
            spanID: trace.map { _ in "00f067aa0ba902b7" }, release: release, environment: "production", sdk: "sentry.python 2.75.0",
            attributes: attributes)
    }

    /// Lines the database cannot store for its own sake (here: no table; a full disk, a read-only standby) are never
    /// answered as stored: the log writer's committer fails the batch, whose requests are answered 503.
    @Test(arguments: Backend.allCases)
    func linesTheDatabaseCannotStoreForItsOwnSakeFailTheirBatch(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let jobs = [[line("first", .info, at: 1, store: store)], [line("second", .warn, at: 2, store: store)]]
                .map { PreparedLogLines(projectID: project, received: store.now, lines: $0) }
            try await store.executeOnLines("ALTER TABLE log_entry RENAME TO log_entry_away")
            await #expect(throws: (any Error).self) { try await store.commitLogLines(jobs) }
            try await store.executeOnLines("ALTER TABLE log_entry_away RENAME TO log_entry")
            #expect(try await store.logs.logs(LogListRequest(projectID: project)).isEmpty)
            #expect(try await store.commitLogLines(jobs).allSatisfy { $0 == nil })
            let bodies = try await store.logs.logs(LogListRequest(projectID: project)).map(\.record.body)
            #expect(bodies == ["second", "first"])
        }
    }

    /// While error ingest is busy the log writer keeps to its share of the CPU on either backend (on PostgreSQL by the
    /// time its commits take): it pauses after its work, and the lines are still stored.
    @Test(arguments: Backend.allCases)
    func whileErrorIngestIsBusyTheLogWriterPausesAndStoresTheLines(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let lines = (0..<200).map { line("line \($0)", .info, at: Double($0), store: store) }
            try await store.withRunningWriter { writer in
                #expect(try await writer.ingest(IngestWork(projectID: project, logs: lines)).logLines == [.info: 200])
                #expect(writer.logWriter.pausedNanoseconds == 0, "error ingest not busy")
                writer.logWriter.errorIngestBusy(for: .seconds(600))
                #expect(try await writer.ingest(IngestWork(projectID: project, logs: lines)).logLines == [.info: 200])
                for _ in 0..<2000 where writer.logWriter.pausedNanoseconds == 0 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                #expect(writer.logWriter.pausedNanoseconds > 0)
            }
            #expect(try await store.logs.logs(LogListRequest(projectID: project, limit: 500)).count == 400)
        }
    }

    @Test(arguments: Backend.allCases)
    func linesAreReadNewestFirstThroughEveryFilter(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let other = try await store.createProject(slug: "beta", memberEmail: "ops@example.com")
            let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
            let works = [
                IngestWork(
                    projectID: project,
                    logs: [
                        line(
                            "order 42 created", .info, at: 1, store: store, trace: trace,
                            attributes: [
                                LogAttribute(name: "order_id", value: .integer(42)), LogAttribute(name: "express", value: .boolean(true)),
                                LogAttribute(name: "amount", value: .double(12.0)), LogAttribute(name: "city", value: .string("New York")),
                                LogAttribute(name: "quote", value: .string("say \"hi\"\n")),
                            ]),
                        line("Stock LOW for apples_1%", .warn, at: 2, store: store, trace: trace),
                        line("payment failed", .error, at: 3, store: store, release: "shop@2"),
                    ]),
                IngestWork(projectID: other, logs: [line("elsewhere", .fatal, at: 4, store: store)]),
            ]
            _ = try await store.commitBatch(works, dictionaries: PayloadDictionaryCache())
            func bodies(_ query: String = "", since: Double? = nil, until: Double? = nil, after: Int64? = nil, limit: Int = 10, offset: Int = 0)
                async throws -> [String]
            {
                try await store.logs.logs(
                    LogListRequest(
                        projectID: project, query: try LogQuery.parse(query), since: since.map { store.now.addingTimeInterval($0) },
                        until: until.map { store.now.addingTimeInterval($0) }, afterID: after, limit: limit, offset: offset)
                ).map(\.record.body)
            }
            let all = try await store.logs.logs(LogListRequest(projectID: project))
            #expect(all.map(\.record.body) == ["payment failed", "Stock LOW for apples_1%", "order 42 created"])
            let created = try #require(all.last?.record)
            #expect(created.level == .info && created.severityNumber == 9 && created.traceID == trace && created.spanID == "00f067aa0ba902b7")
            #expect(created.release == "shop@1" && created.environment == "production" && created.sdk == "sentry.python 2.75.0")
            #expect(created.timestamp == store.now.addingTimeInterval(1))
            #expect(
                created.attributes == [
                    LogAttribute(name: "amount", value: .double(12.0)), LogAttribute(name: "city", value: .string("New York")),
                    LogAttribute(name: "express", value: .boolean(true)), LogAttribute(name: "order_id", value: .integer(42)),
                    LogAttribute(name: "quote", value: .string("say \"hi\"\n")),
                ], "types read back as sent (12.0 stays a double), by name")

            #expect(try await bodies("level:warn,error") == ["payment failed", "Stock LOW for apples_1%"])
            #expect(try await bodies("stock apples") == ["Stock LOW for apples_1%"], "words, any case, all of them")
            #expect(try await bodies("apples_1%") == ["Stock LOW for apples_1%"])
            #expect(try await bodies("apples%1").isEmpty, "LIKE's wildcards are plain characters")
            #expect(try await bodies("order_id:42") == ["order 42 created"])
            #expect(try await bodies("order_id:43").isEmpty)
            #expect(try await bodies("express:true") == ["order 42 created"])
            #expect(try await bodies("amount:12") == ["order 42 created"], "a double matches its value written as a whole number")
            #expect(try await bodies(#"city:"New York""#) == ["order 42 created"])
            #expect(
                try await bodies("quote:\(LogQuery.quoted("say \"hi\"\n"))") == ["order 42 created"],
                "a value with quotes and a line break, written as the Logs page's attribute link writes it")
            #expect(try await bodies("city:New").isEmpty, "a value matches whole")
            #expect(try await bodies("missing:1").isEmpty)
            // A name with a quote cannot be written in SQLite's JSON path: it matches nothing, on both backends.
            var quoted = LogQuery()
            quoted.attributes = [LogAttributeFilter(name: #"order"_id"#, value: "42")]
            #expect(try await store.logs.logs(LogListRequest(projectID: project, query: quoted)).isEmpty)
            #expect(try await bodies("release:shop@2") == ["payment failed"])
            #expect(try await bodies("env:production level:info") == ["order 42 created"])
            #expect(try await bodies("trace:\(trace.uppercased())") == ["Stock LOW for apples_1%", "order 42 created"])
            #expect(try await bodies(since: 2) == ["payment failed", "Stock LOW for apples_1%"])
            #expect(try await bodies(until: 2) == ["order 42 created"])
            #expect(try await bodies(limit: 1, offset: 1) == ["Stock LOW for apples_1%", "order 42 created"], "one more than the limit")
            let newest = try #require(all.first?.id)
            #expect(try await bodies(after: all[1].id) == ["payment failed"])
            #expect(try await bodies(after: newest).isEmpty)
            #expect(try await bodies(after: all[2].id) == ["Stock LOW for apples_1%", "payment failed"], "after an id: in the order stored")
            let oldestFirst = try await store.logs.logs(LogListRequest(projectID: project, oldestFirst: true, limit: 2))
            #expect(oldestFirst.map(\.record.body) == ["order 42 created", "Stock LOW for apples_1%", "payment failed"])
            #expect(try await store.logs.logs(LogListRequest(projectID: other)).map(\.record.body) == ["elsewhere"])
        }
    }

    /// Lines are written by the log writer, apart from events; on PostgreSQL the lines of a batch of requests in one
    /// statement, which a line the database refuses fails whole, and the requests are then tried one by one. On both
    /// backends it costs only its own request, which is refused (a `DomainError` of bad input: 400, never a 200 for
    /// lines not stored): the event and the other requests' lines are stored, and every request is answered.
    @Test(arguments: Backend.allCases)
    func aLineTheDatabaseRefusesCostsOnlyItsOwnRequestsLines(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let event = try store.event(
                #"{"event_id": "0123456789abcdef0123456789abcdef", "message": "boom", "level": "error"}"#)
            // A trace id of the wrong length (the parser never makes one): the table's CHECK refuses it.
            let jobs = [
                IngestWork(projectID: project, logs: [line("kept", .info, at: 1, store: store)]),
                IngestWork(projectID: project, event: event),
                IngestWork(projectID: project, logs: [line("refused", .info, at: 2, store: store, trace: "abc")]),
                IngestWork(projectID: project, logs: [line("kept too", .warn, at: 3, store: store)]),
            ]
            try await store.withRunningWriter { writer in
                let answered = await withTaskGroup(of: String.self) { group in
                    for job in jobs {
                        group.addTask {
                            do {
                                return try await writer.ingest(job).eventStored ? "event stored" : "lines stored"
                            } catch let error as DomainError where error.kind == .invalidInput {
                                return "refused"
                            } catch {
                                return "\(error)"
                            }
                        }
                    }
                    return await group.reduce(into: [String]()) { $0.append($1) }
                }
                #expect(answered.sorted() == ["event stored", "lines stored", "lines stored", "refused"])
            }
            #expect(try await store.value("SELECT count(*) FROM event") == "1")
            let bodies = try await store.logs.logs(LogListRequest(projectID: project)).map(\.record.body)
            #expect(bodies == ["kept too", "kept"])
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionDeletesByAgeAndBySizePerProject(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let other = try await store.createProject(slug: "beta", memberEmail: "ops@example.com")
            let day = 86_400.0
            // 40 lines of about 30 KiB, one an hour from 39 hours ago; 3 lines 20 days old in the other project.
            let body = String(repeating: "x", count: 30 * 1024)
            let recent = (0..<40).map { line("\(39 - $0) \(body)", .info, at: -Double(39 - $0) * 3600, store: store) }
            let old = (0..<3).map { line("old \($0)", .info, at: -20 * day + Double($0), store: store) }
            _ = try await store.commitBatch(
                [IngestWork(projectID: project, logs: recent), IngestWork(projectID: other, logs: old)], dictionaries: PayloadDictionaryCache())

            #expect(try await store.logs.logRetention(projectID: project) == LogRetention())
            await #expect(throws: DomainError.self) { try await store.logs.setLogRetention(projectID: project, LogRetention(days: 0)) }
            await #expect(throws: DomainError.self) { try await store.logs.setLogRetention(projectID: project, LogRetention(maxBytes: 1000)) }
            func prune() async throws -> Int {
                var deleted = 0
                while true {
                    let count = try await store.logs.pruneLogs(defaultDays: 14, now: store.now, batch: 1000)
                    deleted += count
                    if count == 0 { return deleted }
                }
            }
            func kept() async throws -> [String] {
                try await store.logs.logs(LogListRequest(projectID: project, limit: 100)).map { String($0.record.body.prefix(3)) }
            }
            // Two days keep all 40 by age; 1 MiB keeps the newest that fit, 34 of them (~30.8 KB each, stored).
            try await store.logs.setLogRetention(projectID: project, LogRetention(days: 2, maxBytes: 1024 * 1024))
            #expect(try await store.logs.logRetention(projectID: project) == LogRetention(days: 2, maxBytes: 1024 * 1024))
            #expect(try await store.logs.pruneLogs(defaultDays: 14, now: store.now, batch: 2) == 2, "at most a batch a call")
            #expect(try await prune() == 4 + 3, "the rest of the oldest six, and the other project's lines past its 14-day default")
            #expect(try await kept() == (0..<34).map { String("\($0) x".prefix(3)) })
            #expect(try await store.logs.logs(LogListRequest(projectID: other)).isEmpty)
            // A day keeps lines up to 24 hours old: 25 of them.
            try await store.logs.setLogRetention(projectID: project, LogRetention(days: 1))
            #expect(try await prune() == 9)
            #expect(try await kept().count == 25)
        }
    }
}
