import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassProtocol

/// A project's structured log lines (`GET /projects/{org}/{project}/logs/`), newest first.
extension APIController {
    func addLogRoutes(to api: PolicedRoutes<RouterGroup<Context>>) {
        add(api, .get, "projects/:org/:project/logs", .readEvents, projectLogs)
    }

    /// `query` (``LogQuery``: words, `level:`, `release:`, `environment:`, `trace:`, `name:value`), `level`
    /// (repeatable or comma-separated), `trace`, `statsPeriod` (1h … 90d) or `start`/`end` (ISO 8601), `after` (lines
    /// stored after this id: a live tail), `limit` and `cursor`.
    @Sendable func projectLogs(_ request: Request, context: Context) async throws -> Response {
        let project = try project(context)
        let parameters = FormQuery(request)
        let now = Date.now
        var query = try LogQuery.parse(parameters.get("query") ?? "")
        for text in parameters.getAll("level").flatMap({ $0.split(separator: ",") }) {
            guard let level = LogLevel(name: String(text)) else {
                throw APIError.badRequest("level: \"\(text.prefix(40))\" is not one of trace, debug, info, warn, error, fatal")
            }
            query.levels.insert(level)
        }
        if let trace = parameters.get("trace"), !trace.isEmpty {
            query.traceID = try LogQuery.traceID(trace, field: "trace")
        }
        var since: Date?
        var until: Date?
        if let period = parameters.get("statsPeriod"), !period.isEmpty {
            guard let seconds = StatsPeriod.seconds(period) else {
                throw APIError.badRequest("statsPeriod: \"\(period.prefix(20))\" is not one of \(StatsPeriod.names)")
            }
            since = now.addingTimeInterval(-Double(seconds))
        }
        func date(_ name: String) throws -> Date? {
            guard let text = parameters.get(name), !text.isEmpty else { return nil }
            guard let date = Timestamp.parse(.string(text)) else { throw APIError.badRequest("\(name): \(Timestamp.expected)") }
            return date
        }
        if let start = try date("start") { since = max(since ?? start, start) }
        if let end = try date("end") { until = end }
        var afterID: Int64?
        if let text = parameters.get("after"), !text.isEmpty {
            guard let id = Int64(text), id >= 0 else { throw APIError.badRequest("after: \"\(text.prefix(20))\" is not a log line id") }
            afterID = id
        }
        let limit = try APIJSON.limit(request)
        let offset = try APIJSON.offset(request)
        var lines = try await storage.logs.logs(
            LogListRequest(projectID: project.id, query: query, since: since, until: until, afterID: afterID, limit: limit, offset: offset))
        let hasNext = lines.count > limit
        lines = Array(lines.prefix(limit))
        let headers = APIJSON.link(request, baseURL: baseURL(request).absoluteString, offset: offset, limit: limit, hasNext: hasNext)
        return try APIJSON.response(encoding: lines.map(SentryJSON.Log.init), headers: headers)
    }
}
