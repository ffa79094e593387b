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

    /// The longest line taken, all its values together (``ArrayColumn/maxValueBytes``; lower in tests).
    let maxLineBytes: Int

    /// A committer for `database`, whose pool must be running while the log writer runs.
    public init(database: PostgresAppDatabase) {
        self.init(database: database, maxLineBytes: ArrayColumn.maxValueBytes)
    }

    package init(database: PostgresAppDatabase, maxLineBytes: Int) {
        self.database = database
        self.maxLineBytes = min(maxLineBytes, ArrayColumn.maxValueBytes)
    }

    package func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
        // A line that may hold a value PostgreSQL could not take (over 1 GiB) refuses its request alone, before
        // anything is sent.
        var outcomes: [(any Error)?] = jobs.map { job in
            guard let size = LogColumns.oversized(job, limit: maxLineBytes) else { return nil }
            return DomainError(
                .invalidInput, "a log line of \(size) bytes: PostgreSQL stores at most \(maxLineBytes) bytes a value")
        }
        let storing = jobs.indices.filter { outcomes[$0] == nil }
        for (index, outcome) in zip(storing, try store(storing.map { jobs[$0] })) { outcomes[index] = outcome }
        return outcomes
    }

    private func store(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
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

    /// The lines are written by PostgreSQL's backend: its CPU, not this thread's, is what they cost.
    package var worksElsewhere: Bool { true }

    private func insert(_ jobs: [PreparedLogLines], _ sql: IngestSQL) throws {
        var lines = LogColumns()
        for job in jobs { lines.add(job.lines, attributes: job.attributes, projectID: job.projectID, received: job.received) }
        guard !lines.isEmpty else { return }
        _ = try sql.prepared(lines.insert, outsideTransaction: true)
    }
}

/// Log lines as columns for one `INSERT … SELECT unnest(…), …` (a text that does not change with their number, so
/// it is prepared once): the log writer's one statement a batch. Each column is PostgreSQL's binary array, written
/// as the lines are added (``ArrayColumn``).
struct LogColumns {
    private var projects = ArrayColumn(.int8)
    private var timestamps = ArrayColumn(.float8)
    private var received = ArrayColumn(.float8)
    private var severities = ArrayColumn(.int8)
    private var bodies = ArrayColumn(.text)
    private var templates = ArrayColumn(.text)
    private var traces = ArrayColumn(.text)
    private var spans = ArrayColumn(.text)
    private var releases = ArrayColumn(.text)
    private var environments = ArrayColumn(.text)
    private var sdks = ArrayColumn(.text)
    private var attributes = ArrayColumn(.text)
    private var sizes = ArrayColumn(.int8)

    var isEmpty: Bool { projects.isEmpty }

    /// `attributes`: each line's ``LogRecord/attributesJSON``, in order.
    mutating func add(_ lines: [LogRecord], attributes: [String], projectID: Int64, received: Date) {
        let receivedSeconds = received.timeIntervalSince1970
        for index in lines.indices {
            let json = attributes[index]
            projects.append(projectID)
            timestamps.append(lines[index].timestamp.timeIntervalSince1970)
            self.received.append(receivedSeconds)
            severities.append(Int64(lines[index].severityNumber))
            bodies.append(lines[index].body)
            templates.append(lines[index].template)
            traces.append(lines[index].traceID)
            spans.append(lines[index].spanID)
            releases.append(lines[index].release)
            environments.append(lines[index].environment)
            sdks.append(lines[index].sdk)
            self.attributes.append(json)
            sizes.append(Int64(lines[index].storedSize(attributesJSON: json)))
        }
    }

    /// The size of the first line of `job` that may hold a value PostgreSQL could not take (a field holds at most
    /// 1 GiB; the line's values together are counted, so no value is measured twice), if any.
    static func oversized(_ job: PreparedLogLines, limit: Int) -> Int? {
        for index in job.lines.indices {
            let size = job.lines[index].storedSize(attributesJSON: job.attributes[index])
            if size > limit { return size }
        }
        return nil
    }

    /// The statement: each array's elements in step (`unnest` in the select list, no table function's tuple store
    /// between them and the insert), and no `RETURNING` (a `WITH … RETURNING` kept each row in a tuple store too).
    ///
    /// Its first step takes the log writers' turn (``turnLockKey``, held until it commits), before any line takes an
    /// id: batches of several nodes then commit one after another, each with ids above the last one's, so lines
    /// become visible in the order of their ids, as the live tail (the lines after the newest id it showed) needs.
    /// On one node the log writer commits one batch at a time anyway; the turn costs nothing there.
    var insert: IngestStatement {
        """
        WITH turn AS MATERIALIZED (SELECT pg_advisory_xact_lock(\(Self.turnLockKey)::bigint))
        INSERT INTO log_entry (project_id, timestamp, received, severity, body, template, trace_id, span_id, release,
            environment, sdk, attributes, size)
        SELECT unnest(\(projects)::bigint[]), unnest(\(timestamps)::float8[]), unnest(\(received)::float8[]),
            unnest(\(severities)::bigint[]), unnest(\(bodies)::text[]), unnest(\(templates)::text[]),
            unnest(\(traces)::text[]), unnest(\(spans)::text[]), unnest(\(releases)::text[]),
            unnest(\(environments)::text[]), unnest(\(sdks)::text[]), unnest(\(attributes)::text[]),
            unnest(\(sizes)::bigint[])
        FROM turn
        """
    }

    /// The transaction-level advisory lock of the log writers' turn: "spyglogs" in ASCII (the migrations' is
    /// "spyglass").
    static let turnLockKey: Int64 = 0x7370_7967_6C6F_6773
}
