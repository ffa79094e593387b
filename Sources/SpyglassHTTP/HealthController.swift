import Hummingbird
import Logging
import SpyglassCore

/// `GET /healthz` (the process answers) and `GET /readyz` (the database takes writes).
public struct HealthController<Context: RequestContext>: Sendable {
    let readiness: any ReadinessProbe

    public init(readiness: any ReadinessProbe) {
        self.readiness = readiness
    }

    public func addRoutes(to router: Router<Context>) {
        router.get("healthz", use: healthz)
        router.get("readyz", use: readyz)
    }

    @Sendable func healthz(_ request: Request, context: Context) async throws -> Response {
        Self.plain(.ok, "ok\n")
    }

    @Sendable func readyz(_ request: Request, context: Context) async throws -> Response {
        do {
            try await readiness.checkReady()
            return Self.plain(.ok, "ready\n")
        } catch {
            context.logger.error("not ready", metadata: ["error": "\(error)"])
            return Self.plain(.serviceUnavailable, "not ready: \(error)\n")
        }
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
