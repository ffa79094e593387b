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
        try await storeCommits(body, version: version, projects: projects)
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
        try await storeCommits(body, version: version, projects: projects)
        return try await releaseResponse(version, projects: projects)
    }

    /// The `commits` (from local git: sha, message, author, changed files) or `refs` (a repository's head:
    /// `{repository, commit, previousCommit}`) of a release body, stored as the release's commits. Spyglass has no
    /// connection to a code host, so a ref keeps its head commit only (the range between `previousCommit` and it
    /// is not fetched); its repository must be one of `GET /organizations/{org}/repos/`, as in Sentry.
    func storeCommits(_ body: JSONValue, version: String, projects: [ProjectInfo]) async throws {
        if let list = body["commits"], !list.isNull {
            guard let items = list.arrayValue else { throw APIError.badRequest("commits: expected a list of commits") }
            guard items.count <= 10_000 else { throw APIError.badRequest("commits: at most 10000 commits a release") }
            let commits = try items.enumerated().map { index, item in try Self.commit(item, at: "commits[\(index)]") }
            try await storage.releases.setCommits(version: version, projectIDs: projects.map(\.id), commits: commits)
        } else if let list = body["refs"], !list.isNull {
            guard let items = list.arrayValue else { throw APIError.badRequest("refs: expected a list of refs") }
            let known = Set(try await storage.releases.repositories().map { $0.name.lowercased() })
            var commits: [ReleaseCommit] = []
            for (index, item) in items.enumerated() {
                guard let repository = item["repository"]?.stringValue, let sha = item["commit"]?.stringValue else {
                    throw APIError.badRequest("refs[\(index)]: a ref needs \"repository\" and \"commit\"")
                }
                guard known.contains(repository.lowercased()) else {
                    throw APIError.badRequest("refs[\(index)].repository: unknown repository \"\(repository)\" (add it with POST /organizations/{org}/repos/)")
                }
                commits.append(ReleaseCommit(sha: try Self.sha(sha, at: "refs[\(index)].commit"), repository: repository))
            }
            try await storage.releases.setCommits(version: version, projectIDs: projects.map(\.id), commits: commits)
        }
    }

    static func sha(_ text: String, at path: String) throws -> String {
        guard (1...64).contains(text.count), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
            throw APIError.badRequest("\(path): \"\(text.limited(to: 80))\" is not a commit id (1 to 64 letters and digits)")
        }
        return text.lowercased()
    }

    /// One commit as sentry-cli's `set-commits --local` sends it.
    static func commit(_ item: JSONValue, at path: String) throws -> ReleaseCommit {
        guard item.objectValue != nil, let id = item["id"]?.stringValue else { throw APIError.badRequest("\(path): a commit needs an \"id\"") }
        func text(_ key: String, max: Int) throws -> String? {
            guard let value = item[key], !value.isNull else { return nil }
            guard let string = value.stringValue else { throw APIError.badRequest("\(path).\(key): expected a string") }
            return string.limited(to: max)
        }
        var date: Date?
        if let value = item["timestamp"], !value.isNull {
            guard let parsed = Timestamp.parse(value) else { throw APIError.badRequest("\(path).timestamp: \(Timestamp.expected)") }
            date = parsed
        }
        let patches = item["patch_set"]?.arrayValue ?? []
        guard patches.count <= 10_000 else { throw APIError.badRequest("\(path).patch_set: at most 10000 files a commit") }
        let files = try patches.enumerated().map { index, patch in
            guard let file = patch["path"]?.stringValue, let type = patch["type"]?.stringValue, ["A", "M", "D"].contains(type) else {
                throw APIError.badRequest("\(path).patch_set[\(index)]: a file needs a \"path\" and a \"type\" of A, M or D")
            }
            return ReleaseCommit.ChangedFile(path: file.limited(to: 1000), type: type)
        }
        return ReleaseCommit(
            sha: try sha(id, at: "\(path).id"), repository: try text("repository", max: 200), message: try text("message", max: 10_000),
            authorName: try text("author_name", max: 200), authorEmail: try text("author_email", max: 200), date: date, files: files)
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
        return APIJSON.response(.array(commits.map(SentryJSON.commit)))
    }

    /// `GET /organizations/{org}/releases/{version}/previous-with-commits/`: the release sentry-cli's `set-commits
    /// --local` starts its range after, with its newest commit as `lastCommit`; `{}` when there is none.
    @Sendable func previousWithCommits(_ request: Request, context: Context) async throws -> Response {
        let projects = try scopedProjects(context, names: [])
        guard let previous = try await storage.releases.previousReleaseWithCommits(version: version(context), projectIDs: projects.map(\.id))
        else { return APIJSON.response(.object([:])) }
        var found: [ReleaseInfo] = []
        for project in projects {
            if let release = try await storage.releases.release(projectID: project.id, version: previous.version) { found.append(release) }
        }
        return APIJSON.response(SentryJSON.release(found))
    }

    @Sendable func listRepositories(_ request: Request, context: Context) async throws -> Response {
        APIJSON.response(.array(try await storage.releases.repositories().map(SentryJSON.repository)))
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
        return APIJSON.response(SentryJSON.repository(created), status: .created)
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
        try await storeCommits(body, version: version, projects: [project])
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
        var json = SentryJSON.project(project, organization: organization)
        json["resolveAge"] = .number(JSONNumber(Int64(try await storage.projects.resolveAge(projectID: project.id) ?? 0)))
        return APIJSON.response(json)
    }
}

/// `POST /organizations/{org}/repos/`'s body.
struct RepositoryRequest: Decodable {
    var name: String
    var url: String?
    var provider: String?
}

/// `PUT /projects/{org}/{project}/`'s body: `resolveAge` in hours, 0 for off.
struct ProjectSettingsRequest: Decodable {
    var resolveAge: Double?
}
