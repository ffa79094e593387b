import Foundation
import SpyglassCore
import SpyglassStorageKit
import Testing

/// User feedback (`user_report` items and `feedback` items, stored alike) read back per project and per issue.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct UserFeedbackContractTests {
    /// Feedback the database cannot store for its own sake (here: no table; a full disk, a read-only standby) is not
    /// answered as stored: its request fails (503) instead of being left out as feedback the database refused would
    /// be; the other requests of the batch are stored.
    @Test(arguments: Backend.allCases)
    func feedbackTheDatabaseCannotStoreForItsOwnSakeFailsItsRequest(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let report = UserReport(
                eventID: nil, name: "Ann", email: "ann@example.com", comments: "hm", received: store.now)
            let event = try store.event(#"{"event_id": "\#(String(repeating: "a", count: 32))", "message": "boom"}"#)
            try await store.execute("ALTER TABLE user_report RENAME TO user_report_away")
            try await store.withRunningWriter { writer in
                await #expect(throws: (any Error).self) {
                    try await writer.ingest(IngestWork(projectID: project, userReports: [report]))
                }
                let stored = try await writer.ingest(IngestWork(projectID: project, event: event)).eventStored
                #expect(stored)
            }
            try await store.execute("ALTER TABLE user_report_away RENAME TO user_report")
            #expect(try await store.value("SELECT count(*) FROM user_report") == "0")
            #expect(try await store.value("SELECT count(*) FROM event") == "1")
        }
    }

    @Test(arguments: Backend.allCases)
    func feedbackIsListedPerProjectAndPerIssueNewestFirstWithTheIssueOfItsEvent(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let project = try await store.createProject(slug: "alpha")
            let other = try await store.createProject(slug: "beta", memberEmail: "ops@example.com")
            func id(_ n: Int) -> String { String(format: "%032x", n) }
            func event(_ n: Int, _ message: String) throws -> NormalizedEvent {
                try store.event(#"{"event_id": "\#(id(n))", "message": "\#(message)", "level": "error", "platform": "javascript"}"#)
            }
            func report(_ event: String?, _ name: String, at seconds: Double) -> UserReport {
                UserReport(
                    eventID: event, name: name, email: "\(name.lowercased())@example.com", comments: "\(name) says <b>it broke</b>",
                    received: store.now.addingTimeInterval(seconds))
            }
            let works = [
                IngestWork(projectID: project, event: try event(1, "boom"), userReports: [report(id(1), "Ann", at: 1)]),
                IngestWork(projectID: project, event: try event(2, "boom")),
                IngestWork(projectID: project, event: try event(3, "bang")),
                // Feedback sent on its own: about stored events, about none, about an event never stored.
                IngestWork(
                    projectID: project,
                    userReports: [
                        report(id(2), "Bob", at: 3), report(id(3), "Cy", at: 2), report(nil, "Dee", at: 4), report(id(99), "Eve", at: 5),
                    ]),
                IngestWork(projectID: other, userReports: [report(nil, "Other", at: 6)]),
            ]
            _ = try await store.commitBatch(works, dictionaries: PayloadDictionaryCache())

            let all = try await store.events.userFeedback(projectID: project, issueID: nil, limit: 10, offset: 0)
            #expect(all.map(\.name) == ["Eve", "Dee", "Bob", "Cy", "Ann"])
            let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
            let boom = try #require(byName["Bob"]?.issueID)
            #expect(byName["Ann"]?.issueID == boom && byName["Cy"]?.issueID != boom && byName["Cy"]?.issueID != nil)
            #expect(byName["Dee"]?.eventID == nil && byName["Dee"]?.issueID == nil)
            #expect(byName["Eve"]?.eventID == id(99) && byName["Eve"]?.issueID == nil)
            #expect(byName["Ann"]?.email == "ann@example.com" && byName["Ann"]?.comments == "Ann says <b>it broke</b>")
            #expect(byName["Ann"]?.received == store.now.addingTimeInterval(1))

            #expect(try await store.events.userFeedback(projectID: project, issueID: boom, limit: 10, offset: 0).map(\.name) == ["Bob", "Ann"])
            // Pages hold one more than the limit while there is a next one.
            #expect(try await store.events.userFeedback(projectID: project, issueID: nil, limit: 2, offset: 2).map(\.name) == ["Bob", "Cy", "Ann"])
            #expect(try await store.events.userFeedback(projectID: other, issueID: nil, limit: 10, offset: 0).map(\.name) == ["Other"])
        }
    }
}
