import Foundation
import HTTPTypes
import Hummingbird
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol

/// The Logs page: a project's structured log lines, newest first, filtered by level, words, attributes
/// (`name:value`), release, environment, trace and time; "Live" adds new lines at the top as they arrive.
extension WebController {
    struct LogRow {
        var id: Int64
        var time: String
        var timeISO: String
        var level: String
        var body: String
        var traceURL: String?
        var shortTrace: String?
        var release: String?
        var environment: String?
        var attributes: [LogAttributeRow]
    }

    struct LogAttributeRow {
        var name: String
        var value: String
        var filterURL: String
    }

    struct LevelOption {
        var value: String
        var label: String
        var selected: Bool
    }

    struct LogsModel {
        var chrome: Chrome
        var projectID: Int64
        var projectSlug: String
        var query: String
        var levels: [LevelOption]
        var periods: [LevelOption]
        var rows: [LogRow]
        var newestID: Int64
        /// The page's filters for the live tail (`after` is added by the script).
        var tailURL: String
        var traceID: String?
        var clearTraceURL: String?
        var error: String?
        var previousURL: String?
        var nextURL: String?
    }

    func addLogRoutes(to pages: Pages) {
        add(pages, .get, "organizations/:org/logs", .readEvents, logsPage)
    }

    static let logPageSize = 100

    func logsURL(projectID: Int64, _ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.path = "/organizations/\(organization)/logs/"
        components.queryItems = [URLQueryItem(name: "project", value: String(projectID))] + items.filter { !($0.value ?? "").isEmpty }
        return components.string ?? components.path
    }

