import Foundation
import GRDB
import Testing

@testable import SpyglassStorage

/// The WAL checkpointer replaces SQLite's automatic checkpoint on the writer connection: without it, nothing would
/// copy the WAL into the database file and the WAL would grow with every commit.
@Suite struct WALCheckpointerTests {
    static let commits = 1200
    static let rowBytes = 3000

    @Test func theWALIsCopiedIntoTheDatabaseFileAndStartsOverWhileCommitsGoOn() throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url, checkpointThreshold: 50)
        let file = directory.url.appending(path: AppDatabase.fileName).path(percentEncoded: false)
        func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        try database.writer.write { db in try db.execute(sql: "CREATE TABLE bulk (id INTEGER PRIMARY KEY, data BLOB NOT NULL)") }
        let initialFileSize = size(file)

        var largestWAL = 0
        for index in 0..<Self.commits {
            // Distinct bytes per row, so that no page is like another.
            let data = Data((0..<Self.rowBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
            try database.writer.write { db in try db.execute(sql: "INSERT INTO bulk (data) VALUES (?)", arguments: [data]) }
            largestWAL = max(largestWAL, size(file + "-wal"))
        }
        database.checkpointer?.waitForPass()

        // Each commit adds at least one 8 KiB frame: without checkpoints the WAL would hold them all (about 10 MB).
        let frame = 8192 + 24
        #expect(largestWAL < Self.commits / 2 * frame, "the WAL grew to \(largestWAL / frame) frames")
        // The rows' pages reached the database file before any closing checkpoint.
        #expect(size(file) - initialFileSize > Self.commits * Self.rowBytes / 2, "the database file is \(size(file)) bytes")

        try database.close()
        let reopened = try DatabaseQueue(path: file)
        let (rows, bytes, integrity) = try reopened.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk"), try Int.fetchOne(db, sql: "SELECT sum(length(data)) FROM bulk"),
                try String.fetchOne(db, sql: "PRAGMA integrity_check")
            )
        }
        #expect(rows == Self.commits)
        #expect(bytes == Self.commits * Self.rowBytes)
        #expect(integrity == "ok")
    }

    /// The hook holds the checkpointer: a component that keeps only the database's writer still gets checkpoints.
    @Test func checkpointsGoOnWhenOnlyTheWriterIsKept() throws {
        let directory = try TemporaryDirectory()
        let writer = try AppDatabase.open(directory: directory.url, checkpointThreshold: 50).writer
        let wal = directory.url.appending(path: AppDatabase.fileName + "-wal").path(percentEncoded: false)
        try writer.write { db in try db.execute(sql: "CREATE TABLE bulk (id INTEGER PRIMARY KEY, data BLOB NOT NULL)") }
        var largestWAL = 0
        for index in 0..<600 {
            let data = Data((0..<Self.rowBytes).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ index) })
            try writer.write { db in try db.execute(sql: "INSERT INTO bulk (data) VALUES (?)", arguments: [data]) }
            largestWAL = max(largestWAL, ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0)
        }
        #expect(largestWAL < 300 * (8192 + 24), "the WAL grew to \(largestWAL / (8192 + 24)) frames")
        #expect(try writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM bulk") } == 600)
    }
}
