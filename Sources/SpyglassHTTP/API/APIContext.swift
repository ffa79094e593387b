import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// Request contexts that carry the API user and what the policy allowed.
public protocol APIRequestContext: RequestContext {
    var user: APIUser? { get set }
    var access: RequestAccess? { get set }
}

extension AppRequestContext: APIRequestContext {}

extension DomainError {
    /// Domain errors map to HTTP here, and only here (the API and the web UI both use it).
    public var httpStatus: HTTPResponse.Status {
        switch kind {
        case .invalidInput: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        default: .serviceUnavailable
        }
    }
}

/// An API failure with Sentry's `{"detail": "..."}` body. Handlers throw it; Hummingbird answers it through
/// `HTTPResponseError` (and ``APIErrorMiddleware`` turns access refusals and domain errors into it).
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var detail: String

    static func notFound(_ what: String) -> APIError { APIError(status: .notFound, detail: what) }
    static func badRequest(_ detail: String) -> APIError { APIError(status: .badRequest, detail: detail) }

    init(status: HTTPResponse.Status, detail: String) {
        self.status = status
        self.detail = detail
    }

    init(_ error: DomainError) {
        self.init(status: error.httpStatus, detail: error.message)
    }

    var response: Response { APIJSON.response(["detail": .string(detail)], status: status) }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// The API's errors in one place: what a handler throws that is no ``APIError`` yet (a policy's refusal, a
/// domain error) is thrown on as one, with its status and message.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let denied as AccessDenied {
            throw APIError(status: denied.status, detail: denied.detail)
        } catch let error as DomainError {
            throw APIError(error)
        }
    }
}

/// JSON responses and Sentry's formats (dates, cursors).
enum APIJSON {
    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(value))))
    }

    static let dateStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func date(_ date: Date) -> JSONValue { .string(date.formatted(dateStyle)) }

    static func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }

    /// Reads a JSON request body (at most 1 MiB).
    static func body(_ request: Request, context: some RequestContext) async throws -> JSONValue {
        let buffer = try await request.body.collect(upTo: 1024 * 1024)
        guard buffer.readableBytes > 0 else { return .object([:]) }
        do {
            return try JSONParser.parse(Array(buffer.readableBytesView))
        } catch {
            throw APIError.badRequest("request body: invalid JSON: \(error)")
        }
    }

    /// Reads a JSON request body of a fixed shape (at most 1 MiB; an empty body is `{}`). A body that does not fit
    /// the type is a 400 naming the field: `chunks[2]: expected a string`, `text: missing`.
    static func decode<Body: Decodable>(_ type: Body.Type, _ request: Request, context: some RequestContext) async throws -> Body {
        let buffer = try await request.body.collect(upTo: 1024 * 1024)
        let data = buffer.readableBytes > 0 ? Data(buffer.readableBytesView) : Data("{}".utf8)
        do {
            return try JSONDecoder().decode(Body.self, from: data)
        } catch let error as Swift.DecodingError {
            throw APIError.badRequest(describe(error))
        }
    }

    /// Where in the body and what: a Foundation DecodingError in the API's words.
    static func describe(_ error: Swift.DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "request body" : String(text.drop { $0 == "." })
        }
        func name(_ type: Any.Type) -> String {
            switch type {
            case is String.Type: "a string"
            case is Bool.Type: "true or false"
            case is Int.Type, is Int64.Type, is Double.Type: "a number"
            case is [String].Type, is [Any].Type: "a list"
            case is [String: Any].Type: "an object"
            default: "\(type)"
            }
        }
        switch error {
        case .typeMismatch(let type, let context):
            // A type's own decoder may say what it takes ("expected true, false, 1 or 0").
            if context.debugDescription.hasPrefix("expected ") { return "\(path(context.codingPath)): \(context.debugDescription)" }
            return "\(path(context.codingPath)): expected \(name(type))"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)): expected \(name(type)), not null"
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case .dataCorrupted(let context):
            // Not JSON at all, or a number that fits no Swift number.
            return context.codingPath.isEmpty
                ? "request body: invalid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "request body: \(error)"
        }
    }

    /// A JSON response from one of the API's answer types (``SentryJSON``): dates as ``date(_:)`` writes them.
    static func response(encoding value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(dateStyle))
        }
        return encoder
    }()

    /// Sentry's `Link` header for offset pagination: cursors `0:<offset>:<is_prev>`.
    static func link(_ request: Request, baseURL: String, offset: Int, limit: Int, hasNext: Bool) -> HTTPFields {
        var components = URLComponents(string: baseURL + request.uri.path) ?? URLComponents()
        let query = (URLComponents(string: request.uri.description)?.queryItems ?? []).filter { $0.name != "cursor" }
        func link(_ cursorOffset: Int, rel: String, isPrev: Int, results: Bool) -> String {
            let cursor = "0:\(cursorOffset):\(isPrev)"
            components.queryItems = query + [URLQueryItem(name: "cursor", value: cursor)]
            return "<\(components.string ?? "")>; rel=\"\(rel)\"; results=\"\(results)\"; cursor=\"\(cursor)\""
        }
        let previous = link(max(0, offset - limit), rel: "previous", isPrev: 1, results: offset > 0)
        let next = link(offset + limit, rel: "next", isPrev: 0, results: hasNext)
        return [HTTPField.Name("Link")!: "\(previous), \(next)"]
    }

    /// The offset of a `cursor=0:<offset>:<is_prev>` parameter (0 without one, or with an empty one: sentry-cli
    /// asks for its first page with `cursor=`).
    static func offset(_ request: Request) throws -> Int {
        guard let cursor = FormQuery(request).get("cursor"), !cursor.isEmpty else { return 0 }
        let parts = cursor.split(separator: ":")
        guard parts.count == 3, let offset = Int(parts[1]), (0...10_000_000).contains(offset) else {
            throw APIError.badRequest("cursor: \"\(cursor)\" is not a cursor like 0:100:0")
        }
        return offset
    }

    static func limit(_ request: Request, default value: Int = 100, max maximum: Int = 100) throws -> Int {
        guard let text = FormQuery(request).get("limit") else { return value }
        guard let limit = Int(text), limit > 0 else { throw APIError.badRequest("limit: \"\(text)\" is not a positive number") }
        return min(limit, maximum)
    }
}

/// Query parameters decoded as HTML forms and Sentry's clients encode them (`+` is a space).
public struct FormQuery: Sendable {
    private let pairs: [(String, String)]

    public init(_ request: Request) {
        self.init(encoded: request.uri.query ?? "")
    }

    /// Pairs from `application/x-www-form-urlencoded` text (a query string or a form body).
    public init(encoded raw: String) {
        pairs = raw.split(separator: "&").map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }

    public func get(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }
    public func getAll(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }
}
