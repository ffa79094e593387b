import Foundation
import GRDB
import SpyglassStorage
import SpyglassStorageKit
import Testing

/// The export `spyglass migrate` copies from: every row once, page after page, by key.
@Suite struct SQLiteExportTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func pagesByKeyReadEveryRowOnceInKeyOrderForRowIDAndWithoutRowIDTables() async throws {
        let database = try AppDatabase.inMemory()
        try database.createProject(name: "Shop", now: now)
        try await database.writer.write { db in
            for issue in 1...3 {
                try db.execute(
                    sql: """
                        INSERT INTO issue (id, project_id, short_id, title, culprit, type, metadata, level, first_seen, last_seen)
                        VALUES (?, 1, ?, 't', '', 'error', '{}', 'error', 0, 0)
                        """,
                    arguments: [issue * 10, issue])
                // A WITHOUT ROWID table keyed by (issue_id, key, value): keys that sort differently as text and numbers.
                for value in ["1", "10", "2", "b", "a"] {
                    try db.execute(
                        sql: "INSERT INTO issue_tag (issue_id, key, value, times_seen, first_seen, last_seen) VALUES (?, 'k', ?, 1, 0, 0)",
                        arguments: [issue * 10, value])
                }
            }
        }
        let export = try SQLiteExport(database)
        for (table, columns) in [("issue", ["id", "short_id"]), ("issue_tag", ["issue_id", "key", "value"])] {
            var seen: [[StoredValue]] = []
            var cursor: SQLiteExport.Cursor?
            var pages = 0
            repeat {
                let (page, next) = try await export.rows(of: table, columns: columns, after: cursor, limit: 2)
                seen += page.rows
                cursor = next
                pages += 1
            } while cursor != nil && pages < 100
            let count = try await export.count(of: table)
            #expect(seen.count == count)
            #expect(Set(seen.map { "\($0)" }).count == count)
            #expect(count > 2 && pages == (count + 1) / 2 + 1)  // pages of 2, then an empty one
        }
        let (tags, _) = try await export.rows(of: "issue_tag", columns: ["issue_id", "value"], after: nil, limit: 5)
        #expect(tags.rows.map { $0[1] } == ["1", "10", "2", "a", "b"].map(StoredValue.text))
    }
}
