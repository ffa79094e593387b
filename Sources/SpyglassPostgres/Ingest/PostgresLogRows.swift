import Foundation
import PostgresNIO
import SpyglassCore

/// A request's log lines in multi-row INSERTs (at most 1 000 rows, 13 000 parameters, a statement).
enum PostgresLogRows {
    static let columns =
        "project_id, timestamp, received, severity, body, template, trace_id, span_id, release, environment, sdk, attributes, size"
    /// Each column's cast: a NULL parameter has no type of its own.
    static let casts = ["bigint", "float8", "float8", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "bigint"]

    /// `attributes`: each line's ``LogRecord/attributesJSON``, in order.
    static func insert(_ lines: [LogRecord], attributes: [String], projectID: Int64, received: Date, in sql: IngestSQL) throws {
        var start = 0
        while start < lines.count {
            let chunk = lines[start..<min(start + 1000, lines.count)]
            var bindings = PostgresBindings()
            var tuples: [String] = []
            tuples.reserveCapacity(chunk.count)
            for (line, attributes) in zip(chunk, attributes[chunk.indices]) {
                let first = bindings.count + 1
                bindings.append(projectID)
                bindings.append(line.timestamp.timeIntervalSince1970)
                bindings.append(received.timeIntervalSince1970)
                bindings.append(Int64(line.severityNumber))
                bindings.append(line.body)
                for text in [line.template, line.traceID, line.spanID, line.release, line.environment, line.sdk] {
                    if let text { bindings.append(text) } else { bindings.appendNull() }
                }
                bindings.append(attributes)
                bindings.append(Int64(line.storedSize(attributesJSON: attributes)))
                tuples.append("(" + casts.enumerated().map { "$\(first + $0.offset)::\($0.element)" }.joined(separator: ", ") + ")")
            }
            try sql.run(PostgresQuery(unsafeSQL: "INSERT INTO log_entry (\(columns)) VALUES " + tuples.joined(separator: ", "), binds: bindings))
            start += chunk.count
        }
    }
}
