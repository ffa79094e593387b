import Foundation
import PostgresNIO
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import SpyglassStorageKit
import Testing

/// The maintenance port on each backend, and bootstrap compared across them.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct MaintenanceContractTests {
    /// What a bootstrap report says, without what is random (the key, the password) or numbered per backend.
    struct ReportShape: Hashable {
        var adminEmail: String?
        var adminCreatedAt: Date?
        var generatedPassword: Bool
        var createdProject: Bool
        var project: ProjectInfo?
        var keys: [String]

        init(_ report: BootstrapReport) {
            adminEmail = report.createdAdmin?.email
            adminCreatedAt = report.createdAdmin?.createdAt
            generatedPassword = report.generatedPassword != nil
            createdProject = report.createdProject
            project = report.project
            keys = report.keys.map {
                "\($0.label) active=\($0.isActive) created=\($0.createdAt.timeIntervalSince1970) limit=\(String(describing: $0.rateLimitPerMinute))"
            }
        }
    }

    /// The rows bootstrap writes, counted per table, with the default rule as stored.
    static func rows(_ store: TestStore) async throws -> [String] {
        let tables = ["user", "project", "project_member", "project_key", "alert_rule"]
        switch store.database {
        case .sqlite(let database):
            let export = try SQLiteExport(database)
            var rows: [String] = []
            for table in tables { rows.append("\(table): \(try await export.count(of: table))") }
            let columns = [
                "name", "enabled", "spec", "frequency_minutes", "on_new", "on_regression", "on_reappeared",
                "counts_events", "counts_users",
            ]
            for row in try await export.rows(of: "alert_rule", columns: columns, offset: 0, limit: 10).rows {
                rows.append(row.map { "\($0)" }.joined(separator: " | "))
            }
            rows.append(
                "member roles: "
                    + (try await export.rows(of: "project_member", columns: ["role"], offset: 0, limit: 10).rows.map {
                        "\($0)"
                    }.joined(separator: ",")))
            return rows
        case .postgres(let database):
            return try await database.withConnection { connection in
                var rows: [String] = []
                for table in tables {
                    rows.append(
                        "\(table): \(try await PostgresAppDatabase.count(of: table, on: connection, logger: TestPostgres.logger))"
                    )
                }
                let rules = try await connection.query(
                    """
                    SELECT name, enabled, spec, frequency_minutes, on_new, on_regression, on_reappeared, counts_events, counts_users
                    FROM alert_rule
                    """, logger: TestPostgres.logger)
                for try await (name, enabled, spec, minutes, new, regression, reappeared, events, users)
                    in rules.decode(
                        (String, Int64, String, Int64, Int64, Int64, Int64, Int64, Int64).self)
                {
                    rows.append(
                        [
                            StoredValue.text(name), .integer(enabled), .text(spec), .integer(minutes), .integer(new),
                            .integer(regression),
                            .integer(reappeared), .integer(events), .integer(users),
                        ].map { "\($0)" }.joined(separator: " | "))
                }
                var roles: [String] = []
                for try await role in try await connection.query(
                    "SELECT role FROM project_member", logger: TestPostgres.logger
                ).decode(String.self) {
                    roles.append("\([StoredValue.text(role)])")
                }
                rows.append("member roles: " + roles.joined(separator: ","))
                return rows
            }
        }
    }

    @Test func bootstrapOnAFreshDatabaseCreatesTheSameAdminProjectKeyMembersAndRuleOnBothBackends() async throws {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let (sqlite, sqliteRows) = try await withTestStore(.sqlite) { store in
            (
                ReportShape(
                    try await store.maintenance.bootstrap(
                        adminEmail: " Admin@Example.com", adminPassword: nil, now: now)), try await Self.rows(store)
            )
        }
        let (postgres, postgresRows, again) = try await withTestStore(.postgres) { store in
            let first = try await store.maintenance.bootstrap(
                adminEmail: " Admin@Example.com", adminPassword: nil, now: now)
            let rows = try await Self.rows(store)
            let second = try await store.maintenance.bootstrap(
                adminEmail: "admin@example.com", adminPassword: nil, now: now.addingTimeInterval(60))
            #expect(second.keys.map(\.publicKey) == first.keys.map(\.publicKey))
            #expect(try await Self.rows(store) == rows, "a second start writes nothing")
            return (ReportShape(first), rows, ReportShape(second))
        }
        #expect(sqlite == postgres)
        #expect(sqliteRows == postgresRows)
        #expect(postgres.adminEmail == "admin@example.com" && postgres.generatedPassword && postgres.createdProject)
        #expect(
            postgres.project?.slug == "default" && postgres.project?.name == "Default"
                && postgres.project?.createdAt == now)
        #expect(postgres.keys.count == 1 && postgres.keys[0].hasPrefix("Default active=true"))
        #expect(
            postgresRows.prefix(5) == ["user: 1", "project: 1", "project_member: 1", "project_key: 1", "alert_rule: 1"])
        #expect(
            again.adminEmail == nil && !again.createdProject && again.project == postgres.project
                && again.keys == postgres.keys)
    }

    @Test func twoNodesBootstrappingOnePostgresDatabaseAtOnceCreateOneAdminAndOneProject() async throws {
        try await withTestStore(.postgres) { store in
            async let first = store.maintenance.bootstrap(
                adminEmail: "admin@example.com", adminPassword: nil, now: store.now)
            async let second = store.maintenance.bootstrap(
                adminEmail: "admin@example.com", adminPassword: nil, now: store.now)
            let reports = try await [first, second]
            #expect(reports.filter { $0.createdAdmin != nil }.count == 1)
            #expect(reports.filter(\.createdProject).count == 1)
            #expect(Set(reports.map(\.keys.count)) == [1] && reports[0].project == reports[1].project)
        }
    }

    @Test(arguments: Backend.allCases)
    func bootstrapPromotesAnExistingAccountAndRefusesAWeakPassword(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            await #expect(throws: DomainError.self) {
                try await store.maintenance.bootstrap(
                    adminEmail: "admin@example.com", adminPassword: "short", now: store.now)
            }
            let report = try await store.maintenance.bootstrap(
                adminEmail: "ops@example.com", adminPassword: "long enough password", now: store.now)
            #expect(report.createdAdmin?.email == "ops@example.com" && report.generatedPassword == nil)
            let later = try await store.maintenance.bootstrap(
                adminEmail: "other@example.com", adminPassword: nil, now: store.now)
            #expect(later.createdAdmin == nil && later.project?.slug == "default")
        }
    }

    @Test(arguments: Backend.allCases)
    func aFreshDatabaseIsReadyAndSound(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            try await store.maintenance.checkReady()
            #expect(try await store.maintenance.integrityProblems() == [])
        }
    }

    @Test func postgresBackupSaysToUsePgDump() async throws {
        _ = try await withTestStore(.postgres) { store in
            await #expect {
                try await store.maintenance.backup(to: URL(fileURLWithPath: "/tmp/spyglass-backup.db"))
            } throws: { error in
                guard let error = error as? DomainError else { return false }
                return error.kind == .invalidInput && error.message.contains("pg_dump")
                    && error.message.contains("postgres://")
                    && !error.message.contains("password=")
            }
        }
    }

    @Test func postgresReportsAnInvalidIndex() async throws {
        try await withTestStore(.postgres) { store async throws -> Void in
            guard case .postgres(let database) = store.database else { return }
            // Only a superuser may do this (the tests' own cluster runs as one); elsewhere there is nothing to check.
            guard
                (try? await database.withConnection({ connection in
                    try await connection.query(
                        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'event_issue'::regclass",
                        logger: TestPostgres.logger)
                })) != nil
            else { return }
            #expect(
                try await store.maintenance.integrityProblems() == [
                    "index event_issue is invalid; rebuild it with REINDEX INDEX event_issue"
                ])
        }
    }
}
