import Foundation
import GRDB
import SpyglassCore
import SpyglassStorage
import Testing

@Suite struct MaintenanceTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func backupIsAConsistentCopyThatOpensOnItsOwn() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url.appending(path: "data"))
        _ = try await database.storage.maintenance.bootstrap(adminEmail: "admin@example.com", adminPassword: "password1", now: now)
        try database.createProject(name: "Shop", now: now)
        let target = directory.url.appending(path: "backup.sqlite")
        try await database.storage.maintenance.backup(to: target)

        let copy = try DatabaseQueue(path: target.path(percentEncoded: false))
        let (slugs, integrity) = try await copy.read { db in
            (
                try String.fetchAll(db, sql: "SELECT slug FROM project ORDER BY id"),
                try String.fetchOne(db, sql: "PRAGMA integrity_check")
            )
        }
        #expect(slugs == ["default", "shop"])
        #expect(integrity == "ok")
        // No partial files are left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.url.path(percentEncoded: false))
        #expect(leftovers.sorted() == ["backup.sqlite", "data"])
    }

    @Test func backupNeverOverwrites() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url.appending(path: "data"))
        let target = directory.url.appending(path: "existing")
        _ = FileManager.default.createFile(atPath: target.path(percentEncoded: false), contents: Data("keep".utf8))
        await #expect(throws: DomainError.self) { try await database.storage.maintenance.backup(to: target) }
        #expect(FileManager.default.contents(atPath: target.path(percentEncoded: false)) == Data("keep".utf8))
    }

    @Test func integrityCheckFindsBrokenReferences() async throws {
        let database = try AppDatabase.inMemory()
        try database.createProject(name: "Shop", now: now)
        #expect(try await database.storage.maintenance.integrityProblems() == [])
        try await database.writer.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: "DELETE FROM project")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        let problems = try await database.storage.maintenance.integrityProblems()
        // The project's key and its default alert rule now point nowhere.
        #expect(problems.count == 2)
        #expect(problems.contains { $0.contains("project_key") } && problems.contains { $0.contains("alert_rule") })
    }

    @Test func readinessWritesNothingAndFailsOnAReadOnlyDatabase() async throws {
        let directory = try TemporaryDirectory()
        let database = try AppDatabase.open(directory: directory.url.appending(path: "data"))
        for _ in 0..<3 { try await database.storage.maintenance.checkReady() }
        let checked = try await database.writer.read { db in
            try String.fetchOne(db, sql: "SELECT ready_checked_at FROM instance")
        }
        // A probe polled every few seconds must not cost a commit each time.
        #expect(checked == nil)

        var configuration = AppDatabase.makeConfiguration()
        configuration.readonly = true
        let readOnly = try AppDatabase(
            unmigrated: DatabaseQueue(path: directory.path("data/spyglass.sqlite"), configuration: configuration))
        let error = await #expect(throws: DomainError.self) { try await readOnly.storage.maintenance.checkReady() }
        #expect(error?.message.contains("not writable") == true)
    }
}
