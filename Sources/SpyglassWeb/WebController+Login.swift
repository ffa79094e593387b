import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP

extension WebController {
    struct LoginModel {
        var csrf: String
        var next: String
        var email: String
        var error: String?
    }

    @Sendable func loginForm(_ request: Request, context: AppRequestContext) async throws -> Response {
        let next = WebResponse.localPath(FormQuery(request).get("next"), fallback: "/organizations/\(organization)/issues/")
        if let cookie = request.cookies[WebAuth.sessionCookie]?.value,
            try await storage.accounts.session(tokenHash: APIToken.hash(cookie), now: .now) != nil
        {
            return WebResponse.redirect(next)
        }
        return loginPage(request, next: next, email: "", error: nil, status: .ok)
    }

    /// The form with a fresh login CSRF token (also set as a cookie: the post must bring both).
    func loginPage(_ request: Request, next: String, email: String, error: String?, status: HTTPResponse.Status) -> Response {
        let token = WebAuth.randomToken()
        var response = render("login", LoginModel(csrf: token, next: next, email: email, error: error), status: status)
        response.setCookie(WebAuth.cookie(WebAuth.loginCookie, token, maxAge: 3600, secure: WebAuth.isSecure(request, baseURL: baseURL)))
        return response
    }

    @Sendable func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let fields = try await Self.formFields(request)
        let next = WebResponse.localPath(fields.get("next"), fallback: "/organizations/\(organization)/issues/")
        let email = fields.get("email")?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard let cookie = request.cookies[WebAuth.loginCookie]?.value, WebAuth.same(fields.get("csrf") ?? "", cookie) else {
            return loginPage(request, next: next, email: email, error: "The login form expired. Please try again.", status: .forbidden)
        }
        let now = Date.now
        let keys = LoginThrottle.keys(account: email, address: context.remoteAddress?.ipAddress ?? "unknown")
        if let wait = throttle.attempt(keys, now: now) {
            var response = loginPage(
                request, next: next, email: email,
                error: "Too many failed logins. Try again in \(wait) second\(wait == 1 ? "" : "s").", status: .tooManyRequests)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        let password = fields.get("password") ?? ""
        let account = try await storage.accounts.account(email: email)
        // bcrypt takes ~60 ms: off the event loop; an unknown address costs the same as a wrong password.
        let matches = await WebAuth.bcrypt { Password.verify(password, hash: account?.passwordHash ?? Self.timingHash) }
        guard let account, matches, account.isActive else {
            // The attempt already counts as a failure.
            return loginPage(request, next: next, email: email, error: "Wrong e-mail address or password.", status: .unauthorized)
        }
        throttle.succeeded(keys, now: now)
        let token = WebAuth.randomToken()
        try await storage.accounts.createSession(
            tokenHash: APIToken.hash(token), userID: account.user.id, csrfToken: WebAuth.randomToken(), now: now,
            expires: now.addingTimeInterval(WebAuth.sessionLifetime))
        var response = WebResponse.redirect(next)
        let secure = WebAuth.isSecure(request, baseURL: baseURL)
        response.setCookie(WebAuth.cookie(WebAuth.sessionCookie, token, maxAge: Int(WebAuth.sessionLifetime), secure: secure))
        response.setCookie(WebAuth.cookie(WebAuth.loginCookie, "", maxAge: 0, secure: secure))
        return response
    }

    /// A bcrypt hash nobody's password matches, to check against when the address is unknown.
    static let timingHash = Password.hash(WebAuth.randomToken())

    @Sendable func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        _ = try await form(request, session: session)
        if let cookie = request.cookies[WebAuth.sessionCookie]?.value {
            try await storage.accounts.deleteSession(tokenHash: APIToken.hash(cookie))
        }
        var response = WebResponse.redirect("/login")
        response.setCookie(WebAuth.cookie(WebAuth.sessionCookie, "", maxAge: 0, secure: WebAuth.isSecure(request, baseURL: baseURL)))
        return response
    }
}
