import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit

/// A consistent read of the whole database, table by table and page by page, for copying it to another backend
/// (`spyglass migrate --to postgres://…`). On disk it reads a snapshot: writes that a running server makes
/// meanwhile are not seen, so the copy is the database as it was when the export began.
package struct SQLiteExport: Sendable {
    private let main: any DatabaseReader
    /// The log lines' database (``LogDatabase``): its `log_entry` is read as if it were the main database's.
    private let logs: any DatabaseReader

    /// Tables that belong to SQLite itself or to GRDB, and FTS5's shadow tables: not data to copy.
    private static let internalTables: Set<String> = [
        "grdb_migrations", "sqlite_sequence", "issue_search_data", "issue_search_idx", "issue_search_content",
        "issue_search_docsize", "issue_search_config",
    ]

    package init(_ database: AppDatabase) throws {
        func snapshot(_ writer: any DatabaseWriter) throws -> any DatabaseReader {
            if let pool = writer as? DatabasePool { return try pool.makeSnapshot() }
            return writer
        }
        main = try snapshot(database.writer)
        logs = try snapshot(database.logs.writer)
    }

    /// The database that holds `table`.
    private func reader(_ table: String) -> any DatabaseReader {
        table == "log_entry" ? logs : main
    }

    /// The data tables, by name.
    package func tables() async throws -> Set<String> {
        func tables(_ reader: any DatabaseReader) async throws -> Set<String> {
            try await reader.read { db in
                Set(
                    try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                        .filter { !Self.internalTables.contains($0) && !$0.hasPrefix("sqlite_") })
            }
        }
        return try await tables(main).union(tables(logs))
    }

    /// The table's columns, in declaration order. The search table's row id is its issue's id: `issue_id`.
    package func columns(of table: String) async throws -> [String] {
        if table == "issue_search" { return ["issue_id", "title", "culprit", "message"] }
        return try await reader(table).read { db in try db.columns(in: table).map(\.name) }
    }

    package func count(of table: String) async throws -> Int {
        try await reader(table).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0 }
    }

    /// Where a table's reading stopped: the key of the last row read (its row id, or a `WITHOUT ROWID` table's
    /// primary key).
    package struct Cursor: Sendable {
        fileprivate var key: [DatabaseValue]
    }

    /// Up to `limit` rows of `table` after `cursor` (from the start when nil), in key order, with the values of
    /// `columns`, and the cursor after them. Paging by key costs the same for every page, where an OFFSET steps over
    /// every row before it (quadratic over a large table).
    package func rows(
        of table: String, columns: [String], after cursor: Cursor?, limit: Int
    ) async throws -> (rows: StoredRows, next: Cursor?) {
        try await reader(table).read { db in
            let key =
                try Self.isWithoutRowID(table, db)
                ? try db.primaryKey(table).columns.map(\.quotedDatabaseIdentifier) : ["rowid"]
            let keyList = key.joined(separator: ", ")
            let selected =
                table == "issue_search"
                ? "rowid AS issue_id, title, culprit, message"
                : columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            let keyAliases = key.indices.map { "spyglass_copy_key\($0)" }
            let keySelect = zip(key, keyAliases).map { "\($0) AS \($1)" }.joined(separator: ", ")
            var arguments = StatementArguments()
            var condition = ""
            if let cursor {
                condition = "WHERE (\(keyList)) > (\(databaseQuestionMarks(count: key.count)))"
                arguments += StatementArguments(cursor.key)
            }
            arguments += [limit]
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT \(keySelect), \(selected) FROM \(table.quotedDatabaseIdentifier) \(condition)
                    ORDER BY \(keyList) LIMIT ?
                    """,
                arguments: arguments)
            return (
                StoredRows(columns: columns, rows: rows.map { row in columns.map { Self.value(row[$0] as DatabaseValue?) } }),
                rows.last.map { last in Cursor(key: keyAliases.map { last[$0] as DatabaseValue }) }
            )
        }
    }

    private static func isWithoutRowID(_ table: String, _ db: Database) throws -> Bool {
        let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table])
        return (sql ?? "").uppercased().contains("WITHOUT ROWID")
    }

    /// Up to `limit` rows of `table` from `offset` on, in primary-key order, with the values of `columns`.
    package func rows(of table: String, columns: [String], offset: Int, limit: Int) async throws -> StoredRows {
        try await reader(table).read { db in
            let selected: String
            let order: String
            if table == "issue_search" {
                selected = "rowid AS issue_id, title, culprit, message"
                order = "rowid"
            } else {
                selected = columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
                let key = try db.primaryKey(table).columns
                order = (key.isEmpty ? ["rowid"] : key.map(\.quotedDatabaseIdentifier)).joined(separator: ", ")
            }
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(selected) FROM \(table.quotedDatabaseIdentifier) ORDER BY \(order) LIMIT ? OFFSET ?",
                arguments: [limit, offset])
            return StoredRows(
                columns: columns,
                rows: rows.map { row in columns.map { Self.value(row[$0] as DatabaseValue?) } })
        }
    }

    private static func value(_ value: DatabaseValue?) -> StoredValue {
        switch value?.storage {
        case nil, .null?: .null
        case .int64(let number)?: .integer(number)
        case .double(let number)?: .real(number)
        case .string(let text)?: .text(text)
        case .blob(let data)?: .blob([UInt8](data))
        }
    }
}
