import Foundation
import SpyglassCore
import SpyglassPostgres
import SpyglassStorage
import Testing

extension TestStore {
    /// The ``SavedSearchStore`` of this backend.
    var savedSearches: any SavedSearchStore {
        switch database {
        case .sqlite(let database): SQLiteSavedSearches(database)
        case .postgres(let database): PostgresSavedSearches(database)
        }
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct SavedSearchStoreContractTests {
    @Test(arguments: Backend.allCases)
    func searchesAreEachUsersOwnAndOneIsPinnedPerScope(_ backend: Backend) async throws {
        try await withTestStore(backend) { store in
            let searches = store.savedSearches
            let ann = try await store.account("ann@example.com")
            let bob = try await store.account("bob@example.com")
            let shop = try await store.projects.createProject(name: "Shop", now: store.now)
            let blog = try await store.projects.createProject(name: "Blog", now: store.now)
            let mine = try await searches.saveSearch(userID: ann.id, projectID: shop.id, name: " Mine ", query: "assigned:me", now: store.now)
            let errors = try await searches.saveSearch(userID: ann.id, projectID: nil, name: "Errors", query: "level:error", now: store.now)
            _ = try await searches.saveSearch(userID: ann.id, projectID: blog.id, name: "Blog only", query: "x", now: store.now)
            _ = try await searches.saveSearch(userID: bob.id, projectID: shop.id, name: "Bob's", query: "y", now: store.now)
            #expect(mine.name == "Mine" && !mine.pinned)
            // The project's searches first, then those for every project; nobody else's.
            #expect(try await searches.savedSearches(userID: ann.id, projectID: shop.id).map(\.name) == ["Mine", "Errors"])
            #expect(try await searches.savedSearches(userID: ann.id, projectID: nil).map(\.name) == ["Errors"])
            // Saved again under the same name in the same scope: replaced.
            let again = try await searches.saveSearch(userID: ann.id, projectID: shop.id, name: "Mine", query: "assigned:me level:error", now: store.now)
            #expect(try await searches.savedSearches(userID: ann.id, projectID: shop.id).map(\.query) == ["assigned:me level:error", "level:error"])

            #expect(try await searches.pinSavedSearch(id: again.id, userID: ann.id, pinned: true))
            #expect(try await !searches.pinSavedSearch(id: again.id, userID: bob.id, pinned: true), "not Bob's to pin")
            #expect(try await searches.pinSavedSearch(id: errors.id, userID: ann.id, pinned: true))
            let other = try await searches.saveSearch(userID: ann.id, projectID: shop.id, name: "Other", query: "z", now: store.now)
            #expect(try await searches.pinSavedSearch(id: other.id, userID: ann.id, pinned: true))
            // One pinned per scope: "Other" took the shop's pin from "Mine"; "Errors" keeps the all-projects pin.
            let pinned = try await searches.savedSearches(userID: ann.id, projectID: shop.id).filter(\.pinned).map(\.name)
            #expect(pinned == ["Other", "Errors"])
            #expect(try await searches.pinSavedSearch(id: other.id, userID: ann.id, pinned: false))
            #expect(try await searches.savedSearches(userID: ann.id, projectID: shop.id).filter(\.pinned).map(\.name) == ["Errors"])

            #expect(try await !searches.deleteSavedSearch(id: errors.id, userID: bob.id))
            #expect(try await searches.deleteSavedSearch(id: errors.id, userID: ann.id))
            #expect(try await searches.savedSearches(userID: ann.id, projectID: nil).isEmpty)
            await #expect(throws: DomainError.self) {
                try await searches.saveSearch(userID: ann.id, projectID: nil, name: "  ", query: "x", now: store.now)
            }
        }
    }
}
