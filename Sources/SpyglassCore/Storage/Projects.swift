import Foundation
import SpyglassProtocol

/// A project and its client keys, for the API.
public struct ProjectInfo: Sendable, Hashable {
    public var id: Int64
    public var slug: String
    public var name: String
    public var createdAt: Date

    public init(id: Int64, slug: String, name: String, createdAt: Date) {
        self.id = id
        self.slug = slug
        self.name = name
        self.createdAt = createdAt
    }
}

/// A client key, for the API.
public struct KeyInfo: Sendable, Hashable {
    public var id: Int64
    public var publicKey: String
    public var label: String
    public var isActive: Bool
    public var createdAt: Date
    public var rateLimitPerMinute: Int?

    public init(id: Int64, publicKey: String, label: String, isActive: Bool, createdAt: Date, rateLimitPerMinute: Int?) {
        self.id = id
        self.publicKey = publicKey
        self.label = label
        self.isActive = isActive
        self.createdAt = createdAt
        self.rateLimitPerMinute = rateLimitPerMinute
    }
}

/// A member of a project.
public struct MemberInfo: Sendable {
    public var userID: Int64
    public var email: String
    public var role: ProjectRole
    public var isActive: Bool

    public init(userID: Int64, email: String, role: ProjectRole, isActive: Bool) {
        self.userID = userID
        self.email = email
        self.role = role
        self.isActive = isActive
    }
}

/// Projects, their client keys, members and settings.
public protocol ProjectStore: KeyDirectory {
    /// Every project, by id (what is visible of them is the policy's business: ``Viewer``).
    func allProjects() async throws -> [ProjectInfo]
    func project(slug: String) async throws -> ProjectInfo?
    /// Creates a project with its first client key and the default alert rule; every server admin becomes a member.
    ///
    /// - Parameters:
    ///   - slug: taken as is when given (validated), else derived from `name`.
    ///   - id: an explicit project id, to keep a DSN from Sentry or GlitchTip; else the next free one.
    ///   - publicKey: an explicit key (32 hex digits), likewise; else a random one.
    func createProject(name: String, slug: String?, id: Int64?, publicKey: String?, now: Date) async throws -> ProjectInfo

    /// The projects `userID` is a member of, with their role there.
    func memberships(userID: Int64) async throws -> [Int64: ProjectRole]
    func members(projectID: Int64) async throws -> [MemberInfo]
    /// Adds the user with `email` (or changes their role); a ``DomainError`` when there is no such user.
    func addMember(projectID: Int64, email: String, role: ProjectRole, now: Date) async throws
    func removeMember(projectID: Int64, userID: Int64) async throws

    /// The project's keys, oldest first.
    func keys(projectID: Int64) async throws -> [KeyInfo]
    func createKey(projectID: Int64, label: String, now: Date) async throws
    /// Changes a key of the project: active or not, and its per-minute limit (`.some(nil)` removes it). False
    /// when the project has no such key.
    func updateKey(id: Int64, projectID: Int64, isActive: Bool?, rateLimitPerMinute: Int??) async throws -> Bool
    /// Sets the events-per-minute limit of every key of a project (`nil` removes it); returns how many keys changed.
    func setRateLimit(projectID: Int64, perMinute: Int?) async throws -> Int

    /// Days the project keeps events when shorter than the server's retention (nil: the server's).
    func retentionDays(projectID: Int64) async throws -> Int?
    func setRetentionDays(projectID: Int64, days: Int?) async throws
    /// Auto-resolve after this many hours without events (`nil`: off).
    func resolveAge(projectID: Int64) async throws -> Int?
    func setResolveAge(projectID: Int64, hours: Int?) async throws
}

extension ProjectStore {
    public func createProject(name: String, slug: String? = nil, now: Date) async throws -> ProjectInfo {
        try await createProject(name: name, slug: slug, id: nil, publicKey: nil, now: now)
    }
}
