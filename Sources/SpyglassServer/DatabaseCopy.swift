import Foundation
import Logging
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import SpyglassStorageKit

/// `spyglass migrate --to postgres://…`: copies a SQLite database, every table and every row with its values as
/// stored (payloads stay compressed as they are), into an empty PostgreSQL database, in one transaction, and checks
/// each table's count before committing. Ids are kept, so DSNs, issue links and API tokens go on working.
public enum DatabaseCopy {
    /// A table and the rows copied.
    public struct TableCount: Sendable, Hashable, Encodable {
        public var table: String
        public var rows: Int
    }

    /// The tables in the order their rows can be inserted (a row after the rows it refers to). The copy refuses
    /// to start when either database has a table this list lacks, so a new table cannot be left behind silently.
    static let order = [
        "user", "project", "project_member", "project_key", "api_token", "web_session", "issue", "event", "attachment",
        "user_report", "release_sessions", "discarded_events", "payload_dictionary", "grouping_hash", "issue_user",
        "issue_tag", "issue_hour", "issue_minute", "issue_search", "release", "release_environment", "deploy",
        "repository", "release_commit", "file_chunk", "artifact_bundle", "artifact_file", "saved_search",
        "issue_activity", "alert_rule", "alert_rule_issue", "notification", "notification_attempt",
        "log_entry",
        // Last: inserting keys bumped its keys_version; the copied row replaces it.
        "instance",
    ]

    /// Rows read and written at a time (fewer for tables of large payloads).
    static func pageSize(_ table: String) -> Int {
        // A chunk holds up to 8 MiB, a bundled file as much.
        if ["file_chunk", "artifact_file"].contains(table) { return 8 }
        return ["event", "attachment", "payload_dictionary", "log_entry"].contains(table) ? 200 : 2000
    }

    /// Copies `source` into `target` (migrated, empty); returns the rows copied per table.
    ///
    /// - Parameter progress: called after each table with its name and row count.
    public static func copy(
        from source: AppDatabase, to target: PostgresAppDatabase, logger: Logger,
        progress: @Sendable (TableCount) -> Void = { _ in }
    ) async throws -> [TableCount] {
        let export = try SQLiteExport(source)
        let sourceTables = try await export.tables()
        if let unknown = sourceTables.subtracting(order).sorted().first {
            throw DomainError(.unavailable, "migrate: the SQLite table \(unknown) has no place in the copy (a newer database?)")
        }
        var counts: [TableCount] = []
        try await target.withTransaction { connection in
            let targetTables = try await PostgresAppDatabase.tables(on: connection, logger: logger)
            if let missing = Set(order).subtracting(targetTables).sorted().first {
                throw DomainError(.unavailable, "migrate: PostgreSQL has no table \(missing); is its schema from this Spyglass?")
            }
            if let unknown = targetTables.subtracting(order).sorted().first {
                throw DomainError(.unavailable, "migrate: PostgreSQL's table \(unknown) has no place in the copy")
            }
            let users = try await PostgresAppDatabase.count(of: "user", on: connection, logger: logger)
            let projects = try await PostgresAppDatabase.count(of: "project", on: connection, logger: logger)
            guard users == 0 && projects == 0 else {
                throw DomainError(
                    .conflict,
                    "migrate: \(target.url.map(String.init(describing:)) ?? "the PostgreSQL database") already holds data "
                        + "(users: \(users), projects: \(projects)); migrate copies into an empty database")
            }
            for table in order where sourceTables.contains(table) {
                let types = try await PostgresAppDatabase.columnTypes(of: table, on: connection, logger: logger)
                let columns = try await export.columns(of: table)
                if Set(columns) != Set(types.keys) {
                    let differing = Set(columns).symmetricDifference(types.keys).sorted().joined(separator: ", ")
                    throw DomainError(.unavailable, "migrate: the columns of \(table) differ between the databases (\(differing))")
                }
                let expected = try await export.count(of: table)
                var copied = 0
                var cursor: SQLiteExport.Cursor?
                while copied < expected {
                    let (page, next) = try await export.rows(of: table, columns: columns, after: cursor, limit: pageSize(table))
                    cursor = next
                    if page.rows.isEmpty { break }
                    if table == "instance" {
                        try await PostgresAppDatabase.replaceInstance(page, types: types, on: connection, logger: logger)
                    } else {
                        try await PostgresAppDatabase.insert(
                            page, into: table, types: types, firstRow: copied, on: connection, logger: logger)
                    }
                    copied += page.rows.count
                }
                let stored = try await PostgresAppDatabase.count(of: table, on: connection, logger: logger)
                guard stored == expected else {
                    throw DomainError(
                        .unavailable, "migrate: \(table) has \(expected) rows in SQLite but \(stored) in PostgreSQL; nothing was kept")
                }
                let count = TableCount(table: table, rows: stored)
                counts.append(count)
                progress(count)
            }
        }
        try await target.resetIdentities()
        return counts
    }
}
