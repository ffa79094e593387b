import Foundation
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit
import Testing

/// The ingest writer's contract, differential: the same events ingested into SQLite and into PostgreSQL store the
/// same rows (``IngestSnapshot``), and each backend meets the absolute expectations of each case.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct IngestContractTests {
    @Test func eventsGroupIntoIssuesWithCountersTagsHoursAndUsers() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            let first = try await store.commitBatch(
                [
                    work(project, try event(store, 1, "boom", at: 0, user: "a", tags: ["browser": "firefox"], release: "1.0")),
                    work(project, try event(store, 2, "boom", at: 10, user: "b", tags: ["browser": "chrome"], release: "1.0")),
                    work(project, try event(store, 3, "boom", at: 3700, user: "a", tags: ["browser": "firefox"], release: "1.1")),
                    work(project, try event(store, 4, "other failure", at: 20)),
                ], dictionaries: dictionaries)
            #expect(first.receipts.map(\.eventStored) == [true, true, true, true])
            // A late event moves first seen back, into an earlier hour.
            _ = try await store.commitBatch([work(project, try event(store, 5, "boom", at: -4000, user: "c"))], dictionaries: dictionaries)

            let boom = try #require(try await store.rows("SELECT * FROM issue WHERE short_id = 1").first)
            #expect(boom["times_seen"] == "4")
            #expect(boom["user_count"] == "3")
            #expect(boom["last_release"] == "1.1")
            #expect(boom["first_seen"] == "\(store.now.timeIntervalSince1970 - 4000)")
            #expect(try await store.value("SELECT e.event_id FROM issue i JOIN event e ON e.id = i.first_event_id WHERE i.short_id = 1") == eventID(5))
            #expect(try await store.value("SELECT e.event_id FROM issue i JOIN event e ON e.id = i.last_event_id WHERE i.short_id = 1") == eventID(3))
            #expect(try await store.value("SELECT count(*) FROM issue") == "2")
            #expect(try await store.value("SELECT next_short_id FROM project") == "3")
            #expect(
                try await store.rows("SELECT t.value, t.times_seen FROM issue_tag t JOIN issue i ON i.id = t.issue_id WHERE i.short_id = 1 AND t.key = 'browser'")
                    == [["value": "chrome", "times_seen": "1"], ["value": "firefox", "times_seen": "2"]])
            #expect(
                try await store.rows("SELECT h.count FROM issue_hour h JOIN issue i ON i.id = h.issue_id WHERE i.short_id = 1").compactMap { $0["count"] }
                    .sorted() == ["1", "1", "2"])
            #expect(try await store.value("SELECT count(*) FROM issue_activity WHERE type = 'first_seen'") == "2")
            #expect(try await store.value("SELECT count(*) FROM issue_search") == "2")
            // The default rule mails the member about each new issue.
            #expect(try await store.rows("SELECT trigger, target FROM notification") == Array(repeating: ["trigger": "new_issue", "target": "dev@example.com"], count: 2))
        }
    }

    /// PostgreSQL writes a batch's plain events as a set (a statement per table): out-of-order times, equal
    /// times, releases on some events only, users seen again, a duplicate, a resolved issue and a side item in the same batch leave
    /// the rows that one event after another leaves (SQLite).
    @Test func aBatchOfEventsInAnyOrderLeavesTheColumnsThatOneByOneLeaves() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            _ = try await store.commitBatch([work(project, try event(store, 1, "resolved soon", at: 0))], dictionaries: dictionaries)
            try await store.execute("UPDATE issue SET status = 'resolved', substatus = NULL, resolution = 'now' WHERE short_id = 1")
            var withReport = work(project, try event(store, 9, "new with a report", at: 5))
            withReport.userReports = [UserReport(eventID: eventID(9), name: "Ann", email: "ann@example.com", comments: "broke", received: store.now)]
            let batch = try await store.commitBatch(
                [
                    work(project, try event(store, 2, "boom", at: 100, level: "error", user: "a", release: "1.0")),
                    work(project, try event(store, 3, "boom", at: 50, level: "warning", user: "b", release: "1.1")),
                    work(project, try event(store, 4, "boom", at: 100, level: "fatal", user: "a")),
                    work(project, try event(store, 5, "resolved soon", at: 60)),
                    work(project, try event(store, 3, "boom", at: 70)),
                    work(project, try event(store, 6, "boom", at: 200, level: "info")),
                    withReport,
                    work(project, try event(store, 7, "boom", at: 150, level: "error", release: "2.0")),
                    work(project, try event(store, 8, "resolved soon", at: 61)),
                ], dictionaries: dictionaries)
            #expect(batch.receipts.map(\.eventStored) == [true, true, true, true, false, true, true, true, true])
            func boom() async throws -> [String: String] {
                try #require(
                    try await store.rows(
                        """
                        SELECT i.times_seen, i.user_count, i.level, i.last_release, f.event_id AS first, l.event_id AS last
                        FROM issue i JOIN event f ON f.id = i.first_event_id JOIN event l ON l.id = i.last_event_id
                        WHERE i.title = 'boom'
                        """
                    ).first)
            }
            #expect(try await boom() == ["times_seen": "5", "user_count": "2", "level": "info", "last_release": "1.0", "first": eventID(3), "last": eventID(6)])
            // The next batch joins the stored issue: a later event without a release, an earlier one with one, the
            // earliest of all.
            _ = try await store.commitBatch(
                [
                    work(project, try event(store, 10, "boom", at: 300, level: "warning", user: "c")),
                    work(project, try event(store, 11, "boom", at: 250, release: "3.0")),
                    work(project, try event(store, 12, "boom", at: -10, user: "c")),
                    work(project, try event(store, 13, "boom", at: 300, level: "debug")),
                    work(project, try event(store, 14, "boom", at: -10, level: "fatal")),
                ], dictionaries: dictionaries)
            // Of equal times, the last event is the issue's last and the first its first.
            #expect(try await boom() == ["times_seen": "10", "user_count": "3", "level": "debug", "last_release": "1.0", "first": eventID(12), "last": eventID(13)])
            // The resolved issue regressed with its first event of the batch, once.
            #expect(try await store.rows("SELECT event_id FROM event WHERE pinned = 1") == [["event_id": eventID(5)]])
            #expect(try await store.value("SELECT count(*) FROM issue_activity WHERE type = 'set_regression'") == "1")
            #expect(try await store.value("SELECT count(*) FROM user_report") == "1")
        }
    }

    @Test func aDuplicateEventIDIsStoredOnce() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            let batch = try await store.commitBatch(
                [work(project, try event(store, 1, "boom")), work(project, try event(store, 1, "boom", at: 5))],
                dictionaries: dictionaries)
            #expect(batch.receipts.map(\.eventStored) == [true, false])
            // Later, and with another message (a hash no issue has): still the same event, nothing written.
            let later = try await store.commitBatch(
                [work(project, try event(store, 1, "boom")), work(project, try event(store, 1, "a different message"))],
                dictionaries: dictionaries)
            #expect(later.receipts.map(\.eventStored) == [false, false])
            #expect(try await store.value("SELECT count(*) FROM event") == "1")
            #expect(try await store.value("SELECT count(*) FROM issue") == "1")
            #expect(try await store.value("SELECT times_seen FROM issue") == "1")
        }
    }

    @Test func aResolvedIssueRegressesWithTheNextEvent() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            try await store.withRunningWriter { writer in
                #expect(try await writer.ingest(work(project, try event(store, 1, "boom", release: "1.0"))).eventStored)
                try await store.execute(
                    "UPDATE issue SET status = 'resolved', substatus = NULL, resolution = 'now', status_changed_at = 1790000001")
                #expect(try await writer.ingest(work(project, try event(store, 2, "boom", at: 60, release: "1.0"))).eventStored)
            }
            let issue = try #require(try await store.rows("SELECT status, substatus, resolution, status_changed_at FROM issue").first)
            #expect(issue == ["status": "unresolved", "substatus": "regressed", "resolution": "NULL", "status_changed_at": "\(store.now.timeIntervalSince1970 + 60)"])
            #expect(try await store.rows("SELECT type, data FROM issue_activity WHERE type = 'set_regression'") == [["type": "set_regression", "data": #"{"version":"1.0"}"#]])
            #expect(try await store.rows("SELECT event_id, pinned FROM event") == [["event_id": eventID(1), "pinned": "0"], ["event_id": eventID(2), "pinned": "1"]])
            #expect(try await store.rows("SELECT trigger FROM notification").compactMap { $0["trigger"] }.sorted() == ["new_issue", "regression"])
        }
    }

    @Test func anIgnoredIssueComesBackAfterItsCountOrWhenItEscalates() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            _ = try await store.commitBatch(
                [work(project, try event(store, 1, "counted")), work(project, try event(store, 2, "escalating"))], dictionaries: dictionaries)
            let untilTwoMore = IgnoreState(condition: .untilCount(2), timesSeenAtIgnore: 1, usersAtIgnore: 0, hourlyBaseline: 0)
            let untilEscalating = IgnoreState(condition: .untilEscalating, timesSeenAtIgnore: 1, usersAtIgnore: 0, hourlyBaseline: 0)
            try await store.execute("UPDATE issue SET status = 'ignored', substatus = 'archived_until_condition_met', ignore_state = '\(untilTwoMore.storedJSON)' WHERE short_id = 1")
            try await store.execute("UPDATE issue SET status = 'ignored', substatus = 'archived_until_escalating', ignore_state = '\(untilEscalating.storedJSON)' WHERE short_id = 2")
            _ = try await store.commitBatch([work(project, try event(store, 3, "counted", at: 10))], dictionaries: dictionaries)
            #expect(try await store.value("SELECT status FROM issue WHERE short_id = 1") == "ignored")
            // The second event after ignoring ends it; ten more events in the hour than none before (more than 10 an
            // hour) escalate the other issue, within one batch: the hour's count includes the batch's events.
            let burst = try (0..<10).map { try work(project, event(store, 10 + $0, "escalating", at: 20 + Double($0))) }
            _ = try await store.commitBatch([work(project, try event(store, 4, "counted", at: 30))] + burst, dictionaries: dictionaries)
            #expect(
                try await store.rows("SELECT short_id, status, substatus, ignore_state FROM issue ORDER BY short_id") == [
                    ["short_id": "1", "status": "unresolved", "substatus": "escalating", "ignore_state": "NULL"],
                    ["short_id": "2", "status": "unresolved", "substatus": "escalating", "ignore_state": "NULL"],
                ])
            let activity = Set(
                try await store.rows("SELECT i.short_id, a.type, a.data FROM issue_activity a JOIN issue i ON i.id = a.issue_id WHERE a.type <> 'first_seen'"))
            #expect(
                activity == [
                    ["short_id": "1", "type": "set_unresolved", "data": #"{"reason":"ignore condition met"}"#],
                    ["short_id": "2", "type": "set_escalating", "data": #"{"reason":"escalating"}"#],
                ])
            // The event that escalated is kept: the eleventh of the hour.
            #expect(try await store.rows("SELECT event_id FROM event WHERE pinned = 1").compactMap { $0["event_id"] }.sorted() == [eventID(4), eventID(19)].sorted())
        }
    }

    @Test func alertRulesWriteOneNotificationPerActionInTheEventsTransaction() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            try await store.addMember("ops@example.com", projectID: project)
            let chat = AlertRule(
                name: "chat", conditions: [.firstSeen],
                actions: [.slack(url: "https://hooks.slack.example/1"), .discord(url: "https://discord.example/2")])
            let busy = AlertRule(
                name: "busy", frequencyMinutes: 60, conditions: [.eventFrequency(count: 2, interval: .oneDay)],
                actions: [.slack(url: "https://hooks.slack.example/busy")])
            let crowded = AlertRule(
                name: "crowded", conditions: [.uniqueUserFrequency(count: 1, interval: .oneHour)],
                actions: [.discord(url: "https://discord.example/crowded")])
            try await insertRule(chat, project: project, flags: "1, 0, 0, 0, 0", in: store)
            try await insertRule(busy, project: project, flags: "0, 0, 0, 1, 0", in: store)
            try await insertRule(crowded, project: project, flags: "0, 0, 0, 0, 1", in: store)
            _ = try await store.commitBatch(
                [
                    work(project, try event(store, 1, "boom", user: "a")), work(project, try event(store, 2, "boom", at: 5, user: "b")),
                    work(project, try event(store, 3, "boom", at: 10, user: "a")), work(project, try event(store, 4, "boom", at: 15, user: "c")),
                ], dictionaries: PayloadDictionaryCache())
            let notifications = Set(try await store.rows("SELECT rule_name, trigger, channel, target FROM notification"))
            #expect(
                notifications == [
                    ["rule_name": "busy", "trigger": "frequency", "channel": "slack", "target": "https://hooks.slack.example/busy"],
                    ["rule_name": "chat", "trigger": "new_issue", "channel": "discord", "target": "https://discord.example/2"],
                    ["rule_name": "chat", "trigger": "new_issue", "channel": "slack", "target": "https://hooks.slack.example/1"],
                    ["rule_name": "crowded", "trigger": "user_frequency", "channel": "discord", "target": "https://discord.example/crowded"],
                    [
                        "rule_name": AlertRule.defaultName, "trigger": "new_issue", "channel": "email",
                        "target": "dev@example.com, ops@example.com",
                    ],
                ])
            #expect(try await store.value("SELECT count(*) FROM alert_rule_issue") == "4")
            let minutes = try await store.rows("SELECT minute, count FROM issue_minute")
            #expect(minutes.compactMap { $0["count"].flatMap { Int($0) } }.reduce(0, +) == 4, "\(minutes)")
        }
    }

    /// The writers keep rules parsed from their specs across batches: a rule edited since (same id, another spec) acts
    /// as it now reads from the next batch on.
    @Test func aRuleEditedBetweenBatchesActsAsItNowReads() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let chat = AlertRule(name: "chat", conditions: [.firstSeen], actions: [.slack(url: "https://hooks.slack.example/1")])
            try await insertRule(chat, project: project, flags: "1, 0, 0, 0, 0", in: store)
            let dictionaries = PayloadDictionaryCache()
            _ = try await store.commitBatch([work(project, try event(store, 1, "boom"))], dictionaries: dictionaries)
            var edited = chat
            edited.actions = [.slack(url: "https://hooks.slack.example/2")]
            let spec = JSONWriter.string(.object(edited.json)).replacingOccurrences(of: "'", with: "''")
            try await store.execute("UPDATE alert_rule SET spec = '\(spec)' WHERE name = 'chat'")
            _ = try await store.commitBatch([work(project, try event(store, 2, "bang"))], dictionaries: dictionaries)
            #expect(
                try await store.rows("SELECT target FROM notification WHERE rule_name = 'chat' ORDER BY id") == [
                    ["target": "https://hooks.slack.example/1"], ["target": "https://hooks.slack.example/2"],
                ])
        }
    }

    @Test func releasesEnvironmentsSessionsAndClientReportsAreCountedWithSaturatingSums() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            let huge = Int(Int64.max) - 5
            var first = work(project, try event(store, 1, "boom", release: "1.0", environment: "production"))
            first.sessions = [SessionCount(release: "1.0", environment: "production", started: huge, exited: 3)]
            first.discarded = [DiscardedCount(reason: "ratelimit_backoff", category: "error", quantity: huge)]
            var second = work(project, try event(store, 2, "boom", at: 50, release: "1.0", environment: "staging"))
            second.sessions = [
                SessionCount(release: "1.0", environment: "production", started: 10, exited: 4, crashed: 1),
                SessionCount(release: "3.0", environment: "production", started: 1),
            ]
            second.discarded = [DiscardedCount(reason: "ratelimit_backoff", category: "error", quantity: 10)]
            _ = try await store.commitBatch([first, second, work(project, try event(store, 3, "other", at: 70, release: "2.0", environment: "production"))], dictionaries: dictionaries)
            _ = try await store.commitBatch([work(project, try event(store, 4, "boom", at: -30, release: "1.0", environment: "production"))], dictionaries: dictionaries)

            #expect(
                try await store.rows("SELECT started, exited, crashed FROM release_sessions WHERE release = '1.0'")
                    == [["started": "\(Int64.max)", "exited": "7", "crashed": "1"]])
            #expect(try await store.value("SELECT quantity FROM discarded_events") == "\(Int64.max)")
            let releases = Set(try await store.rows("SELECT version, new_issues, first_event, last_event FROM release"))
            #expect(
                releases == [
                    ["version": "1.0", "new_issues": "1", "first_event": "\(store.now.timeIntervalSince1970 - 30)", "last_event": "\(store.now.timeIntervalSince1970 + 50)"],
                    ["version": "2.0", "new_issues": "1", "first_event": "\(store.now.timeIntervalSince1970 + 70)", "last_event": "\(store.now.timeIntervalSince1970 + 70)"],
                    ["version": "3.0", "new_issues": "0", "first_event": "NULL", "last_event": "NULL"],
                ])
            let environments = Set(
                try await store.rows("SELECT r.version, e.environment, e.first_seen, e.new_issues FROM release_environment e JOIN release r ON r.id = e.release_id"))
            #expect(
                environments == [
                    ["version": "1.0", "environment": "production", "first_seen": "\(store.now.timeIntervalSince1970 - 30)", "new_issues": "1"],
                    ["version": "1.0", "environment": "staging", "first_seen": "\(store.now.timeIntervalSince1970 + 50)", "new_issues": "0"],
                    ["version": "2.0", "environment": "production", "first_seen": "\(store.now.timeIntervalSince1970 + 70)", "new_issues": "1"],
                ])
        }
    }

    @Test func attachmentsOfADuplicateEventAreNotStoredAgain() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            var first = work(project, try event(store, 1, "boom"))
            first.attachments = [attachment(eventID(1), "log.txt", [1, 2, 3])]
            var again = work(project, try event(store, 1, "boom"))
            again.attachments = [attachment(eventID(1), "log.txt", [1, 2, 3]), attachment(eventID(7), "other.txt", [4])]
            let jobs = [first, again]
            try await store.withRunningWriter { writer in
                let firstStored = try await writer.ingest(jobs[0]).eventStored
                let againStored = try await writer.ingest(jobs[1]).eventStored
                #expect(firstStored)
                #expect(againStored == false)
            }
            #expect(
                try await store.rows("SELECT event_id, filename, size FROM attachment") == [
                    ["event_id": eventID(1), "filename": "log.txt", "size": "3"], ["event_id": eventID(7), "filename": "other.txt", "size": "1"],
                ])
        }
    }

    @Test func aSideItemThatCannotBeStoredIsDroppedAndItsEventKept() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            var work = work(project, try event(store, 1, "boom"))
            work.userReports = [
                UserReport(eventID: "not-an-event-id", name: "A", email: "a@example.com", comments: "broken", received: store.now),
                UserReport(eventID: eventID(1), name: "B", email: "b@example.com", comments: "it crashed", received: store.now),
            ]
            // Longer than a release version may be (200).
            work.sessions = [SessionCount(release: String(repeating: "v", count: 201), environment: "production", started: 1)]
            let batch = try await store.commitBatch([work], dictionaries: PayloadDictionaryCache())
            #expect(batch.receipts.map(\.eventStored) == [true])
            #expect(batch.droppedSideItems.map(\.kind) == ["user_report", "session"])
            #expect(try await store.value("SELECT count(*) FROM event") == "1")
            #expect(try await store.rows("SELECT event_id, name FROM user_report") == [["event_id": eventID(1), "name": "B"]])
            #expect(try await store.value("SELECT count(*) FROM release") == "0")
            #expect(try await store.value("SELECT count(*) FROM release_sessions") == "0")
        }
    }

    @Test func compactPayloadsDecodeToTheEventsAsSent() async throws {
        try await expectSameRows { store in
            let project = try await store.createProject(slug: "alpha")
            let dictionaries = PayloadDictionaryCache()
            _ = try await store.commitBatch([work(project, try event(store, 1, "boom", raw: true))], dictionaries: dictionaries)
            // The first event became its hash's dictionary; the cache has it once committed, so the next are deltas.
            let second = try event(store, 2, "boom", at: 5, raw: true)
            guard case .delta = PayloadPlan.prepare(second, projectID: project, dictionaries: dictionaries) else {
                Issue.record("the second event of the hash is not compressed against the first")
                return
            }
            _ = try await store.commitBatch(
                [work(project, second), work(project, try event(store, 3, "boom", at: 9, raw: true))], dictionaries: dictionaries)
            #expect(try await store.value("SELECT count(*) FROM payload_dictionary") == "1")
            #expect(try await store.value("SELECT count(*) FROM grouping_hash WHERE dictionary_id IS NULL") == "0")
            let payloads = try await store.payloads()
            for n in 1...3 {
                let payload = try JSONParser.parse(Array(try #require(payloads[eventID(n)]).utf8))
                #expect(payload["extra"]?["n"]?.int64Value == Int64(n))
                #expect(payload["event_id"]?.stringValue == eventID(n))
            }
        }
    }

    @Test func aFailingJobFailsAloneAndTheRestOfItsBatchCommits() async throws {
        var natural: [Backend: [[String: String]]] = [:]
        for backend in Backend.allCases {
            natural[backend] = try await withTestStore(backend) { store in
                let project = try await store.createProject(slug: "alpha")
                let missingProject: Int64 = 999
                let jobs = [
                    work(project, try event(store, 1, "boom")), work(missingProject, try event(store, 2, "nowhere")),
                    work(project, try event(store, 3, "boom", at: 5)),
                ]
                // One transaction: the job at fault fails it whole.
                await #expect(throws: (any Error).self) { try await store.commitBatch(jobs, dictionaries: PayloadDictionaryCache()) }
                #expect(try await store.value("SELECT count(*) FROM event") == "0")
                // The writer then commits each job alone: only that one fails.
                try await store.withRunningWriter { writer in
                    let outcomes = await withTaskGroup(of: (Int, Bool?).self) { group in
                        for (index, job) in jobs.enumerated() {
                            group.addTask { (index, try? await writer.ingest(job).eventStored) }
                        }
                        return await group.reduce(into: [Int: Bool?]()) { $0[$1.0] = $1.1 }
                    }
                    #expect(outcomes[0] == .some(true))
                    #expect(outcomes[1] == .some(nil))
                    #expect(outcomes[2] == .some(true))
                }
                #expect(try await store.value("SELECT times_seen FROM issue") == "2")
                return try await store.rows(
                    "SELECT e.event_id, e.project_id, i.short_id, i.times_seen FROM event e JOIN issue i ON i.id = e.issue_id")
            }
        }
        #expect(natural[.sqlite] == natural[.postgres])
        #expect(natural[.sqlite]?.count == 2)
    }

    // MARK: - Helpers

    /// Runs `scenario` (with its own expectations) on a fresh store of each backend, then expects the same rows.
    private func expectSameRows(
        _ scenario: @escaping @Sendable (TestStore) async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let sqlite = try await withTestStore(.sqlite) { store in
            try await scenario(store)
            return try await IngestSnapshot(store)
        }
        let postgres = try await withTestStore(.postgres) { store in
            try await scenario(store)
            return try await IngestSnapshot(store)
        }
        #expect(sqlite.differences(from: postgres) == [], sourceLocation: sourceLocation)
        #expect(sqlite.tables["event"]?.isEmpty == false, "the scenario stored no event", sourceLocation: sourceLocation)
    }

    private func eventID(_ n: Int) -> String { String(format: "%032x", n) }

    /// An event of `message` (its grouping), received and sent `offset` seconds after the store's clock; `raw`:
    /// with the bytes as sent, as the ingest controller sets them.
    private func event(
        _ store: TestStore, _ n: Int, _ message: String, at offset: TimeInterval = 0, level: String = "error", user: String? = nil,
        tags: [String: String] = [:], release: String? = nil, environment: String? = nil, raw: Bool = false
    ) throws -> NormalizedEvent {
        var object: JSONObject = [
            "event_id": .string(eventID(n)), "message": .string(message), "level": .string(level), "platform": "python",
            "timestamp": .number(JSONNumber(store.now.timeIntervalSince1970 + offset)),
            "extra": .object(["n": .number(JSONNumber(Int64(n)))]),
        ]
        if let user { object["user"] = .object(["id": .string(user)]) }
        if !tags.isEmpty { object["tags"] = .object(JSONObject(tags.mapValues(JSONValue.string))) }
        if let release { object["release"] = .string(release) }
        if let environment { object["environment"] = .string(environment) }
        let json = JSONWriter.string(.object(object))
        var event = try store.event(json, at: offset)
        if raw { event.raw = Array(json.utf8) }
        return event
    }

    private func work(_ project: Int64, _ event: NormalizedEvent) -> IngestWork {
        IngestWork(projectID: project, event: event)
    }

    private func attachment(_ eventID: String, _ filename: String, _ data: [UInt8]) -> SpyglassCore.Attachment {
        SpyglassCore.Attachment(eventID: eventID, filename: filename, contentType: "text/plain", attachmentType: "event.attachment", data: data)
    }

    /// Stores a rule with the same SQL on both backends; `flags`: on_new, on_regression, on_reappeared,
    /// counts_events, counts_users.
    private func insertRule(_ rule: AlertRule, project: Int64, flags: String, in store: TestStore) async throws {
        let spec = JSONWriter.string(.object(rule.json)).replacingOccurrences(of: "'", with: "''")
        try await store.execute(
            """
            INSERT INTO alert_rule (project_id, name, enabled, spec, frequency_minutes, on_new, on_regression, on_reappeared,
                counts_events, counts_users, created_at, updated_at)
            VALUES (\(project), '\(rule.name)', 1, '\(spec)', \(rule.frequencyMinutes), \(flags), 1790000000, 1790000000)
            """)
    }
}
