import Foundation
import HTTPTypes
import SpyglassCore

/// What the policy let a request do, found once before its handler runs: the viewer, and the project or issue
/// its path names.
public struct RequestAccess: Sendable {
    /// The signed-in user and their project roles.
    public var viewer: Viewer
    /// The action of the route.
    public var action: Action
    /// Every project (filter with ``projects(allowing:)``).
    public var allProjects: [ProjectInfo]
    /// The project the path names (`:project`, or the project of `:issue_id`).
    public var project: ProjectInfo?
    /// The issue the path names (`:issue_id`).
    public var issue: IssueInfo?

    /// The projects where the viewer may do `action` (default: the route's): what lists across projects show.
    public func projects(allowing action: Action? = nil) -> [ProjectInfo] {
        allProjects.filter { viewer.may(action ?? self.action, in: $0.id) }
    }
}

/// A request the policy refused, with the status and a message.
public struct AccessDenied: Error, Sendable {
    /// Why: unauthenticated, not found or forbidden.
    public var decision: Decision
    /// The message for the user; for "not found" the same whether the thing exists or not.
    public var detail: String

    /// 401, 404 or 403.
    public var status: HTTPResponse.Status {
        switch decision {
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound, .allowed: .notFound
        }
    }
}

/// Applies ``Authorization`` to a request: the API and the web UI both call it, before every handler.
public struct AccessResolver: Sendable {
    let storage: Storage
    let organization: String

    /// A resolver reading projects and issues from `storage`, for this server's `organization` slug.
    public init(storage: Storage, organization: String) {
        self.storage = storage
        self.organization = organization
    }

    /// Decides `action` for `user` on what the path names: `:project` (slug or id) or `:issue_id`; routes without
    /// either are across projects, and their handlers list ``RequestAccess/projects(allowing:)``.
    ///
    /// - Parameter parameter: the request's path parameters by name.
    /// - Throws: ``AccessDenied`` when the policy refuses; the same 404 for a project that does not exist and one
    ///   the user is not a member of.
    public func resolve(_ action: Action, user: APIUser?, parameter: (String) -> String?) async throws -> RequestAccess {
        guard let user else {
            throw AccessDenied(decision: .unauthenticated, detail: "Authentication credentials were not provided")
        }
        if let org = parameter("org"), org != organization {
            let detail = "organization \"\(org)\" not found (this server's is \"\(organization)\")"
            throw AccessDenied(decision: .notFound, detail: detail)
        }
        let viewer = Viewer(user: user, memberships: try await storage.projects.memberships(userID: user.id))
        var access = RequestAccess(viewer: viewer, action: action, allProjects: try await storage.projects.allProjects())
        guard action.isAboutAProject else {
            let decision = viewer.decide(action)
            guard decision == .allowed else { throw AccessDenied(decision: decision, detail: "There is no such page.") }
            return access
        }
        let missing: String
        if let slug = parameter("project") {
            missing = "project \"\(slug)\" not found"
            access.project = access.allProjects.first { $0.slug == slug || String($0.id) == slug }
            guard access.project != nil else { throw AccessDenied(decision: .notFound, detail: missing) }
        } else if let text = parameter("issue_id") {
            missing = "issue \"\(text)\" not found"
            guard let id = Int64(text), let issue = try await storage.issues.issue(id: id) else {
                throw AccessDenied(decision: .notFound, detail: missing)
            }
            access.issue = issue
            access.project = issue.project
        } else {
            return access
        }
        guard let project = access.project else { return access }
        switch viewer.decide(action, in: project.id) {
        case .allowed: return access
        case .forbidden:
            let detail = "\(action.rawValue) in project \(project.slug) needs the project's admin role"
            throw AccessDenied(decision: .forbidden, detail: detail)
        case let decision: throw AccessDenied(decision: decision, detail: missing)
        }
    }
}
