import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP

extension WebController {
    struct UserRow {
        var id: Int64
        var email: String
        var admin: Bool
        var active: Bool
        var created: String
        var me: Bool
    }

    struct AdminProjectRow {
        var slug: String
        var name: String
        var created: String
    }

    struct AdminModel {
        var chrome: Chrome
        var notice: String?
        var error: String?
        var email: String?
        var password: String?
        var users: [UserRow]
        var projects: [AdminProjectRow]
    }

    func addAdminRoutes(to pages: Pages) {
        add(pages, .get, "settings/:org", .manageServer) { _, context in try await adminPage(context, status: .ok) }
        add(pages, .post, "settings/:org/users", .manageServer, createUser)
        add(pages, .post, "settings/:org/users/:user_id", .manageServer, changeUser)
        add(pages, .post, "settings/:org/projects", .manageServer, createProjectFromForm)
    }

    /// The session of a server admin (the policy let only them in; others got 404).
    func adminSession(_ context: AppRequestContext) throws -> WebSession {
        _ = try access(context)
        return try session(context)
    }

    func adminPage(
        _ context: AppRequestContext, status: HTTPResponse.Status, notice: String? = nil, error: String? = nil,
        newPassword: (email: String, password: String)? = nil
    ) async throws -> Response {
        let session = try adminSession(context)
        let now = Date.now
        let projects = try access(context).allProjects
        let model = AdminModel(
            chrome: try await chrome(context, session, projects: projects, current: nil, section: .none), notice: notice, error: error,
            email: newPassword?.email, password: newPassword?.password,
            users: try await storage.accounts.accounts().map {
                UserRow(
                    id: $0.id, email: $0.email, admin: $0.isAdmin, active: $0.isActive, created: Formatting.ago($0.createdAt, now: now),
                    me: $0.id == session.user.id)
            },
            projects: projects.map { AdminProjectRow(slug: $0.slug, name: $0.name, created: Formatting.ago($0.createdAt, now: now)) })
        return render("admin", model, status: status)
    }

    @Sendable func createUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try adminSession(context)
        let fields = try await form(request, session: session)
        let email = fields.get("email") ?? ""
        let password = Password.generate()
        let hash = await WebAuth.bcrypt { Password.hash(password) }
        do {
            _ = try await storage.accounts.createAccount(email: email, passwordHash: hash, isAdmin: fields.get("admin") == "1", mustChangePassword: true, now: .now)
        } catch let error as DomainError {
            return try await adminPage(context, status: error.httpStatus, error: error.message)
        }
        return try await adminPage(
            context, status: .ok, notice: "User created. Add them to projects in each project's settings.",
            newPassword: (email.trimmingCharacters(in: .whitespaces).lowercased(), password))
    }

    @Sendable func changeUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try adminSession(context)
        let fields = try await form(request, session: session)
        guard let id = context.parameters.get("user_id").flatMap({ Int64($0) }),
            let account = try await storage.accounts.accounts().first(where: { $0.id == id })
        else { throw PageError.notFound("There is no such user.") }
        guard id != session.user.id else {
            return try await adminPage(context, status: .badRequest, error: "Change your own account on the account page.")
        }
        switch fields.get("action") {
        case "deactivate":
            _ = try await storage.accounts.setAccountActive(id: id, active: false)
            return try await adminPage(context, status: .ok, notice: "\(account.email) is deactivated and logged out.")
        case "activate":
            _ = try await storage.accounts.setAccountActive(id: id, active: true)
            return try await adminPage(context, status: .ok, notice: "\(account.email) is active again.")
        case "reset":
            let password = Password.generate()
            let hash = await WebAuth.bcrypt { Password.hash(password) }
            _ = try await storage.accounts.resetPassword(id: id, passwordHash: hash)
            return try await adminPage(context, status: .ok, notice: "Password reset.", newPassword: (account.email, password))
        default:
            return try await adminPage(context, status: .badRequest, error: "action: deactivate, activate or reset.")
        }
    }

    @Sendable func createProjectFromForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try adminSession(context)
        let fields = try await form(request, session: session)
        do {
            let project = try await storage.projects.createProject(
                name: fields.get("name") ?? "", slug: fields.get("slug")?.trimmingCharacters(in: .whitespaces), now: .now)
            return WebResponse.redirect(settingsBase(project))
        } catch let error as DomainError {
            return try await adminPage(context, status: error.httpStatus, error: error.message)
        }
    }
}
