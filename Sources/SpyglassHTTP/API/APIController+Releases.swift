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
        add(api, .get, "organizations/:org/releases/:version/commits", .readReleases, listCommits)
        add(api, .get, "organizations/:org/releases/:version/previous-with-commits", .readReleases, previousWithCommits)
        add(api, .get, "organizations/:org/repos", .readReleases, listRepositories)
        add(api, .post, "organizations/:org/repos", .manageServer, createRepository)
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
        return try APIJSON.response(encoding: order.compactMap { SentryJSON.Release(byVersion[$0] ?? []) }, headers: headers)
    }

    func releaseResponse(_ version: String, projects: [ProjectInfo], status: HTTPResponse.Status = .ok) async throws -> Response {
        var found: [ReleaseInfo] = []
        for project in projects {
            if let release = try await storage.releases.release(projectID: project.id, version: version) { found.append(release) }
        }
        guard let release = SentryJSON.Release(found) else { throw APIError.notFound("release \"\(version)\" not found") }
        return try APIJSON.response(encoding: release, status: status)
    }

    /// Creates `body`'s release in `projects`: 201, or 208 (as Sentry) when it existed everywhere already.
    func createRelease(_ body: ReleaseRequest, projects: [ProjectInfo]) async throws -> Response {
        guard let version = body.version else { throw APIError.badRequest("version: missing") }
        let commits = try await commits(body)  // checked before anything is stored
        let created = try await storage.releases.createRelease(version: version, projectIDs: projects.map(\.id), change: body.change, now: .now)
        if let commits { try await storage.releases.setCommits(version: version, projectIDs: projects.map(\.id), commits: commits) }
        return try await releaseResponse(version, projects: projects, status: created ? .created : .init(code: 208, reasonPhrase: "Already Reported"))
    }

    @Sendable func listOrganizationReleases(_ request: Request, context: Context) async throws -> Response {
        try await releaseList(request, projects: try scopedProjects(context, names: FormQuery(request).getAll("project")))
    }

    @Sendable func createOrganizationRelease(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.decode(ReleaseRequest.self, request, context: context)
        let names = body.projects ?? []
        guard !names.isEmpty else { throw APIError.badRequest("projects: name at least one project") }
        return try await createRelease(body, projects: try scopedProjects(context, names: names))
    }

    @Sendable func organizationRelease(_ request: Request, context: Context) async throws -> Response {
        try await releaseResponse(version(context), projects: try scopedProjects(context, names: FormQuery(request).getAll("project")))
    }

    @Sendable func updateOrganizationRelease(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        let version = version(context)
        let body = try await APIJSON.decode(ReleaseRequest.self, request, context: context)
        let commits = try await commits(body)
        try await storage.releases.updateRelease(version: version, projectIDs: projects.map(\.id), change: body.change)
        if let commits { try await storage.releases.setCommits(version: version, projectIDs: projects.map(\.id), commits: commits) }
        return try await releaseResponse(version, projects: projects)
    }

    /// The `commits` (from local git: sha, message, author, changed files) or `refs` (a repository's head:
    /// `{repository, commit, previousCommit}`) of a release body, checked before anything is stored (nil: the body
    /// sets none). Spyglass has no connection to a code host, so a ref keeps its head commit only (the range between
    /// `previousCommit` and it is not fetched); its repository must be one of `GET /organizations/{org}/repos/`, as
    /// in Sentry.
    func commits(_ body: ReleaseRequest) async throws -> [ReleaseCommit]? {
        if let items = body.commits {
            guard items.count <= 10_000 else { throw APIError.badRequest("commits: at most 10000 commits a release") }
            return try items.enumerated().map { index, item in try Self.commit(item, at: "commits[\(index)]") }
        } else if let items = body.refs {
            let known = Set(try await storage.releases.repositories().map { $0.name.lowercased() })
            return try items.enumerated().map { index, item in
                guard known.contains(item.repository.lowercased()) else {
                    throw APIError.badRequest(
                        "refs[\(index)].repository: unknown repository \"\(item.repository.limited(to: 200))\" (add it with POST /organizations/{org}/repos/)")
                }
                return ReleaseCommit(sha: try Self.sha(item.commit, at: "refs[\(index)].commit"), repository: item.repository)
            }
        }
        return nil
    }

    static func sha(_ text: String, at path: String) throws -> String {
        guard (1...64).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw APIError.badRequest("\(path): \"\(text.limited(to: 80))\" is not a commit id (1 to 64 letters and digits)")
        }
        return text.lowercased()
    }

    /// One commit of `set-commits --local`, its texts cut to what is kept.
    static func commit(_ item: CommitRequest, at path: String) throws -> ReleaseCommit {
        let patches = item.patchSet ?? []
        guard patches.count <= 10_000 else { throw APIError.badRequest("\(path).patch_set: at most 10000 files a commit") }
        let files = try patches.enumerated().map { index, patch in
            guard ["A", "M", "D"].contains(patch.type) else {
                throw APIError.badRequest("\(path).patch_set[\(index)].type: expected A, M or D")
            }
            return ReleaseCommit.ChangedFile(path: patch.path.limited(to: 1000), type: patch.type)
        }
        return ReleaseCommit(
            sha: try sha(item.id, at: "\(path).id"), repository: item.repository?.limited(to: 200), message: item.message?.limited(to: 10_000),
            authorName: item.authorName?.limited(to: 200), authorEmail: item.authorEmail?.limited(to: 200), date: item.timestamp?.date,
            files: files)
    }

    /// `GET /organizations/{org}/releases/{version}/commits/`: Sentry's commit list, newest first.
    @Sendable func listCommits(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: FormQuery(request).getAll("project"))
        let version = version(context)
        var exists = false
        for project in projects where !exists {
            exists = try await storage.releases.release(projectID: project.id, version: version) != nil
        }
        guard exists else { throw APIError.notFound("release \"\(version)\" not found") }
        let commits = try await storage.releases.commits(version: version, projectIDs: projects.map(\.id))
        return try APIJSON.response(encoding: commits.map(SentryJSON.Commit.init))
    }

    /// `GET /organizations/{org}/releases/{version}/previous-with-commits/`: the release sentry-cli's `set-commits
    /// --local` starts its range after, with its newest commit as `lastCommit`; `{}` when there is none.
    @Sendable func previousWithCommits(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        guard let previous = try await storage.releases.previousReleaseWithCommits(version: version(context), projectIDs: projects.map(\.id))
        else { return try APIJSON.response(encoding: [String: String]()) }
        var found: [ReleaseInfo] = []
        for project in projects {
            if let release = try await storage.releases.release(projectID: project.id, version: previous.version) { found.append(release) }
        }
        return try APIJSON.response(encoding: SentryJSON.Release(found))
    }

    @Sendable func listRepositories(_ request: Request, context: Context) async throws -> Response {
        try APIJSON.response(encoding: try await storage.releases.repositories().map(SentryJSON.Repository.init))
    }

    /// `POST /organizations/{org}/repos/` `{"name", "url", "provider"}` (server admins): a repository commits may name.
    @Sendable func createRepository(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.decode(RepositoryRequest.self, request, context: context)
        let name = body.name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count), !name.contains(where: \.isNewline) else {
            throw APIError.badRequest("name: a repository needs a name of 1 to 200 characters (owner/repo)")
        }
        let url = body.url
        if let url, URL(string: url)?.scheme.map({ ["http", "https"].contains($0) }) != true || url.count > 1000 {
            throw APIError.badRequest("url: \"\(url.limited(to: 80))\" is not an http(s) URL")
        }
        let provider = body.provider ?? "integrations:custom"
        guard (1...100).contains(provider.count) else { throw APIError.badRequest("provider: 1 to 100 characters") }
        let created = try await storage.releases.createRepository(name: name, url: url, provider: provider, now: .now)
        return try APIJSON.response(encoding: SentryJSON.Repository(created), status: .created)
    }

    @Sendable func listDeploys(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        var deploys: [ReleaseInfo.Deploy] = []
        for project in projects {
            deploys += try await storage.releases.release(projectID: project.id, version: version(context))?.deploys ?? []
        }
        return try APIJSON.response(encoding: deploys.sorted { $0.dateFinished > $1.dateFinished }.map(SentryJSON.Deploy.init))
    }

    @Sendable func createDeploy(_ request: Request, context: Context) async throws -> Response {
        let body = try await APIJSON.decode(DeployRequest.self, request, context: context)
        let projects = try scopedProjects(context, names: body.projects ?? [])
        let deploy = ReleaseInfo.Deploy(
            id: 0, environment: body.environment, name: body.name, url: body.url, dateStarted: body.dateStarted?.date,
            dateFinished: body.dateFinished?.date ?? .now)
        let stored = try await storage.releases.createDeploy(version: version(context), projectIDs: projects.map(\.id), deploy: deploy)
        return try APIJSON.response(encoding: SentryJSON.Deploy(stored), status: .created)
    }

    @Sendable func listProjectReleases(_ request: Request, context: Context) async throws -> Response {
        try await releaseList(request, projects: [project(context)])
    }

    @Sendable func createProjectRelease(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        return try await createRelease(try await APIJSON.decode(ReleaseRequest.self, request, context: context), projects: [project])
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
        let body = try await APIJSON.decode(ReleaseRequest.self, request, context: context)
        let commits = try await commits(body)
        try await storage.releases.updateRelease(version: version, projectIDs: [project.id], change: body.change)
        if let commits { try await storage.releases.setCommits(version: version, projectIDs: [project.id], commits: commits) }
        return try await releaseResponse(version, projects: [project])
    }

    /// `PUT /projects/{org}/{project}/` with `{"resolveAge": hours}` (0 turns auto-resolve off).
    @Sendable func updateProject(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        if let hours = try await APIJSON.decode(ProjectSettingsRequest.self, request, context: context).resolveAge {
            guard hours >= 0, hours <= 24 * 365 * 10, hours == hours.rounded() else {
                throw APIError.badRequest("resolveAge: expected a number of hours (0 for off)")
            }
            try await storage.projects.setResolveAge(projectID: project.id, hours: hours == 0 ? nil : Int(hours))
        }
        let resolveAge = try await storage.projects.resolveAge(projectID: project.id) ?? 0
        return try APIJSON.response(encoding: SentryJSON.Project(project, organization: organization, resolveAge: resolveAge))
    }
}
