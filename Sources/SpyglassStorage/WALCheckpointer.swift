import Foundation
import GRDB
import GRDBSQLite
import SpyglassStorageKit
import Synchronization

/// Checkpoints of the write-ahead log, mostly off the writer's thread.
///
/// SQLite's automatic checkpoint runs on the connection that commits, when the WAL reaches 1 000 pages: the
/// writer stops to copy them into the database file and sync it, and every request waiting for the next commit
/// waits for that too. A longer WAL costs less per event (a page that many commits rewrote, such as an issue's
/// row or the last page of its events, is copied once per checkpoint instead of once per 1 000 frames), but
/// copying it on the writer stalls commits longer.
///
/// So the writer connection's WAL hook (which replaces the automatic checkpoint) starts a pass on a thread of its
/// own, with its own connection, once the WAL holds ``threshold`` pages. That pass copies the pages while the
/// writer goes on committing. A checkpoint that runs beside writes cannot let the WAL start over (frames
/// committed meanwhile are not in the database file yet), so at the first commit after the pass the writer
/// checkpoints the rest itself (what was committed during the pass), and the next commit starts the WAL from its
/// beginning. A reader still using old frames holds that back, as it holds back any checkpoint; the WAL then
/// goes on growing until the reader is done, as it would with SQLite's own checkpoints.
///
/// Passes every 16 000 pages gave more events/s and less CPU per event than SQLite's checkpoint or passes every
/// 8 000 pages on a fresh database; on a grown one, each pass's sync of the database file (its pages scattered
/// over the indexes) slowed the writer's syncs more the larger it was, so the soak's p99 rose window by window.
/// Passes every 2 000 pages keep a long soak's p99 flat at no measurable cost in events/s; the measurements are in
/// docs/performance.md ("WAL checkpoints off the writer", "Soak windows and checkpoint passes").
final class WALCheckpointer: Sendable {
    /// WAL pages (frames) at which a pass starts.
    let threshold: Int32
    private let path: String
    private let phase = Mutex(Phase.idle)
    /// Whether a connection's hook holds this checkpointer (retained, so it cannot go away under the hook).
    private let installed = Mutex(false)
    /// Entered while a pass runs, so closing the database can wait for it.
    private let passes = DispatchGroup()

    private enum Phase {
        /// No pass since the writer's last catch-up.
        case idle
        case running
        /// A pass is done: the writer's next commit catches up.
        case done
    }

    /// Whether passes run at the lowest CPU priority (the log lines' database, as its writer: ``LowPriority``).
    let lowPriority: Bool

    init(path: String, threshold: Int32, lowPriority: Bool = false) {
        self.path = path
        self.threshold = threshold
        self.lowPriority = lowPriority
    }

    /// Makes `db` (the writer connection, and only one) report its commits to this checkpointer instead of
    /// checkpointing every 1 000 pages itself. The hook keeps the checkpointer alive until ``uninstall(from:)``.
    func install(on db: Database) {
        let first = installed.withLock { installed in
            defer { installed = true }
            return !installed
        }
        guard first else { return }
        sqlite3_wal_hook(db.sqliteConnection, walHook, Unmanaged.passRetained(self).toOpaque())
    }

    /// The connection's commits no longer reach this checkpointer (nor does SQLite checkpoint automatically).
    func uninstall(from db: Database) {
        let wasInstalled = installed.withLock { installed in
            defer { installed = false }
            return installed
        }
        guard wasInstalled else { return }
        sqlite3_wal_hook(db.sqliteConnection, nil, nil)
        Unmanaged.passUnretained(self).release()
    }

    /// Waits for a pass that is running.
    func waitForPass() {
        passes.wait()
    }

    /// After each commit of the writer connection, with the WAL's length in pages.
    func committed(_ connection: OpaquePointer?, frames: Int32) {
        enum Action { case none, start, catchUp }
        let action: Action = phase.withLock { phase in
            switch phase {
            case .done:
                phase = .idle
                return .catchUp
            case .idle where frames >= threshold:
                phase = .running
                return .start
            default:
                return .none
            }
        }
        switch action {
        case .none:
            break
        case .catchUp:
            // PASSIVE, like SQLite's automatic checkpoint: copies what readers allow, never waits for them. Its
            // failure (e.g. SQLITE_BUSY) leaves the WAL to the next pass.
            _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        case .start:
            passes.enter()
            let thread = Thread { [self] in
                if lowPriority { _ = LowPriority.enter() }
                runPass()
                phase.withLock { $0 = .done }
                passes.leave()
            }
            thread.name = "spyglass-checkpoint"
            thread.start()
        }
    }

    /// One PASSIVE checkpoint on a connection of its own, synced as the writer's commits are.
    private func runPass() {
        var connection: OpaquePointer?
        defer { sqlite3_close_v2(connection) }
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { return }
        guard sqlite3_exec(connection, "PRAGMA synchronous = FULL", nil, nil, nil) == SQLITE_OK else { return }
        _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    }
}

/// SQLite's WAL hook: a C function, with the checkpointer as its context. Returns SQLITE_OK (the commit stands).
private let walHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = {
    context, connection, _, frames in
    guard let context else { return SQLITE_OK }
    Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(connection, frames: frames)
    return SQLITE_OK
}
