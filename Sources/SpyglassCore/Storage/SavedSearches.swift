import Foundation

/// A search a user saved: for one project or (nil) every project they see. One per user and scope may be pinned:
/// the stream opens with it.
public struct SavedSearch: Sendable, Hashable {
    public var id: Int64
    public var projectID: Int64?
    public var name: String
    public var query: String
    public var pinned: Bool
    public var created: Date

    public init(id: Int64, projectID: Int64?, name: String, query: String, pinned: Bool, created: Date) {
        self.id = id
        self.projectID = projectID
        self.name = name
        self.query = query
        self.pinned = pinned
        self.created = created
    }
}

/// Each user's saved searches.
public protocol SavedSearchStore: Sendable {
    /// The user's searches for `projectID` and for every project (nil: those for every project only), by name.
    func savedSearches(userID: Int64, projectID: Int64?) async throws -> [SavedSearch]
    /// Saves a search (a name used before in the same scope is replaced).
    func saveSearch(userID: Int64, projectID: Int64?, name: String, query: String, now: Date) async throws -> SavedSearch
    /// Deletes one of the user's searches; false when they have none with that id.
    func deleteSavedSearch(id: Int64, userID: Int64) async throws -> Bool
    /// Pins one of the user's searches in its scope (the one pinned before there is unpinned); `pinned: false`
    /// unpins it. False when they have none with that id.
    func pinSavedSearch(id: Int64, userID: Int64, pinned: Bool) async throws -> Bool
}

extension SavedSearch {
    /// A name as kept: trimmed, at most 100 characters; a query at most 1 000.
    public static func validated(name: String, query: String) throws(DomainError) -> (name: String, query: String) {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        let query = query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 100 else { throw DomainError(.invalidInput, "name: give the search a name of 1 to 100 characters") }
        guard query.count <= 1000 else { throw DomainError(.invalidInput, "query: at most 1000 characters") }
        return (name.replacingNUL, query.replacingNUL)
    }
}
