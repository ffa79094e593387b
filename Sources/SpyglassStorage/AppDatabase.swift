import Foundation
import GRDB
import SpyglassCore

/// The server's one SQLite database.
///
/// A value wrapping one `DatabaseWriter`: a WAL `DatabasePool` on disk, or a `DatabaseQueue` in memory for tests.
/// Opening it runs the migrations, so every command can start on a fresh directory.
public struct AppDatabase: Sendable {
    /// File name of the database inside the data directory.
    public static let fileName = "spyglass.sqlite"

    /// The connection (pool) every read and write goes through.
    public let writer: any DatabaseWriter
    /// The structured log lines' own database (``LogDatabase``).
    public let logs: LogDatabase
    /// Checkpoints the WAL of a database on disk (nil in memory).
    let checkpointer: WALCheckpointer?
    /// Files and directories that other local users could read, made private on opening (for a log line).
    public private(set) var tightenedPaths: [String] = []

    /// WAL pages at which a checkpoint starts: 16 MiB of 8 KiB pages (see ``WALCheckpointer``).
    package static let checkpointThreshold: Int32 = 2_000

    /// Wraps `writer` and migrates its schema to the latest version.
    /// Its log lines are kept in memory.
    public init(_ writer: any DatabaseWriter) throws {
        try self.init(writer, checkpointer: nil, logs: LogDatabase.inMemory(), path: nil)
    }

    private init(_ writer: any DatabaseWriter, checkpointer: WALCheckpointer?, logs: LogDatabase, path: String?) throws {
        self.writer = writer
        self.checkpointer = checkpointer
        self.logs = logs
        try Self.migrator.migrate(writer)
        try logs.takeLines(from: writer, mainPath: path)
    }

    /// Opens (creating if needed) the database in `directory`: WAL mode, foreign keys on, migrated.
    ///
    /// Throws a ``DomainError`` naming the directory when it cannot be created or written.
    public static func open(directory: URL) throws -> AppDatabase {
        try open(directory: directory, checkpointThreshold: checkpointThreshold)
    }

    /// ``open(directory:)`` with the WAL length at which checkpoints start (tests use short ones).
    package static func open(directory: URL, checkpointThreshold: Int32) throws -> AppDatabase {
        var tightened = try DataDirectory.prepare(directory)
        let path = directory.appending(path: fileName).path(percentEncoded: false)
        let logsPath = directory.appending(path: LogDatabase.fileName).path(percentEncoded: false)
        tightened += try DataDirectory.makePrivate(database: path)
        tightened += try DataDirectory.makePrivate(database: logsPath)
        // Processes that open a new directory together (`serve` and a command) would each run the migrations:
        // the first to take this lock migrates, the others then find nothing to do.
        let lock = try DataDirectory.lock(path + "-migrate.lock")
        defer { DataDirectory.unlock(lock) }
        do {
            WALCoalescing.register()
            let pool = try DatabasePool(path: path, configuration: makeConfiguration())
            let checkpointer = WALCheckpointer(path: path, threshold: checkpointThreshold)
            // GRDB turns a pool's writer connection to `synchronous = NORMAL` after `prepareDatabase` (WAL commits
            // then reach the disk only at checkpoints: a power loss could undo acknowledged events): it syncs every
            // commit again.
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                // The writer touches index pages all over the database (event ids are random): a page cache of
                // 16 MiB instead of SQLite's 2 MiB keeps more of them in memory. Readers keep the default.
                try db.execute(sql: "PRAGMA cache_size = -16384")
                try WALCoalescing.require(on: db, database: path)
                checkpointer.install(on: db)
            }
            let logs = try LogDatabase.open(path: logsPath)
            var database = try AppDatabase(pool, checkpointer: checkpointer, logs: logs, path: path)
            database.tightenedPaths = tightened
            return database
        } catch let error as DatabaseError {
            throw DomainError(.unavailable, "cannot open database \(path): \(error.message ?? "\(error)")")
        }
    }

    /// Wraps `writer` as it is, without migrating (e.g. a read-only connection in tests), with log lines in memory.
    package init(unmigrated writer: any DatabaseWriter) throws {
        self.writer = writer
        self.checkpointer = nil
        self.logs = try LogDatabase.inMemory()
    }

    /// A fresh, migrated in-memory database (tests).
    public static func inMemory() throws -> AppDatabase {
        try AppDatabase(DatabaseQueue(configuration: makeConfiguration()))
    }

    /// Connection settings shared by every connection.
    package static func makeConfiguration() -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // Another process (a CLI command, a backup) may hold the write lock for a moment.
        configuration.busyMode = .timeout(5)
        configuration.label = "spyglass"
        configuration.prepareDatabase { db in
            // 8 KiB pages for a new database (an existing one keeps its size). 4 KiB pages waste space where two event
            // rows do not fit in one; 16 KiB pages pack rows best, but every commit writes each page it touched whole,
            // and an event touches about two index pages of its own (event id, issue's events) once the database
            // has grown: there 8 KiB pages wrote less and cost less CPU per event, for somewhat more bytes per event
            // (docs/performance.md, "8 KiB pages").
            try db.execute(sql: "PRAGMA page_size = 8192")
            // Every commit reaches the disk before it returns: a 200 for an event means it is stored. (A pool
            // overrides this on its writer: see `open(directory:)`.)
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return configuration
    }
}

