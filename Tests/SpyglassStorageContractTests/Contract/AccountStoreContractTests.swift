import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``AccountStore`` of this backend.
    var accounts: any AccountStore {
        switch database {
        case .sqlite(let database): SQLiteAccounts(database)
        case .postgres(let database): PostgresAccounts(database)
        }
    }

    /// A user who is not an admin and need not change their password.
    @discardableResult
    func account(_ email: String, admin: Bool = false) async throws -> AccountInfo {
        try await accounts.createAccount(
            email: email, passwordHash: "hash-of-\(email)", isAdmin: admin, mustChangePassword: false, now: now)
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct AccountStoreContractTests {
    @Test(arguments: Backend.allCases)
    func accountsAreStoredUnderANormalizedAddressOnceAndListedByEmail(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let ann = try await store.accounts.createAccount(
                email: " Ann@Example.COM", passwordHash: "bcrypt", isAdmin: false, mustChangePassword: true,
                now: store.now)
            #expect(ann.email == "ann@example.com" && !ann.isAdmin && ann.isActive && ann.createdAt == store.now)
            let web = try #require(try await store.accounts.account(email: "ANN@example.com"))
            #expect(web.user == APIUser(id: ann.id, email: "ann@example.com", isAdmin: false))
            #expect(web.passwordHash == "bcrypt" && web.isActive)
            #expect(try await store.accounts.account(email: "nobody@example.com") == nil)

            let duplicate = await #expect(throws: DomainError.self) {
                try await store.account("ann@EXAMPLE.com", admin: true)
            }
            #expect(duplicate?.kind == .conflict)
            let invalid = await #expect(throws: DomainError.self) { try await store.account("not an address") }
            #expect(invalid?.kind == .invalidInput)

            try await store.account("_zed@example.com")
            try await store.account("Bea@example.com")
            let listed = try await store.accounts.accounts()
            #expect(listed.map(\.email) == ["_zed@example.com", "ann@example.com", "bea@example.com"])
            #expect(listed.map(\.createdAt) == Array(repeating: store.now, count: 3))
        }
    }

    @Test(arguments: Backend.allCases)
    func anAdminAccountBecomesAnAdminMemberOfEveryExistingProject(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            let admin = try await store.account("root@example.com", admin: true)
            let user = try await store.account("user@example.com")
            #expect(admin.isAdmin)
            #expect(try await store.projects.memberships(userID: admin.id) == [shop.id: .admin, blog.id: .admin])
            #expect(try await store.projects.memberships(userID: user.id).isEmpty)
        }
    }

    @Test(arguments: Backend.allCases)
    func sessionsLastUntilTheyExpireAndOnlyWhileTheirUserIsActive(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let accounts = store.accounts
            let ann = try await store.account("ann@example.com")
            let expires = store.now.addingTimeInterval(3600)
            try await accounts.createSession(
                tokenHash: "s1", userID: ann.id, csrfToken: "csrf-1", now: store.now, expires: expires)
            let session = try #require(try await accounts.session(tokenHash: "s1", now: store.now))
            #expect(
                session.user.id == ann.id && session.user.email == "ann@example.com" && session.csrfToken == "csrf-1")
            #expect(session.expires == expires && !session.mustChangePassword)
            #expect(try await accounts.session(tokenHash: "s1", now: expires) == nil)
            #expect(try await accounts.session(tokenHash: "unknown", now: store.now) == nil)

            // A new session sweeps the expired ones away.
            try await accounts.createSession(
                tokenHash: "s2", userID: ann.id, csrfToken: "csrf-2", now: expires.addingTimeInterval(1),
                expires: expires.addingTimeInterval(3600))
            #expect(try await store.strings("SELECT token_hash FROM web_session") == ["s2"])

            try await accounts.deleteSession(tokenHash: "s2")
            #expect(try await accounts.session(tokenHash: "s2", now: expires) == nil)

            try await accounts.createSession(
                tokenHash: "s3", userID: ann.id, csrfToken: "c", now: store.now, expires: expires)
            #expect(try await accounts.setAccountActive(id: ann.id, active: false))
            #expect(try await accounts.session(tokenHash: "s3", now: store.now) == nil)
            #expect(try await accounts.account(email: "ann@example.com")?.isActive == false)
            // Reactivating does not bring the ended session back.
            #expect(try await accounts.setAccountActive(id: ann.id, active: true))
            #expect(try await accounts.session(tokenHash: "s3", now: store.now) == nil)
            #expect(try await !accounts.setAccountActive(id: 999, active: false))
        }
    }

    @Test(arguments: Backend.allCases)
    func aSessionOfADeactivatedUserIsNotFoundWhileItExists(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let ann = try await store.account("ann@example.com")
            try await store.accounts.createSession(
                tokenHash: "s1", userID: ann.id, csrfToken: "c", now: store.now,
                expires: store.now.addingTimeInterval(60))
            try await store.execute(#"UPDATE "user" SET is_active = 0 WHERE id = ?"#, [.int(ann.id)])
            #expect(try await store.accounts.session(tokenHash: "s1", now: store.now) == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func resettingAPasswordEndsEverySessionAndAsksForANewPassword(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let accounts = store.accounts
            let ann = try await store.account("ann@example.com")
            let expires = store.now.addingTimeInterval(3600)
            try await accounts.createSession(
                tokenHash: "s1", userID: ann.id, csrfToken: "c", now: store.now, expires: expires)
            #expect(try await accounts.resetPassword(id: ann.id, passwordHash: "generated"))
            #expect(try await accounts.session(tokenHash: "s1", now: store.now) == nil)
            #expect(try await accounts.account(email: ann.email)?.passwordHash == "generated")
            try await accounts.createSession(
                tokenHash: "s2", userID: ann.id, csrfToken: "c", now: store.now, expires: expires)
            #expect(try await accounts.session(tokenHash: "s2", now: store.now)?.mustChangePassword == true)
            #expect(try await !accounts.resetPassword(id: 999, passwordHash: "x"))
        }
    }

    @Test(arguments: Backend.allCases)
    func changingThePasswordKeepsOnlyTheCurrentSessionOfThatUser(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let accounts = store.accounts
            let ann = try await store.accounts.createAccount(
                email: "ann@example.com", passwordHash: "first", isAdmin: false, mustChangePassword: true,
                now: store.now)
            let bob = try await store.account("bob@example.com")
            let expires = store.now.addingTimeInterval(3600)
            for (token, user) in [("ann-1", ann.id), ("ann-2", ann.id), ("bob-1", bob.id)] {
                try await accounts.createSession(
                    tokenHash: token, userID: user, csrfToken: "c", now: store.now, expires: expires)
            }
            #expect(try await accounts.session(tokenHash: "ann-1", now: store.now)?.mustChangePassword == true)
            try await accounts.changePassword(userID: ann.id, passwordHash: "second", keepingSession: "ann-1")
            let kept = try #require(try await accounts.session(tokenHash: "ann-1", now: store.now))
            #expect(!kept.mustChangePassword)
            #expect(try await accounts.session(tokenHash: "ann-2", now: store.now) == nil)
            #expect(try await accounts.session(tokenHash: "bob-1", now: store.now) != nil)
            #expect(try await accounts.account(email: ann.email)?.passwordHash == "second")
        }
    }

    @Test(arguments: Backend.allCases)
    func apiTokensAreFoundByHashForActiveUsersAndRevokedOnlyByTheirOwner(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let accounts = store.accounts
            let ann = try await store.account("ann@example.com", admin: true)
            let bob = try await store.account("bob@example.com")
            let hash = String(repeating: "a", count: 64)
            let token = try await accounts.createAPIToken(userID: ann.id, name: "ci", tokenHash: hash, scope: .admin, now: store.now)
            #expect(token.name == "ci" && token.createdAt == store.now && token.lastUsedAt == nil && token.scope == .admin)
            try await accounts.createAPIToken(
                userID: ann.id, name: "deploy", tokenHash: String(repeating: "b", count: 64), scope: .read, now: store.now)
            #expect(
                try await accounts.user(tokenHash: hash, now: store.now)
                    == APIUser(id: ann.id, email: "ann@example.com", isAdmin: true, tokenScope: .admin))
            #expect(try await accounts.user(tokenHash: String(repeating: "b", count: 64), now: store.now)?.tokenScope == .read)
            #expect(try await accounts.user(tokenHash: String(repeating: "c", count: 64), now: store.now) == nil)
            let listed = try await accounts.apiTokens(userID: ann.id)
            #expect(listed.map(\.name) == ["ci", "deploy"] && listed.first?.id == token.id && listed.map(\.scope) == [.admin, .read])
            #expect(listed.map(\.createdAt) == [store.now, store.now] && listed.map(\.lastUsedAt) == [store.now, store.now])
            // Use is written at most once a minute.
            _ = try await accounts.user(tokenHash: hash, now: store.now.addingTimeInterval(30))
            #expect(try await accounts.apiTokens(userID: ann.id).first?.lastUsedAt == store.now)
            _ = try await accounts.user(tokenHash: hash, now: store.now.addingTimeInterval(90))
            #expect(try await accounts.apiTokens(userID: ann.id).first?.lastUsedAt == store.now.addingTimeInterval(90))
            #expect(try await accounts.apiTokens(userID: bob.id).isEmpty)

            #expect(try await !accounts.revokeAPIToken(id: token.id, userID: bob.id))
            #expect(try await accounts.user(tokenHash: hash, now: store.now)?.id == ann.id)
            _ = try await accounts.setAccountActive(id: ann.id, active: false)
            #expect(try await accounts.user(tokenHash: hash, now: store.now) == nil)
            _ = try await accounts.setAccountActive(id: ann.id, active: true)
            #expect(try await accounts.revokeAPIToken(id: token.id, userID: ann.id))
            #expect(try await accounts.user(tokenHash: hash, now: store.now) == nil)
            #expect(try await accounts.apiTokens(userID: ann.id).map(\.name) == ["deploy"])
        }
    }
}
