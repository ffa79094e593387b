import Foundation
import GRDB
import MetricsTestKit
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import Testing

@Suite struct IssueQueriesTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func event(_ json: String, at offset: TimeInterval = 0) throws -> NormalizedEvent {
        try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: now.addingTimeInterval(offset)))
    }

    func store(_ database: AppDatabase, _ events: [NormalizedEvent], project: Int64 = 1) async throws {
        let writer = IngestWriter(database: database, metrics: TestMetrics())
        let runner = Task { try await writer.run() }
        for event in events { _ = try await writer.ingest(IngestWork(projectID: project, event: event)) }
        runner.cancel()
    }

    func list(_ database: AppDatabase, _ query: String, sort: IssueSort = .date) async throws -> [IssueInfo] {
        try await database.issues(
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
        #expect(keyError.shortIDText == "DEFAULT-1")
        #expect(keyError.firstRelease == "a@1" && keyError.lastRelease == "a@2")

        #expect(try await list(database, "release:a@2").map(\.id) == [keyError.id])
        #expect(try await list(database, "release:a@2 environment:prod").map(\.id) == [keyError.id])
        #expect(try await list(database, "environment:staging level:warning").map(\.title) == ["disk full"])
        #expect(try await list(database, "release:a@2 environment:staging").isEmpty)
        #expect(try await list(database, "KeyError").map(\.id) == [keyError.id])
        #expect(try await list(database, "", sort: .freq).first?.id == keyError.id)

        let tags = try await database.tags(issueID: keyError.id, top: 5)
        let release = try #require(tags.first { $0.key == "release" })
        #expect(release.topValues.map(\.value) == ["a@1", "a@2"] && release.totalValues == 3)
        #expect(tags.first { $0.key == "t" }?.topValues.first?.count == 1)
        let hours = try await database.hourlyCounts(issueIDs: [keyError.id], since: now.addingTimeInterval(-86400))
        #expect(hours[keyError.id]?.values.reduce(0, +) == 3)
    }
}
