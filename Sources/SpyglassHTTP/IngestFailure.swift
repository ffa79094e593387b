import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// A refused ingest request: its status, a message saying what and where, and the outcome it counts as. The
/// ingest routes answer it themselves (counting its outcome, on the hot path); thrown past them, Hummingbird
/// answers it through `HTTPResponseError` the same way.
struct IngestFailure: HTTPResponseError {
    /// Outcomes of `spyglass_ingest_events_total`.
    enum Outcome: String {
        case accepted, rateLimited = "rate_limited", invalid, tooLarge = "too_large", filtered, unavailable
    }

    var status: HTTPResponse.Status
    var message: String
    var outcome: Outcome
    /// Seconds to wait, for 429 and 503.
    var retryAfter: Int?
    /// Sentry's data categories a 429 limits (`X-Sentry-Rate-Limits`); nil for all.
    var categories: [String]?

    static func badRequest(_ message: String) -> IngestFailure { .init(status: .badRequest, message: message, outcome: .invalid) }
    static func unauthorized(_ message: String) -> IngestFailure { .init(status: .unauthorized, message: message, outcome: .invalid) }
    static func forbidden(_ message: String) -> IngestFailure { .init(status: .forbidden, message: message, outcome: .invalid) }
    static func tooLarge(_ message: String) -> IngestFailure { .init(status: .contentTooLarge, message: message, outcome: .tooLarge) }
    static func rateLimited(_ message: String, retryAfter: Int) -> IngestFailure {
        .init(status: .tooManyRequests, message: message, outcome: .rateLimited, retryAfter: retryAfter)
    }

    init(status: HTTPResponse.Status, message: String, outcome: Outcome, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.outcome = outcome
        self.retryAfter = retryAfter
    }

    /// The answer to a request the writers refused: 429 for a full queue (the log lines' queue limits the SDK's
    /// log lines alone, `log_item`, so that its errors keep coming), 503 otherwise.
    init(_ refusal: IngestRefusal) {
        switch refusal.reason {
        case .queueFull: self = .rateLimited(refusal.description, retryAfter: refusal.retryAfter)
        case .logQueueFull:
            self = .rateLimited(refusal.description, retryAfter: refusal.retryAfter)
            categories = ["log_item"]
        case .shuttingDown:
            self.init(
                status: .serviceUnavailable, message: refusal.description, outcome: .rateLimited,
                retryAfter: refusal.retryAfter)
        case .databaseUnavailable:
            self.init(
                status: .serviceUnavailable, message: refusal.description, outcome: .unavailable,
                retryAfter: refusal.retryAfter)
        }
    }

    init(_ error: EnvelopeError) {
        self = error.kind == .tooLarge ? .tooLarge(error.message) : .badRequest(error.message)
    }

    /// `{"detail": "...", "causes": [...]}` with `X-Sentry-Error`, and rate-limit headers for 429/503.
    var response: Response {
        var headers = IngestHeaders.cors
        headers[.contentType] = "application/json"
        // Header values must stay on one line and within printable ASCII.
        headers[IngestHeaders.sentryError] = String(message.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?" }.prefix(1000))
        if let retryAfter {
            headers[.retryAfter] = String(retryAfter)
            if status == .tooManyRequests {
                headers[IngestHeaders.rateLimits] =
                    categories.map { RateLimitHeader.categories($0, retryAfter: retryAfter, scope: "key") }
                    ?? RateLimitHeader.allCategories(retryAfter: retryAfter, scope: "key")
            }
        }
        let body: JSONValue = ["detail": .string(message), "causes": [.string(message)]]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(body))))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// Header names and the CORS headers browsers need (Relay's set).
enum IngestHeaders {
    static let sentryAuth = HTTPField.Name("X-Sentry-Auth")!
    static let sentryError = HTTPField.Name("X-Sentry-Error")!
    static let rateLimits = HTTPField.Name("X-Sentry-Rate-Limits")!

    static let cors: HTTPFields = [
        .accessControlAllowOrigin: "*",
        .accessControlExposeHeaders: "x-sentry-error, x-sentry-rate-limits, retry-after",
    ]

    static let preflight: HTTPFields = [
        .accessControlAllowOrigin: "*",
        .accessControlAllowMethods: "POST, OPTIONS",
        .accessControlAllowHeaders:
            "x-sentry-auth, x-requested-with, x-forwarded-for, origin, referer, accept, content-type, authentication, authorization, content-encoding, transfer-encoding, sentry-trace, baggage",
        .accessControlExposeHeaders: "x-sentry-error, x-sentry-rate-limits, retry-after",
        .accessControlMaxAge: "3600",
    ]
}
