import Foundation
import GRDB
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

/// First start, readiness, the periodic jobs, backup and checks in SQLite: the ``MaintenanceStore`` port.
public struct SQLiteMaintenance: MaintenanceStore {
    /// One server process writes a SQLite database: the jobs always run.
    public func exclusively(_ jobs: () async throws -> Void) async throws -> Bool {
        try await jobs()
        return true
    }

    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    /// Deletes per-minute counts older than two hours (frequency conditions look back one hour at most; longer
    /// intervals use hourly counts) and settled notifications older than `maxAge` seconds.
    @discardableResult
    public func pruneAlertData(now: Date, maxAge: Double) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM issue_minute WHERE minute < ?", arguments: [Int64((now.timeIntervalSince1970 / 60).rounded(.down)) - 120])
            var deleted = db.changesCount
            try db.execute(
                sql: "DELETE FROM notification WHERE status != 'pending' AND created_at < ?",
                arguments: [now.timeIntervalSince1970 - maxAge])
            deleted += db.changesCount
            return deleted
        }
    }

    /// Makes sure an admin account and a project exist; idempotent, so every start calls it.
    ///
    /// An admin is created when there is none (with `adminPassword`, else a generated one-time password);
    /// the `default` project when there is no project at all.
    public func bootstrap(adminEmail: String, adminPassword: String?, now: Date) async throws -> BootstrapReport {
        let email = try EmailAddress.normalize(adminEmail)
        let needsAdmin = try await writer.read { db in try User.filter(User.Columns.isAdmin == true).fetchCount(db) == 0 }
        // Hash before the write transaction: bcrypt takes tens of milliseconds.
        let chosen = needsAdmin ? try Password.forFirstAdmin(adminPassword) : nil
        return try await writer.write { db in
            var report = BootstrapReport()
            if let password = chosen, try User.filter(User.Columns.isAdmin == true).fetchCount(db) == 0 {
                if var existing = try User.filter(User.Columns.email == email).fetchOne(db) {
                    // The configured e-mail already has an account: promote it, keep its password.
                    existing.isAdmin = true
                    try existing.update(db)
                } else {
                    var admin = User(
                        email: email, passwordHash: password.hash, isAdmin: true, isActive: true,
                        mustChangePassword: password.generated, createdAt: now)
                    try admin.insert(db)
                    report.createdAdmin = admin.id.map {
                        AccountInfo(id: $0, email: admin.email, isAdmin: true, isActive: true, createdAt: admin.createdAt)
                    }
                    report.generatedPassword = password.generated ? password.plain : nil
                }
            }
            if try Project.fetchCount(db) == 0 {
                _ = try database.insertProject(
                    db, name: "Default", slug: "default", id: nil, publicKey: PublicKey.generate(), now: now)
                report.createdProject = true
            }
            let project =
                try Project.filter(Project.Columns.slug == "default").fetchOne(db)
                ?? Project.order(Project.Columns.id).fetchOne(db)
            if let project, let id = project.id {
                report.project = ProjectInfo(id: id, slug: project.slug, name: project.name, createdAt: project.createdAt)
                report.keys = try SQLiteProjects.keys(projectID: id, in: db).filter(\.isActive)
            }
            return report
        }
    }

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
    public func backup(to destination: URL) async throws {
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
                try copyLogLines(to: copy)
                try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            }()
        } catch let error as DatabaseError {
            throw DomainError(.unavailable, "cannot write backup \(path): \(error.message ?? "\(error)")")
        }
        guard rename(partialPath, path) == 0 else {
            throw DomainError(.unavailable, "cannot move backup into place at \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The log lines (their own database, ``LogDatabase``) into the backup's `log_entry`, in one read of them: a
    /// backup is one file, and the database restored from it moves them back to their own file as it opens.
    private func copyLogLines(to copy: DatabaseQueue) throws {
        let columns = AppDatabase.logColumns.joined(separator: ", ")
        try copy.writeWithoutTransaction { db in
            try db.execute(sql: AppDatabase.logTableSQL)
            if let path = database.logs.path {
                try db.execute(sql: "ATTACH DATABASE ? AS logs", arguments: [path])
                defer { try? db.execute(sql: "DETACH DATABASE logs") }
                try db.inTransaction {
                    try db.execute(sql: "INSERT INTO log_entry (\(columns)) SELECT \(columns) FROM logs.log_entry")
                    return .commit
                }
            } else {
                // In memory (tests): row by row.
                let rows = try database.logs.writer.read { lines in
                    try Row.fetchAll(lines, sql: "SELECT \(columns) FROM log_entry")
                }
                try db.inTransaction {
                    for row in rows {
                        try db.execute(
                            sql: "INSERT INTO log_entry (\(columns)) VALUES (\(databaseQuestionMarks(count: row.count)))",
                            arguments: StatementArguments(row.databaseValues))
                    }
                    return .commit
                }
            }
        }
    }

    public func recordServedBaseURL(_ url: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE instance SET base_url = ? WHERE id = 1", arguments: [url])
        }
    }

    public func servedBaseURL() async throws -> String? {
        try await writer.read { db in try String.fetchOne(db, sql: "SELECT base_url FROM instance WHERE id = 1") }
    }

    /// SQLite's integrity and foreign-key checks; an empty list means the database is sound.
    public func integrityProblems() async throws -> [String] {
        try await writer.read { db in
            var problems = try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }
            let rows = try Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            for row in rows {
                let table: String = row["table"]
                let rowID: Int64? = row["rowid"]
                let parent: String = row["parent"]
                problems.append("\(table) row \(rowID.map(String.init) ?? "?") refers to a missing \(parent) row")
            }
            return problems
        }
            + database.logs.writer.read { db in
                try String.fetchAll(db, sql: "PRAGMA integrity_check").filter { $0 != "ok" }.map { "log lines: \($0)" }
            }
    }

    /// Periodic lifecycle work: new and regressed issues turn ongoing after 7 days; projects with an auto-resolve
    /// age resolve issues without events for that long; ignore periods that ended unignore their issues.
    @discardableResult
    public func agePeriodically(now: Date) async throws -> Int {
        let time = now.timeIntervalSince1970
        return try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE issue SET substatus = 'ongoing', substatus_since = ? WHERE status = 'unresolved'
                        AND substatus IN ('new', 'regressed') AND substatus_since <= ?
                    """,
                arguments: [time, time - Lifecycle.ongoingAfter])
            var changed = db.changesCount
            let stale = try Row.fetchAll(
                db,
                sql: """
                    SELECT issue.id, project.resolve_age_hours FROM issue JOIN project ON project.id = issue.project_id
                    WHERE issue.status = 'unresolved' AND project.resolve_age_hours IS NOT NULL
                        AND issue.last_seen < ? - project.resolve_age_hours * 3600.0
                    """,
                arguments: [time])
            for row in stale {
                let id: Int64 = row["id"]
                let hours: Int64 = row["resolve_age_hours"]
                try db.execute(
                    sql: """
                        UPDATE issue SET status = 'resolved', substatus = NULL, resolution = 'now', resolution_release = NULL,
                            status_changed_at = ? WHERE id = ?
                        """,
                    arguments: [time, id])
                try LifecycleRows.addActivity(id, kind: .autoResolved, data: ["hours": .number(JSONNumber(hours))], at: now, in: db)
            }
            changed += stale.count
            for row in try Row.fetchAll(db, sql: "SELECT id, ignore_state FROM issue WHERE status = 'ignored' AND ignore_state IS NOT NULL") {
                let id: Int64 = row["id"]
                guard let text: String = row["ignore_state"], let state = IgnoreState(storedJSON: text), case .untilDate(let date) = state.condition,
                    now >= date
                else { continue }
                try db.execute(
                    sql: """
                        UPDATE issue SET status = 'unresolved', substatus = 'escalating', substatus_since = ?, ignore_state = NULL,
                            status_changed_at = ? WHERE id = ?
                        """,
                    arguments: [time, time, id])
                try LifecycleRows.addActivity(id, kind: .setUnresolved, data: ["reason": "ignore period ended"], at: now, in: db)
                changed += 1
            }
            return changed
        }
    }

    /// Deletes events beyond the policy, in short transactions. The first and the latest event of every issue,
    /// and pinned events (regressions), are kept whatever their age; issue counters keep their totals.
    /// Returns the number of events deleted.
    @discardableResult
    public func enforceRetention(_ policy: RetentionPolicy, now: Date) async throws -> Int {
        try await enforceRetention(policy, now: now, batchSize: 2000)
    }

    /// ``enforceRetention(_:now:)`` deleting `batchSize` events per transaction (tests use small ones).
    @discardableResult
    public func enforceRetention(_ policy: RetentionPolicy, now: Date, batchSize: Int) async throws -> Int {
        let protected = RetentionRun.protectedCondition
        return try await RetentionRun.run(
            policy, now: now, batchSize: batchSize,
            projects: {
                try await writer.read { db in
                    try Row.fetchAll(db, sql: "SELECT id, retention_days FROM project").map { row -> (id: Int64, retentionDays: Int64?) in
                        (row["id"], row["retention_days"])
                    }
                }
            },
            crowded: { maxEvents in
                try await writer.read { db in
                    try Row.fetchAll(
                        db, sql: "SELECT project_id, count(*) AS events FROM event GROUP BY project_id HAVING count(*) > ?",
                        arguments: [maxEvents]
                    ).map { row -> (projectID: Int64, events: Int) in (row["project_id"], row["events"]) }
                }
            },
            deleteOlder: { projectID, cutoff, limit in
                try await writer.write { db in
                    try AppDatabase.deleteEvents(
                        db, sql: "SELECT id FROM event WHERE project_id = ? AND timestamp < ? AND \(protected) ORDER BY timestamp LIMIT ?",
                        arguments: [projectID, cutoff, limit])
                }
            },
            deleteOldest: { projectID, limit in
                try await writer.write { db in
                    try AppDatabase.deleteEvents(
                        db, sql: "SELECT id FROM event WHERE project_id = ? AND \(protected) ORDER BY timestamp, id LIMIT ?",
                        arguments: [projectID, limit])
                }
            })
    }
}
