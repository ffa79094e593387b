import HTTPTypes
import Hummingbird
import SpyglassCore
import Synchronization

/// Who may call a route.
public enum RouteAccess: Sendable, Hashable, CustomStringConvertible {
    /// Anyone, without credentials: the login form, static files, health, metrics (which check their own token
    /// when one is configured).
    case open
    /// SDKs, authenticated by a project's client key (the DSN), not by a user.
    case ingest
    /// A signed-in user (API token or web session), decided by ``Authorization`` for `Action`.
    case action(Action)

    /// `open`, `ingest` or the action's name.
    public var description: String {
        switch self {
        case .open: "open"
        case .ingest: "ingest"
        case .action(let action): action.rawValue
        }
    }
}

/// One route and its access, as registered.
public struct RoutePolicy: Sendable, Hashable, CustomStringConvertible {
    /// The HTTP method.
    public var method: HTTPRequest.Method
    /// The path as Hummingbird prints it: `/api/0/projects/{org}/{project}`.
    public var path: String
    /// Who may call it.
    public var access: RouteAccess

    /// `GET /path -> action`.
    public var description: String { "\(method) \(path) -> \(access)" }
}

/// Every route's access, recorded as the routes are added: the list the authorization tests walk, so that a
/// route added without an entry fails them.
public final class RoutePolicies: Sendable {
    private let entries = Mutex<[RoutePolicy]>([])

    /// An empty list.
    public init() {}

    /// Records that `method path` (a router path like `api/0/issues/:issue_id`) has `access`.
    public func record(_ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess) {
        let policy = RoutePolicy(method: method, path: RouterPath(path).description, access: access)
        entries.withLock { $0.append(policy) }
    }

    /// What was recorded, in order.
    public var all: [RoutePolicy] { entries.withLock { $0 } }
}

/// A router (or group) whose routes are added together with their access.
public struct PolicedRoutes<Methods: RouterMethods> {
    let methods: Methods
    /// The group's path, to record full paths.
    let prefix: String
    let policies: RoutePolicies

    /// Routes added to `methods` (a router or a group whose path is `prefix`), recorded in `policies`.
    public init(_ methods: Methods, prefix: String = "", policies: RoutePolicies) {
        self.methods = methods
        self.prefix = prefix
        self.policies = policies
    }

    /// Adds `handler` for `method path` and records its access.
    public func on(
        _ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess,
        use handler: @escaping @Sendable (Request, Methods.Context) async throws -> Response
    ) {
        methods.on(RouterPath(path), method: method, use: handler)
        policies.record(method, prefix.isEmpty ? path : prefix + "/" + path, access)
    }
}
