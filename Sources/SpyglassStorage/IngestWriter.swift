import Foundation
import GRDB
import Logging
import Metrics
import SpyglassCore
import SpyglassProtocol
import SpyglassStorageKit

extension IngestWriter {
    /// The ingest writer over this SQLite database.
    public convenience init(
        database: AppDatabase, capacity: Int = 10_000, maxBatch: Int = 500, maxQueuedBytes: Int = 512 * 1024 * 1024,
        compactEvents: Bool = true, metrics: any MetricsFactory, logger: Logger? = nil
    ) {
        self.init(
            committer: SQLiteIngestCommitter(database: database, metrics: metrics), capacity: capacity, maxBatch: maxBatch,
            maxQueuedBytes: maxQueuedBytes, compactEvents: compactEvents,
            logWriter: LogWriter(committer: SQLiteLogCommitter(database: database.logs), logger: logger),
            metrics: metrics, logger: logger)
    }
}

/// The SQLite side of the log writer: lines into their own database (``LogDatabase``), a savepoint per request.
package struct SQLiteLogCommitter: LogBatchCommitter {
    let database: LogDatabase

    package init(database: LogDatabase) { self.database = database }

    package func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?] {
        try database.writer.write { db in
            // Bound through SQLite's C API (WriterStatement): GRDB's argument arrays cost more than the insert.
            let statement = try WriterStatement(
                """
                INSERT INTO log_entry (project_id, timestamp, received, severity, body, template, trace_id, span_id,
                    release, environment, sdk, attributes, size)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, in: db)
            return try jobs.map { job -> (any Error)? in
                let rewrites = WALCoalescing.rewrites(db)
                do {
                    try db.inSavepoint {
                        let received = job.received.timeIntervalSince1970
                        for (line, attributes) in zip(job.lines, job.attributes) {
                            try statement.execute(
                                job.projectID, line.timestamp.timeIntervalSince1970, received, Int64(line.severityNumber),
                                line.body, line.template, line.traceID, line.spanID, line.release, line.environment,
                                line.sdk, attributes, Int64(line.storedSize(attributesJSON: attributes)))
                        }
                        return .commit
                    }
                    return nil
                } catch let error as DatabaseError where error.refusesValues {
                    try WALCoalescing.checkSavepointRollback(db, rewritesBefore: rewrites)
                    return DomainError(.invalidInput, "log lines the database refuses: \(error.message ?? "\(error)")")
                }
                // Anything else (a full disk, an I/O error) is the database's: the whole batch fails, nothing of it
                // is stored, and its requests are answered 503.
            }
        }
    }
}

extension DatabaseError {
    /// Whether SQLite refused the values written (a constraint, a type, a size), not its own state (a full disk, an
    /// I/O error, a missing table): only then is the request that brought them at fault.
    var refusesValues: Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG].contains(resultCode)
    }
}

/// The SQLite side of the ingest writer: a batch in one GRDB write transaction.
package struct SQLiteIngestCommitter: IngestBatchCommitter {
    let database: AppDatabase
    /// The part of a commit spent on the batch's statements; the rest is COMMIT itself (WAL writes, sync,
    /// checkpoints).
    let statementsTimer: Timer

    package init(database: AppDatabase, metrics: any MetricsFactory) {
        self.database = database
        self.statementsTimer = Timer(label: "spyglass_ingest_statements_seconds", factory: metrics)
    }

    /// Commits `jobs` in one SQLite transaction, sharing what they can (``WriterBatch``); then the dictionaries it
    /// wrote or read go to the cache.
    package func commit(_ jobs: [PreparedIngest], dictionaries: PayloadDictionaryCache) throws -> CommittedBatch {
        let start = ContinuousClock.now
        let batch = try database.writer.write { db in
            defer { statementsTimer.recordNanoseconds((ContinuousClock.now - start).nanosecondsClamped) }
            let shared = WriterBatch(dictionaries: dictionaries)
            let receipts = try jobs.map { job in try Self.store(job, batch: shared, in: db) }
            try shared.finish(db)
            return (receipts, shared)
        }
        for (key, dictionary) in batch.1.dictionariesToCache { dictionaries.insert(dictionary, for: key) }
        return CommittedBatch(receipts: batch.0, droppedSideItems: batch.1.droppedSideItems)
    }

    private static func store(_ job: PreparedIngest, batch: WriterBatch, in db: Database) throws -> IngestReceipt {
        let work = job.work
        var stored = false
        if let event = work.event, let payload = job.payload {
            stored = try EventRows.insert(event, payload: payload, projectID: work.projectID, batch: batch, in: db)
        }
        let now = Date.now.timeIntervalSince1970
        // Each side item is stored in a savepoint of its own: one SQLite refuses for its values is rolled back alone,
        // logged and counted after the commit (it never costs its envelope's event); one it cannot store for its
        // own sake (a full disk) fails the request, which is then answered 503, not 200.
        func side(_ kind: String, _ write: () throws -> Void) throws {
            let rewrites = WALCoalescing.rewrites(db)
            do {
                try db.inSavepoint {
                    try write()
                    return .commit
                }
            } catch let error as DatabaseError where error.refusesValues {
                try WALCoalescing.checkSavepointRollback(db, rewritesBefore: rewrites)
                batch.droppedSideItems.append((kind, "\(error)"))
            }
        }
        // Attachments of a duplicate event were stored with the first copy.
        for attachment in work.attachments where stored || work.event?.eventID != attachment.eventID {
            try side("attachment") {
                try db.execute(
                    sql: """
                        INSERT INTO attachment (project_id, event_id, filename, content_type, attachment_type, size, data, received)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        work.projectID, attachment.eventID, attachment.filename, attachment.contentType,
                        attachment.attachmentType, attachment.data.count, Data(attachment.data), now,
                    ])
            }
        }
        for report in work.userReports {
            try side("user_report") {
                try db.execute(
                    sql: """
                        INSERT INTO user_report (project_id, event_id, name, email, comments, received) VALUES (?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        work.projectID, report.eventID, report.name, report.email, report.comments,
                        report.received.timeIntervalSince1970,
                    ])
            }
        }
        for count in work.sessions {
            try side("session") {
                // Sessions name releases too: the release exists from its first session on.
                try db.execute(
                    sql: "INSERT INTO release (project_id, version, created_at) VALUES (?, ?, ?) ON CONFLICT (project_id, version) DO NOTHING",
                    arguments: [work.projectID, count.release, now])
                if db.changesCount > 0 { try LifecycleRows.releaseCreated(count.release, projectID: work.projectID, in: db) }
                try db.execute(
                    sql: """
                        INSERT INTO release_sessions (project_id, release, environment, started, exited, errored, crashed, abnormal)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (project_id, release, environment) DO UPDATE SET
                            started = \(saturatingSum("started")), exited = \(saturatingSum("exited")),
                            errored = \(saturatingSum("errored")), crashed = \(saturatingSum("crashed")),
                            abnormal = \(saturatingSum("abnormal"))
                        """,
                    arguments: [
                        work.projectID, count.release, count.environment, count.started, count.exited, count.errored,
                        count.crashed, count.abnormal,
                    ])
            }
        }
        for discarded in work.discarded {
            try side("client_report") {
                try db.execute(
                    sql: """
                        INSERT INTO discarded_events (project_id, reason, category, quantity) VALUES (?, ?, ?, ?)
                        ON CONFLICT (project_id, reason, category) DO UPDATE SET quantity = \(saturatingSum("quantity"))
                        """,
                    arguments: [work.projectID, discarded.reason, discarded.category, discarded.quantity])
            }
        }
        return IngestReceipt(eventStored: stored)
    }
}

/// `column + excluded.column` for an upsert, saturating at Int64.max: SQLite turns an overflowing integer sum
/// into a REAL, which a STRICT INTEGER column refuses (every later upsert of that row would fail). Both are
/// non-negative: counts are checked where they enter.
func saturatingSum(_ column: String) -> String {
    "CASE WHEN \(column) > 9223372036854775807 - excluded.\(column) THEN 9223372036854775807 ELSE \(column) + excluded.\(column) END"
}
