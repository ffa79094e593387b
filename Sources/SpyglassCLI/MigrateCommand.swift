import ArgumentParser
import Foundation
import Logging
import SpyglassCore
import SpyglassPostgres
import SpyglassServer
import SpyglassStorage

/// `spyglass migrate --to postgres://…`.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy the SQLite database of --data-dir into an empty PostgreSQL database.",
        discussion: """
            Every table and row is copied with its ids, in one transaction, and each table's count is checked before \
            it commits: DSNs, issue links, accounts and API tokens work unchanged on the copy. The PostgreSQL database \
            must be empty (its schema is created if needed). Safe while a server runs on the SQLite database: the \
            copy is the database as it was when the copy began; stop that server before switching to PostgreSQL \
            (SPYGLASS_DATABASE_URL), or events it stores meanwhile stay behind.
            """)

    @OptionGroup var store: StoreOptions
    @Option(help: ArgumentHelp("The PostgreSQL database to copy into.", valueName: "postgres://user:password@host:5432/db"))
    var to: String
    @Flag(help: "Print the tables and counts as JSON.") var json = false

    func run() async throws {
        let url = try await reporting { try DatabaseURL(to) }
        let source = try store.openSQLite()
        var logger = Logger(label: "spyglass.migrate")
        // postgres-nio warns when a query waits for the pool to start; the copy's own errors are reported below.
        logger.logLevel = .error
        let target = PostgresAppDatabase(url: url, maximumConnections: 2, logger: logger)
        let counts = try await reporting {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await target.run() }
                defer { group.cancelAll() }
                try await target.checkReachable()
                try await target.migrate()
                return try await DatabaseCopy.copy(from: source, to: target, logger: logger) { count in
                    if !json { print("\(count.table): \(count.rows)") }
                }
            }
        }
        if json {
            try printJSON(counts)
        } else {
            print("Copied \(counts.count) tables, \(counts.reduce(0) { $0 + $1.rows }) rows, into \(url); every count matches.")
        }
    }
}
