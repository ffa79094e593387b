import Hummingbird
import Logging
import Metrics

/// Logs one line per request (method, route, path, status, time to the response head) and records
/// `spyglass_http_requests_total` and `spyglass_http_request_duration_seconds` by route and status.
///
/// The route is the matched pattern (`/api/{project_id}/envelope`), never the raw path, so metric
/// cardinality stays bounded; requests that match no route count as `unmatched`.
public struct RequestTelemetryMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let metrics: any MetricsFactory
    let handles = MetricHandles()

    /// - Parameters:
    ///   - logger: where the request lines go.
    ///   - metrics: the factory the counters and histograms are made by.
    public init(logger: Logger, metrics: any MetricsFactory) {
        self.logger = logger
        self.metrics = metrics
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, route: context.endpointPath, status: response.status, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            record(request, route: context.endpointPath, status: status, since: start)
            throw error
        }
    }

    private func record(_ request: Request, route: String?, status: HTTPResponse.Status, since start: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - start
        let route = route ?? "unmatched"
        // A method outside HTTP's own is any token a client sends: counted as "other" (bounded label values).
        let method = knownHTTPMethods.contains(request.method) ? request.method.rawValue : "other"
        let code = String(status.code)
        handles.counter(
            "spyglass_http_requests_total", [("method", method), ("route", route), ("status", code)], factory: metrics
        ).increment()
        handles.timer("spyglass_http_request_duration_seconds", [("method", method), ("route", route)], factory: metrics)
            .recordNanoseconds(duration.nanoseconds)
        logger.info(
            "request",
            metadata: [
                "http.method": "\(request.method.rawValue)",
                "http.route": "\(route)",
                "http.path": "\(request.uri.path)",
                "http.status": "\(code)",
                "duration_ms": "\(Double(duration.nanoseconds) / 1_000_000)",
            ])
    }
}

/// HTTP's own methods; the metrics count any other as "other".
private let knownHTTPMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .connect, .options, .trace, .patch]

extension Duration {
    /// The duration in whole nanoseconds, saturating.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product &+ attoseconds / 1_000_000_000
    }
}
