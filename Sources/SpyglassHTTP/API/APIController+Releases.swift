import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

extension APIController {
    func addReleaseRoutes(to api: PolicedRoutes<RouterGroup<Context>>) {
        add(api, .get, "organizations/:org/releases", .readReleases, listOrganizationReleases)
        add(api, .post, "organizations/:org/releases", .manageReleases, createOrganizationRelease)
        add(api, .get, "organizations/:org/releases/:version", .readReleases, organizationRelease)
        add(api, .put, "organizations/:org/releases/:version", .manageReleases, updateOrganizationRelease)
        add(api, .delete, "organizations/:org/releases/:version", .manageReleases, deleteOrganizationRelease)
        add(api, .get, "organizations/:org/releases/:version/deploys", .readReleases, listDeploys)
        add(api, .post, "organizations/:org/releases/:version/deploys", .manageReleases, createDeploy)
        add(api, .get, "projects/:org/:project/releases", .readReleases, listProjectReleases)
        add(api, .post, "projects/:org/:project/releases", .manageReleases, createProjectRelease)
        add(api, .get, "projects/:org/:project/releases/:version", .readReleases, projectRelease)
        add(api, .put, "projects/:org/:project/releases/:version", .manageReleases, updateProjectRelease)
        add(api, .delete, "projects/:org/:project/releases/:version", .manageReleases, deleteProjectRelease)
    }

