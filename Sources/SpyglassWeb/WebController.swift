import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol
import SpyglassWebAssets

/// The web UI: login, the issue stream, the issue page with its events. Server-rendered from the templates in
/// `web/templates`; every page works without JavaScript.
///
/// Access: every page states its ``Action`` and ``Authorization`` decides, as for the API (see
/// `docs/authorization.md`). Every state-changing form carries the session's CSRF token.
public struct WebController: Sendable {
    let storage: Storage
    let organization: String
    let baseURL: URL?
    let library: MustacheLibrary
    let throttle = LoginThrottle()
    static let pageSize = 25

    let retention: RetentionPolicy
    /// Test notifications and webhook checks for the alert rule form (nil: the form offers no test and saves any URL).
    let alertChecker: (any AlertActionChecker)?

    public init(
        storage: Storage, organization: String, baseURL: URL?, retention: RetentionPolicy = RetentionPolicy(),
        alertChecker: (any AlertActionChecker)? = nil
    ) throws {
        self.retention = retention
        self.alertChecker = alertChecker
        self.storage = storage
        self.organization = organization
        self.baseURL = baseURL
        MustacheContentTypes.register(SafeHTML(), named: SafeHTML.name)
        var library = MustacheLibrary()
        for (name, bytes) in WebAssets.templates {
            library.register(try MustacheTemplate(string: String(decoding: bytes, as: UTF8.self)), named: name)
        }
        self.library = library
    }

    /// Adds the routes, each with its access recorded in `policies`.
    public func addRoutes(to router: Router<AppRequestContext>, policies: RoutePolicies = RoutePolicies()) {
        let open = PolicedRoutes(router, policies: policies)
        open.on(.get, "static/:file", .open, use: staticFile)
        let errors = PageErrorMiddleware(page: message)
        let login = PolicedRoutes(router.group().add(middleware: errors), policies: policies)
        login.on(.get, "login", .open, use: loginForm)
        login.on(.post, "login", .open, use: self.login)
        // The error pages inside the session: they show the signed-in chrome.
        let pages = PolicedRoutes(
            router.group().add(middleware: WebSessionMiddleware(accounts: storage.accounts)).add(middleware: errors),
            policies: policies)
        add(pages, .get, "/", .useAccount) { _, _ in WebResponse.redirect("/organizations/\(organization)/issues/") }
        add(pages, .post, "logout", .useAccount, logout)
        add(pages, .get, "organizations/:org/issues", .readIssues, stream)
        add(pages, .get, "organizations/:org/live", .readIssues, live)
        add(pages, .post, "organizations/:org/issues/bulk", .triageIssues, bulk)
        add(pages, .post, "organizations/:org/searches", .readIssues, searches)
        add(pages, .get, "organizations/:org/issues/:issue_id", .readIssues, issuePage)
        add(pages, .get, "organizations/:org/issues/:issue_id/events/:event_id", .readEvents, issuePage)
        add(pages, .get, "organizations/:org/issues/:issue_id/events/:event_id/json", .readEvents, eventJSON)
        add(pages, .get, "organizations/:org/issues/:issue_id/events/:event_id/attachments/:attachment_id", .readEvents, attachmentFile)
        add(pages, .post, "organizations/:org/issues/:issue_id/status", .triageIssues, changeStatus)
        add(pages, .post, "organizations/:org/issues/:issue_id/comments", .triageIssues, comment)
        add(pages, .post, "organizations/:org/issues/:issue_id/unmerge", .triageIssues, unmergeHash)
        addAccountRoutes(to: pages)
        addReleaseRoutes(to: pages)
        addLogRoutes(to: pages)
        addSettingsRoutes(to: pages)
        addAlertRuleRoutes(to: pages)
        addAdminRoutes(to: pages)
    }

    typealias Pages = PolicedRoutes<RouterGroup<AppRequestContext>>

    /// Adds a page whose handler runs only when ``Authorization`` allows `action` (checked by ``AccessResolver``,
    /// as for the API).
    func add(
        _ pages: Pages, _ method: HTTPRequest.Method, _ path: String, _ action: Action,
        _ handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Response
    ) {
        pages.on(method, path, .action(action)) { request, context in
            var context = context
            context.access = try await AccessResolver(storage: storage, organization: organization).resolve(
                action, user: context.webSession?.user, parameter: { context.parameters.get($0) })
            return try await handler(request, context)
        }
    }

    // MARK: - Rendering

    /// A page that cannot be shown: ``PageErrorMiddleware`` answers it with the message page (in the signed-in
    /// chrome); thrown anywhere else, Hummingbird answers it through `HTTPResponseError` with a bare page.
    struct PageError: HTTPResponseError {
        var status: HTTPResponse.Status
        var heading: String
        var text: String

