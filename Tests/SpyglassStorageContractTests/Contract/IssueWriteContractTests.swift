import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassProtocol
import SpyglassStorage
import Testing

/// The same changes made through the ports of both backends (over the same data) leave the same issues, events,
/// counts and activity, and fail with the same messages.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct IssueWriteContractTests {
    /// `change` applied to both stores answers the same (a value, or the same error).
    static func both<Value: Equatable & Sendable>(
        _ stores: CopiedStores, _ what: Comment, _ change: @Sendable (TestStore) async throws -> Value
    ) async throws -> Outcome<Value> {
        let sqlite = try await Outcome { try await change(stores.sqlite) }
        let postgres = try await Outcome { try await change(stores.postgres) }
        #expect(sqlite == postgres, what)
        return postgres
    }

    static func expectSameState(_ stores: CopiedStores, _ what: Comment) async throws {
        let user = stores.fixture.developerID
        // Activity ids are left out: SQLite gives a new row the highest deleted id again, an identity never does.
        let sqlite = try await StoreSnapshot.take(
            stores.sqlite, projectIDs: [1, 2], userID: user, withActivityIDs: false)
        let postgres = try await StoreSnapshot.take(
            stores.postgres, projectIDs: [1, 2], userID: user, withActivityIDs: false)
        #expect(sqlite.issues == postgres.issues, what)
        #expect(sqlite.tags == postgres.tags, what)
        #expect(sqlite.hashes == postgres.hashes, what)
        #expect(sqlite.events == postgres.events, what)
        #expect(sqlite.activities == postgres.activities, what)
        #expect(sqlite.hourly == postgres.hourly, what)
        #expect(sqlite.eventMark == postgres.eventMark, what)
    }

    @Test func statusResolutionIgnoreAndAssigneeChangesLeaveTheSameIssuesAndActivity() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let now = IssueFixture.now
            let actor = fixture.adminID
            func update(_ ids: [Int64], _ change: IssueChange) -> @Sendable (TestStore) async throws -> Bool {
                { store in
                    try await store.issues.updateIssues(ids: ids, change: change, now: now)
                    return true
                }
            }
            // Changed again below: each path once, then another over it.
            _ = try await Self.both(
                stores, "ignore until more users",
                update([fixture.typeError], IssueChange(status: .ignored, ignore: .untilUserCount(3), actorID: actor)))
            _ = try await Self.both(
                stores, "ignore until more events",
                update([fixture.keyError], IssueChange(status: .ignored, ignore: .untilCount(10), actorID: actor)))
            _ = try await Self.both(
                stores, "resolve in a named release",
                update([fixture.regressed], IssueChange(status: .resolved, resolution: .inRelease("1.0.0"), actorID: actor)))
            try await Self.expectSameState(stores, "after the first changes")
            _ = try await Self.both(
                stores, "resolve in next release",
                update(
                    [fixture.typeError],
                    IssueChange(status: .resolved, resolution: .inNextRelease(current: nil), actorID: actor)))
            _ = try await Self.both(
                stores, "resolve in latest",
                update(
                    [fixture.keyError], IssueChange(status: .resolved, resolution: .inRelease("latest"), actorID: actor)
                ))
            _ = try await Self.both(
                stores, "resolve now", update([fixture.backendIssue], IssueChange(status: .resolved, actorID: actor)))
            _ = try await Self.both(
                stores, "ignore until a date",
                update(
                    [fixture.connection],
                    IssueChange(status: .ignored, ignore: .untilDate(now.addingTimeInterval(3600)), actorID: actor)))
            _ = try await Self.both(
                stores, "ignore until escalating",
                update([fixture.regressed], IssueChange(status: .ignored, ignore: .untilEscalating, actorID: actor)))
            _ = try await Self.both(
                stores, "unresolve an ignored issue",
                update([fixture.ignored], IssueChange(status: .unresolved, actorID: actor)))
            _ = try await Self.both(
                stores, "unresolve an unresolved issue logs nothing",
                update([fixture.ignored], IssueChange(status: .unresolved, actorID: actor)))
            _ = try await Self.both(
                stores, "assign",
                update(
                    [fixture.keyError, fixture.ignored],
                    IssueChange(assigneeEmail: .some("DEV@example.com"), actorID: actor)))
            _ = try await Self.both(
                stores, "unassign", update([fixture.typeError], IssueChange(assigneeEmail: .some(nil), actorID: actor)))
            try await Self.expectSameState(stores, "after the changes")

            let refused: [(Comment, [Int64], IssueChange)] = [
                ("a missing issue", [999], IssueChange(status: .resolved)),
                ("a stranger", [fixture.keyError], IssueChange(assigneeEmail: .some("nobody@example.com"))),
                (
                    "a member of another project", [fixture.backendIssue],
                    IssueChange(assigneeEmail: .some("dev@example.com"))
                ),
                (
                    "an unknown release", [fixture.keyError],
                    IssueChange(status: .resolved, resolution: .inRelease("9.9.9"))
                ),
            ]
            for (what, ids, change) in refused {
                let outcome = try await Self.both(stores, what, update(ids, change))
                guard case .failure = outcome else { Issue.record("\(what) was accepted"); continue }
            }
            #expect(
                try await Self.both(
                    stores, "a stranger",
                    update([fixture.keyError], IssueChange(assigneeEmail: .some("nobody@example.com"))))
                    == .failure(.invalidInput, "assignedTo: nobody@example.com is not an active member of this project")
            )
            #expect(
                try await Self.both(stores, "a missing issue", update([999], IssueChange(status: .resolved)))
                    == .failure(.notFound, "no issue 999"))
            // A failed change changes nothing, not even the issues before the one that failed.
            _ = try await Self.both(
                stores, "half valid", update([fixture.connection, 999], IssueChange(status: .resolved)))
            try await Self.expectSameState(stores, "after the refused changes")

            let typeError = try #require(try await stores.postgres.issues.issue(id: fixture.typeError))
            #expect(
                typeError.status == .resolved && typeError.resolution == .inNextRelease(current: "1.1.0")
                    && typeError.assignee == nil)
            let keyError = try #require(try await stores.postgres.issues.issue(id: fixture.keyError))
            #expect(keyError.resolution == .inRelease("1.1.0") && keyError.assignee?.email == "dev@example.com")
            let connection = try #require(try await stores.postgres.issues.issue(id: fixture.connection))
            #expect(
                connection.status == .ignored
                    && connection.ignore?.condition == .untilDate(now.addingTimeInterval(3600)))
            #expect(
                try await stores.postgres.issues.activities(issueID: fixture.ignored).map(\.kind) == [
                    .firstSeen, .setIgnored, .setUnresolved, .assigned,
                ])
        }
    }

    @Test func commentsMergeUnmergeAndDeleteLeaveTheSameIssuesEventsAndCounts() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let now = IssueFixture.now
            let comment = try await Self.both(stores, "comment") { store in
                ActivityDigest(
                    try await store.issues.addComment(
                        issueID: fixture.typeError, userID: fixture.developerID, text: "  looking at it \n", now: now))
            }
            guard case .value(let note) = comment else { throw TestDatabaseError(message: "comment refused") }
            #expect(
                note.kind == .note && note.data == ["text": "looking at it"] && note.user?.email == "dev@example.com")
            _ = try await Self.both(stores, "an empty comment") { store in
                ActivityDigest(
                    try await store.issues.addComment(
                        issueID: fixture.typeError, userID: fixture.developerID, text: " ", now: now))
            }

            let merged = try await Self.both(stores, "merge") { store in
                let (parent, children) = try await store.issues.mergeIssues(ids: [
                    fixture.keyError, fixture.connection, fixture.ignored,
                ])
                return [parent] + children
            }
            #expect(
                merged == .value([fixture.connection, fixture.ignored, fixture.keyError]),
                "the issue with the most events is the parent")
            _ = try await Self.both(stores, "merge across projects") { store in
                try await store.issues.mergeIssues(ids: [fixture.typeError, fixture.backendIssue]).parent
            }
            _ = try await Self.both(stores, "merge of one issue") { store in
                try await store.issues.mergeIssues(ids: [fixture.typeError]).parent
            }
            try await Self.expectSameState(stores, "after the merge")
            let parent = try #require(try await stores.postgres.issues.issue(id: fixture.connection))
            #expect(parent.timesSeen == 5 && parent.userCount == 1)
            // The merged issues' users, the same on both (their events add up: e2e test_triage.py).
            let mergedUsers = try await Self.both(stores, "affected users after the merge") { store in
                try await store.issues.affectedUsers(issueID: fixture.connection, limit: 10)
            }
            guard case .value(let users) = mergedUsers else { throw TestDatabaseError(message: "no users") }
            // u3 named one event of the connection issue; the others named nobody.
            #expect(users.map(\.id) == ["u3"] && users.first?.timesSeen == 1, "\(users)")
            #expect(try await stores.postgres.issues.hashes(issueID: fixture.connection).count == 3)

            // The KeyError's hash, merged into the connection issue.
            let hash = try #require(
                try await stores.postgres.events.event(projectID: 1, eventID: fixture.attachmentEvent)?.hash)
            // Several hashes in one transaction: an unknown one leaves the known one where it was too.
            let refused = try await Self.both(stores, "unmerge of a known and an unknown hash") { store in
                try await store.issues.unmerge(issueID: fixture.connection, hashes: [hash, "nope"])
            }
            if case .value = refused { Issue.record("an unmerge naming an unknown hash was done") }
            try await Self.expectSameState(stores, "after the refused unmerge")
            #expect(try await stores.postgres.issues.hashes(issueID: fixture.connection).count == 3)
            #expect(try await stores.sqlite.issues.hashes(issueID: fixture.connection).count == 3)
            let split = try await Self.both(stores, "unmerge") { store in
                try await store.issues.unmerge(issueID: fixture.connection, hash: hash)
            }
            _ = try await Self.both(stores, "unmerge of an unknown hash") { store in
                try await store.issues.unmerge(issueID: fixture.connection, hash: "nope")
            }
            _ = try await Self.both(stores, "unmerge of the only hash") { store in
                try await store.issues.unmerge(
                    issueID: fixture.typeError,
                    hash: try #require(try await store.issues.hashes(issueID: fixture.typeError).first))
            }
            try await Self.expectSameState(stores, "after the unmerge")
            guard case .value(let newIssue) = split else { throw TestDatabaseError(message: "unmerge refused") }
            let moved = try #require(try await stores.postgres.issues.issue(id: newIssue))
            #expect(moved.timesSeen == 1 && moved.title.contains("KeyError") && moved.substatus == .new)
            #expect(
                try await stores.postgres.events.events(issueID: newIssue, limit: 10, offset: 0).map(\.eventID) == [
                    fixture.attachmentEvent
                ])
            #expect(try await stores.postgres.issues.issue(id: fixture.connection)?.timesSeen == 4)
            let usersAfter = try await Self.both(stores, "affected users after the unmerge") { store in
                [try await store.issues.affectedUsers(issueID: fixture.connection, limit: 10),
                 try await store.issues.affectedUsers(issueID: newIssue, limit: 10)]
            }
            // The KeyError's event named nobody: u3 stays with the connection issue, counted once.
            guard case .value(let split2) = usersAfter else { throw TestDatabaseError(message: "no users") }
            #expect(split2[0].map(\.id) == ["u3"] && split2[0].first?.timesSeen == 1 && split2[1].isEmpty, "\(split2)")

            _ = try await Self.both(stores, "delete") { store in
                try await store.issues.deleteIssue(id: fixture.typeError); return true
            }
            try await Self.expectSameState(stores, "after the delete")
            #expect(try await stores.postgres.issues.issue(id: fixture.typeError) == nil)
            #expect(try await stores.postgres.events.event(projectID: 1, eventID: IssueFixture.eventID(1)) == nil)
            #expect(try await stores.postgres.events.eventsStored(after: 0, projectIDs: [1, 2]) == 8)

            // A refusal midway (the second naming of a hash split out by the first) rolls the first split back too.
            // Last: PostgreSQL's identity keeps the id the rolled-back issue took, so later ids would differ.
            for store in [stores.sqlite, stores.postgres] {
                let hashes = try await store.issues.hashes(issueID: fixture.connection)
                let counts = try await store.issues.eventCountsByHash(issueID: fixture.connection)
                let movable = try #require(hashes.first { counts[$0, default: 0] > 0 })
                #expect(hashes.count > 1)
                let timesSeen = try await store.issues.issue(id: fixture.connection)?.timesSeen
                await #expect(throws: DomainError.self) {
                    try await store.issues.unmerge(issueID: fixture.connection, hashes: [movable, movable])
                }
                #expect(try await store.issues.hashes(issueID: fixture.connection) == hashes)
                #expect(try await store.issues.eventCountsByHash(issueID: fixture.connection) == counts)
                #expect(try await store.issues.issue(id: fixture.connection)?.timesSeen == timesSeen)
            }
        }
    }

    @Test func retentionAgingAndPruningDeleteAndChangeTheSameRows() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let now = IssueFixture.now
            _ = try await Self.both(stores, "ignore until a date") { store in
                try await store.issues.updateIssues(
                    ids: [fixture.connection],
                    change: IssueChange(status: .ignored, ignore: .untilDate(now.addingTimeInterval(3600))), now: now)
                return true
            }
            let policy = {
                var policy = RetentionPolicy()
                policy.maxAge = 86_400
                policy.maxEventsPerProject = 4
                return policy
            }()
            let deleted = try await Self.both(stores, "retention") { store in
                switch store.database {
                case .sqlite(let database):
                    try await SQLiteMaintenance(database).enforceRetention(policy, now: now, batchSize: 1)
                case .postgres(let database):
                    try await PostgresMaintenance(database).enforceRetention(policy, now: now, batchSize: 1)
                }
            }
            // Older than a day: events 1, 2 (of the TypeError) and 7 (the first of the regressed issue); only 2 is neither
            // an issue's first nor its latest. Then project 1 has nine events for four, but every other one is protected.
            #expect(deleted == .value(1))
            let firsts = try await stores.postgres.events.events(issueID: fixture.typeError, limit: 10, offset: 0).map(
                \.eventID)
            #expect(firsts == [3, 1].map(IssueFixture.eventID), "the first and the latest event of an issue are kept")
            #expect(
                try await stores.postgres.events.event(projectID: 1, eventID: IssueFixture.eventID(8)) != nil,
                "the regression's event is pinned")
            try await Self.expectSameState(stores, "after retention")
            #expect(
                try await stores.postgres.issues.issue(id: fixture.typeError)?.timesSeen == 3,
                "counters keep their totals")

            let aged = try await Self.both(stores, "aging") { store in
                try await store.maintenance.agePeriodically(now: now.addingTimeInterval(8 * 86_400))
            }
            // Four new or regressed issues turn ongoing, the backend issue is auto-resolved, the ignore period ends.
            #expect(aged == .value(6))
            try await Self.expectSameState(stores, "after aging")
            let backend = try #require(try await stores.postgres.issues.issue(id: fixture.backendIssue))
            #expect(
                backend.status == .resolved && backend.resolution == .now, "auto-resolved after the project's 24 hours")
            let connection = try #require(try await stores.postgres.issues.issue(id: fixture.connection))
            #expect(connection.status == .unresolved && connection.substatus == .escalating, "the ignore period ended")
            #expect(try await stores.postgres.issues.issue(id: fixture.keyError)?.substatus == .ongoing)
            #expect(
                try await Self.both(stores, "aging again") { store in
                    try await store.maintenance.agePeriodically(now: now.addingTimeInterval(8 * 86_400))
                } == .value(0))

            let pruned = try await Self.both(stores, "pruning") { store in
                try await store.maintenance.pruneAlertData(now: now.addingTimeInterval(86_400), maxAge: 3600)
            }
            #expect(
                pruned == .value(0), "the default rule counts nothing per minute, and its notifications are pending")
        }
    }
}
