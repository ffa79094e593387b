import Foundation
import Logging
import PostgresNIO
import SpyglassCore

/// Each user's saved searches in PostgreSQL: the ``SavedSearchStore`` port.
public struct PostgresSavedSearches: SavedSearchStore {
    let database: PostgresAppDatabase

    /// The port over `database`.
    public init(_ database: PostgresAppDatabase) { self.database = database }

    var logger: Logger { database.logger }

    static func search(_ row: PostgresRandomAccessRow) throws -> SavedSearch {
        SavedSearch(
            id: try row.decode("id"), projectID: try row.decode("project_id"), name: try row.decode("name"),
            query: try row.decode("query"), pinned: try row.decode("pinned", as: Int64.self) == 1,
            created: Date(timeIntervalSince1970: try row.decode("created_at")))
    }

    public func savedSearches(userID: Int64, projectID: Int64?) async throws -> [SavedSearch] {
        try await database.withConnection { connection in
            try await connection.rows(
                """
                SELECT id, project_id, name, query, pinned, created_at FROM saved_search
                WHERE user_id = \(userID) AND (project_id IS NULL OR project_id = \(projectID))
                ORDER BY project_id IS NULL, name COLLATE "C", id
                """, logger: logger
            ).map(Self.search)
        }
    }

    public func saveSearch(userID: Int64, projectID: Int64?, name: String, query: String, now: Date) async throws -> SavedSearch {
        let (name, query) = try SavedSearch.validated(name: name, query: query)
        let logger = logger
        let time = now.timeIntervalSince1970
        return try await database.withTransaction { connection in
            try await connection.execute(
                """
                DELETE FROM saved_search WHERE user_id = \(userID) AND project_id IS NOT DISTINCT FROM \(projectID) AND name = \(name)
                """, logger: logger)
            let id = try await connection.scalar(
                """
                INSERT INTO saved_search (user_id, project_id, name, query, created_at)
                VALUES (\(userID), \(projectID), \(name), \(query), \(time)) RETURNING id
                """, as: Int64.self, logger: logger) ?? 0
            return SavedSearch(id: id, projectID: projectID, name: name, query: query, pinned: false, created: now)
        }
    }

    public func deleteSavedSearch(id: Int64, userID: Int64) async throws -> Bool {
        try await database.withConnection { connection in
            try await connection.row("DELETE FROM saved_search WHERE id = \(id) AND user_id = \(userID) RETURNING id", logger: logger) != nil
        }
    }

    public func pinSavedSearch(id: Int64, userID: Int64, pinned: Bool) async throws -> Bool {
        let logger = logger
        return try await database.withTransaction { connection in
            guard
                let row = try await connection.row(
                    "SELECT project_id FROM saved_search WHERE id = \(id) AND user_id = \(userID) FOR UPDATE", logger: logger)
            else { return false }
            let projectID: Int64? = try row.decode("project_id")
            if pinned {
                try await connection.execute(
                    """
                    UPDATE saved_search SET pinned = 0
                    WHERE user_id = \(userID) AND project_id IS NOT DISTINCT FROM \(projectID) AND pinned = 1
                    """, logger: logger)
            }
            try await connection.execute("UPDATE saved_search SET pinned = \(pinned ? Int64(1) : 0) WHERE id = \(id)", logger: logger)
            return true
        }
    }
}
