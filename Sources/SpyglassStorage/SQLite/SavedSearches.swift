import Foundation
import GRDB
import SpyglassCore

/// Each user's saved searches in SQLite: the ``SavedSearchStore`` port.
public struct SQLiteSavedSearches: SavedSearchStore {
    let database: AppDatabase

    public init(_ database: AppDatabase) { self.database = database }

    var writer: any DatabaseWriter { database.writer }

    static let columns = "id, project_id, name, query, pinned, created_at"

    static func search(_ row: Row) -> SavedSearch {
        SavedSearch(
            id: row["id"], projectID: row["project_id"], name: row["name"], query: row["query"], pinned: row["pinned"] == 1,
            created: Date(timeIntervalSince1970: row["created_at"]))
    }

    public func savedSearches(userID: Int64, projectID: Int64?) async throws -> [SavedSearch] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.columns) FROM saved_search WHERE user_id = ? AND (project_id IS NULL OR project_id = ?)
                    ORDER BY project_id IS NULL, name, id
                    """,
                arguments: [userID, projectID]
            ).map(Self.search)
        }
    }

    public func saveSearch(userID: Int64, projectID: Int64?, name: String, query: String, now: Date) async throws -> SavedSearch {
        let (name, query) = try SavedSearch.validated(name: name, query: query)
        return try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM saved_search WHERE user_id = ? AND project_id IS ? AND name = ?", arguments: [userID, projectID, name])
            try db.execute(
                sql: "INSERT INTO saved_search (user_id, project_id, name, query, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [userID, projectID, name, query, now.timeIntervalSince1970])
            return SavedSearch(id: db.lastInsertedRowID, projectID: projectID, name: name, query: query, pinned: false, created: now)
        }
    }

    public func deleteSavedSearch(id: Int64, userID: Int64) async throws -> Bool {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM saved_search WHERE id = ? AND user_id = ?", arguments: [id, userID])
            return db.changesCount > 0
        }
    }

    public func pinSavedSearch(id: Int64, userID: Int64, pinned: Bool) async throws -> Bool {
        try await writer.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT project_id FROM saved_search WHERE id = ? AND user_id = ?", arguments: [id, userID])
            else { return false }
            let projectID: Int64? = row["project_id"]
            if pinned {
                try db.execute(
                    sql: "UPDATE saved_search SET pinned = 0 WHERE user_id = ? AND project_id IS ? AND pinned = 1", arguments: [userID, projectID])
            }
            try db.execute(sql: "UPDATE saved_search SET pinned = ? WHERE id = ?", arguments: [pinned ? 1 : 0, id])
            return true
        }
    }
}
