import Foundation
import Logging
import MetricsTestKit
import ServiceLifecycle
import SpyglassCore
import SpyglassPostgres
import SpyglassProtocol
import SpyglassStorage
import SpyglassStorageKit

/// One database filled through SQLite's real ingest writer, and the same data copied into a fresh PostgreSQL
/// database: the same questions put to both through the ports must get the same answers.
struct CopiedStores: Sendable {
    let sqlite: TestStore
    let postgres: TestStore
    let fixture: IssueFixture

    var both: [TestStore] { [sqlite, postgres] }
}

/// Fills a SQLite database with `fill` (the fixture's data by default), copies it into a fresh PostgreSQL database
/// as `spyglass migrate` does, and runs `body` with both.
func withCopiedStores<Result: Sendable>(
    _ body: @Sendable (CopiedStores) async throws -> Result
) async throws -> Result {
    let source = try AppDatabase.inMemory()
    let fixture = try await IssueFixture.fill(source)
    return try await withTestStore(.postgres) { postgres in
        guard case .postgres(let target) = postgres.database else {
            fatalError("withTestStore(.postgres) gave another backend")
        }
        try await copy(source, into: target)
        return try await body(
            CopiedStores(sqlite: TestStore(database: .sqlite(source)), postgres: postgres, fixture: fixture))
    }
}

/// `DatabaseCopy.copy`'s steps (SpyglassServer's; depending on it would build the whole server for this target):
/// every table in an order that satisfies the foreign keys, values as stored, then the identities reset.
private func copy(_ source: AppDatabase, into target: PostgresAppDatabase) async throws {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    let export = try SQLiteExport(source)
    let tables = try await export.tables()
    let order = [
        "user", "project", "project_member", "project_key", "api_token", "web_session", "issue", "event", "attachment",
        "user_report", "release_sessions", "discarded_events", "payload_dictionary", "grouping_hash", "issue_user",
        "issue_tag", "issue_hour", "issue_minute", "issue_search", "release", "release_environment", "deploy",
        "issue_activity", "alert_rule", "alert_rule_issue", "notification", "notification_attempt", "instance",
    ]
    try await target.withTransaction { connection in
        for table in order where tables.contains(table) {
            let types = try await PostgresAppDatabase.columnTypes(of: table, on: connection, logger: logger)
            let rows = try await export.rows(
                of: table, columns: try await export.columns(of: table), offset: 0, limit: Int(Int32.max))
            if table == "instance" {
                try await PostgresAppDatabase.replaceInstance(rows, types: types, on: connection, logger: logger)
            } else {
                try await PostgresAppDatabase.insert(
                    rows, into: table, types: types, firstRow: 0, on: connection, logger: logger)
            }
        }
    }
    try await target.resetIdentities()
}
