import Foundation
import GRDB
import SpyglassCore
import SpyglassStorageKit

/// A consistent read of the whole database, table by table and page by page, for copying it to another backend
/// (`spyglass migrate --to postgres://…`). On disk it reads a snapshot: writes that a running server makes
/// meanwhile are not seen, so the copy is the database as it was when the export began.
package struct SQLiteExport: Sendable {
    private let reader: any DatabaseReader

    /// Tables that belong to SQLite itself or to GRDB, and FTS5's shadow tables: not data to copy.
    private static let internalTables: Set<String> = [
        "grdb_migrations", "sqlite_sequence", "issue_search_data", "issue_search_idx", "issue_search_content",
        "issue_search_docsize", "issue_search_config",
    ]

    package init(_ database: AppDatabase) throws {
        if let pool = database.writer as? DatabasePool {
            reader = try pool.makeSnapshot()
        } else {
            reader = database.writer
        }
    }

    /// The data tables, by name.
    package func tables() async throws -> Set<String> {
        try await reader.read { db in
            Set(
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
                    .filter { !Self.internalTables.contains($0) && !$0.hasPrefix("sqlite_") })
        }
    }

    /// The table's columns, in declaration order. The search table's row id is its issue's id: `issue_id`.
    package func columns(of table: String) async throws -> [String] {
        if table == "issue_search" { return ["issue_id", "title", "culprit", "message"] }
        return try await reader.read { db in try db.columns(in: table).map(\.name) }
    }

    package func count(of table: String) async throws -> Int {
        try await reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0 }
    }

    /// Up to `limit` rows of `table` from `offset` on, in primary-key order, with the values of `columns`.
    package func rows(of table: String, columns: [String], offset: Int, limit: Int) async throws -> StoredRows {
        try await reader.read { db in
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
                rows: rows.map { row in
                    columns.map { column in
                        switch row[column] as DatabaseValue? {
                        case nil: .null
                        case let value?:
                            switch value.storage {
                            case .null: .null
                            case .int64(let number): .integer(number)
                            case .double(let number): .real(number)
                            case .string(let text): .text(text)
                            case .blob(let data): .blob([UInt8](data))
                            }
                        }
                    }
                })
        }
    }
}
