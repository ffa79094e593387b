import Foundation
import GRDB
import GRDBSQLite
import SpyglassCore
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

    /// SQLite keeps no memory statistics in a process that opens its database first, as `serve` does: its
    /// allocations then take no process-wide mutex. An exit test, for a process of its own: SQLite's configuration
    /// can change only before its first use, and other tests in this process use it.
    @Test func sqliteKeepsNoMemoryStatisticsInAProcessThatOpensItsDatabaseFirst() async {
        await #expect(processExitsWith: .success) {
            let bulk = try Bulk()
            try bulk.database.writer.write { db in try Self.insert(40, seed: 1, db) }
            _ = try bulk.closeAndReopen()
            #expect(WALCoalescing.memoryStatisticsOff)
            // Counted only while the statistics are on: after opening, writing and reading, it would be > 0.
            #expect(sqlite3_memory_used() == 0)
            #expect(sqlite3_memory_highwater(0) == 0)
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
            let count = "SELECT count(*) FROM bulk"
            #expect(try database.writer.read { db in try Int.fetchOne(db, sql: count) } == expected)
            #expect(try other.read { db in try Int.fetchOne(db, sql: count) } == expected)
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

    /// SQLite 3.40 can lose acknowledged commits after a crash when a transaction rewrote a spilled WAL frame in
    /// place and then rolled back a savepoint: the writers fail such a transaction (`checkSavepointRollback`). Here
    /// transactions larger than a 20-page cache, some with a savepoint rolled back, the way the writers roll back
    /// an item SQLite refuses; the files are then copied as a crash would leave them and recovered.
    @Test func aTransactionThatRollsBackASavepointAfterRewritingFramesIsNeverAcknowledged() throws {
        let directory = try TemporaryDirectory()
        WALCoalescing.register()
        let path = directory.path("spill.sqlite")
        let queue = try DatabaseQueue(path: path)
        var random = SplitMix(seed: 7)
        var acknowledged = 0
        var refused = 0
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA cache_size = 20")
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, v BLOB NOT NULL)")
            try db.execute(sql: "CREATE INDEX tk ON t(k)")
            // The WAL is open once something was written.
            #expect(try WALCoalescing.enable(on: db))
            func insert() throws {
                try db.execute(
                    sql: "INSERT INTO t (k, v) VALUES (?, randomblob(?))",
                    arguments: [random.next() % (1 << 24), 100 + random.next() % 3000])
            }
            for _ in 0..<120 {
                var rows = 0
                do {
                    try db.inTransaction {
                        for _ in 0..<(1 + random.next() % 400) {
                            try insert()
                            rows += 1
                            guard random.next() % 60 == 0 else { continue }
                            // A refused item's savepoint, rolled back; the transaction goes on as the writers' do.
                            let rewrites = WALCoalescing.rewrites(db)
                            _ = try? db.inSavepoint {
                                for _ in 0..<(1 + random.next() % 100) { try insert() }
                                throw DatabaseError(resultCode: .SQLITE_CONSTRAINT)
                            }
                            try WALCoalescing.checkSavepointRollback(db, rewritesBefore: rewrites)
                        }
                        return .commit
                    }
                    acknowledged += rows
                } catch is DomainError {
                    refused += 1
                }
            }
            // The files as a crash leaves them: the database and its WAL (the shared memory is rebuilt).
            for suffix in ["", "-wal"] {
                let copy = directory.path("crashed.sqlite") + suffix
                try FileManager.default.copyItem(atPath: path + suffix, toPath: copy)
            }
        }
        #expect(refused > 0, "no transaction rewrote a frame before a savepoint's rollback: the case was not met")
        #expect(acknowledged > 0)
        let recovered = try DatabaseQueue(path: directory.path("crashed.sqlite"))
        let (rows, integrity) = try recovered.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM t"),
                try String.fetchOne(db, sql: "PRAGMA integrity_check")
            )
        }
        #expect(rows == acknowledged)
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

    /// The databases' writers start only coalescing: the savepoint guard counts WAL writes on no other connection.
    @Test func aWriterThatCannotCoalesceIsRefused() throws {
        let directory = try TemporaryDirectory()
        WALCoalescing.register()
        let path = directory.path("normal.sqlite")
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "CREATE TABLE t (x)")
            let error = #expect(throws: DomainError.self) { try WALCoalescing.require(on: db, database: path) }
            #expect(error?.kind == .unavailable)
            #expect(error?.message.contains("cannot open database \(path)") == true)
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try WALCoalescing.require(on: db, database: path)
        }
    }
}

/// A deterministic pseudo-random sequence (SplitMix64), so the test's transactions are the same in every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
    }
}
