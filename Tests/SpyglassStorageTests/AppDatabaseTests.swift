import Foundation
import GRDB
import SpyglassCore
import SpyglassStorage
import Testing

@Suite struct AppDatabaseTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func processesOpeningAFreshDirectoryAtOnceMigrateItOnce() async throws {
        // `serve` and a command (or two nodes of a test) starting together on a new data directory: each opens and
        // migrates it; the migrations must run once, and every opener must get a working database.
        for _ in 0..<5 {
            let directory = try TemporaryDirectory()
            let url = directory.url.appending(path: "data")
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await Task.detached {
                            let database = try AppDatabase.open(directory: url)
                            defer { try? database.close() }
                            return try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM grdb_migrations") ?? 0 }
                        }.value
                    }
                }
                let counts = try await group.reduce(into: Set<Int>()) { $0.insert($1) }
                #expect(counts.count == 1 && counts.first ?? 0 > 0)
            }
        }
    }

    @Test func openingADirectoryCreatesAWALDatabaseWithForeignKeys() throws {
        let directory = try TemporaryDirectory()
        let dataDir = directory.url.appending(path: "nested/data")
        let database = try AppDatabase.open(directory: dataDir)
        #expect(FileManager.default.fileExists(atPath: directory.path("nested/data/spyglass.sqlite")))
        let (journalMode, foreignKeys, tables) = try database.writer.read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Bool.fetchOne(db, sql: "PRAGMA foreign_keys"),
                try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            )
        }
        #expect(journalMode == "wal")
        #expect(foreignKeys == true)
        #expect(tables.isSuperset(of: ["user", "project", "project_member", "project_key", "api_token"]))
        // Opening again (a second start, a CLI command) migrates nothing and keeps the data.
        try database.createUser(email: "a@example.com", passwordHash: "x", isAdmin: false, now: now)
        try database.close()
        let again = try AppDatabase.open(directory: dataDir)
        #expect(try again.users().map(\.email) == ["a@example.com"])
    }

    @Test func theWriterSyncsEveryCommit() throws {
        // A 200 for an event means it is on disk: the writing connection must sync each WAL commit (FULL = 2),
        // although GRDB sets a pool's writer to NORMAL (synced only at checkpoints).
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url)
        let synchronous = try database.writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(synchronous == 2)
        try database.close()
    }

    @Test func aPathUnderAFileIsRefusedWithTheReason() throws {
        let directory = try TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: directory.path("file"), contents: Data())
        let error = #expect(throws: DomainError.self) {
            try AppDatabase.open(directory: directory.url.appending(path: "file/data"))
        }
        #expect(error?.message.contains("file/data") == true)
        #expect(error?.message.contains("Not a directory") == true)
    }

    @Test func bootstrapCreatesAnAdminAndTheDefaultProjectOnce() async throws {
        let database = try AppDatabase.inMemory()
        let first = try await database.storage.maintenance.bootstrap(adminEmail: "Admin@Example.com", adminPassword: nil, now: now)
        let admin = try #require(first.createdAdmin)
        let password = try #require(first.generatedPassword)
        #expect(admin.email == "admin@example.com")
        let account = try #require(try await database.storage.accounts.account(email: "admin@example.com"))
        #expect(admin.isAdmin && account.user.id == admin.id)
        #expect(try database.users().first?.mustChangePassword == true)
        #expect(Password.verify(password, hash: account.passwordHash))
        #expect(first.createdProject)
        let project = try #require(first.project)
        #expect(project.slug == "default")
        #expect(project.id == 1)
        #expect(first.keys.count == 1)
        #expect(try database.memberIDs(projectID: 1) == [admin.id].compactMap { $0 })

        let second = try await database.storage.maintenance.bootstrap(adminEmail: "admin@example.com", adminPassword: nil, now: now)
        #expect(second.createdAdmin == nil)
        #expect(second.generatedPassword == nil)
        #expect(!second.createdProject)
        #expect(second.project == project)
        #expect(second.keys == first.keys)
        #expect(try database.users().count == 1)
        #expect(try database.projects().count == 1)
    }

    @Test func bootstrapUsesAConfiguredPassword() async throws {
        let database = try AppDatabase.inMemory()
        let report = try await database.storage.maintenance.bootstrap(adminEmail: "ops@example.com", adminPassword: "from-the-env", now: now)
        let admin = try #require(report.createdAdmin)
        #expect(report.generatedPassword == nil)
        #expect(try database.users().first?.mustChangePassword == false)
        let account = try #require(try await database.storage.accounts.account(email: admin.email))
        #expect(Password.verify("from-the-env", hash: account.passwordHash))
    }

    @Test func bootstrapKeepsProjectsAndAdminsMadeBeforeIt() async throws {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "boss@example.com", passwordHash: "x", isAdmin: true, now: now)
        try database.createProject(name: "Shop", now: now)
        let report = try await database.storage.maintenance.bootstrap(adminEmail: "admin@example.com", adminPassword: nil, now: now)
        #expect(report.createdAdmin == nil)
        #expect(!report.createdProject)
        #expect(report.project?.slug == "shop")
    }

    @Test func projectsKeepAnImportedIdAndKey() throws {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "admin@example.com", passwordHash: "x", isAdmin: true, now: now)
        let created = try database.createProject(
            name: "Legacy API", id: 42, publicKey: "ABCDEF0123456789ABCDEF0123456789", now: now)
        #expect(created.project.id == 42)
        #expect(created.project.slug == "legacy-api")
        #expect(created.keys.map(\.publicKey) == ["abcdef0123456789abcdef0123456789"])
        #expect(try database.memberIDs(projectID: 42) == [1])
        // The next project continues after the imported id.
        #expect(try database.createProject(name: "Next", now: now).project.id == 43)
        #expect(try database.project(slug: "legacy-api")?.keys == created.keys)
    }

    @Test func conflictingProjectsAreRefusedWithoutStoringAnything() throws {
        let database = try AppDatabase.inMemory()
        try database.createProject(name: "One", slug: "one", id: 5, publicKey: String(repeating: "a", count: 32), now: now)
        let cases: [(String?, Int64?, String?, String)] = [
            ("one", nil, nil, "slug \"one\" is taken"),
            ("two", 5, nil, "project id 5 is taken"),
            ("two", nil, String(repeating: "A", count: 32), "already in use"),
            ("Two!", nil, nil, "may contain only"),
            ("two", -1, nil, "positive"),
            ("two", nil, "nothex", "32 hexadecimal digits"),
        ]
        for (slug, id, key, message) in cases {
            let error = #expect(throws: DomainError.self) {
                try database.createProject(name: "Two", slug: slug, id: id, publicKey: key, now: now)
            }
            #expect(error?.message.contains(message) == true, "\(error?.message ?? "no error")")
        }
        #expect(try database.projects().map(\.project.slug) == ["one"])
    }

    @Test func usersAreUniqueByEmail() throws {
        let database = try AppDatabase.inMemory()
        try database.createUser(email: "a@example.com", passwordHash: "x", isAdmin: false, now: now)
        let error = #expect(throws: DomainError.self) {
            try database.createUser(email: "A@example.com", passwordHash: "y", isAdmin: true, now: now)
        }
        #expect(error?.kind == .conflict)
        #expect(try database.users().count == 1)
    }

    @Test func apiTokensAreFoundByTheirHashOnly() async throws {
        let database = try AppDatabase.inMemory()
        let user = try database.createUser(email: "ci@example.com", passwordHash: "x", isAdmin: false, now: now)
        let (token, hash) = APIToken.generate()
        try database.createAPIToken(userEmail: "CI@example.com", name: "ci", tokenHash: hash, now: now)
        #expect(try await database.storage.accounts.user(tokenHash: APIToken.hash(token), now: now)?.id == user.id)
        #expect(try await database.storage.accounts.user(tokenHash: token, now: now) == nil)
        let stored = try await database.writer.read { db in try String.fetchAll(db, sql: "SELECT token_hash FROM api_token") }
        #expect(stored == [hash])
        #expect(throws: DomainError.self) {
            try database.createAPIToken(userEmail: "nobody@example.com", name: "x", tokenHash: hash, now: now)
        }
    }
}