/// The data directory: created when missing, checked for writability, readable by its owner only (it holds
/// password hashes, webhook secrets and event data).
enum DataDirectory {
    /// Creates the directory (0700; missing parents 0755) and returns it when an existing one was made private.
    static func prepare(_ directory: URL) throws -> [String] {
        var path = directory.standardizedFileURL.path(percentEncoded: false)
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        // mkdir -p by hand, so the error names the component and the reason (errno).
        var prefix = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            prefix += "/" + component
            if mkdir(prefix, index == components.count - 1 ? 0o700 : 0o755) != 0 && errno != EEXIST {
                throw DomainError(.unavailable, "cannot create data directory \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DomainError(.unavailable, "data directory \(path) is not a directory")
        }
        // access(2) asks the kernel, which also knows about read-only mounts.
        guard access(path, W_OK | X_OK) == 0 else {
            throw DomainError(.unavailable, "data directory \(path) is not writable: \(String(cString: strerror(errno)))")
        }
        return try makePrivate([path], mode: 0o700)
    }

    /// Creates the database files that do not exist yet with mode 0600 (SQLite would create them 0644, and its
    /// -wal and -shm files take the database file's mode), and takes group and other permissions from existing
    /// ones. Returns the paths it changed.
    static func makePrivate(database path: String) throws -> [String] {
        if access(path, F_OK) != 0 {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if descriptor >= 0 { close(descriptor) }
        }
        return try makePrivate([path, path + "-wal", path + "-shm"], mode: 0o600)
    }

    /// Opens (creating, 0600) `path` and takes an exclusive `flock` on it, waiting for other holders; closing the
    /// returned descriptor releases it. A file of its own: SQLite's locks on the database file are POSIX record
    /// locks, which closing any other descriptor of that file in this process would drop.
    static func lock(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw DomainError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw DomainError(.unavailable, "cannot lock \(path): \(reason)")
            }
        }
        return descriptor
    }

    /// Releases a ``lock(_:)``.
    static func unlock(_ descriptor: Int32) {
        close(descriptor)
    }

    private static func makePrivate(_ paths: [String], mode: mode_t) throws -> [String] {
        var changed: [String] = []
        for path in paths {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { continue }
            guard chmod(path, mode) == 0 else {
                throw DomainError(.unavailable, "cannot make \(path) private (chmod): \(String(cString: strerror(errno)))")
            }
            changed.append(path)
        }
        return changed
    }
}

extension AppDatabase {
    /// Folds the WAL into the main file and closes every connection. Later use fails.
    public func close() throws {
        guard let pool = writer as? DatabasePool else { return }
        // No pass starts once the hook is gone; one that runs finishes before the last checkpoint.
        pool.writeWithoutTransaction { db in checkpointer?.uninstall(from: db) }
        checkpointer?.waitForPass()
        try pool.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
        try pool.close()
        try logs.close()
    }
}

extension AppDatabase {
    /// The ports of this database, each a small adapter over the same connection pool.
    public var storage: Storage {
        Storage(
            projects: SQLiteProjects(self), accounts: SQLiteAccounts(self), issues: SQLiteIssues(self),
            events: SQLiteEvents(self), releases: SQLiteReleases(self), alertRules: SQLiteAlertRules(self),
            outbox: SQLiteOutbox(self), maintenance: SQLiteMaintenance(self), artifacts: SQLiteArtifacts(self),
            savedSearches: SQLiteSavedSearches(self), logs: SQLiteLogs(self))
    }
}
