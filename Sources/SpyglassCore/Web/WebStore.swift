import Foundation

/// A user who may log in to the web UI: the stored password hash and whether the account is active.
public struct WebAccount: Sendable {
    public var user: APIUser
    public var passwordHash: String
    public var isActive: Bool

    public init(user: APIUser, passwordHash: String, isActive: Bool) {
        self.user = user
        self.passwordHash = passwordHash
        self.isActive = isActive
    }
}

/// A logged-in browser: its user and the CSRF token its forms carry.
public struct WebSession: Sendable {
    public var user: APIUser
    public var csrfToken: String
    public var expires: Date

    public init(user: APIUser, csrfToken: String, expires: Date) {
        self.user = user
        self.csrfToken = csrfToken
        self.expires = expires
    }
}

/// What the web UI needs beyond the REST API's store: accounts and sessions.
public protocol WebStore: Sendable {
    func account(email: String) async throws -> WebAccount?
    /// Stores a session under the hash of its cookie value (the cookie itself is never stored).
    func createSession(tokenHash: String, userID: Int64, csrfToken: String, now: Date, expires: Date) async throws
    /// The session of a cookie, if it exists, has not expired and its user is active.
    func session(tokenHash: String, now: Date) async throws -> WebSession?
    func deleteSession(tokenHash: String) async throws
    /// Every project (what an admin sees).
    func allProjects() async throws -> [ProjectInfo]
    /// The newest stored event's row number: the mark "new events since this page" counts from.
    func eventMark() async throws -> Int64
    /// How many events of these projects were stored after `mark`.
    func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int
}
