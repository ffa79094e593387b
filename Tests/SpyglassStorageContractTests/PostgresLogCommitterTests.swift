import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorageKit
import Testing

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresLogCommitterTests {
    /// A line that may hold a value PostgreSQL could not take (over 1 GiB; a lower limit here) refuses its request
    /// alone as bad input (400), before anything is sent: the batch's other requests are stored.
    @Test func aLineOverTheValueLimitRefusesItsRequestAloneAndTheOthersAreStored() async throws {
        try await withTestDatabase { database in
            try await database.migrate()
            try await PostgresSchemaTests.execute(
                database, "INSERT INTO project (id, slug, name, created_at) VALUES (1, 'web', 'Web', 'x')")
            let committer = PostgresLogCommitter(database: database, maxLineBytes: 500)
            func job(_ body: String) -> PreparedLogLines {
                PreparedLogLines(
                    projectID: 1, received: Date(), lines: [LogRecord(timestamp: Date(), level: .info, body: body)])
            }
            let jobs = [job("kept"), job(String(repeating: "x", count: 600)), job("kept too")]
            // The committer blocks its thread (the log writer's own), not one of the cooperative pool's.
            let outcomes: [(any Error)?] = try await withCheckedThrowingContinuation { continuation in
                Thread {
                    continuation.resume(with: Result { try committer.commit(jobs) })
                    committer.finish()
                }.start()
            }
            #expect(outcomes.count == 3 && outcomes[0] == nil && outcomes[2] == nil)
            let refused = try #require(outcomes[1] as? DomainError)
            #expect(refused.kind == .invalidInput && refused.message.contains("PostgreSQL stores at most 500 bytes a value"))
            #expect(try await PostgresSchemaTests.integer(database, "SELECT count(*) FROM log_entry") == 2)
        }
    }
}
