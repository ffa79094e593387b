import Foundation
import SpyglassCore

/// A ``LogListRequest``'s conditions over `log_entry`, the same for SQLite and PostgreSQL but for how values are bound
/// (`?` or `$n`: the caller's `bind`) and how an attribute is read from the stored JSON.
package struct LogFilterSQL {
    let dialect: IssueFilterSQL.Dialect

    package init(dialect: IssueFilterSQL.Dialect) { self.dialect = dialect }

    /// The WHERE clause's conditions, joined with AND.
    package func conditions(_ request: LogListRequest, bind: (IssueFilterSQL.Value) -> String) -> String {
        var parts = ["project_id = \(bind(.integer(request.projectID)))"]
        let query = request.query
        for word in query.words {
            let pattern = "%" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            parts.append("body \(dialect == .postgres ? "ILIKE" : "LIKE") \(bind(.text(pattern))) ESCAPE '\\'")
        }
        if !query.levels.isEmpty {
            let ranges = query.levels.sorted().map {
                "severity BETWEEN \(bind(.integer(Int64($0.severityNumber)))) AND \(bind(.integer(Int64($0.severityNumber + 3))))"
            }
            parts.append("(" + ranges.joined(separator: " OR ") + ")")
        }
        if let release = query.release { parts.append("release = \(bind(.text(release)))") }
        if let environment = query.environment { parts.append("environment = \(bind(.text(environment)))") }
        if let trace = query.traceID { parts.append("trace_id = \(bind(.text(trace)))") }
        for filter in query.attributes {
            let values = filter.matchingJSON
            switch dialect {
            case .sqlite:
                // A JSON path quotes the name; a name with a quote in it cannot be written in one, and matches nothing.
                guard !filter.name.contains("\"") else {
                    parts.append("0")
                    continue
                }
                let path = bind(.text("$.\"\(filter.name)\""))
                parts.append("(attributes -> \(path)) IN (\(values.map { bind(.text($0)) }.joined(separator: ", ")))")
            case .postgres:
                let name = bind(.text(filter.name)) + "::text"
                parts.append("(attributes::jsonb -> \(name)) IN (\(values.map { bind(.text($0)) + "::jsonb" }.joined(separator: ", ")))")
            }
        }
        if let since = request.since { parts.append("timestamp >= \(bind(.real(since.timeIntervalSince1970)))") }
        if let until = request.until { parts.append("timestamp < \(bind(.real(until.timeIntervalSince1970)))") }
        if let after = request.afterID { parts.append("id > \(bind(.integer(after)))") }
        return parts.joined(separator: " AND ")
    }

    /// The ORDER BY clause's terms.
    package static func order(_ request: LogListRequest) -> String {
        if request.afterID != nil { return "id" }
        return request.oldestFirst ? "timestamp, id" : "timestamp DESC, id DESC"
    }

    package static let columns =
        "id, project_id, timestamp, received, severity, body, template, trace_id, span_id, release, environment, sdk, attributes"
}
