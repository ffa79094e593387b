/// The columns of a stored log line, in the order ``LogColumns`` writes them.
enum PostgresLogRows {
    static let columns =
        "project_id, timestamp, received, severity, body, template, trace_id, span_id, release, environment, sdk, attributes, size"
}