    @Sendable func logsPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try session(context)
        let projects = try access(context).projects()
        let parameters = FormQuery(request)
        let wanted = parameters.get("project") ?? ""
        guard let project = wanted.isEmpty ? projects.first : projects.first(where: { String($0.id) == wanted || $0.slug == wanted }) else {
            throw PageError.notFound(wanted.isEmpty ? "You are not a member of any project." : "There is no project \(wanted), or you are not a member of it.")
        }
        let now = Date.now
        let text = parameters.get("query") ?? ""
        let levelText = parameters.get("level") ?? ""
        let period = parameters.get("statsPeriod") ?? ""
        let traceText = parameters.get("trace") ?? ""
        let offset = max(0, min(Int(parameters.get("cursor") ?? "0") ?? 0, 1_000_000))
        var error: String?
        var query = LogQuery()
        switch Result(catching: { () throws(DomainError) -> LogQuery in
            var parsed = try LogQuery.parse(text)
            if !levelText.isEmpty { parsed.levels.formUnion(try LogQuery.parse("level:\(levelText)").levels) }
            if !traceText.isEmpty { parsed.traceID = try LogQuery.traceID(traceText, field: "trace") }
            return parsed
        }) {
        case .success(let parsed): query = parsed
        case .failure(let failure): error = failure.message
        }
        var since: Date?
        if !period.isEmpty {
            if let seconds = StatsPeriod.seconds(period) { since = now.addingTimeInterval(-Double(seconds)) } else {
                error = "statsPeriod: \"\(period.prefix(20))\" is not one of \(StatsPeriod.names)."
            }
        }
        let afterID = parameters.get("after").flatMap { Int64($0) }
        var lines: [StoredLog] = []
        if error == nil {
            lines = try await storage.logs.logs(
                LogListRequest(projectID: project.id, query: query, since: since, afterID: afterID, limit: Self.logPageSize, offset: offset))
        }
        let hasNext = lines.count > Self.logPageSize
        lines = Array(lines.prefix(Self.logPageSize))
        let filters = [
            URLQueryItem(name: "query", value: text), URLQueryItem(name: "level", value: levelText),
            URLQueryItem(name: "statsPeriod", value: period), URLQueryItem(name: "trace", value: traceText),
        ]
        let rows = lines.map { logRow($0, projectID: project.id, now: now) }
        if parameters.get("fragment") == "1" {
            // The live tail: the new rows' HTML, newest first, and the newest id.
            return render("log-rows", ["rows": rows])
        }
        let model = LogsModel(
            chrome: try await chrome(context, session, projects: projects, current: project.id, section: .logs),
            projectID: project.id, projectSlug: project.slug, query: text,
            levels: [LevelOption(value: "", label: "Any level", selected: levelText.isEmpty)]
                + LogLevel.allCases.map { LevelOption(value: $0.rawValue, label: $0.rawValue, selected: levelText == $0.rawValue) },
            periods: [LevelOption(value: "", label: "All time", selected: period.isEmpty)]
                + StatsPeriod.all.map { LevelOption(value: $0.id, label: $0.label, selected: period == $0.id) },
            rows: rows, newestID: max(afterID ?? 0, lines.map(\.id).max() ?? 0), tailURL: logsURL(projectID: project.id, filters + [URLQueryItem(name: "fragment", value: "1")]),
            traceID: query.traceID, clearTraceURL: query.traceID == nil ? nil : logsURL(projectID: project.id, filters.filter { $0.name != "trace" }),
            error: error,
            previousURL: offset > 0 ? logsURL(projectID: project.id, filters + [URLQueryItem(name: "cursor", value: String(max(0, offset - Self.logPageSize)))]) : nil,
            nextURL: hasNext ? logsURL(projectID: project.id, filters + [URLQueryItem(name: "cursor", value: String(offset + Self.logPageSize))]) : nil)
        return render("logs", model)
    }

    func logRow(_ stored: StoredLog, projectID: Int64, now: Date) -> LogRow {
        let line = stored.record
        return LogRow(
            id: stored.id, time: Formatting.timestamp(line.timestamp), timeISO: Formatting.iso(line.timestamp), level: line.level.rawValue,
            body: line.body, traceURL: line.traceID.map { logsURL(projectID: projectID, [URLQueryItem(name: "trace", value: $0)]) },
            shortTrace: line.traceID.map { String($0.prefix(8)) }, release: line.release, environment: line.environment,
            attributes: line.attributes.prefix(12).map { attribute in
                let value = attribute.value.text
                return LogAttributeRow(
                    name: attribute.name, value: value.limited(to: 200),
                    filterURL: logsURL(
                        projectID: projectID, [URLQueryItem(name: "query", value: LogQuery.attributeTerm(name: attribute.name, value: value))]))
            })
    }

    /// The event page's log lines: the trace's, oldest first, up to the 50 nearest the error (the lines before it
    /// first); each says whether it came after the error.
    struct TraceLogs {
        var rows: [TraceLogRow]
        var count: String
        var logsURL: String
        var traceID: String
    }

    struct TraceLogRow {
        var row: LogRow
        var afterError: Bool
    }

    func traceLogs(of event: EventInfo, projectID: Int64) async throws -> TraceLogs? {
        guard let text = event.payload["contexts"]?["trace"]?["trace_id"]?.stringValue,
            let trace = LogQuery.traceID(text)
        else { return nil }
        var query = LogQuery()
        query.traceID = trace
        let limit = 50
        // The newest lines up to the error, then the first ones after it.
        let before = try await storage.logs.logs(
            LogListRequest(projectID: projectID, query: query, until: event.timestamp.addingTimeInterval(0.001), limit: limit))
        let after = try await storage.logs.logs(
            LogListRequest(projectID: projectID, query: query, since: event.timestamp.addingTimeInterval(0.001), oldestFirst: true, limit: limit))
        let now = Date.now
        let earlier = before.prefix(limit - min(after.count, 10)).reversed()
        let later = after.prefix(limit - earlier.count)
        guard !earlier.isEmpty || !later.isEmpty else { return nil }
        let total = before.count + after.count
        return TraceLogs(
            rows: earlier.map { TraceLogRow(row: logRow($0, projectID: projectID, now: now), afterError: false) }
                + later.map { TraceLogRow(row: logRow($0, projectID: projectID, now: now), afterError: true) },
            count: total > limit ? "the \(limit) nearest the error" : Formatting.counted(total, "line"),
            logsURL: logsURL(projectID: projectID, [URLQueryItem(name: "trace", value: trace)]), traceID: trace)
    }
}
