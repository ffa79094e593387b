import Dispatch
import Foundation
import PostgresNIO
import SpyglassCore
@testable import SpyglassPostgres
import SpyglassStorageKit
import Synchronization
import Testing

/// The writer's statements when PostgreSQL has closed the connection under it (a restart, a crash, a terminated
/// session): they fail, and the batch is answered, instead of the writer waiting for good.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct PostgresConnectionLossTests {
    /// postgres-nio writes a statement to the channel without a promise; written after the channel closed, it is
    /// never answered. `IngestSQL.wait` ends the wait when the connection closes.
    @Test func aStatementOnAConnectionPostgreSQLClosedFailsInsteadOfWaitingForever() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url, ingestConnections: 1) { database in
                try await database.withIngestConnection { connection in
                    let pid = try await connection.query("SELECT pg_backend_pid()", logger: TestPostgres.logger)
                        .collect().first?.decode(Int32.self) ?? 0
                    try await database.withConnection {
                        try await $0.query("SELECT pg_terminate_backend(\(pid))", logger: TestPostgres.logger)
                    }
                    for _ in 0..<100 where !connection.isClosed { try await Task.sleep(for: .milliseconds(50)) }
                    #expect(connection.isClosed)

                    let sql = IngestSQL(
                        connection: connection, logger: TestPostgres.logger, statements: PreparedStatements())
                    // As the writer runs it: blocking a thread of its own. Failing as a lost connection: true.
                    let outcome = Mutex<Bool?>(nil)
                    DispatchQueue.global().async {
                        do {
                            try sql.run("SELECT 1")
                            outcome.withLock { $0 = false }
                        } catch {
                            outcome.withLock { $0 = PostgresIngestCommitter.isConnectionLost(error) }
                        }
                    }
                    for _ in 0..<400 where outcome.withLock({ $0 }) == nil {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    let answered = outcome.withLock { $0 }
                    #expect(answered != nil, "the statement was still waiting after 20 s")
                    #expect(answered == true, "the statement fails as a lost connection")
                }
            }
        }
    }

    /// The same for the queries of the API and the services (``PostgresConnection/answer(_:logger:)``, under every
    /// query helper): on a connection PostgreSQL closed, a query fails at once, as a ``DomainError`` the API answers
    /// 503, instead of holding its request and its leased connection for good.
    @Test func aQueryOnAConnectionPostgreSQLClosedFailsAsUnavailableInsteadOfWaitingForever() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { database in
                // Failing as unavailable: true; answered: false.
                let outcome = Mutex<Bool?>(nil)
                let query = Task {
                    do {
                        try await database.withConnection { connection in
                            let logger = TestPostgres.logger
                            let pid: Int32? = try await connection.scalar("SELECT pg_backend_pid()", logger: logger)
                            try await database.withConnection {
                                try await $0.execute("SELECT pg_terminate_backend(\(pid ?? 0))", logger: logger)
                            }
                            for _ in 0..<100 where !connection.isClosed { try await Task.sleep(for: .milliseconds(50)) }
                            #expect(connection.isClosed)
                            try await connection.execute("SELECT 1", logger: TestPostgres.logger)
                        }
                        outcome.withLock { $0 = false }
                    } catch {
                        outcome.withLock { $0 = (error as? DomainError)?.kind == .unavailable }
                    }
                }
                for _ in 0..<400 where outcome.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(50)) }
                let answered = outcome.withLock { $0 }
                #expect(answered != nil, "the query was still waiting after 20 s")
                #expect(answered == true, "the query fails as unavailable")
                if answered != nil { await query.value }
                // The pool lends a working connection for the next query.
                let next = try await database.withConnection {
                    try await $0.scalar("SELECT 1", as: Int32.self, logger: TestPostgres.logger)
                }
                #expect(next == 1)
            }
        }
    }

    /// The writer keeps its connection from batch to batch; one PostgreSQL ended in between (a restart, an
    /// administrator's `pg_terminate_backend`) is replaced, and the next batch is stored.
    @Test func theWritersKeptConnectionEndedBetweenBatchesIsReplaced() async throws {
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url, ingestConnections: 1) { database in
                try await database.migrate()
                let store = TestStore(database: .postgres(database))
                let project = try await store.createProject(slug: "alpha")
                let dictionaries = PayloadDictionaryCache()
                func work(_ n: Int) throws -> IngestWork {
                    let id = String(format: "%032x", n)
                    return IngestWork(
                        projectID: project,
                        event: try store.event(#"{"event_id": "\#(id)", "message": "boom", "level": "error"}"#))
                }
                func writersBackends() async throws -> [Int32] {
                    try await database.withConnection { connection in
                        var pids: [Int32] = []
                        for try await pid in try await connection.query(
                            """
                            SELECT pid FROM pg_stat_activity
                            WHERE datname = current_database() AND pid <> pg_backend_pid()
                                AND backend_type = 'client backend'
                            """, logger: TestPostgres.logger
                        ).decode(Int32.self) {
                            pids.append(pid)
                        }
                        return pids
                    }
                }
                #expect(try await store.commitBatch([work(1)], dictionaries: dictionaries).receipts[0].eventStored)
                let before = try await writersBackends()
                #expect(try await store.commitBatch([work(2)], dictionaries: dictionaries).receipts[0].eventStored)
                #expect(try await writersBackends() == before, "the second batch ran on the kept connection")
                try await database.withConnection { connection in
                    for pid in before {
                        try await connection.query("SELECT pg_terminate_backend(\(pid))", logger: TestPostgres.logger)
                    }
                }
                #expect(try await store.commitBatch([work(3)], dictionaries: dictionaries).receipts[0].eventStored)
                #expect(try await store.value("SELECT count(*) FROM event") == "3")
                #expect(try await writersBackends() != before)
            }
        }
    }
}
