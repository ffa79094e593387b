import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorageKit
import Testing

/// Two ingest writers on one PostgreSQL database, as two `spyglass serve` nodes: each with its own pool and
/// committer, committing batches at the same moment that make the same new issues and repeat each other's event ids.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresConcurrentWritersTests {
    /// One issue per fingerprint with its hash, every event id stored once, and counters, users and first/last seen
    /// that match the stored events, whichever node wrote what. Batches go through the set path and, with an
    /// attachment, through the one-by-one path.
    @Test func twoNodesWritingTheSameNewIssuesLeaveOneIssuePerHashWithExactCounters() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { first in
                try await TestPostgres.withRunningDatabase(url) { second in
                    try await first.migrate()
                    let nodes = [TestStore(database: .postgres(first)), TestStore(database: .postgres(second))]
                    let project = try await nodes[0].createProject(slug: "alpha")
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
                    #expect(
                        try await store.value(
                            """
                            SELECT count(*) FROM issue WHERE times_seen <> (SELECT count(*) FROM event WHERE issue_id = issue.id)
                                OR user_count <> (SELECT count(*) FROM issue_user WHERE issue_id = issue.id)
                                OR first_seen <> (SELECT min(timestamp) FROM event WHERE issue_id = issue.id)
                                OR last_seen <> (SELECT max(timestamp) FROM event WHERE issue_id = issue.id)
                            """) == "0")
                    // The users of each round's three messages: u0 and u1 on both nodes, counted once per issue.
                    let users = try await store.value("SELECT sum(user_count)::bigint FROM issue")
                    #expect(users == "\(rounds * 3 * 2)")
                    #expect(try await store.value("SELECT count(*) FROM attachment") == "\(rounds * 3)")
                    #expect(
                        try await store.value("SELECT count(DISTINCT short_id) FROM issue") == "\(rounds * 6)")
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
        // Grouping replaces numbers in messages: each message is told apart by words.
        func word(_ n: Int) -> String { String(UnicodeScalar(UInt8(97 + n / 26))) + String(UnicodeScalar(UInt8(97 + n % 26))) }
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
