import Foundation
import GRDB
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import Testing

@Suite struct IssueQueriesTests: StoreFixture {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func list(_ database: AppDatabase, _ query: String, sort: IssueSort = .date) async throws -> [IssueInfo] {
        try await database.storage.issues.issues(
            IssueListRequest(projectIDs: [1], query: IssueQuery.parse(query, now: now), sort: sort, limit: 100, offset: 0, userID: 1))
    }

    @Test func eventsJoinIssuesAndCountersFollow() async throws {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now)
        try database.createProject(name: "Default", slug: "default", now: now)
        try await store(database, [
            try event(#"{"exception":{"values":[{"type":"KeyError","value":"user 1"}]},"release":"a@1","environment":"prod","user":{"id":"u1"},"tags":{"t":"x"}}"#),
            try event(#"{"exception":{"values":[{"type":"KeyError","value":"user 2"}]},"release":"a@2","environment":"prod","user":{"id":"u2"}}"#, at: 10),
            // A late event: older than the first one seen.
            try event(#"{"exception":{"values":[{"type":"KeyError","value":"user 3"}]},"release":"a@1","user":{"id":"u1"},"timestamp":\#(now.timeIntervalSince1970 - 100)}"#, at: 20),
            try event(#"{"message":"disk full","level":"warning","environment":"staging"}"#, at: 30),
        ])
        let all = try await list(database, "")
        #expect(all.map(\.title) == ["disk full", "KeyError: user 1"])
        let keyError = try #require(all.last)
        #expect(keyError.timesSeen == 3 && keyError.userCount == 2)
        #expect(keyError.firstSeen == now.addingTimeInterval(-100))
        #expect(keyError.lastSeen == now.addingTimeInterval(10))
        // The issue's first and last events (kept by retention) follow the timestamps, not the arrival order.
        let (firstEvent, lastEvent) = try await database.writer.read { db in
            (
                try Double.fetchOne(db, sql: "SELECT e.timestamp FROM issue i JOIN event e ON e.id = i.first_event_id WHERE i.id = ?", arguments: [keyError.id]),
                try Double.fetchOne(db, sql: "SELECT e.timestamp FROM issue i JOIN event e ON e.id = i.last_event_id WHERE i.id = ?", arguments: [keyError.id])
            )
        }
        #expect(firstEvent == now.timeIntervalSince1970 - 100)
        #expect(lastEvent == now.timeIntervalSince1970 + 10)
        #expect(keyError.shortIDText == "DEFAULT-1")
        #expect(keyError.firstRelease == "a@1" && keyError.lastRelease == "a@2")

        #expect(try await list(database, "release:a@2").map(\.id) == [keyError.id])
        #expect(try await list(database, "release:a@2 environment:prod").map(\.id) == [keyError.id])
        #expect(try await list(database, "environment:staging level:warning").map(\.title) == ["disk full"])
        #expect(try await list(database, "release:a@2 environment:staging").isEmpty)
        #expect(try await list(database, "KeyError").map(\.id) == [keyError.id])
        #expect(try await list(database, "", sort: .freq).first?.id == keyError.id)

        let tags = try await database.storage.issues.tags(issueID: keyError.id, top: 5)
        let release = try #require(tags.first { $0.key == "release" })
        #expect(release.topValues.map(\.value) == ["a@1", "a@2"] && release.totalValues == 3)
        #expect(tags.first { $0.key == "t" }?.topValues.first?.count == 1)
        let hours = try await database.storage.issues.hourlyCounts(issueIDs: [keyError.id], since: now.addingTimeInterval(-86400))
        #expect(hours[keyError.id]?.values.reduce(0, +) == 3)
    }
}

@Suite struct MergeAndRetentionTests: StoreFixture {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func issues(_ database: AppDatabase) async throws -> [IssueInfo] {
        try await database.storage.issues.issues(IssueListRequest(projectIDs: [1], query: IssueQuery(), sort: .new, limit: 100, offset: 0, userID: 1))
    }

    @Test func mergeMovesHashesEventsAndCountsAndUnmergeSplitsThemOut() async throws {
        let database = try setUp()
        let a = #"{"exception":{"values":[{"type":"A","value":"a"}]},"user":{"id":"u1"}}"#
        let b = #"{"exception":{"values":[{"type":"B","value":"b"}]},"user":{"id":"u2"}}"#
        try await store(database, [try event(a), try event(a, at: 1), try event(b, at: 2)])
        let before = try await issues(database)
        let issueA = try #require(before.first { $0.title == "A: a" })
        let issueB = try #require(before.first { $0.title == "B: b" })

        let (parent, children) = try await database.storage.issues.mergeIssues(ids: [issueB.id, issueA.id])
        #expect(parent == issueA.id && children == [issueB.id])  // the one with more events wins
        var merged = try #require(try await database.storage.issues.issue(id: parent))
        #expect(merged.timesSeen == 3 && merged.userCount == 2 && merged.lastSeen == now.addingTimeInterval(2))
        #expect(try await database.storage.issues.issue(id: issueB.id) == nil)
        try await store(database, [try event(b, at: 3)])
        merged = try #require(try await database.storage.issues.issue(id: parent))
        #expect(merged.timesSeen == 4)
        #expect(try await database.storage.issues.hashes(issueID: parent).count == 2)

        let bHash = try #require(try await database.storage.events.latestEvent(issueID: parent)?.hash)
        let split = try await database.storage.issues.unmerge(issueID: parent, hash: bHash)
        let after = try #require(try await database.storage.issues.issue(id: split))
        let rest = try #require(try await database.storage.issues.issue(id: parent))
        #expect(after.title == "B: b" && after.timesSeen == 2 && after.userCount == 1)
        #expect(rest.timesSeen == 2 && rest.userCount == 1)
        #expect(try await database.storage.issues.tags(issueID: parent, top: 5).first { $0.key == "user" }?.topValues.map(\.value) == ["id:u1"])
        try await store(database, [try event(b, at: 4)])
        #expect(try await database.storage.issues.issue(id: split)?.timesSeen == 3)
        #expect(rest.lastSeen == now.addingTimeInterval(1))  // dates follow the remaining events
        await #expect(throws: DomainError.self) { try await database.storage.issues.unmerge(issueID: parent, hash: bHash) }
        // The merged issue protects its earliest and latest events from retention.
        let (first, last) = try await database.writer.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT first_event_id = (SELECT id FROM event WHERE issue_id = ?1 ORDER BY timestamp LIMIT 1) FROM issue WHERE id = ?1", arguments: [parent]),
                try Int64.fetchOne(db, sql: "SELECT last_event_id = (SELECT id FROM event WHERE issue_id = ?1 ORDER BY timestamp DESC LIMIT 1) FROM issue WHERE id = ?1", arguments: [parent])
            )
        }
        #expect(first == 1 && last == 1)
    }

    @Test func retentionKeepsFirstLatestAndPinnedEventsAndTheTotals() async throws {
        let database = try setUp()
        let a = #"{"exception":{"values":[{"type":"A","value":"a"}]}}"#
        try await store(database, try (0..<10).map { try event(a, at: Double($0)) })
        var policy = RetentionPolicy()
        policy.maxEventsPerProject = 3
        let deleted = try await SQLiteMaintenance(database).enforceRetention(policy, now: now.addingTimeInterval(20), batchSize: 3)
        let remaining = try await database.writer.read { db in try Double.fetchAll(db, sql: "SELECT timestamp FROM event ORDER BY timestamp") }
        // 10 events, at most 3: the oldest unprotected go; the first and the latest stay.
        #expect(deleted == 7)
        #expect(remaining == [now, now.addingTimeInterval(8), now.addingTimeInterval(9)].map(\.timeIntervalSince1970))
        #expect(try await issues(database).first?.timesSeen == 10)

        policy.maxAge = 5
        try await database.writer.write { db in try db.execute(sql: "UPDATE event SET pinned = 1 WHERE timestamp = ?", arguments: [now.addingTimeInterval(8).timeIntervalSince1970]) }
        #expect(try await database.storage.maintenance.enforceRetention(policy, now: now.addingTimeInterval(100)) == 0)
        try await database.writer.write { db in try db.execute(sql: "UPDATE event SET pinned = 0") }
        #expect(try await database.storage.maintenance.enforceRetention(policy, now: now.addingTimeInterval(100)) == 1)
    }

    @Test func aProjectCanKeepEventsForLessTimeThanTheServerNeverLonger() async throws {
        let database = try setUp()
        let a = #"{"exception":{"values":[{"type":"A","value":"a"}]}}"#
        try await store(database, try (0..<5).map { try event(a, at: Double($0) * 86_400) })
        var policy = RetentionPolicy()
        policy.maxAge = 30 * 86_400
        let project = try await database.storage.projects.allProjects()[0].id
        // Longer than the server's 30 days: the server's applies (nothing is old enough).
        try await database.storage.projects.setRetentionDays(projectID: project, days: 365)
        #expect(try await database.storage.maintenance.enforceRetention(policy, now: now.addingTimeInterval(10 * 86_400)) == 0)
        // Two days: events older than that go, except the issue's first and latest.
        try await database.storage.projects.setRetentionDays(projectID: project, days: 2)
        #expect(try await database.storage.projects.retentionDays(projectID: project) == 2)
        #expect(try await database.storage.maintenance.enforceRetention(policy, now: now.addingTimeInterval(5 * 86_400)) == 2)
        await #expect(throws: DomainError.self) { try await database.storage.projects.setRetentionDays(projectID: project, days: 0) }
    }
}
