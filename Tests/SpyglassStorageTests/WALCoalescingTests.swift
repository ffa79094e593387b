import Foundation
import GRDB
import Testing

@testable import SpyglassStorage

/// The writer connections' WAL frames reach the file in a few large writes (`CSQLiteWAL`), and what they commit is
/// read by every other connection as soon as the commit returns, as without the buffer.
@Suite struct WALCoalescingTests {
    static let rowBytes = 3000

    /// Inserts `count` rows of distinct bytes (no page like another) into `bulk`.
    static func insert(_ count: Int, seed: Int, _ db: Database) throws {
        for row in 0..<count {
            let data = Data((0..<rowBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ row &* 7 &+ seed) })
            try db.execute(sql: "INSERT INTO bulk (data) VALUES (?)", arguments: [data])
        }
    }

    /// A database opened as `serve` opens it, with a table `bulk`, and a connection of its own on the file (as
    /// another process would have).
    final class Bulk {
        let directory: TemporaryDirectory
        let database: AppDatabase
        let other: DatabaseQueue

        init() throws {
            directory = try TemporaryDirectory()
            database = try AppDatabase.open(directory: directory.url)
            try database.writer.write { db in
                try db.execute(sql: "CREATE TABLE bulk (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
            }
            other = try DatabaseQueue(path: directory.path(AppDatabase.fileName))
        }

        /// Closes both, then reads the file afresh: its rows, their bytes, and SQLite's integrity check.
        func closeAndReopen() throws -> (rows: Int?, bytes: Int?, integrity: String?) {
            try other.close()
            try database.close()
            return try DatabaseQueue(path: directory.path(AppDatabase.fileName)).read { db in
                (
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk"),
                    try Int.fetchOne(db, sql: "SELECT sum(length(data)) FROM bulk"),
                    try String.fetchOne(db, sql: "PRAGMA integrity_check")
                )
            }
        }
    }

    @Test func aCommitsFramesReachTheFileInAFewWritesAndOtherConnectionsReadThemAtOnce() throws {
        let bulk = try Bulk()
        let (database, other) = (bulk.database, bulk.other)

        for commit in 0..<20 {
            let before = database.writer.writeWithoutTransaction { db in WALCoalescing.writeCounts(db) }
            // ~40 rows of 3 000 bytes: ~15 pages, ~30 writes asked of the WAL file.
            try database.writer.write { db in try Self.insert(40, seed: commit, db) }
            let after = database.writer.writeWithoutTransaction { db in WALCoalescing.writeCounts(db) }
            let requested = after.requested - before.requested
            let issued = after.issued - before.issued
            #expect(requested >= 30, "SQLite asked for \(requested) writes")
            #expect(issued <= 3, "\(requested) writes asked for, \(issued) issued")
            #expect(after.buffered == 0, "the commit's sync wrote everything")
            let expected = (commit + 1) * 40
            #expect(try database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk") } == expected)
            #expect(try other.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk") } == expected)
        }
        // The log lines' writer gathers its frames too.
        let logs = database.logs.writer.writeWithoutTransaction { db in WALCoalescing.writeCounts(db) }
        #expect(logs.requested > logs.issued)

        let (rows, bytes, integrity) = try bulk.closeAndReopen()
        #expect(rows == 800)
        #expect(bytes == 800 * Self.rowBytes)
        #expect(integrity == "ok")
    }

    /// A transaction larger than the page cache writes frames before it commits; rolled back, they must not land
    /// later on frames that another writer committed at the same offsets meanwhile.
    @Test func framesOfARolledBackTransactionNeverOverwriteAnotherWritersCommit() throws {
        struct Abandon: Error {}
        let bulk = try Bulk()
        let (database, other) = (bulk.database, bulk.other)

        for round in 0..<5 {
            try database.writer.writeWithoutTransaction { db in
                // A 40-page cache: the transaction below spills its pages into the WAL long before it ends.
                try db.execute(sql: "PRAGMA cache_size = 40")
                defer { try? db.execute(sql: "PRAGMA cache_size = -16384") }
                #expect(throws: Abandon.self) {
                    try db.inTransaction {
                        try Self.insert(300, seed: 1000 + round, db)
                        throw Abandon()
                    }
                }
                // What the abandoned transaction wrote is in the file (where SQLite put it) while it held the lock.
                let counts = WALCoalescing.writeCounts(db)
                #expect(counts.buffered == 0)
            }
            // The other connection's commit takes the WAL's offsets where the abandoned frames were written.
            try other.write { db in try Self.insert(60, seed: round, db) }
            // The writer's next commit: a stale buffer would be written now.
            try database.writer.write { db in try Self.insert(20, seed: 500 + round, db) }
            let expected = (round + 1) * 80
            #expect(try other.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk") } == expected)
        }
        let (rows, bytes, integrity) = try bulk.closeAndReopen()
        #expect(rows == 400)
        #expect(bytes == 400 * Self.rowBytes)
        #expect(integrity == "ok")
    }

    /// Only connections that sync every commit gather frames: elsewhere a commit becomes visible without a sync.
    @Test func aConnectionThatDoesNotSyncEveryCommitIsLeftAsItIs() throws {
        let directory = try TemporaryDirectory()
        WALCoalescing.register()
        let queue = try DatabaseQueue(path: directory.path("normal.sqlite"))
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "CREATE TABLE t (x)")
            #expect(try WALCoalescing.enable(on: db) == false)
            try db.execute(sql: "INSERT INTO t VALUES (1)")
            let counts = WALCoalescing.writeCounts(db)
            #expect(counts.requested > 0)
            #expect(counts.issued == counts.requested)
            try db.execute(sql: "PRAGMA synchronous = FULL")
            #expect(try WALCoalescing.enable(on: db))
        }
    }
}
