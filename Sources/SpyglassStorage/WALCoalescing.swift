import CSQLiteWAL
import GRDB
import SpyglassCore

/// A writer connection's WAL frames written in a few large writes per commit instead of two `pwrite` calls a frame.
///
/// SQLite writes each frame's 24-byte header and its page apart; a commit of ~50 pages cost ~100 system calls,
/// and on this VM their per-call cost was most of the writer's kernel time (docs/performance.md, "WAL frames in a few
/// writes"). The VFS in `CSQLiteWAL` (registered as the default before the databases open) gathers them and writes
/// before every sync, read or release of the write lock, so what reaches the disk, and when it is synced, is as
/// before; the C file describes the rules.
enum WALCoalescing {
    /// Registers the VFS as SQLite's default, once. Connections opened after this go through it.
    static func register() {
        _ = spyglass_wal_vfs_register()
    }

    /// Whether SQLite's memory statistics are off in this process: registering the VFS turns them off when it is the
    /// first use of SQLite, as in `serve` (each allocation and free of every connection would otherwise enter one
    /// process-wide mutex, which the log lines' writer, at the lowest CPU priority, held when the scheduler stopped
    /// it; docs/performance.md, "SQLite's memory mutex").
    static var memoryStatisticsOff: Bool {
        spyglass_sqlite_memory_statistics_off() == 1
    }

    /// Turns coalescing on for `db`, the writer connection of a WAL database, which must sync every commit
    /// (`synchronous = FULL` or `EXTRA`): a commit then writes its frames at its sync, before readers can see it.
    /// Returns false (and changes nothing) on a connection whose synchronous setting is lower or whose files are not
    /// the VFS's.
    @discardableResult
    static func enable(on db: Database) throws -> Bool {
        guard let synchronous = try Int.fetchOne(db, sql: "PRAGMA synchronous"), synchronous >= 2 else { return false }
        return spyglass_wal_coalesce(UnsafeMutableRawPointer(db.sqliteConnection)) == 1
    }

    /// ``enable(on:)`` on a writer connection, throwing where it changed nothing: the guard against SQLite's
    /// savepoint bug (``checkSavepointRollback(_:rewritesBefore:)``) counts the WAL writes only on a coalescing
    /// connection, so a writer that is not one must not start.
    static func require(on db: Database, database: String) throws {
        guard try enable(on: db) else {
            throw DomainError(
                .unavailable,
                "cannot open database \(database): its writer's WAL does not go through Spyglass's file layer "
                    + "(the connection must be in WAL mode with synchronous = FULL, opened after the layer registered)")
        }
    }

    /// The WAL writes of the open transaction that landed below what it had written (``checkSavepointRollback``).
    static func rewrites(_ db: Database) -> Int64 {
        spyglass_wal_rewrites(UnsafeMutableRawPointer(db.sqliteConnection))
    }

    /// Called where a writer's transaction rolled back a savepoint (or a failed statement) and means to go on to
    /// commit, with ``rewrites(_:)`` as it was before the savepoint: throws when SQLite may have rewritten in place
    /// a WAL frame appended inside the savepoint. SQLite 3.40 (Debian's) does not undo that rewrite's bookkeeping
    /// with the savepoint, and the commit could then leave frames that recovery after a crash stops at, losing the
    /// commits after it (the C file has the details). The caller's whole transaction then fails (its requests are
    /// answered 503 and sent again).
    static func checkSavepointRollback(_ db: Database, rewritesBefore: Int64) throws {
        guard rewrites(db) > rewritesBefore else { return }
        throw DomainError(
            .unavailable,
            "a savepoint was rolled back after SQLite rewrote WAL frames in place: the batch is not committed")
    }

    /// The writes SQLite asked of `db`'s WAL file, those that reached the file system, and the bytes waiting in the
    /// buffer (tests).
    static func writeCounts(_ db: Database) -> (requested: Int64, issued: Int64, buffered: Int64) {
        var requested: Int64 = 0
        var issued: Int64 = 0
        var buffered: Int64 = 0
        spyglass_wal_write_counts(UnsafeMutableRawPointer(db.sqliteConnection), &requested, &issued, &buffered)
        return (requested, issued, buffered)
    }
}
