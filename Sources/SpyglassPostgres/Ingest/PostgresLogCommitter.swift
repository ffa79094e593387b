import Foundation
import PostgresNIO
import SpyglassCore
public import SpyglassStorageKit

/// The PostgreSQL side of the log writer (``LogWriter``): the lines of a batch of requests in one statement that
/// commits by itself, on a connection of the ingest pool kept for the lines, apart from the ingest writer's: lines
/// never wait in the writer's batches, and are read at the lowest CPU priority. A statement the database refuses
/// for a line's values is tried again request by request, so only that request is refused (400); lines not stored
/// for the database's sake are answered 503.
public struct PostgresLogCommitter: LogBatchCommitter {
    let database: PostgresAppDatabase
    /// The lines' statement prepared on each connection.
    let statements = PreparedStatements()
    /// The connection the lines are written on, kept from batch to batch.
    let kept = KeptConnection()

    /// A committer for `database`, whose pool must be running while the log writer runs.
    public init(database: PostgresAppDatabase) {
        self.database = database
    }

    package func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
        guard jobs.contains(where: { !$0.lines.isEmpty }) else { return jobs.map { _ in nil } }
        let connection = try kept.connection(for: database, refusing: "log lines")
        let sql = IngestSQL(connection: connection, logger: database.logger, statements: statements)
        do {
            try insert(jobs, sql)
            return jobs.map { _ in nil }
        } catch where PostgresAppDatabase.refusesValues(error) {
            // Nothing of the statement was stored: each request alone, so only the one at fault is refused.
        } catch {
            throw refusal(error)
        }
        var outcomes: [(any Error)?] = []
        for job in jobs {
            do {
                try insert([job], sql)
                outcomes.append(nil)
            } catch where PostgresAppDatabase.refusesValues(error) {
                outcomes.append(
                    DomainError(.invalidInput, "log lines the database refuses: \(PostgresAppDatabase.reason(error))"))
            } catch {
                // The requests before were stored (each statement commits by itself); this one and the rest not.
                let refused = refusal(error)
                outcomes += Array(repeating: refused, count: jobs.count - outcomes.count)
                break
            }
        }
        return outcomes
    }

    /// What the requests whose lines were not stored for the database's sake are answered (503; their SDKs send
    /// them again): a broken connection is given up, and the next batch takes a fresh one.
    private func refusal(_ error: any Error) -> IngestRefusal {
        if PostgresIngestCommitter.isConnectionLost(error) { kept.discard() }
        database.logger.warning(
            "log lines refused: PostgreSQL did not store them",
            metadata: ["spyglass.error": "\(PostgresAppDatabase.reason(error))"])
        return IngestRefusal(.databaseUnavailable, retryAfter: PostgresIngestCommitter.retryAfter)
    }

    package func finish() { kept.release() }

    private func insert(_ jobs: [PreparedLogLines], _ sql: IngestSQL) throws {
        var lines = LogColumns()
        for job in jobs { lines.add(job.lines, attributes: job.attributes, projectID: job.projectID, received: job.received) }
        guard !lines.isEmpty else { return }
        _ = try sql.prepared("WITH \(embedding: lines.rows) SELECT 1", outsideTransaction: true)
    }
}

/// Log lines as columns for one `INSERT … SELECT … FROM unnest(…)` (a text that does not change with their
/// number, so it is prepared once): `logs AS (…)`, the log writer's one statement a batch.
struct LogColumns {
    private var projects: [Int64] = []
    private var timestamps: [Double] = []
    private var received: [Double] = []
    private var severities: [Int64] = []
    private var bodies: [String] = []
    private var templates: [String?] = []
    private var traces: [String?] = []
    private var spans: [String?] = []
    private var releases: [String?] = []
    private var environments: [String?] = []
    private var sdks: [String?] = []
    private var attributes: [String] = []
    private var sizes: [Int64] = []

    var isEmpty: Bool { projects.isEmpty }

    /// `attributes`: each line's ``LogRecord/attributesJSON``, in order.
    mutating func add(_ lines: [LogRecord], attributes: [String], projectID: Int64, received: Date) {
        for (line, json) in zip(lines, attributes) {
            projects.append(projectID)
            timestamps.append(line.timestamp.timeIntervalSince1970)
            self.received.append(received.timeIntervalSince1970)
            severities.append(Int64(line.severityNumber))
            bodies.append(line.body)
            templates.append(line.template)
            traces.append(line.traceID)
            spans.append(line.spanID)
            releases.append(line.release)
            environments.append(line.environment)
            sdks.append(line.sdk)
            self.attributes.append(json)
            sizes.append(Int64(line.storedSize(attributesJSON: json)))
        }
    }

    var rows: IngestStatement {
        let template = Nullable(templates, placeholder: "")
        let (trace, span) = (Nullable(traces, placeholder: ""), Nullable(spans, placeholder: ""))
        let (release, environment) = (Nullable(releases, placeholder: ""), Nullable(environments, placeholder: ""))
        let sdk = Nullable(sdks, placeholder: "")
        return """
            logs AS (
                INSERT INTO log_entry (project_id, timestamp, received, severity, body, template, trace_id, span_id,
                    release, environment, sdk, attributes, size)
                SELECT v.project_id, v.timestamp, v.received, v.severity, v.body,
                    CASE WHEN v.has_template THEN v.template END, CASE WHEN v.has_trace THEN v.trace END,
                    CASE WHEN v.has_span THEN v.span END, CASE WHEN v.has_release THEN v.release END,
                    CASE WHEN v.has_environment THEN v.environment END, CASE WHEN v.has_sdk THEN v.sdk END,
                    v.attributes, v.size
                FROM unnest(\(projects)::bigint[], \(timestamps)::float8[], \(received)::float8[],
                    \(severities)::bigint[], \(bodies)::text[], \(template.values)::text[],
                    \(template.present)::boolean[], \(trace.values)::text[], \(trace.present)::boolean[],
                    \(span.values)::text[], \(span.present)::boolean[], \(release.values)::text[],
                    \(release.present)::boolean[], \(environment.values)::text[],
                    \(environment.present)::boolean[], \(sdk.values)::text[], \(sdk.present)::boolean[],
                    \(attributes)::text[], \(sizes)::bigint[])
                    AS v(project_id, timestamp, received, severity, body, template, has_template, trace, has_trace,
                        span, has_span, release, has_release, environment, has_environment, sdk, has_sdk,
                        attributes, size)
                RETURNING 1
            )
            """
    }
}
