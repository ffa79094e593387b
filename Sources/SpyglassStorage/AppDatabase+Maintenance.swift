import Foundation
import GRDB
import SpyglassCore

extension AppDatabase: ReadinessProbe {
    /// Checks the database answers a read and its files may be written, without writing anything: a probe that
    /// polls every few seconds must not cost a commit (fsync) each time.
    public func checkReady() async throws {
        do {
            _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT id FROM instance WHERE id = 1") }
        } catch let error as DatabaseError {
            throw DomainError(.unavailable, "database is not readable: \(error.message ?? "\(error.resultCode)")")
        }
        if writer.configuration.readonly { throw DomainError(.unavailable, "database is not writable: opened read-only") }
        let path = writer.path
        guard !path.isEmpty, path != ":memory:" else { return }
        for file in [path, (path as NSString).deletingLastPathComponent] where access(file, F_OK) == 0 {
            guard access(file, W_OK) == 0 else {
                throw DomainError(.unavailable, "database is not writable: \(file): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Writes a consistent copy of the database to `destination` (SQLite online backup), safe while the
    /// server runs. The copy appears atomically; an existing file is never overwritten.
    public func backup(to destination: URL) throws {
        let path = destination.path(percentEncoded: false)
        guard !FileManager.default.fileExists(atPath: path) else {
            throw DomainError(.conflict, "backup file \(path) already exists")
        }
        let partial = destination.deletingLastPathComponent()
            .appending(path: ".\(destination.lastPathComponent).partial-\(UUID().uuidString)")
        let partialPath = partial.path(percentEncoded: false)
        defer { try? FileManager.default.removeItem(atPath: partialPath) }
        do {
            // A scope of its own, so the copy's connection closes before the rename.
            try {
                let copy = try DatabaseQueue(path: partialPath)
                try writer.backup(to: copy)
                try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            }()
        } catch let error as DatabaseError {
            throw DomainError(.unavailable, "cannot write backup \(path): \(error.message ?? "\(error)")")
        }
        guard rename(partialPath, path) == 0 else {
            throw DomainError(.unavailable, "cannot move backup into place at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// SQLite's integrity and foreign-key checks; an empty list means the database is sound.
    public func integrityProblems() throws -> [String] {
        try writer.read { db in
            var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
            let rows = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            for row in rows {
                let table: String = row[0]
                let rowID: Int64? = row[1]
                let parent: String = row[2]
                problems.append("\(table) row \(rowID.map(String.init) ?? "?") refers to a missing \(parent) row")
            }
            return problems
        }
    }
}
