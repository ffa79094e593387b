import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// The Sentry-shaped REST API under `/api/0/`: projects, keys, issues, events, tags.
///
/// Every route needs a bearer token; a token sees only the projects its user is a member of
/// (anything else answers 404, as if it did not exist).
public struct APIController<Context: APIRequestContext>: Sendable {
    let store: any APIStore
    let organization: String
    /// The base URL for DSNs and permalinks: the configured one, else from the request's Host.
    let configuredBaseURL: URL?

    public init(store: any APIStore, organization: String, baseURL: URL?) {
        self.store = store
        self.organization = organization
        self.configuredBaseURL = baseURL
    }

    public func addRoutes(to router: Router<Context>) {
        let api = router.group("api/0").add(middleware: TokenAuthMiddleware<Context>(store: store))
        api.get("projects", use: wrap(listProjects))
        api.get("projects/:org/:project", use: wrap(projectDetail))
        api.get("projects/:org/:project/keys", use: wrap(projectKeys))
        api.get("projects/:org/:project/issues", use: wrap(projectIssues))
        api.put("projects/:org/:project/issues", use: wrap(bulkUpdate))
        api.get("projects/:org/:project/events/:event_id", use: wrap(projectEvent))
        api.get("organizations/:org/issues", use: wrap(organizationIssues))
        api.get("organizations/:org/issues/:issue_id", use: wrap(issueDetail))
        api.get("issues/:issue_id", use: wrap(issueDetail))
        api.put("issues/:issue_id", use: wrap(updateIssue))
        api.delete("issues/:issue_id", use: wrap(deleteIssue))
        api.get("issues/:issue_id/events", use: wrap(issueEvents))
        api.get("issues/:issue_id/events/latest", use: wrap(latestEvent))
        api.get("issues/:issue_id/events/:event_id", use: wrap(issueEvent))
        api.get("issues/:issue_id/tags", use: wrap(issueTags))
        api.get("issues/:issue_id/hashes", use: wrap(issueHashes))
        api.delete("issues/:issue_id/hashes", use: wrap(unmergeHashes))
        api.get("issues/:issue_id/activities", use: wrap(issueActivities))
        api.post("issues/:issue_id/comments", use: wrap(addComment))
        addReleaseRoutes(to: api)
        addAlertRoutes(to: api)
    }

    /// Turns API and domain errors into `{"detail": …}` responses.
    func wrap(
        _ handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) -> @Sendable (Request, Context) async throws -> Response {
        { request, context in
            do {
                return try await handler(request, context)
            } catch let error as APIError {
                return error.response
            } catch let error as DomainError {
                return APIError(error).response
            }
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

    func checkOrganization(_ context: Context) throws {
        guard context.parameters.get("org") == organization else {
            throw APIError.notFound("organization \"\(context.parameters.get("org") ?? "")\" not found (this server's is \"\(organization)\")")
        }
    }

    func project(_ context: Context) async throws -> ProjectInfo {
        try checkOrganization(context)
        let slug = context.parameters.get("project") ?? ""
        guard let project = try await store.projects(visibleTo: user(context).id).first(where: { $0.slug == slug || String($0.id) == slug }) else {
            throw APIError.notFound("project \"\(slug)\" not found")
        }
        return project
    }

    func issue(_ context: Context) async throws -> IssueInfo {
        let text = context.parameters.get("issue_id") ?? ""
        let visible = Set(try await store.projects(visibleTo: user(context).id).map(\.id))
        guard let id = Int64(text), let issue = try await store.issue(id: id), visible.contains(issue.project.id) else {
            throw APIError.notFound("issue \"\(text)\" not found")
        }
        return issue
    }

    // MARK: - Projects

    @Sendable func listProjects(_ request: Request, context: Context) async throws -> Response {
        let projects = try await store.projects(visibleTo: user(context).id)
        return APIJSON.response(.array(projects.map { SentryJSON.project($0, organization: organization) }))
    }

    @Sendable func projectDetail(_ request: Request, context: Context) async throws -> Response {
        APIJSON.response(SentryJSON.project(try await project(context), organization: organization))
    }

    @Sendable func projectKeys(_ request: Request, context: Context) async throws -> Response {
        let project = try await project(context)
        let keys = try await store.keys(projectID: project.id)
        let base = baseURL(request)
        return APIJSON.response(.array(keys.map { SentryJSON.key($0, project: project, baseURL: base) }))
    }
}
