import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SpyglassCore
import SpyglassHTTP
import SpyglassServer
import SpyglassStorage
import Testing

/// Every route the router has, from its own list, against the policy: a route without a policy entry fails, and
/// each one is called as each role on a copy of a seeded database, through the real application.
@Suite struct AuthorizationMatrixTests {
    let configuration: ServerConfiguration

    init() throws {
        configuration = try ServerConfiguration.resolve(flags: ServeFlags(["port": "0"]), environment: [:])
    }

    static let quiet = Logger(label: "matrix") { _ in SwiftLogNoOpLogHandler() }

    func router(_ database: AppDatabase, policies: RoutePolicies = RoutePolicies()) -> Router<AppRequestContext> {
        buildRouter(configuration, AppDependencies(database: database, configuration: configuration, logger: Self.quiet), policies: policies)
    }

    /// Routes the router has without a policy entry, and entries without a route (`METHOD /path`).
    static func mismatches(_ router: Router<AppRequestContext>, _ policies: RoutePolicies) -> (unlisted: [String], stale: [String]) {
        let routes = Set(router.routes.map { "\($0.method) \($0.path)" })
        let entries = Set(policies.all.map { "\($0.method) \($0.path)" })
        return (routes.subtracting(entries).sorted(), entries.subtracting(routes).sorted())
    }

    @Test func everyRouteHasExactlyOnePolicyEntryAndEveryEntryARoute() throws {
        let policies = RoutePolicies()
        let router = router(try AppDatabase.inMemory(), policies: policies)
        #expect(router.routes.count > 70)
        let (unlisted, stale) = Self.mismatches(router, policies)
        #expect(unlisted == [], "routes without a policy entry")
        #expect(stale == [], "policy entries without a route")
        let entries = policies.all.map { "\($0.method) \($0.path)" }
        #expect(entries.count == Set(entries).count, "a route with two entries")
    }

    @Test func aRouteAddedWithoutAPolicyEntryIsCaught() throws {
        let policies = RoutePolicies()
        let router = router(try AppDatabase.inMemory(), policies: policies)
        router.get("api/0/projects/:org/:project/secrets") { _, _ in "no policy" }
        #expect(Self.mismatches(router, policies).unlisted == ["GET /api/0/projects/{org}/{project}/secrets"])
    }

    /// One request: who sends it to which route, and what came back.
    struct Outcome: CustomStringConvertible {
        var policy: RoutePolicy
        var role: Role
        var status: HTTPResponse.Status
        var location: String
        var body: String
        var description: String { "\(role) \(policy) -> \(status.code) \(location) \(body.prefix(160))" }
    }

    @Test func eachRouteAnswersEachRoleAsThePolicySays() async throws {
        let seed = try await AuthorizationSeed(configuration: configuration)
        let policies = RoutePolicies()
        _ = router(try AppDatabase.inMemory(), policies: policies)
        var cases: [(RoutePolicy, Role)] = []
        for policy in policies.all {
            if case .action = policy.access { cases += Role.allCases.map { (policy, $0) } } else { cases.append((policy, .anonymous)) }
        }
        // One request at a time: in parallel they would take both cores from the suites that run beside.
        var failures: [String] = []
        for (policy, role) in cases {
            if let failure = Self.check(try await send(policy, as: role, seed: seed)) { failures.append(failure) }
        }
        #expect(failures == [], "\(failures.count) of \(cases.count) requests:\n\(failures.joined(separator: "\n"))")
    }

