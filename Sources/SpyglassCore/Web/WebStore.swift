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
    /// The account still has its generated first password: every page asks for a new one first.
    public var mustChangePassword: Bool

    public init(user: APIUser, csrfToken: String, expires: Date, mustChangePassword: Bool = false) {
        self.user = user
        self.csrfToken = csrfToken
        self.expires = expires
        self.mustChangePassword = mustChangePassword
    }
}

/// An API token as its owner sees it (the token itself is shown once, at creation).
public struct TokenInfo: Sendable {
    public var id: Int64
    public var name: String
    public var createdAt: Date
    public var lastUsedAt: Date?

    public init(id: Int64, name: String, createdAt: Date, lastUsedAt: Date?) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
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
    /// Sets a new password (bcrypt hash), clears "must change", and ends the user's other sessions.
    func changePassword(userID: Int64, passwordHash: String, keepingSession tokenHash: String) async throws
    func apiTokens(userID: Int64) async throws -> [TokenInfo]
    func createAPIToken(userID: Int64, name: String, tokenHash: String, now: Date) async throws
    /// False when the user has no such token.
    func revokeAPIToken(id: Int64, userID: Int64) async throws -> Bool
    /// Issues of a project that regressed in `version` (newest regression first).
    func regressedIssueIDs(projectID: Int64, version: String, limit: Int) async throws -> [Int64]
    /// Every project (what an admin sees).
    func allProjects() async throws -> [ProjectInfo]
    /// The newest stored event's row number: the mark "new events since this page" counts from.
    func eventMark() async throws -> Int64
    /// How many events of these projects were stored after `mark`.
    func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int
}
