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

/// A member of a project.
public struct MemberInfo: Sendable {
    public var userID: Int64
    public var email: String
    /// `admin` or `member`.
    public var role: String
    public var isActive: Bool

    public init(userID: Int64, email: String, role: String, isActive: Bool) {
        self.userID = userID
        self.email = email
        self.role = role
        self.isActive = isActive
    }
}

/// A user account as an admin sees it.
public struct AccountInfo: Sendable {
    public var id: Int64
    public var email: String
    public var isAdmin: Bool
    public var isActive: Bool
    public var createdAt: Date

    public init(id: Int64, email: String, isAdmin: Bool, isActive: Bool, createdAt: Date) {
        self.id = id
        self.email = email
        self.isAdmin = isAdmin
        self.isActive = isActive
        self.createdAt = createdAt
    }
}

/// A file sent with an event (minidump, log, screenshot…).
public struct AttachmentInfo: Sendable {
    public var id: Int64
    public var filename: String
    public var contentType: String
    public var size: Int

    public init(id: Int64, filename: String, contentType: String, size: Int) {
        self.id = id
        self.filename = filename
        self.contentType = contentType
        self.size = size
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
    // Project settings
    func members(projectID: Int64) async throws -> [MemberInfo]
    /// Adds the user with `email` (or changes their role); a ``DomainError`` when there is no such user.
    func addMember(projectID: Int64, email: String, role: String, now: Date) async throws
    func removeMember(projectID: Int64, userID: Int64) async throws
    func createKey(projectID: Int64, label: String, now: Date) async throws
    /// Changes a key of the project: active or not, and its per-minute limit (`.some(nil)` removes it). False
    /// when the project has no such key.
    func updateKey(id: Int64, projectID: Int64, isActive: Bool?, rateLimitPerMinute: Int??) async throws -> Bool

    /// Days the project keeps events when shorter than the server's retention (nil: the server's).
    func retentionDays(projectID: Int64) async throws -> Int?
    func setRetentionDays(projectID: Int64, days: Int?) async throws

    // Administration
    func accounts() async throws -> [AccountInfo]
    /// Creates an account; a ``DomainError`` when the address is taken or invalid.
    func createAccount(email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date) async throws
    /// Activates or deactivates an account (a deactivated one's sessions end).
    func setAccountActive(id: Int64, active: Bool) async throws -> Bool
    /// Sets a generated password that must be changed at the next login; ends the account's sessions.
    func resetPassword(id: Int64, passwordHash: String) async throws -> Bool

    /// Creates a project with a client key and the default alert rule; admins become its members.
    func addProject(name: String, slug: String?, now: Date) async throws -> ProjectInfo
    func attachments(projectID: Int64, eventID: String) async throws -> [AttachmentInfo]
    /// One attachment's bytes, if it belongs to that event.
    func attachment(id: Int64, projectID: Int64, eventID: String) async throws -> (AttachmentInfo, [UInt8])?
    /// Other issues of the project that look like this one: the same title, or the same type and culprit.
    func similarIssueIDs(of issue: IssueInfo, limit: Int) async throws -> [Int64]
    /// The newest stored event's row number: the mark "new events since this page" counts from.
    func eventMark() async throws -> Int64
    /// How many events of these projects were stored after `mark`.
    func eventsStored(after mark: Int64, projectIDs: [Int64]) async throws -> Int
}
