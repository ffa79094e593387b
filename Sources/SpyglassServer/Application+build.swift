import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import SpyglassHTTP
import SpyglassStorage

/// What the application is built from; tests build the same application with an in-memory database.
public struct AppDependencies: Sendable {
    public var database: AppDatabase
    public var registry: PrometheusCollectorRegistry
    public var logger: Logger

    public init(database: AppDatabase, registry: PrometheusCollectorRegistry = .init(), logger: Logger) {
        self.database = database
        self.registry = registry
        self.logger = logger
    }
}

/// Every route and middleware of the server.
public func buildRouter(_ dependencies: AppDependencies) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(
        middleware: RequestTelemetryMiddleware(
            logger: dependencies.logger, metrics: PrometheusMetricsFactory(registry: dependencies.registry)))
    HealthController(readiness: dependencies.database).addRoutes(to: router)
    MetricsController(registry: dependencies.registry).addRoutes(to: router)
    return router
}

/// The whole server: routes, the database's lifecycle, and a callback once the socket is bound.
///
/// - Parameter onServerRunning: called with the bound port (useful with port 0).
public func buildApplication(
    configuration: ServerConfiguration, dependencies: AppDependencies,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
        // The server stops first (services shut down in reverse order), then the database closes.
        services: [DatabaseService(database: dependencies.database, logger: dependencies.logger)],
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: dependencies.logger)
}