    func send(_ policy: RoutePolicy, as role: Role, seed: AuthorizationSeed) async throws -> Outcome {
        let app = Application(router: router(try seed.copy()))
        let isAPI = policy.path.hasPrefix("/api/0/") || policy.path == "/api/0"
        var headers: HTTPFields = [:]
        var body = ByteBuffer()
        if let user = seed.users[role] {
            if isAPI {
                headers[.authorization] = "Bearer \(user.token)"
            } else {
                headers[.cookie] = "spyglass_session=\(user.cookie)"
            }
            if policy.method == .post || policy.method == .put {
                headers[.contentType] = isAPI ? "application/json" : "application/x-www-form-urlencoded"
                body = ByteBuffer(string: isAPI ? "{}" : "csrf=\(user.csrf)")
            }
        }
        if policy.access == .ingest {
            // A well-formed envelope, without a key.
            body = ByteBuffer(string: "{\"event_id\":\"\(String(repeating: "c", count: 32))\"}\n{\"type\":\"event\"}\n{\"message\":\"x\"}\n")
        }
        let uri = seed.fill(policy.path, role: role)
        let (sentHeaders, sentBody) = (headers, body)
        return try await app.test(.router) { client in
            try await client.execute(uri: uri, method: policy.method, headers: sentHeaders, body: sentBody) { response in
                Outcome(
                    policy: policy, role: role, status: response.status, location: response.headers[.location] ?? "",
                    body: String(buffer: response.body))
            }
        }
    }

    /// What is wrong with `outcome`, if anything.
    static func check(_ outcome: Outcome) -> String? {
        let code = outcome.status.code
        if outcome.body.contains(AuthorizationSeed.secret) { return "webhook secret in the response: \(outcome)" }
        let toLogin = code == 303 && outcome.location.hasPrefix("/login")
        let refused = [401, 403, 404].contains(code) || toLogin
        guard case .action(let action) = outcome.policy.access else {
            if outcome.policy.access == .ingest { return [401, 403].contains(code) ? nil : "ingest without a key accepted: \(outcome)" }
            // The login form's own checks (its CSRF cookie, the password) may answer 401 or 403: that is the form
            // working, not a refusal to reach it.
            return toLogin || code == 404 ? "open route not reachable: \(outcome)" : nil
        }
        let path = outcome.policy.path
        let aboutOneProject = path.contains("{project}") || path.contains("{issue_id}")
        if refused && outcome.body.contains(AuthorizationSeed.issueMarker) { return "refused, but shows the issue: \(outcome)" }
        if outcome.role == .otherProjectMember && action.isAboutAProject && !aboutOneProject {
            // Across projects: the outsider sees the lists of their own projects, nothing of zebra's.
            if outcome.body.contains(AuthorizationSeed.issueMarker) || outcome.body.contains("zebra") { return "leaks zebra: \(outcome)" }
            return [401, 403].contains(code) || toLogin ? "refused a signed-in user: \(outcome)" : nil
        }
        let web = !path.hasPrefix("/api/0/") && path != "/api/0"
        switch Authorization.decide(action, for: outcome.role) {
        case .allowed:
            // Logging out redirects to the login form: that is its answer, not a refusal.
            if refused && !(path == "/logout" && code == 303) { return "refused though allowed: \(outcome)" }
        case .unauthenticated:
            if !(web ? toLogin : code == 401) { return "anonymous not refused with 401: \(outcome)" }
        case .notFound:
            if code != 404 { return "expected 404: \(outcome)" }
        case .forbidden:
            if code != 403 { return "expected 403: \(outcome)" }
        }
        return nil
    }

    @Test func serverAdminsSeeEveryProjectMemberOrNot() async throws {
        let seed = try await AuthorizationSeed(configuration: configuration)
        let app = Application(router: router(try seed.copy()))
        try await app.test(.router) { client in
            for (role, expected) in [(Role.serverAdmin, ["zebra", "other"]), (.member, ["zebra"]), (.otherProjectMember, ["other"])] {
                let headers: HTTPFields = [.authorization: "Bearer \(seed.users[role]?.token ?? "")"]
                try await client.execute(uri: "/api/0/projects/", method: .get, headers: headers) { response in
                    let slugs = try JSONSerialization.jsonObject(with: Data(String(buffer: response.body).utf8)) as? [[String: Any]]
                    #expect(slugs?.compactMap { $0["slug"] as? String } == expected, "\(role)")
                }
            }
            let cookie: HTTPFields = [.cookie: "spyglass_session=\(seed.users[.serverAdmin]?.cookie ?? "")"]
            try await client.execute(uri: "/organizations/spyglass/issues/", method: .get, headers: cookie) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains(AuthorizationSeed.issueMarker))
            }
        }
    }
}
