import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP

extension WebController {
    struct TokenRow {
        var id: Int64
        var name: String
        var created: String
        var createdISO: String
        var lastUsed: String
        var lastUsedISO: String?
        var scope: String
    }

    struct AccountModel {
        var chrome: Chrome
        var mustChange: Bool
        var notice: String?
        var error: String?
        var newToken: String?
        var tokens: [TokenRow]
    }

    func addAccountRoutes(to pages: Pages) {
        add(pages, .get, "settings/account", .useAccount) { _, context in try await accountPage(context, status: .ok) }
        add(pages, .post, "settings/account/password", .useAccount, changePassword)
        add(pages, .post, "settings/account/tokens", .useAccount, createToken)
        add(pages, .post, "settings/account/theme", .useAccount, changeTheme)
        add(pages, .post, "settings/account/tokens/:token_id/revoke", .useAccount, revokeToken)
    }

    func accountPage(
        _ context: AppRequestContext, status: HTTPResponse.Status, notice: String? = nil, error: String? = nil, newToken: String? = nil
    ) async throws -> Response {
        let session = try session(context)
        let now = Date.now
        let tokens = try await storage.accounts.apiTokens(userID: session.user.id).map {
            TokenRow(
                id: $0.id, name: $0.name, created: Formatting.ago($0.createdAt, now: now), createdISO: Formatting.iso($0.createdAt),
                lastUsed: $0.lastUsedAt.map { Formatting.ago($0, now: now) } ?? "never",
                lastUsedISO: $0.lastUsedAt.map(Formatting.iso), scope: $0.scope.rawValue)
        }
        let model = AccountModel(
            chrome: try await chrome(context, session, projects: visibleProjects(context, session), current: nil, section: .none),
            mustChange: session.mustChangePassword, notice: notice, error: error, newToken: newToken, tokens: tokens)
        return render("account", model, status: status)
    }

    @Sendable func changePassword(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let fields = try await form(request, session: session)
        let current = fields.get("current") ?? "", new = fields.get("new") ?? "", confirm = fields.get("confirm") ?? ""
        guard let account = try await storage.accounts.account(email: session.user.email) else {
            throw PageError.notFound("Your account no longer exists.")
        }
        // Guessing the current password through this form (a session left open) is throttled like logins.
        let now = Date.now
        let keys = LoginThrottle.keys(account: account.user.email, address: context.remoteAddress?.ipAddress ?? "unknown")
        if let wait = throttle.attempt(keys, now: now) {
            var response = try await accountPage(
                context, status: .tooManyRequests,
                error: "current: too many wrong passwords. Try again in \(wait) second\(wait == 1 ? "" : "s").")
            response.headers[.retryAfter] = String(wait)
            return response
        }
        let matches = await WebAuth.bcrypt { Password.verify(current, hash: account.passwordHash) }
        guard matches else { return try await accountPage(context, status: .badRequest, error: "current: the current password is wrong.") }
        throttle.succeeded(keys, now: now)
        guard new == confirm else { return try await accountPage(context, status: .badRequest, error: "confirm: the two new passwords differ.") }
        guard new != current else { return try await accountPage(context, status: .badRequest, error: "new: choose a password other than the current one.") }
        do {
            try Password.validate(new)
        } catch {
            return try await accountPage(context, status: .badRequest, error: "new: \(error.message)")
        }
        let hash = await WebAuth.bcrypt { Password.hash(new) }
        let cookie = request.cookies[WebAuth.sessionCookie]?.value ?? ""
        try await storage.accounts.changePassword(userID: session.user.id, passwordHash: hash, keepingSession: APIToken.hash(cookie))
        var changed = context
        changed.webSession?.mustChangePassword = false
        return try await accountPage(changed, status: .ok, notice: "Password changed. Other browsers logged in as you were logged out.")
    }

    /// The sidebar's theme button: system → dark → light → system, kept with the user; back to the page it was on.
    @Sendable func changeTheme(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let fields = try await form(request, session: session)
        let theme = fields.get("theme") ?? ""
        guard ["auto", "light", "dark"].contains(theme) else {
            throw PageError(status: .badRequest, heading: "Unknown theme", text: "theme: expected auto, light or dark.")
        }
        try await storage.accounts.setTheme(userID: session.user.id, theme: theme)
        return WebResponse.redirect(WebResponse.localPath(fields.get("return"), fallback: "/"))
    }

    @Sendable func createToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let fields = try await form(request, session: session)
        let name = fields.get("name")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard !name.isEmpty, name.count <= 100 else {
            return try await accountPage(context, status: .badRequest, error: "name: give the token a name of 1 to 100 characters.")
        }
        guard let scope = TokenScope(rawValue: fields.get("scope") ?? "read") else {
            return try await accountPage(context, status: .badRequest, error: "scope: choose read, write or admin.")
        }
        let (token, hash) = APIToken.generate()
        try await storage.accounts.createAPIToken(userID: session.user.id, name: name, tokenHash: hash, scope: scope, now: .now)
        return try await accountPage(context, status: .ok, newToken: token)
    }

    @Sendable func revokeToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        _ = try await form(request, session: session)
        guard let id = context.parameters.get("token_id").flatMap({ Int64($0) }),
            try await storage.accounts.revokeAPIToken(id: id, userID: session.user.id)
        else { throw PageError.notFound("You have no such token.") }
        return WebResponse.redirect("/settings/account/")
    }
}
