/// Who may do what: one table of ``Action`` × ``Role``, used by the REST API and the web UI alike.
///
/// Members read and triage; project admins also manage alert rules, the project's settings (keys, rate
/// limits, retention, auto-resolve, members) and delete issues; server admins may do everything on every
/// project, member or not. A user who is not a member of the project learns nothing of it: the answer is the
/// one for a project that does not exist (404). Without credentials the answer is 401. A member lacking the
/// role gets 403. `docs/authorization.md` shows the same table.
public enum Authorization {
    /// The answer for `role` asking to do `action`.
    public static func decide(_ action: Action, for role: Role) -> Decision {
        switch role {
        case .anonymous: return .unauthenticated
        case .serverAdmin: return .allowed
        case .otherProjectMember, .member, .projectAdmin: break
        }
        let needed: Role
        switch action {
        case .useAccount: return .allowed
        case .manageServer: return .notFound
        case .readProject, .readIssues, .readEvents, .triageIssues, .readReleases, .manageReleases, .readAlertRules:
            needed = .member
        case .deleteIssues, .manageAlertRules, .manageProjectSettings:
            needed = .projectAdmin
        }
        if role == .otherProjectMember { return .notFound }
        return role >= needed ? .allowed : .forbidden
    }

    /// Whether `role` may do `action`.
    public static func allows(_ action: Action, for role: Role) -> Bool {
        decide(action, for: role) == .allowed
    }
}

/// What a request asks to do. Actions that are ``isAboutAProject`` are decided per project.
public enum Action: String, Sendable, CaseIterable, Hashable {
    /// One's own account: the password, one's API tokens, logging out, the lists of one's projects.
    case useAccount
    /// Users, other people's tokens, creating projects: the server's administration.
    case manageServer
    /// A project's details and its client keys (DSNs).
    case readProject
    /// Issues: lists, details, tags, hashes, activity, deliveries.
    case readIssues
    /// Events of issues, their JSON and attachments.
    case readEvents
    /// Resolve, ignore, assign, merge, unmerge, comment.
    case triageIssues
    /// Delete issues with their events.
    case deleteIssues
    /// Releases, deploys and release health.
    case readReleases
    /// Create and finalize releases, record deploys.
    case manageReleases
    /// Alert rules (webhook secrets shown only as set or not) and their deliveries.
    case readAlertRules
    /// Create, change, turn off and delete alert rules.
    case manageAlertRules
    /// Project settings: keys, rate limits, retention, auto-resolve, members.
    case manageProjectSettings

    /// Whether the answer depends on the user's role in one project.
    public var isAboutAProject: Bool { self != .useAccount && self != .manageServer }
}

/// Who asks, relative to the project an action is about.
public enum Role: Int, Sendable, CaseIterable, Comparable, Hashable {
    /// No valid token or session.
    case anonymous
    /// Signed in, but not a member of this project (for actions not about a project: any signed-in user).
    case otherProjectMember
    /// A member of the project.
    case member
    /// An admin of the project.
    case projectAdmin
    /// An admin of the server: every project, member or not.
    case serverAdmin

    /// Lower roles may do less.
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The answer of the policy, with the status it maps to in SpyglassHTTP.
public enum Decision: Sendable, Hashable {
    /// Go ahead.
    case allowed
    /// No credentials, or bad ones: 401.
    case unauthenticated
    /// Not a member of the project, or a page for server admins only: 404, as if it did not exist.
    case notFound
    /// A member without the role the action needs: 403.
    case forbidden
}

/// A role a project member has, as stored.
public enum ProjectRole: String, Sendable, CaseIterable, Hashable {
    /// Reads and triages.
    case member
    /// Also manages the project's alert rules and settings.
    case admin
}

/// A signed-in user with their project roles: the subject of every decision.
public struct Viewer: Sendable {
    /// Who is signed in (`isAdmin`: a server admin).
    public var user: APIUser
    /// Project id → the user's role there.
    public var memberships: [Int64: ProjectRole]

    /// A viewer from a user and their memberships.
    public init(user: APIUser, memberships: [Int64: ProjectRole]) {
        self.user = user
        self.memberships = memberships
    }

    /// The user's role for `projectID` (nil: for an action not about a project).
    public func role(in projectID: Int64?) -> Role {
        if user.isAdmin { return .serverAdmin }
        guard let projectID else { return .otherProjectMember }
        switch memberships[projectID] {
        case .admin?: return .projectAdmin
        case .member?: return .member
        case nil: return .otherProjectMember
        }
    }

    /// The answer for `action` on `projectID` (nil for actions not about a project).
    public func decide(_ action: Action, in projectID: Int64? = nil) -> Decision {
        Authorization.decide(action, for: role(in: projectID))
    }

    /// Whether the user may do `action` on `projectID`.
    public func may(_ action: Action, in projectID: Int64) -> Bool { decide(action, in: projectID) == .allowed }
}
