import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import Synchronization

/// Session cookies, CSRF tokens and the login throttle of the web UI.
enum WebAuth {
    static let sessionCookie = "spyglass_session"
    /// Before login there is no session: the login form's CSRF token is also kept in this cookie (double submit).
    static let loginCookie = "spyglass_login"
    static let sessionLifetime: TimeInterval = 14 * 24 * 3600

    /// 32 random bytes as hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Compares in time independent of where the strings differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8), right = Array(b.utf8)
        guard left.count == right.count, !left.isEmpty else { return false }
        return zip(left, right).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Whether the browser talks HTTPS to us (directly or through a proxy that says so, or a configured https
    /// base URL): then cookies get `Secure`.
    static func isSecure(_ request: Request, baseURL: URL?) -> Bool {
        if baseURL?.scheme == "https" { return true }
        if let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!], proto.lowercased() == "https" { return true }
        return request.head.scheme == "https"
    }

    /// bcrypt (~60 ms a hash) runs here, one at a time: a burst of logins neither blocks the threads that
    /// serve requests nor takes more than one core.
    private static let bcryptQueue = DispatchQueue(label: "spyglass-bcrypt", qos: .userInitiated)

    static func bcrypt<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            bcryptQueue.async { continuation.resume(returning: work()) }
        }
    }

    static func cookie(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: secure, httpOnly: true, sameSite: .lax)
    }
}

/// Failed password checks (logins, password changes), counted per account and client address, per address, and
/// per account: 5 within a minute refuse that account from that address, 20 refuse the address for any account,
/// and only 50 within 15 minutes refuse the account from everywhere, so guessing from one place neither goes on
/// nor locks the real user out. Checked before the password, so refused guesses cost no bcrypt.
final class LoginThrottle: Sendable {
    /// A counter: its name, and how many failures within how many seconds refuse further attempts.
    struct Key: Sendable, Hashable {
        var name: String
        var limit: Int
        var window: TimeInterval
    }

    /// The keys of an attempt at `account` (an e-mail address) from `address`.
    static func keys(account: String, address: String) -> [Key] {
        [
            Key(name: "pair:\(account)|\(address)", limit: 5, window: 60),
            Key(name: "address:\(address)", limit: 20, window: 60),
            Key(name: "account:\(account)", limit: 50, window: 900),
        ]
    }

    private let failures = Mutex<[String: [Date]]>([:])

    /// Checks and counts an attempt in one step (as a failure until ``succeeded(_:now:)`` takes it back), so
    /// attempts sent in parallel cannot all pass the check before any failure is recorded. Returns the seconds
    /// to wait when the attempt is refused.
    func attempt(_ keys: [Key], now: Date) -> Int? {
        failures.withLock { failures in
            if let wait = Self.wait(keys, now: now, in: &failures) { return wait }
            for key in keys { failures[key.name, default: []].append(now) }
            // Bounded: a flood of made-up e-mails cannot grow this without end.
            if failures.count > 10_000 {
                let longest = keys.map(\.window).max() ?? 0
                failures = failures.filter { $0.value.contains { now.timeIntervalSince($0) < longest } }
            }
            return nil
        }
    }

    /// The attempt counted at `now` succeeded: the account starts afresh from that address, the other counters
    /// lose that one count.
    func succeeded(_ keys: [Key], now: Date) {
        failures.withLock { failures in
            guard let pair = keys.first else { return }
            failures[pair.name] = nil
            for key in keys.dropFirst() {
                if let index = failures[key.name]?.lastIndex(of: now) { failures[key.name]?.remove(at: index) }
            }
        }
    }

    private static func wait(_ keys: [Key], now: Date, in failures: inout [String: [Date]]) -> Int? {
        var wait: TimeInterval = 0
        for key in keys {
            let recent = (failures[key.name] ?? []).filter { now.timeIntervalSince($0) < key.window }
            failures[key.name] = recent.isEmpty ? nil : recent
            if recent.count >= key.limit {
                // The oldest failure that still counts towards the limit must leave the window.
                let blocking = recent[recent.count - key.limit]
                wait = max(wait, key.window - now.timeIntervalSince(blocking))
            }
        }
        return wait > 0 ? Int(wait.rounded(.up)) : nil
    }
}

/// Finds the browser's session (cookie -> hash -> SQLite) and puts it on the context. Pages without one
/// redirect to the login form (or answer 401 for the JSON endpoints); forms must carry the session's CSRF token,
/// checked by the controller.
struct WebSessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let accounts: any AccountStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let cookie = request.cookies[WebAuth.sessionCookie]?.value, !cookie.isEmpty {
            context.webSession = try await accounts.session(tokenHash: APIToken.hash(cookie), now: .now)
        }
        guard context.webSession != nil else {
            if request.method == .get {
                var target = request.uri.path
                if let query = request.uri.query, !query.isEmpty { target += "?" + query }
                let next = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
                return WebResponse.redirect("/login?next=\(next)")
            }
            return WebResponse.redirect("/login")
        }
        // The generated first password must be replaced before anything else (logging out is allowed).
        if context.webSession?.mustChangePassword == true, !request.uri.path.hasPrefix("/settings/account"),
            request.uri.path != "/logout"
        {
            return WebResponse.redirect("/settings/account/")
        }
        return try await next(request, context)
    }
}

/// Headers every web UI response carries.
enum WebResponse {
    /// No inline script, no inline style, nothing from elsewhere; forms post only here; no framing.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    static func securityHeaders(_ headers: inout HTTPFields) {
        headers[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[.cacheControl] = "no-store"
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        securityHeaders(&headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// 303 See Other: after a form post, the browser GETs the target.
    static func redirect(_ location: String) -> Response {
        var headers: HTTPFields = [.location: location]
        securityHeaders(&headers)
        return Response(status: .seeOther, headers: headers)
    }

    /// A path on this server to go back to: only a local absolute path (`/…`, not `//host`), else `fallback`.
    /// Only printable ASCII without spaces or backslashes: browsers drop tabs and newlines from URLs, so
    /// `/<tab>/evil.example` would become `//evil.example`.
    static func localPath(_ text: String?, fallback: String) -> String {
        guard let text, text.utf8.first == UInt8(ascii: "/"),
            text.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "\\") })
        else { return fallback }
        let second = text.utf8.dropFirst().first
        guard second != UInt8(ascii: "/") else { return fallback }
        return text
    }
}
