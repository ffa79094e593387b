import Foundation
import GRDB
import SpyglassCore

/// The structured log lines' own SQLite database, `spyglass-logs.sqlite` beside the main one: its own write lock,
/// WAL and checkpoints, so the log writer (``LogWriter``, a thread of the lowest priority) never holds a lock that error
/// ingest waits for. Lines name their project by id; projects are never deleted, and their log settings stay in the
/// main database.
public struct LogDatabase: Sendable {
    /// File name inside the data directory.
    public static let fileName = "spyglass-logs.sqlite"

    public let writer: any DatabaseWriter
    let checkpointer: WALCheckpointer?
    /// The file on disk (nil in memory).
    let path: String?

    /// WAL pages at which a checkpoint starts: 16 MiB of 4 KiB pages.
    static let checkpointThreshold: Int32 = 4_000

    private init(_ writer: any DatabaseWriter, checkpointer: WALCheckpointer?, path: String?) throws {
        self.writer = writer
        self.checkpointer = checkpointer
        self.path = path
        try Self.migrator.migrate(writer)
    }

    /// A fresh, migrated in-memory database (tests, and databases wrapped without a directory).
    static func inMemory() throws -> LogDatabase {
        try LogDatabase(DatabaseQueue(configuration: makeConfiguration()), checkpointer: nil, path: nil)
    }

    /// Opens (creating if needed) the database at `path`: WAL mode, every commit synced, migrated.
    static func open(path: String) throws -> LogDatabase {
        WALCoalescing.register()
        let pool = try DatabasePool(path: path, configuration: makeConfiguration())
        let checkpointer = WALCheckpointer(path: path, threshold: checkpointThreshold, lowPriority: true)
        try pool.writeWithoutTransaction { db in
            // As the main database's writer: a line's 200 means it is on disk (GRDB sets NORMAL on a pool's writer).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // SQLite's default page cache (2 MiB): the main database's writer has 16 MiB, and the server keeps under
            // 100 MB of memory with both (a larger cache here came close: docs/performance.md, "Log lines apart").
            try db.execute(sql: "PRAGMA cache_size = -2048")
            try WALCoalescing.require(on: db, database: path)
            checkpointer.install(on: db)
        }
        return try LogDatabase(pool, checkpointer: checkpointer, path: path)
    }

    private static func makeConfiguration() -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "spyglass-logs"
        configuration.prepareDatabase { db in
            // SQLite's default 4 KiB pages: lines are inserted in time order, but each trace's index entry lands on
            // a random page, written whole at every commit that touches it.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return configuration
    }

    /// The lines' table as the main database had it (migration v15), without the reference to `project`.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1 log lines") { db in
            try db.execute(sql: AppDatabase.logTableSQL)
        }
        return migrator
    }

    /// Folds the WAL into the file and closes the connections.
    func close() throws {
        guard let pool = writer as? DatabasePool else { return }
        pool.writeWithoutTransaction { db in checkpointer?.uninstall(from: db) }
        checkpointer?.waitForPass()
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
    }

    /// Moves the lines of a main database that still holds them (one from before the lines had a file of their own,
    /// or a restored backup, which carries them) into this one, in place of the lines here, and drops the main
    /// database's table. The main database is the truth: a restored backup's lines replace those written after it
    /// (they may name projects the backup does not have, whose ids new projects will take), and a move cut short
    /// (the lines copied, the main table not dropped) is simply done again. Ids are kept.
    func takeLines(from main: any DatabaseWriter, mainPath: String?) throws {
        let present = try main.read { db in try db.tableExists("log_entry") }
        guard present else { return }
        let count = try main.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM log_entry") ?? 0 }
        if count > 0 {
            guard let mainPath, path != nil else {
                throw DomainError(.unavailable, "the log lines of a database in memory cannot move to another")
            }
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "ATTACH DATABASE ? AS old", arguments: [mainPath])
                defer { try? db.execute(sql: "DETACH DATABASE old") }
                try db.inTransaction {
                    let columns = AppDatabase.logColumns.joined(separator: ", ")
                    try db.execute(sql: "DELETE FROM main.log_entry")
                    try db.execute(sql: "INSERT INTO main.log_entry (\(columns)) SELECT \(columns) FROM old.log_entry")
                    return .commit
                }
            }
        } else {
            try writer.write { db in try db.execute(sql: "DELETE FROM log_entry") }
        }
        try main.write { db in try db.execute(sql: "DROP TABLE log_entry") }
    }
}
