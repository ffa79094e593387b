import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``ProjectStore`` of this backend.
    var projects: any ProjectStore {
        switch database {
        case .sqlite(let database): SQLiteProjects(database)
        case .postgres(let database): PostgresProjects(database)
        }
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct ProjectStoreContractTests {
    @Test(arguments: Backend.allCases)
    func aNewProjectGetsADerivedSlugAKeyTheAdminsAsMembersAndTheDefaultRule(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let admin = try await store.account("admin@example.com", admin: true)
            try await store.account("user@example.com")
            let project = try await store.projects.createProject(name: "  My Shop ", now: store.now)
            #expect(project.slug == "my-shop" && project.name == "My Shop" && project.createdAt == store.now)
            #expect(try await store.projects.project(slug: "my-shop") == project)
            #expect(try await store.projects.allProjects() == [project])
            let keys = try await store.projects.keys(projectID: project.id)
            #expect(keys.map(\.label) == ["Default"] && keys.allSatisfy(\.isActive) && keys[0].createdAt == store.now)
            #expect(keys[0].publicKey.count == 32 && keys[0].rateLimitPerMinute == nil)
            #expect(try await store.projects.members(projectID: project.id).map(\.email) == ["admin@example.com"])
            #expect(try await store.projects.memberships(userID: admin.id) == [project.id: .admin])
            let rules = try await store.alertRules.alertRules(projectID: project.id)
            #expect(rules.map(\.name) == [AlertRule.defaultName])
            #expect(rules.first?.conditions == AlertRule.projectDefault.conditions)
            #expect(try await store.projects.project(slug: "other") == nil)
        }
    }

    @Test func textPostgreSQLCannotStoreIsBadInputNotAServerError() async throws {
        try await withTestStore(.postgres) { store throws in
            let error = await #expect(throws: DomainError.self) {
                try await store.projects.createProject(name: "Sh\u{0}op", slug: "shop", now: store.now)
            }
            #expect(error?.kind == .invalidInput && error?.message.contains("cannot store") == true)
            let projects = try await store.projects.allProjects()
            #expect(projects.isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func creationTimesAreStoredAsSQLiteTextToTheMillisecond(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let created = store.now.addingTimeInterval(0.25)
            let project = try await store.projects.createProject(name: "Shop", now: created)
            #expect(try await store.strings("SELECT created_at FROM project") == ["2026-09-21 14:13:20.250"])
            #expect(try await store.projects.allProjects().map(\.createdAt) == [created])
            #expect(try await store.projects.keys(projectID: project.id).map(\.createdAt) == [created])
            let old = Date(timeIntervalSince1970: -86_400.5)
            try await store.projects.createKey(projectID: project.id, label: "old", now: old)
            #expect(
                try await store.strings("SELECT created_at FROM project_key WHERE label = 'old'") == [
                    "1969-12-30 23:59:59.500"
                ])
            #expect(try await store.projects.keys(projectID: project.id).last?.createdAt == old)
        }
    }

    @Test(arguments: Backend.allCases)
    func aProjectKeepsAnImportedIDAndKeyAndTheNextOneContinuesAfterIt(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let legacy = try await store.projects.createProject(
                name: "Legacy API", slug: "", id: 42, publicKey: "ABCDEF0123456789ABCDEF0123456789", now: store.now)
            #expect(legacy.id == 42 && legacy.slug == "legacy-api")
            #expect(
                try await store.projects.keys(projectID: 42).map(\.publicKey) == ["abcdef0123456789abcdef0123456789"])
            #expect(try await store.projects.createProject(name: "Next", now: store.now).id == 43)
            #expect(try await store.projects.allProjects().map(\.id) == [42, 43])
        }
    }

    @Test(arguments: Backend.allCases)
    func conflictingOrInvalidProjectsAreRefusedWithoutStoringAnything(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let one = try await store.projects.createProject(
                name: "One", slug: "one", id: 5, publicKey: String(repeating: "a", count: 32), now: store.now)
            let cases:
                [(name: String, slug: String?, id: Int64?, key: String?, kind: DomainError.Kind, message: String)] = [
                    ("Two", "one", nil, nil, .conflict, "slug \"one\" is taken by project 5"),
                    ("Two", "two", 5, nil, .conflict, "project id 5 is taken by project \"one\""),
                    ("Two", "two", nil, String(repeating: "A", count: 32), .conflict, "already in use"),
                    ("Two", "Two!", nil, nil, .invalidInput, "may contain only"),
                    ("Two", "two", -1, nil, .invalidInput, "positive"),
                    ("Two", "two", nil, "nothex", .invalidInput, "32 hexadecimal digits"),
                    ("   ", nil, nil, nil, .invalidInput, "must not be empty"),
                    ("!!!", nil, nil, nil, .invalidInput, "cannot derive a slug"),
                ]
            for entry in cases {
                let error = await #expect(throws: DomainError.self) {
                    try await store.projects.createProject(
                        name: entry.name, slug: entry.slug, id: entry.id, publicKey: entry.key, now: store.now)
                }
                #expect(error?.kind == entry.kind, "\(entry)")
                #expect(error?.message.contains(entry.message) == true, "\(error?.message ?? "no error")")
            }
            #expect(try await store.projects.allProjects() == [one])
            #expect(try await store.projects.keys(projectID: one.id).count == 1)
            #expect(try await store.projects.activeKeys().count == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func keysAreAddedDeactivatedAndLimitedAndEveryChangeMovesTheKeysVersion(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let projects = store.projects
            let shop = try await projects.createProject(name: "Shop", now: store.now)
            let other = try await projects.createProject(name: "Other", now: store.now)
            var version = try await projects.keysVersion()
            func versionMoved() async throws -> Bool {
                let current = try await projects.keysVersion()
                defer { version = current }
                return current != version
            }
            try await projects.createKey(projectID: shop.id, label: "CI", now: store.now.addingTimeInterval(1))
            #expect(try await versionMoved())
            let keys = try await projects.keys(projectID: shop.id)
            #expect(keys.map(\.label) == ["Default", "CI"])
            #expect(try await projects.activeKeys().count == 3)

            #expect(
                try await projects.updateKey(
                    id: keys[0].id, projectID: shop.id, isActive: false, rateLimitPerMinute: nil))
            #expect(try await versionMoved())
            #expect(!(try await projects.activeKeys().contains { $0.publicKey == keys[0].publicKey }))
            #expect(
                try await projects.updateKey(
                    id: keys[1].id, projectID: shop.id, isActive: nil, rateLimitPerMinute: .some(10)))
            #expect(try await versionMoved())
            #expect(
                try await projects.activeKeys().first { $0.publicKey == keys[1].publicKey }?.rateLimitPerMinute == 10)
            #expect(
                try await projects.updateKey(
                    id: keys[1].id, projectID: shop.id, isActive: nil, rateLimitPerMinute: .some(nil)))
            #expect(try await projects.keys(projectID: shop.id).map(\.rateLimitPerMinute) == [nil, nil])
            #expect(try await projects.keys(projectID: shop.id).map(\.isActive) == [false, true])

            // Another project's key is not this project's to change.
            #expect(
                try await !projects.updateKey(
                    id: keys[1].id, projectID: other.id, isActive: false, rateLimitPerMinute: nil))
            #expect(try await projects.keys(projectID: shop.id).map(\.isActive) == [false, true])
            await #expect(throws: DomainError.self) {
                try await projects.updateKey(
                    id: keys[1].id, projectID: shop.id, isActive: nil, rateLimitPerMinute: .some(0))
            }

            _ = try await versionMoved()
            #expect(try await projects.setRateLimit(projectID: shop.id, perMinute: 5) == 2)
            #expect(try await versionMoved())
            #expect(try await projects.keys(projectID: shop.id).map(\.rateLimitPerMinute) == [5, 5])
            #expect(try await projects.keys(projectID: other.id).map(\.rateLimitPerMinute) == [nil])
            #expect(try await projects.setRateLimit(projectID: shop.id, perMinute: nil) == 2)
            #expect(try await projects.keys(projectID: shop.id).map(\.rateLimitPerMinute) == [nil, nil])
            let error = await #expect(throws: DomainError.self) {
                try await projects.setRateLimit(projectID: shop.id, perMinute: 0)
            }
            #expect(error?.kind == .invalidInput)
        }
    }

    @Test(arguments: Backend.allCases)
    func membersAreAddedByEmailChangeRoleAndAreRemoved(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let projects = store.projects
            let shop = try await projects.createProject(name: "Shop", now: store.now)
            let bob = try await store.account("bob@example.com")
            let amy = try await store.account("amy@example.com")
            #expect(try await projects.members(projectID: shop.id).isEmpty)
            try await projects.addMember(projectID: shop.id, email: " BOB@example.com", role: .member, now: store.now)
            try await projects.addMember(projectID: shop.id, email: "amy@example.com", role: .admin, now: store.now)
            var members = try await projects.members(projectID: shop.id)
            #expect(members.map(\.email) == ["amy@example.com", "bob@example.com"])
            #expect(members.map(\.role) == [.admin, .member] && members.allSatisfy(\.isActive))
            try await projects.addMember(projectID: shop.id, email: "bob@example.com", role: .admin, now: store.now)
            #expect(try await projects.memberships(userID: bob.id) == [shop.id: .admin])

            _ = try await store.accounts.setAccountActive(id: amy.id, active: false)
            members = try await projects.members(projectID: shop.id)
            #expect(members.map(\.isActive) == [false, true])

            let error = await #expect(throws: DomainError.self) {
                try await projects.addMember(
                    projectID: shop.id, email: "nobody@example.com", role: .member, now: store.now)
            }
            #expect(error?.kind == .notFound)
            try await projects.removeMember(projectID: shop.id, userID: bob.id)
            #expect(try await projects.members(projectID: shop.id).map(\.userID) == [amy.id])
            #expect(try await projects.memberships(userID: bob.id).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func retentionDaysAndResolveAgeAreKeptPerProjectWithinTheirBounds(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let projects = store.projects
            let shop = try await projects.createProject(name: "Shop", now: store.now)
            let other = try await projects.createProject(name: "Other", now: store.now)
            #expect(try await projects.retentionDays(projectID: shop.id) == nil)
            #expect(try await projects.resolveAge(projectID: shop.id) == nil)
            try await projects.setRetentionDays(projectID: shop.id, days: 30)
            try await projects.setResolveAge(projectID: shop.id, hours: 24)
            #expect(try await projects.retentionDays(projectID: shop.id) == 30)
            #expect(try await projects.resolveAge(projectID: shop.id) == 24)
            #expect(try await projects.retentionDays(projectID: other.id) == nil)
            #expect(try await projects.resolveAge(projectID: other.id) == nil)
            for days in [0, 36_501] {
                let error = await #expect(throws: DomainError.self) {
                    try await projects.setRetentionDays(projectID: shop.id, days: days)
                }
                #expect(error?.kind == .invalidInput)
            }
            await #expect(throws: DomainError.self) { try await projects.setResolveAge(projectID: shop.id, hours: 0) }
            #expect(try await projects.retentionDays(projectID: shop.id) == 30)
            try await projects.setRetentionDays(projectID: shop.id, days: nil)
            try await projects.setResolveAge(projectID: shop.id, hours: nil)
            #expect(try await projects.retentionDays(projectID: shop.id) == nil)
            #expect(try await projects.resolveAge(projectID: shop.id) == nil)
        }
    }
}