        static func notFound(_ what: String) -> PageError { PageError(status: .notFound, heading: "Not found", text: what) }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            WebResponse.html("<!doctype html><title>\(SafeHTML.escape(heading))</title><h1>\(SafeHTML.escape(heading))</h1><p>\(SafeHTML.escape(text))</p>", status: status)
        }
    }

    /// The web UI's errors in one place: a ``PageError``, a policy's refusal or a domain error thrown by a page's
    /// handler becomes the message page with its status.
    struct PageErrorMiddleware: RouterMiddleware {
        let page: @Sendable (PageError, AppRequestContext) async throws -> Response

        func handle(
            _ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response
        ) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as PageError {
                return try await page(error, context)
            } catch let denied as AccessDenied {
                let heading = denied.decision == .forbidden ? "Project admins only" : denied.decision == .notFound ? "Not found" : "Log in"
                return try await page(PageError(status: denied.status, heading: heading, text: denied.detail), context)
            } catch let error as DomainError {
                return try await page(PageError(status: error.httpStatus, heading: "That did not work", text: error.message), context)
            }
        }
    }

    struct Chrome {
        struct ProjectLink {
            var id: Int64
            var slug: String
            var current: Bool
            var organization: String
        }

        var organization: String
        var email: String
        var csrf: String
        var projects: [ProjectLink]
        var onIssues: Bool
        var onReleases: Bool
        var onLogs: Bool
        var onSettings: Bool
        /// The current project's settings, for those who may change them.
        var settingsURL: String?
        /// The current project's alert rules, for members who may read but not change the settings.
        var alertsURL: String?
        var isAdmin: Bool
        /// `light` or `dark` when the user chose one (`data-theme` on the page), nil for the system's.
        var theme: String?
        /// What the theme button switches to next, and its label.
        var nextTheme: String
        var themeLabel: String
    }

    enum Section { case issues, releases, logs, settings, none }

    func render(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok) -> Response {
        WebResponse.html(library.render(model, withTemplate: template) ?? "", status: status)
    }

    /// The message page for an error, in the signed-in chrome when there is a session.
    @Sendable func message(_ error: PageError, context: AppRequestContext) async throws -> Response {
        struct Model {
            var chrome: Chrome?
            var heading: String
            var text: String
            var back: String
        }
        var chrome: Chrome?
        if let session = context.webSession {
            chrome = try await self.chrome(context, session, projects: visibleProjects(context, session), current: nil)
        }
        return render(
            "message", Model(chrome: chrome, heading: error.heading, text: error.text, back: "/organizations/\(organization)/issues/"),
            status: error.status)
    }

    func chrome(
        _ context: AppRequestContext, _ session: WebSession, projects: [ProjectInfo], current: Int64?, section: Section = .issues
    ) async throws -> Chrome {
        let viewer = try await viewer(context, session)
        let project = projects.first { $0.id == current }
        let settings = project.map { "/settings/\(organization)/projects/\($0.slug)/" }
        let manages = project.map { viewer.may(.manageProjectSettings, in: $0.id) } ?? false
        let readsRules = project.map { viewer.may(.readAlertRules, in: $0.id) } ?? false
        let theme = try await storage.accounts.theme(userID: session.user.id)
        return Chrome(
            organization: organization, email: session.user.email, csrf: session.csrfToken,
            projects: projects.map { .init(id: $0.id, slug: $0.slug, current: $0.id == current, organization: organization) },
            onIssues: section == .issues, onReleases: section == .releases, onLogs: section == .logs, onSettings: section == .settings,
            settingsURL: manages ? settings : nil, alertsURL: !manages && readsRules ? settings.map { $0 + "alerts/" } : nil,
            isAdmin: viewer.decide(.manageServer) == .allowed, theme: theme == "auto" ? nil : theme,
            nextTheme: ["auto": "dark", "dark": "light", "light": "auto"][theme] ?? "auto",
            themeLabel: ["auto": "Theme: system", "dark": "Theme: dark", "light": "Theme: light"][theme] ?? "Theme: system")
    }

    // MARK: - Access

    func session(_ context: AppRequestContext) throws -> WebSession {
        guard let session = context.webSession else { throw PageError(status: .unauthorized, heading: "Log in", text: "Log in first.") }
        return session
    }

    /// What the policy allowed this request (set before every page's handler).
    func access(_ context: AppRequestContext) throws -> RequestAccess {
        guard let access = context.access else { throw PageError(status: .unauthorized, heading: "Log in", text: "Log in first.") }
        return access
    }

    /// The user with their roles: as the access check found them, else (a page refused before it) read now.
    func viewer(_ context: AppRequestContext, _ session: WebSession) async throws -> Viewer {
        if let access = context.access { return access.viewer }
        return Viewer(user: session.user, memberships: try await storage.projects.memberships(userID: session.user.id))
    }

    /// The projects the user may read: the project switcher.
    func visibleProjects(_ context: AppRequestContext, _ session: WebSession) async throws -> [ProjectInfo] {
        if let access = context.access { return access.projects(allowing: .readProject) }
        let viewer = try await viewer(context, session)
        return try await storage.projects.allProjects().filter { viewer.may(.readProject, in: $0.id) }
    }

    /// The issue in the path; the policy checked its project.
    func issue(_ context: AppRequestContext) throws -> IssueInfo {
        guard let issue = try access(context).issue else { throw PageError.notFound("There is no such issue.") }
        return issue
    }

    /// The fields of a posted form, after checking its CSRF token against the session's.
    func form(_ request: Request, session: WebSession) async throws -> FormQuery {
        let fields = try await Self.formFields(request)
        guard WebAuth.same(fields.get("csrf") ?? "", session.csrfToken) else {
            throw PageError(status: .forbidden, heading: "Form expired", text: "The form's security token does not match this session. Reload the page and try again.")
        }
        return fields
    }

    static func formFields(_ request: Request) async throws -> FormQuery {
        let body = try await request.body.collect(upTo: 256 * 1024)
        return FormQuery(encoded: String(buffer: body))
    }

    func issueURL(_ id: Int64) -> String { "/organizations/\(organization)/issues/\(id)/" }

    // MARK: - Static files

    @Sendable func staticFile(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let name = context.parameters.get("file"), let file = WebAssets.files[name] else {
            return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "no such file\n")))
        }
        var headers: HTTPFields = [.contentType: file.contentType, .cacheControl: "public, max-age=300"]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}
