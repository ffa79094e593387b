import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import SpyglassHTTP
import SpyglassNotify
import SpyglassCore
import SpyglassStorage
import SpyglassStorageKit
import SpyglassWeb

/// What the application is built from; tests build the same application with an in-memory database.
public struct AppDependencies: Sendable {
    /// The database's ports, which the controllers and services read and change it through.
    public var storage: Storage
    public var registry: PrometheusCollectorRegistry
    public var logger: Logger
    /// The single ingest writer; it runs as a service of the application.
    public var writer: IngestWriter
    /// Active client keys, cached.
    public var keys: KeyCache
    /// The per-key rate limits' counts, shared with the other nodes through `rateCounts` when there are any.
    public var rateLimiter = SharedRateLimiter()
    public var rateCounts: (any RateCountExchange)?

    public init(
        backend: StorageBackend, configuration: ServerConfiguration, registry: PrometheusCollectorRegistry = .init(),
        logger: Logger
    ) {
        self.storage = backend.storage
        self.registry = registry
        self.logger = logger
        self.writer = backend.makeWriter(configuration, metrics: PrometheusMetricsFactory(registry: registry), logger: logger)
        self.keys = KeyCache(directory: storage.projects)
        self.rateCounts = backend.rateCounts
    }

    /// The dependencies over a SQLite database (tests).
    public init(
        database: AppDatabase, configuration: ServerConfiguration, registry: PrometheusCollectorRegistry = .init(),
        logger: Logger
    ) {
        self.init(backend: .sqlite(database), configuration: configuration, registry: registry, logger: logger)
    }
}

/// Every route and middleware of the server.
///
/// - Parameter policies: receives every route's access (``RouteAccess``); the authorization tests walk it.
public func buildRouter(
    _ configuration: ServerConfiguration, _ dependencies: AppDependencies, policies: RoutePolicies = RoutePolicies(),
    boundPort: BoundPort = BoundPort()
) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    let metrics = PrometheusMetricsFactory(registry: dependencies.registry)
    router.add(middleware: RequestTelemetryMiddleware(logger: dependencies.logger, metrics: metrics))
    router.add(middleware: TruncatedBodyMiddleware())
    HealthController(readiness: dependencies.storage.maintenance).addRoutes(to: router)
    MetricsController(registry: dependencies.registry, token: configuration.metricsToken).addRoutes(to: router)
    // These controllers add their routes themselves: their access is listed here, route by route.
    for path in ["healthz", "readyz", "metrics"] { policies.record(.get, path, .open) }
    IngestController(
        keys: dependencies.keys, sink: dependencies.writer, limits: configuration.ingestLimits,
        rateLimiter: dependencies.rateLimiter, metrics: metrics, logger: dependencies.logger,
        symbolicator: JavaScriptSymbolicator(store: dependencies.storage.artifacts)
    ).addRoutes(to: router)
    for endpoint in ["envelope", "store"] {
        policies.record(.options, "api/:project_id/\(endpoint)", .open)  // CORS preflight
        policies.record(.post, "api/:project_id/\(endpoint)", .ingest)
    }
    let alertChecker = NotificationTester(settings: configuration.notify, renderer: notificationRenderer(configuration, boundPort))
    APIController(
        storage: dependencies.storage, organization: configuration.organizationSlug, baseURL: configuration.baseURL,
        alertChecker: alertChecker
    ).addRoutes(to: router, policies: policies)
    do {
        try WebController(
            storage: dependencies.storage, organization: configuration.organizationSlug,
            baseURL: configuration.baseURL, retention: configuration.retention, alertChecker: alertChecker
        ).addRoutes(to: router, policies: policies)
    } catch {
        // The templates are compiled in: a template that does not parse is a bug the tests catch.
        preconditionFailure("web UI templates do not parse: \(error)")
    }
    if configuration.benchmarkRoutes {
        policies.record(.post, "api/:project_id/null", .open)
        // The HTTP ceiling for the benchmark: the same server and request, no work.
        router.post("api/:project_id/null") { request, _ -> Response in
            for try await _ in request.body {}
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        policies.record(.post, "api/:project_id/inflate", .open)
        // The ceiling issue 25 measures against: the body read and inflated as ingest must before it can answer
        // (gzip, deflate or brotli by the request's Content-Encoding), nothing parsed or stored.
        router.post("api/:project_id/inflate") { request, _ -> Response in
            guard let encoding = ContentEncoding(header: request.headers[.contentEncoding]) else {
                return Response(status: .unsupportedMediaType)
            }
            let decoder = encoding.makeDecoder()
            var inflated = 0
            for try await buffer in request.body {
                try buffer.withUnsafeReadableBytes { raw in
                    if let decoder { try decoder.decode(raw) { inflated += $0.count } } else { inflated += raw.count }
                }
            }
            try decoder?.finish()
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{\"inflated\":\(inflated)}")))
        }
    }
    return router
}

/// Renders notifications with links under the base URL of the port the server bound (port 0 picks one), for the
/// outbox and the rule pages' test notifications alike.
func notificationRenderer(_ configuration: ServerConfiguration, _ boundPort: BoundPort) -> @Sendable () -> NotificationRenderer {
    {
        NotificationRenderer(
            baseURL: configuration.effectiveBaseURL(boundPort: boundPort.value ?? configuration.port).absoluteString,
            organization: configuration.organizationSlug)
    }
}

/// The whole server: routes, the database's lifecycle, and a callback once the socket is bound.
///
/// - Parameter onServerRunning: called with the bound port (useful with port 0).
public func buildApplication(
    configuration: ServerConfiguration, dependencies: AppDependencies,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let boundPort = BoundPort()
    var services: [any Service] = [
        dependencies.writer,
        MaintenanceService(
            database: dependencies.storage.maintenance, artifacts: dependencies.storage.artifacts, logs: dependencies.storage.logs,
            policy: configuration.retention, logger: dependencies.logger),
    ]
    if let exchange = dependencies.rateCounts {
        services.append(RateCountSync(limiter: dependencies.rateLimiter, exchange: exchange, logger: dependencies.logger))
    }
    // Stops first: the delivery in progress ends before the database closes.
    services.append(
        NotificationService(
            outbox: dependencies.storage.outbox, settings: configuration.notify,
            renderer: notificationRenderer(configuration, boundPort),
            logger: dependencies.logger, metrics: PrometheusMetricsFactory(registry: dependencies.registry)))
    return Application(
        router: buildRouter(configuration, dependencies, boundPort: boundPort),
        server: .http1(configuration: configuration.connections.http1(logger: dependencies.logger)),
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port), serverName: nil,
            availableConnectionsDelegate: configuration.connections.connectionCap(logger: dependencies.logger)),
        // Services shut down in reverse order (the list above): the server drains its requests first, then the
        // writer commits what is queued; the database closes after them (``StorageBackend/withOpened(_:logger:_:)``).
        services: services,
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? configuration.port
            boundPort.value = port
            // Where DSNs point from now on: `spyglass project dsn` prints this unless told another base URL.
            let served = configuration.effectiveBaseURL(boundPort: port).absoluteString
            do {
                try await dependencies.storage.maintenance.recordServedBaseURL(served)
            } catch {
                dependencies.logger.warning("could not record the base URL", metadata: ["error": "\(error)"])
            }
            await onServerRunning(port)
        },
        logger: dependencies.logger)
}

/// The port the server bound, once it has (port 0 picks one).
public final class BoundPort: Sendable {
    private let port = Mutex<Int?>(nil)

    public init() {}

    public var value: Int? {
        get { port.withLock { $0 } }
        set { port.withLock { $0 = newValue } }
    }
}
