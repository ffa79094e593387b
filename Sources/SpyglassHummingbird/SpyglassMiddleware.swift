#if Hummingbird
import Hummingbird
import HTTPTypes
import Spyglass

/// Reports errors that become 5xx responses, with the request, the route as transaction, a scope per request
/// and a breadcrumb per request. Each request gets a trace of its own (or continues the one of its `sentry-trace`
/// header): its error and its log lines carry that trace id, so the server shows them together. 4xx errors
/// (`HTTPError(.notFound)`) are not reported unless asked for.
///
/// ```swift
/// router.add(middleware: SpyglassMiddleware())
/// ```
public struct SpyglassMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Also report errors that become 4xx responses.
    public var reportClientErrors: Bool

    static var sentryTrace: HTTPField.Name { HTTPField.Name("sentry-trace")! }

    public init(reportClientErrors: Bool = false) {
        self.reportClientErrors = reportClientErrors
        SpyglassSDK.register(integration: "hummingbird")
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try await SpyglassSDK.withScope {
            let path = request.uri.path
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName, default: ""] += headers[field.name.canonicalName] == nil ? field.value : ", \(field.value)" }
            let url = "\(request.head.scheme ?? "http")://\(request.head.authority ?? headers["host"] ?? "localhost")\(path)"
            let info = RequestInfo(method: request.method.rawValue, url: url, query: request.uri.query, headers: headers)
            SpyglassSDK.configureScope { scope in
                scope.startTrace(sentryTrace: request.headers[Self.sentryTrace])
                scope.request = info
                scope.transaction = context.endpointPath.map { "\(request.method.rawValue) \($0)" } ?? "\(request.method.rawValue) \(path)"
            }
            SpyglassSDK.addBreadcrumb(
                Breadcrumb(message: "\(request.method.rawValue) \(path)", category: "http.server", type: "http",
                           data: ["method": request.method.rawValue, "url": url]))
            do {
                return try await next(request, context)
            } catch {
                let status = (error as? any HTTPResponseError)?.status.code ?? 500
                if status >= 500 || reportClientErrors {
                    // The route is known once the router has matched it.
                    if let route = context.endpointPath {
                        SpyglassSDK.configureScope { $0.transaction = "\(request.method.rawValue) \(route)" }
                    }
                    var event = SpyglassEvent(level: .error)
                    event.exceptions = SpyglassSDK.exceptions(for: error, mechanism: "hummingbird", handled: false)
                    event.tags["http.status_code"] = String(status)
                    SpyglassSDK.capture(event: event)
                }
                throw error
            }
        }
    }
}

#else
#error("SpyglassHummingbird needs the package trait Hummingbird: .package(url: …, from: …, traits: [\"Hummingbird\"])")
#endif
