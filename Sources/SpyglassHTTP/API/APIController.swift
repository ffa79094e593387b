import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// The Sentry-shaped REST API under `/api/0/`: projects, keys, issues, events, tags.
///
/// Every route needs a bearer token and states its ``Action``; ``AccessResolver`` applies the policy before the
/// handler runs (see `docs/authorization.md`): a project the user is no member of answers 404, as if it did not
/// exist, an action that needs the project's admin role 403.
public struct APIController<Context: APIRequestContext>: Sendable {
    let storage: Storage
    let organization: String
    /// The base URL for DSNs and permalinks: the configured one, else from the request's Host.
    let configuredBaseURL: URL?
    /// Refuses at save a webhook URL deliveries would be refused for (nil: every URL is saved).
    let alertChecker: (any AlertActionChecker)?

    public init(storage: Storage, organization: String, baseURL: URL?, alertChecker: (any AlertActionChecker)? = nil) {
        self.alertChecker = alertChecker
        self.storage = storage
        self.organization = organization
        self.configuredBaseURL = baseURL
    }

    /// Adds the routes, each with its action recorded in `policies`.
    public func addRoutes(to router: Router<Context>, policies: RoutePolicies = RoutePolicies()) {
        let group = router.group("api/0")
            .add(middleware: APIErrorMiddleware<Context>())
            .add(middleware: TokenAuthMiddleware<Context>(accounts: storage.accounts))
        let api = PolicedRoutes(group, prefix: "api/0", policies: policies)
        add(api, .get, "", .useAccount, index)
        add(api, .get, "projects", .readProject, listProjects)
        add(api, .get, "projects/:org/:project", .readProject, projectDetail)
        add(api, .get, "projects/:org/:project/keys", .readProject, projectKeys)
        add(api, .get, "projects/:org/:project/issues", .readIssues, projectIssues)
        add(api, .put, "projects/:org/:project/issues", .triageIssues, bulkUpdate)
        add(api, .get, "projects/:org/:project/events/:event_id", .readEvents, projectEvent)
        add(api, .get, "organizations/:org/issues", .readIssues, organizationIssues)
        add(api, .get, "organizations/:org/issues/:issue_id", .readIssues, issueDetail)
        add(api, .get, "issues/:issue_id", .readIssues, issueDetail)
        add(api, .put, "issues/:issue_id", .triageIssues, updateIssue)
        add(api, .delete, "issues/:issue_id", .deleteIssues, deleteIssue)
        add(api, .get, "issues/:issue_id/events", .readEvents, issueEvents)
        add(api, .get, "issues/:issue_id/user-feedback", .readEvents, issueFeedback)
        add(api, .get, "organizations/:org/issues/:issue_id/user-feedback", .readEvents, issueFeedback)
        add(api, .get, "projects/:org/:project/user-feedback", .readEvents, projectFeedback)
        add(api, .get, "issues/:issue_id/events/latest", .readEvents, latestEvent)
        add(api, .get, "issues/:issue_id/events/:event_id", .readEvents, issueEvent)
        add(api, .get, "issues/:issue_id/tags", .readIssues, issueTags)
        add(api, .get, "issues/:issue_id/hashes", .readIssues, issueHashes)
        add(api, .delete, "issues/:issue_id/hashes", .triageIssues, unmergeHashes)
        add(api, .get, "issues/:issue_id/activities", .readIssues, issueActivities)
        add(api, .post, "issues/:issue_id/comments", .triageIssues, addComment)
        add(api, .put, "projects/:org/:project", .manageProjectSettings, updateProject)
        addReleaseRoutes(to: api)
        addAlertRoutes(to: api)
        addLogRoutes(to: api)
        addArtifactRoutes(to: api)
    }

    /// Adds a route whose handler runs only when ``Authorization`` allows `action` (checked by ``AccessResolver``).
    func add(
        _ api: PolicedRoutes<RouterGroup<Context>>, _ method: HTTPRequest.Method, _ path: String, _ action: Action,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) {
        api.on(method, path, .action(action)) { request, context in
            // The token's scope first: a read token never writes, whatever its user may do.
            if let scope = context.user?.tokenScope, scope < TokenScope.needed(for: action) {
                throw APIError(
                    status: .forbidden,
                    detail: "this token's scope is \(scope.rawValue); this needs the \(TokenScope.needed(for: action).rawValue) scope")
            }
            var context = context
            context.access = try await AccessResolver(storage: storage, organization: organization).resolve(
                action, user: context.user, parameter: { context.parameters.get($0) })
            return try await handler(request, context)
        }
    }

    // MARK: - Shared lookups

    func user(_ context: Context) throws -> APIUser {
        guard let user = context.user else { throw APIError(status: .unauthorized, detail: "Invalid token") }
        return user
    }

    func baseURL(_ request: Request) -> URL {
        if let configuredBaseURL { return configuredBaseURL }
        let host = request.head.authority ?? "127.0.0.1"
        return URL(string: "http://\(host)") ?? URL(filePath: "/")
    }

    /// What the policy allowed this request (set before every handler).
    func access(_ context: Context) throws -> RequestAccess {
        guard let access = context.access else { throw APIError(status: .unauthorized, detail: "Invalid token") }
        return access
    }

    /// The project the path names; the policy checked it.
    func project(_ context: Context) throws -> ProjectInfo {
        guard let project = try access(context).project else { throw APIError.notFound("project not found") }
        return project
    }

    /// The issue the path names; the policy checked its project.
    func issue(_ context: Context) throws -> IssueInfo {
        guard let issue = try access(context).issue else { throw APIError.notFound("issue not found") }
        return issue
    }

    // MARK: - Projects

    /// `GET /api/0/`: Sentry's API index, which `sentry-cli info` reads: the token's user and, as scopes, what that
    /// user may do (tokens here act with their user's rights; an administrator's include the admin scopes).
    @Sendable func index(_ request: Request, context: Context) async throws -> Response {
        let user = try user(context)
        var scopes = [
            "alerts:read", "alerts:write", "event:admin", "event:read", "event:write", "member:read", "org:read",
            "project:read", "project:releases", "project:write", "team:read",
        ]
        if user.isAdmin { scopes += ["member:admin", "org:admin", "org:write", "project:admin"] }
        // Sentry's scopes the token's own scope allows: read ones for read, not the admin ones for write.
        switch user.tokenScope {
        case .read?: scopes = scopes.filter { $0.hasSuffix(":read") }
        case .write?: scopes = scopes.filter { !$0.hasSuffix(":admin") }
        case .admin?, nil: break
        }
        return try APIJSON.response(encoding: SentryJSON.Index(auth: .init(scopes: scopes.sorted()), user: .init(user)))
    }

    @Sendable func listProjects(_ request: Request, context: Context) async throws -> Response {
        let projects = try access(context).projects()
        return try APIJSON.response(encoding: projects.map { SentryJSON.Project($0, organization: organization) })
    }

    @Sendable func projectDetail(_ request: Request, context: Context) async throws -> Response {
        try APIJSON.response(encoding: SentryJSON.Project(try project(context), organization: organization))
    }

    @Sendable func projectKeys(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let keys = try await storage.projects.keys(projectID: project.id)
        let base = baseURL(request)
        return try APIJSON.response(encoding: keys.map { SentryJSON.Key($0, project: project, baseURL: base) })
    }
}
