import Foundation
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
        try await TestPostgres.withFreshDatabase { url in
            // One connection: the writer's batches and the DEALLOCATE below share it.
            try await TestPostgres.withRunningDatabase(url, maximumConnections: 1) { database in
                try await database.migrate()
                let store = TestStore(database: .postgres(database))
                let project = try await store.createProject(slug: "alpha")
                let dictionaries = PayloadDictionaryCache()
                func work(_ n: Int) throws -> IngestWork {
                    let id = String(format: "%032x", n)
                    return IngestWork(
                        projectID: project,
                        event: try store.event(#"{"event_id": "\#(id)", "message": "boom", "level": "error", "platform": "python"}"#))
                }
                #expect(try await store.commitBatch([work(1)], dictionaries: dictionaries).receipts.map(\.eventStored) == [true])
                try await store.execute("DEALLOCATE ALL")
                await #expect(throws: (any Error).self) { try await store.commitBatch([work(2)], dictionaries: dictionaries) }
                #expect(try await store.commitBatch([work(2)], dictionaries: dictionaries).receipts.map(\.eventStored) == [true])
                #expect(try await store.value("SELECT count(*) FROM event") == "2")
                #expect(try await store.value("SELECT times_seen FROM issue") == "2")
            }
        }
    }
}