    func version(_ context: Context) -> String {
        let raw = context.parameters.get("version") ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    /// The projects a request names (`?project=` ids or slugs, or `projects` in a body) where the route's action is
    /// allowed, else all such projects.
    func scopedProjects(_ context: Context, names: [String]) throws -> [ProjectInfo] {
        let visible = try access(context).projects()
        guard !names.isEmpty, names != ["-1"] else { return visible }
        return try names.map { name in
            guard let project = visible.first(where: { $0.slug == name || String($0.id) == name }) else {
                throw APIError.badRequest("projects: no project \"\(name)\"")
            }
            return project
        }
    }

    func releaseChange(_ body: JSONValue) throws -> ReleaseChange {
        var change = ReleaseChange(ref: body["ref"]?.stringValue, url: body["url"]?.stringValue)
        if let value = body["dateReleased"], !value.isNull {
            guard let date = Timestamp.parse(value) else { throw APIError.badRequest("dateReleased: \(Timestamp.expected)") }
            change.dateReleased = date
        }
        return change
    }

    /// One release JSON per version across `projects`, newest first.
    func releaseList(_ request: Request, projects: [ProjectInfo]) async throws -> Response {
        let limit = try APIJSON.limit(request)
        let offset = try APIJSON.offset(request)
        var releases = try await storage.releases.releases(projectIDs: projects.map(\.id), limit: limit, offset: offset)
        let hasNext = releases.count > limit
        releases = Array(releases.prefix(limit))
        var order: [String] = []
        var byVersion: [String: [ReleaseInfo]] = [:]
        for release in releases {
            if byVersion[release.version] == nil { order.append(release.version) }
            byVersion[release.version, default: []].append(release)
        }
        let headers = APIJSON.link(request, baseURL: baseURL(request).absoluteString, offset: offset, limit: limit, hasNext: hasNext)
        return APIJSON.response(.array(order.map { SentryJSON.release(byVersion[$0] ?? []) }), headers: headers)
    }

    func releaseResponse(_ version: String, projects: [ProjectInfo], status: HTTPResponse.Status = .ok) async throws -> Response {
        var found: [ReleaseInfo] = []
        for project in projects {
            if let release = try await storage.releases.release(projectID: project.id, version: version) { found.append(release) }
        }
        guard !found.isEmpty else { throw APIError.notFound("release \"\(version)\" not found") }
        return APIJSON.response(SentryJSON.release(found), status: status)
    }

    /// Creates `body`'s release in `projects`: 201, or 208 (as Sentry) when it existed everywhere already.
    func createRelease(_ body: JSONValue, projects: [ProjectInfo]) async throws -> Response {
        guard let version = body["version"]?.stringValue else { throw APIError.badRequest("version: a release needs a \"version\" string") }
        let created = try await storage.releases.createRelease(version: version, projectIDs: projects.map(\.id), change: releaseChange(body), now: .now)
        return try await releaseResponse(version, projects: projects, status: created ? .created : .init(code: 208, reasonPhrase: "Already Reported"))
    }

    @Sendable func listOrganizationReleases(_ request: Request, context: Context) async throws -> Response {
        try await releaseList(request, projects: try scopedProjects(context, names: FormQuery(request).getAll("project")))
    }

    @Sendable func createOrganizationRelease(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.body(request, context: context)
        let names = (body["projects"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard !names.isEmpty else { throw APIError.badRequest("projects: name at least one project") }
        return try await createRelease(body, projects: try scopedProjects(context, names: names))
    }

    @Sendable func organizationRelease(_ request: Request, context: Context) async throws -> Response {
        try await releaseResponse(version(context), projects: try scopedProjects(context, names: FormQuery(request).getAll("project")))
    }

    @Sendable func updateOrganizationRelease(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        let version = version(context)
        let body = try await APIJSON.body(request, context: context)
        try await storage.releases.updateRelease(version: version, projectIDs: projects.map(\.id), change: releaseChange(body))
        return try await releaseResponse(version, projects: projects)
    }

    @Sendable func listDeploys(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        var deploys: [ReleaseInfo.Deploy] = []
        for project in projects {
            deploys += try await storage.releases.release(projectID: project.id, version: version(context))?.deploys ?? []
        }
        return APIJSON.response(.array(deploys.sorted { $0.dateFinished > $1.dateFinished }.map(SentryJSON.deploy)))
    }

    @Sendable func createDeploy(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.body(request, context: context)
        let names = (body["projects"]?.arrayValue ?? []).compactMap(\.stringValue)
        let projects = try scopedProjects(context, names: names)
        guard let environment = body["environment"]?.stringValue else {
            throw APIError.badRequest("environment: a deploy needs an \"environment\"")
        }
        func date(_ key: String) throws -> Date? {
            guard let value = body[key], !value.isNull else { return nil }
            guard let date = Timestamp.parse(value) else { throw APIError.badRequest("\(key): \(Timestamp.expected)") }
            return date
        }
        let deploy = ReleaseInfo.Deploy(
            id: 0, environment: environment, name: body["name"]?.stringValue, url: body["url"]?.stringValue,
            dateStarted: try date("dateStarted"), dateFinished: try date("dateFinished") ?? .now)
        let stored = try await storage.releases.createDeploy(version: version(context), projectIDs: projects.map(\.id), deploy: deploy)
        return APIJSON.response(SentryJSON.deploy(stored), status: .created)
    }

    @Sendable func listProjectReleases(_ request: Request, context: Context) async throws -> Response {
        try await releaseList(request, projects: [project(context)])
    }

    @Sendable func createProjectRelease(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        return try await createRelease(try await APIJSON.body(request, context: context), projects: [project])
    }

    @Sendable func deleteOrganizationRelease(_ request: Request, context: Context) async throws -> Response {
        try await deleteRelease(version(context), projects: try scopedProjects(context, names: FormQuery(request).getAll("project")))
    }

    @Sendable func deleteProjectRelease(_ request: Request, context: Context) async throws -> Response {
        try await deleteRelease(version(context), projects: [project(context)])
    }

    /// `sentry-cli releases delete`: 204, 404 when no project has it, 400 (Sentry's words) when an issue was first
    /// seen in it.
    func deleteRelease(_ version: String, projects: [ProjectInfo]) async throws -> Response {
        switch try await storage.releases.deleteRelease(version: version, projectIDs: projects.map(\.id)) {
        case .deleted: return Response(status: .noContent)
        case .notFound: throw APIError.notFound("release \"\(version)\" not found")
        case .referencedByIssues:
            throw APIError.badRequest("This release is referenced by active issues and cannot be removed.")
        }
    }

    @Sendable func projectRelease(_ request: Request, context: Context) async throws -> Response {
        try await releaseResponse(version(context), projects: [project(context)])
    }

    @Sendable func updateProjectRelease(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let version = version(context)
        let body = try await APIJSON.body(request, context: context)
        try await storage.releases.updateRelease(version: version, projectIDs: [project.id], change: releaseChange(body))
        return try await releaseResponse(version, projects: [project])
    }

    /// `PUT /projects/{org}/{project}/` with `{"resolveAge": hours}` (0 turns auto-resolve off).
    @Sendable func updateProject(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let body = try await APIJSON.body(request, context: context)
        if let age = body["resolveAge"] {
            guard let hours = age.int64Value, hours >= 0, hours <= 24 * 365 * 10 else {
                throw APIError.badRequest("resolveAge: expected a number of hours (0 for off)")
            }
            try await storage.projects.setResolveAge(projectID: project.id, hours: hours == 0 ? nil : Int(hours))
        }
        var json = SentryJSON.project(project, organization: organization)
        json["resolveAge"] = .number(JSONNumber(Int64(try await storage.projects.resolveAge(projectID: project.id) ?? 0)))
        return APIJSON.response(json)
    }
}
