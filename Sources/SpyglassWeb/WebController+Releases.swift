import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP

extension WebController {
    struct ReleaseRow {
        var url: String
        var version: String
        var project: String
        var newIssues: Int
        var firstEvent: String?
        var firstEventISO: String?
        var lastEvent: String?
        var lastEventISO: String?
        var deploys: [String]
        var crashFree: String?
    }

    struct ReleasesModel {
        var chrome: Chrome
        var projectSlug: String?
        var releases: [ReleaseRow]
        var previousURL: String?
        var nextURL: String?
    }

    struct HealthRow {
        var environment: String
        /// "1 session", "12 sessions".
        var sessions: String
        var crashed: Int
        var crashFree: String
    }

    struct DeployRow {
        var environment: String
        var finished: String
        var name: String?
    }

    struct IssueBlock {
        var issues: [IssueRow]
    }

    struct ReleaseModel {
        var chrome: Chrome
        var projectID: Int64
        var project: String
        var version: String
        var created: String
        var createdISO: String
        var released: String?
        var ref: String?
        var firstEvent: String?
        var lastEvent: String?
        var deploys: [DeployRow]
        var health: [HealthRow]
        var issues: [IssueRow]
        var newCount: Int
        var newMoreURL: String?
        var regressed: IssueBlock?
        var regressedCount: Int
        /// The commits that came with the release, newest first (`sentry-cli releases set-commits`).
        var commits: [CommitRow]
        var commitCount: Int
    }

    struct CommitRow {
        var sha: String
        var shortSHA: String
        var subject: String?
        var author: String?
        var date: String?
        var repository: String?
        var files: [ReleaseCommit.ChangedFile]
        /// "1 file", "3 files"; nil without files.
        var fileCount: String?
    }

    func addReleaseRoutes(to pages: Pages) {
        add(pages, .get, "organizations/:org/releases", .readReleases, releasesPage)
        add(pages, .get, "organizations/:org/releases/:version", .readReleases, releasePage)
    }

    func releaseURL(_ version: String, projectID: Int64) -> String {
        let encoded = version.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#%"))) ?? version
        return "/organizations/\(organization)/releases/\(encoded)/?project=\(projectID)"
    }

    static func crashFree(_ health: [ReleaseInfo.Health]) -> String? {
        return ReleaseInfo.Health.total(health).crashFreeRate
            .map { String(format: "%.2f %%", $0) }
    }

