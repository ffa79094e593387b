import Foundation
import GRDB
import SpyglassCore

extension AppDatabase {
    static func deleteEvents(_ db: Database, sql: String, arguments: StatementArguments) throws -> Int {
        let ids = try Int64.fetchAll(db, sql: sql, arguments: arguments)
        guard !ids.isEmpty else { return 0 }
        let list = ids.map { _ in "?" }.joined(separator: ",")
        try db.execute(
            sql: "DELETE FROM attachment WHERE (project_id, event_id) IN (SELECT project_id, event_id FROM event WHERE id IN (\(list)))",
            arguments: StatementArguments(ids))
        try db.execute(sql: "DELETE FROM event WHERE id IN (\(list))", arguments: StatementArguments(ids))
        return ids.count
    }
}
