import Hummingbird
import Prometheus

/// `GET /metrics`: every metric of the registry in Prometheus' text exposition format; with a token set, only for
/// `Authorization: Bearer <token>` (Prometheus' `authorization` scrape setting).
public struct MetricsController<Context: RequestContext>: Sendable {
    let registry: PrometheusCollectorRegistry
    let token: String?

    public init(registry: PrometheusCollectorRegistry, token: String? = nil) {
        self.registry = registry
        self.token = token
    }

    public func addRoutes(to router: Router<Context>) {
        router.get("metrics", use: metrics)
    }

    @Sendable func metrics(_ request: Request, context: Context) async throws -> Response {
        if let token {
            let given = request.headers[.authorization] ?? ""
            guard Self.constantTimeEqual(Array(given.utf8), Array("Bearer \(token)".utf8)) else {
                return Response(
                    status: .unauthorized,
                    headers: [.contentType: "text/plain; charset=utf-8", .wwwAuthenticate: "Bearer"],
                    body: .init(byteBuffer: ByteBuffer(string: "metrics need Authorization: Bearer <SPYGLASS_METRICS_TOKEN>\n")))
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 * 1024)
        registry.emit(into: &bytes)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Compares without stopping at the first difference (the time taken tells nothing of the token).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}