    /// Releases of every visible project (or `?project=`), newest first.
    @Sendable func releasesPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let projects = try access(context).projects()
        let parameters = FormQuery(request)
        var selected = projects
        if let text = parameters.get("project"), !text.isEmpty {
            guard let project = projects.first(where: { String($0.id) == text || $0.slug == text }) else {
                throw PageError.notFound("There is no project \(text), or you are not a member of it.")
            }
            selected = [project]
        }
        let offset = max(0, min(Int(parameters.get("cursor") ?? "0") ?? 0, 1_000_000))
        let now = Date.now
        var releases = selected.isEmpty ? [] : try await storage.releases.releases(projectIDs: selected.map(\.id), limit: Self.pageSize + 1, offset: offset)
        let hasNext = releases.count > Self.pageSize
        releases = Array(releases.prefix(Self.pageSize))
        let rows = releases.map { release in
            ReleaseRow(
                url: releaseURL(release.version, projectID: release.project.id), version: release.version, project: release.project.slug,
                newIssues: release.newIssues, firstEvent: release.firstEvent.map { Formatting.ago($0, now: now) },
                firstEventISO: release.firstEvent.map(Formatting.iso), lastEvent: release.lastEvent.map { Formatting.ago($0, now: now) },
                lastEventISO: release.lastEvent.map(Formatting.iso),
                deploys: release.deploys.suffix(3).map { "\($0.environment) \(Formatting.ago($0.dateFinished, now: now))" },
                crashFree: Self.crashFree(release.health))
        }
        func page(_ cursor: Int) -> String {
            var url = "/organizations/\(organization)/releases/?cursor=\(cursor)"
            if selected.count == 1, projects.count > 1 || parameters.get("project") != nil { url += "&project=\(selected[0].id)" }
            return url
        }
        let model = ReleasesModel(
            chrome: try await chrome(context, session, projects: projects, current: selected.count == 1 ? selected[0].id : nil, section: .releases),
            projectSlug: selected.count == 1 && parameters.get("project") != nil ? selected[0].slug : nil, releases: rows,
            previousURL: offset > 0 ? page(max(0, offset - Self.pageSize)) : nil, nextURL: hasNext ? page(offset + Self.pageSize) : nil)
        return render("releases", model)
    }

    /// One release of one project: its new and regressed issues, deploys and session health.
    @Sendable func releasePage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let projects = try access(context).projects()
        let raw = context.parameters.get("version") ?? ""
        let version = raw.removingPercentEncoding ?? raw
        let wanted = FormQuery(request).get("project")
        let candidates = wanted.map { text in projects.filter { String($0.id) == text || $0.slug == text } } ?? projects
        var found: ReleaseInfo?
        for project in candidates {
            if let release = try await storage.releases.release(projectID: project.id, version: version) {
                found = release
                break
            }
        }
        guard let release = found else { throw PageError.notFound("There is no release \(version) in your projects.") }
        let now = Date.now
        let limit = 50
        let query = IssueQuery(filter: .term(.firstRelease(.exact(version))))
        let newIssues = try await storage.issues.issues(
            IssueListRequest(projectIDs: [release.project.id], query: query, sort: .new, limit: limit, offset: 0, userID: session.user.id))
        var regressed: [IssueInfo] = []
        for id in try await storage.issues.regressedIssueIDs(projectID: release.project.id, version: version, limit: limit) {
            if let issue = try await storage.issues.issue(id: id) { regressed.append(issue) }
        }
        let model = ReleaseModel(
            chrome: try await chrome(context, session, projects: projects, current: release.project.id, section: .releases),
            projectID: release.project.id, project: release.project.slug, version: release.version,
            created: Formatting.ago(release.createdAt, now: now), createdISO: Formatting.iso(release.createdAt),
            released: release.dateReleased.map(Formatting.timestamp), ref: release.ref,
            firstEvent: release.firstEvent.map(Formatting.timestamp), lastEvent: release.lastEvent.map(Formatting.timestamp),
            deploys: release.deploys.reversed().map {
                DeployRow(environment: $0.environment, finished: Formatting.timestamp($0.dateFinished), name: $0.name)
            },
            health: release.health.map {
                HealthRow(
                    environment: $0.environment, sessions: Formatting.counted($0.started, "session"), crashed: $0.crashed,
                    crashFree: $0.crashFreeRate.map { String(format: "%.2f %%", $0) } ?? "—")
            },
            issues: newIssues.prefix(limit).map { issueRow($0, hours: [], now: now) }, newCount: min(newIssues.count, limit),
            newMoreURL: newIssues.count > limit
                ? "/organizations/\(organization)/issues/?project=\(release.project.id)&query=firstRelease%3A\(version.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
                : nil,
            regressed: regressed.isEmpty ? nil : IssueBlock(issues: regressed.map { issueRow($0, hours: [], now: now) }),
            regressedCount: regressed.count,
            commits: try await storage.releases.commits(version: version, projectIDs: [release.project.id]).map { commit in
                CommitRow(
                    sha: commit.sha, shortSHA: String(commit.sha.prefix(12)),
                    subject: commit.message.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) },
                    author: commit.authorName ?? commit.authorEmail, date: commit.date.map { Formatting.ago($0, now: now) },
                    repository: commit.repository, files: commit.files, fileCount: commit.files.isEmpty ? nil : Formatting.counted(commit.files.count, "file"))
            },
            commitCount: release.commitCount)
        return render("release", model)
    }
}
