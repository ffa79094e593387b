import Foundation
import SpyglassProtocol

/// A user as the API sees them (from a bearer token).
public struct APIUser: Sendable, Hashable {
    public var id: Int64
    public var email: String
    public var isAdmin: Bool
    /// What the API token the request came with may do; nil for a web session (whatever the user may do).
    public var tokenScope: TokenScope?

    public init(id: Int64, email: String, isAdmin: Bool, tokenScope: TokenScope? = nil) {
        self.id = id
        self.email = email
        self.isAdmin = isAdmin
        self.tokenScope = tokenScope
    }
}

/// What an API token may do, on top of what its user may: `read` (lists, details), `write` (triage, releases,
/// alert rules) or `admin` (everything the user may, deleting issues and project and server settings included).
public enum TokenScope: String, Sendable, Hashable, CaseIterable, Comparable {
    case read, write, admin

    public static func < (left: TokenScope, right: TokenScope) -> Bool {
        allCases.firstIndex(of: left)! < allCases.firstIndex(of: right)!
    }

    /// The scope an action needs.
    public static func needed(for action: Action) -> TokenScope {
        switch action {
        case .useAccount, .readProject, .readIssues, .readEvents, .readReleases, .readAlertRules: .read
        case .triageIssues, .manageReleases, .manageAlertRules: .write
        case .deleteIssues, .manageProjectSettings, .manageServer: .admin
        }
    }
}

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
    /// When the API last accepted it (kept to the minute: a token used again within a minute is not written again).
    public var lastUsedAt: Date?
    public var scope: TokenScope

    public init(id: Int64, name: String, createdAt: Date, lastUsedAt: Date?, scope: TokenScope = .admin) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.scope = scope
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

/// User accounts, their browser sessions and API tokens.
public protocol AccountStore: Sendable {
    /// The active user a token belongs to, with the token's scope; records the use (at most once a minute).
    func user(tokenHash: String, now: Date) async throws -> APIUser?
    /// The account with `email` (normalized first), active or not.
    func account(email: String) async throws -> WebAccount?
    /// Every account, by e-mail address.
    func accounts() async throws -> [AccountInfo]
    /// Creates an account (`passwordHash` is already bcrypt: hash outside any transaction, it is slow); a server
    /// admin becomes a member of every project. A ``DomainError`` when the address is taken or invalid.
    func createAccount(email: String, passwordHash: String, isAdmin: Bool, mustChangePassword: Bool, now: Date) async throws -> AccountInfo
    /// Activates or deactivates an account (a deactivated one's sessions end).
    func setAccountActive(id: Int64, active: Bool) async throws -> Bool
    /// The user's theme for the web UI: `auto` (the system's light or dark), `light` or `dark`.
    func theme(userID: Int64) async throws -> String
    func setTheme(userID: Int64, theme: String) async throws
    /// Sets a generated password that must be changed at the next login; ends the account's sessions.
    func resetPassword(id: Int64, passwordHash: String) async throws -> Bool
    /// Sets a new password (bcrypt hash), clears "must change", and ends the user's other sessions.
    func changePassword(userID: Int64, passwordHash: String, keepingSession tokenHash: String) async throws

    /// Stores a session under the hash of its cookie value (the cookie itself is never stored).
    func createSession(tokenHash: String, userID: Int64, csrfToken: String, now: Date, expires: Date) async throws
    /// The session of a cookie, if it exists, has not expired and its user is active.
    func session(tokenHash: String, now: Date) async throws -> WebSession?
    func deleteSession(tokenHash: String) async throws

    func apiTokens(userID: Int64) async throws -> [TokenInfo]
    /// Stores a new token of the user; only its hash is kept.
    @discardableResult
    func createAPIToken(userID: Int64, name: String, tokenHash: String, scope: TokenScope, now: Date) async throws -> TokenInfo
    /// False when the user has no such token.
    func revokeAPIToken(id: Int64, userID: Int64) async throws -> Bool
}
