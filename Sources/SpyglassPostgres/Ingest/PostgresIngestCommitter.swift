import Dispatch
import Foundation
public import Logging
public import Metrics
import NIOCore
import PostgresNIO
import SpyglassCore
public import SpyglassStorageKit
import Synchronization

extension IngestWriter {
    /// The ingest writer over this PostgreSQL database (``PostgresIngestCommitter``).
    public convenience init(
        database: PostgresAppDatabase, capacity: Int = 10_000, maxBatch: Int = 500, maxQueuedBytes: Int = 512 * 1024 * 1024,
        compactEvents: Bool = true, metrics: any MetricsFactory, logger: Logger? = nil
    ) {
        self.init(
            committer: PostgresIngestCommitter(database: database, metrics: metrics), capacity: capacity,
            maxBatch: maxBatch, maxQueuedBytes: maxQueuedBytes, compactEvents: compactEvents,
            logWriter: LogWriter(committer: PostgresLogCommitter(database: database), logger: logger),
            metrics: metrics, logger: logger)
    }
}

/// The PostgreSQL side of the ingest writer: a batch in one transaction, storing what SQLite's writer stores.
///
/// The batch runs on one pooled connection, `BEGIN` … `COMMIT`, with `synchronous_commit` as the server has it
/// (on by default: the commit is durable before the writer answers); a batch of plain events only (one set) writes
/// them in a statement that commits by itself, without `BEGIN` and `COMMIT`. Plain events are written as sets
/// (``PostgresEventSet``), the rest one by one (``PostgresEventRows``), in the batch's order. Side items
/// (attachments, user reports, sessions, client reports) are each written in a savepoint: one that fails is rolled
/// back alone and reported in ``CommittedBatch/droppedSideItems``; the event stays. A failing event fails the batch
/// (the writer then retries its jobs one by one).
public struct PostgresIngestCommitter: IngestBatchCommitter {
    let database: PostgresAppDatabase
    /// The part of a commit spent on the batch's statements; the rest is COMMIT itself (nothing when the batch's
    /// one write committed by itself).
    let statementsTimer: Timer
    /// The writer's statements prepared on each connection.
    let statements = PreparedStatements()
    /// When a batch last met an event id stored already (``commit(_:dictionaries:)``).
    let duplicates = DuplicateWatch()
    /// The connection the writer's batches run on, kept from batch to batch.
    let kept = KeptConnection()

    /// A committer for `database`, whose pool must be running while the writer runs.
    public init(database: PostgresAppDatabase, metrics: any MetricsFactory = MetricsSystem.factory) {
        self.database = database
        self.statementsTimer = Timer(label: "spyglass_ingest_statements_seconds", factory: metrics)
    }

    /// Commits `jobs` in one transaction, blocking the calling thread until it is committed. The connection is
    /// the writer's own, kept from batch to batch (``KeptConnection``); the statements run from this thread, each
    /// waited for (``IngestSQL``). Call it from a thread of its own (the writer's), never from a task or an event
    /// loop.
    package func commit(_ jobs: [PreparedIngest], dictionaries: PayloadDictionaryCache) throws -> CommittedBatch {
        var attempt = 1
        var reconnected = false
        // A batch's stored event ids are looked up only while batches have met some lately: the lookup is planned
        // for each batch (PostgresEventSet), and SDKs seldom send an event twice. Without it, a set holding a stored
        // event fails its check, and the batch is tried again with the lookup.
        var lookUpEventIDs = duplicates.metLately
        while true {
            let connection = try kept.connection(for: database, refusing: "ingest batch")
            do {
                return try commit(jobs, dictionaries: dictionaries, lookUpEventIDs: lookUpEventIDs, on: connection)
            } catch let error where !lookUpEventIDs && PostgresAppDatabase.sqlState(error) == Self.writerCheckFailed {
                duplicates.met()
                lookUpEventIDs = true
            } catch let error where attempt < Self.attempts && Self.isTransient(error) {
                // Another node wrote the same issue, hash or event id meanwhile, or the two deadlocked: the batch
                // is read again from the start and sees what the other committed.
                database.logger.info(
                    "ingest batch met a concurrent writer; retrying it",
                    metadata: ["spyglass.attempt": "\(attempt)", "spyglass.error": "\(PostgresAppDatabase.reason(error))"])
                attempt += 1
            } catch let error where Self.isConnectionLost(error) {
                // The connection broke (PostgreSQL restarted, failed over, or ended the session): the batch is tried
                // once more on a fresh connection. Had its COMMIT gone through, the events are found stored and
                // answered as duplicates are.
                kept.discard()
                guard !reconnected else {
                    database.logger.warning(
                        "ingest batch refused: the connection to PostgreSQL broke twice",
                        metadata: ["spyglass.error": "\(PostgresAppDatabase.reason(error))"])
                    throw IngestRefusal(.databaseUnavailable, retryAfter: Self.retryAfter)
                }
                database.logger.info(
                    "ingest batch lost its connection to PostgreSQL; retrying it on another",
                    metadata: ["spyglass.error": "\(PostgresAppDatabase.reason(error))"])
                reconnected = true
            }
        }
    }

    package func finish() { kept.release() }

    /// How long a batch waits for a connection before its requests are answered 503: the writer's own pool lends
    /// one at once while PostgreSQL is up (it has a connection per writer, or opens one in milliseconds).
    static let leaseTimeout: Duration = .seconds(3)

    /// The seconds a refused client is asked to wait (`Retry-After`).
    static let retryAfter = 5

    /// Whether `error` says the connection to PostgreSQL is gone (the server stopped, restarted, or ended the
    /// session) rather than anything about the batch's data.
    static func isConnectionLost(_ error: any Error) -> Bool {
        switch error {
        case is IOError, is ChannelError, PostgresError.connectionClosed, PostgresError.protocol: return true
        default: break
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .poolClosed:
                return true
            default: break
            }
        }
        // Class 08, connection exception; 57P01–57P03, the server shutting down, crashed, or not yet accepting.
        guard let state = PostgresAppDatabase.sqlState(error) else { return false }
        return state.hasPrefix("08") || state == "57P01" || state == "57P02" || state == "57P03"
    }

    /// How many times a batch is tried when it meets another writer (``isTransient(_:)``).
    static let attempts = 5

    /// Whether `error` comes from a concurrent writer rather than the batch itself: a race this writer noticed
    /// (``IngestRace``; in a statement, ``writerCheckFailed``), a deadlock (40P01) or a serialization failure (40001).
    static func isTransient(_ error: any Error) -> Bool {
        if error is IngestRace { return true }
        let state = PostgresAppDatabase.sqlState(error)
        return state == "40P01" || state == "40001" || state == writerCheckFailed
    }

    /// The SQLSTATE of `spyglass_writer_check(false)` (PostgreSQL migration 10): a statement that found what another
    /// writer did meanwhile fails whole, and the batch is tried again.
    static let writerCheckFailed = "SG001"

    /// The planner settings of the writer's connections: nested loops over indexes only. Every statement of the
    /// writer looks rows up by the keys of the batch it carries (a few hundred at most), and most are prepared once
    /// per connection: a generic plan made while a table was small (a new database's first minute, before
    /// autovacuum's first ANALYZE) would otherwise scan the whole table in every batch, as a hash join does
    /// (docs/storage-postgres.md, "The ingest writer"). Set for the session when the writer first uses a connection
    /// (its own pool's: the API's queries keep the defaults), not as startup parameters, which poolers such as
    /// PgBouncer refuse.
    ///
    /// And generic plans for every statement (`plan_cache_mode`): a plan made with a batch's values (how many ids,
    /// hashes and releases it has) looked cheaper to PostgreSQL than the generic one for the batch's ids statement
    /// (drawn by the set's statement since) and its read of hashes, which it then planned again at every execution
    /// (docs/performance.md). Over indexes only, a plan of lookups by key does not depend on how many keys come;
    /// the statements sent unprepared are still planned at each execution, with the tables' sizes as they are then.
    static let plannerSettings: PostgresQuery = """
        SELECT set_config('enable_seqscan', 'off', false), set_config('enable_hashjoin', 'off', false),
            set_config('enable_mergejoin', 'off', false), set_config('plan_cache_mode', 'force_generic_plan', false)
        """

    private func commit(
        _ jobs: [PreparedIngest], dictionaries: PayloadDictionaryCache, lookUpEventIDs: Bool,
        on connection: PostgresConnection
    ) throws -> CommittedBatch {
        let committed: Committed
        do {
            let sql = IngestSQL(
                connection: connection, logger: database.logger, statements: statements,
                lockedProjects: jobs.map(\.work.projectID))
            if statements.isNew(connection.id) {
                try sql.run(Self.plannerSettings, outsideTransaction: true)
                statements.configured(connection.id)
            }
            committed = try inTransaction(sql) { sql in
                let start = ContinuousClock.now
                defer { statementsTimer.recordNanoseconds((ContinuousClock.now - start).nanosecondsClamped) }
                let batch = PostgresWriterBatch(dictionaries: dictionaries)
                let set = try PostgresEventSet(jobs, batch: batch, lookUpEventIDs: lookUpEventIDs, in: sql)
                var receipts = [IngestReceipt](repeating: IngestReceipt(eventStored: false), count: jobs.count)
                for (index, job) in jobs.enumerated() {
                    var countsEveryEvent = false
                    if job.work.event != nil {
                        countsEveryEvent = try batch.rules(projectID: job.work.projectID, in: sql).contains { $0.applies(to: []) }
                    }
                    switch set.place(job, index: index, countsEveryEvent: countsEveryEvent) {
                    case .member, .duplicate:
                        continue
                    case .alone:
                        try set.write(&receipts, batch: batch, in: sql, last: false)
                        receipts[index] = try Self.store(job, set: set, batch: batch, in: sql)
                    }
                }
                try set.write(&receipts, batch: batch, in: sql, last: true)
                try batch.finish(sql)
                return Committed(
                    batch: CommittedBatch(receipts: receipts, droppedSideItems: batch.droppedSideItems),
                    dictionaries: batch.dictionariesToCache)
            }
        } catch let error as DomainError {
            throw error
        } catch let error where Self.isTransient(error) || Self.isConnectionLost(error) {
            throw error
        } catch {
            // postgres-nio's own description hides the server's message: the log says what failed.
            throw PostgresAppDatabase.domainError(error) ?? DomainError(.unavailable, "database: \(PostgresAppDatabase.reason(error))")
        }
        for (key, dictionary) in committed.dictionaries { dictionaries.insert(dictionary, for: key) }
        return committed.batch
    }

    /// What a committed transaction gave: the batch's result, and the dictionaries to cache now that it is committed.
    struct Committed {
        var batch: CommittedBatch
        var dictionaries: [PayloadDictionaryCache.Key: PayloadDictionary]
    }

    /// `body`, then `COMMIT` when it began a transaction (``IngestSQL``: a batch whose only write is one statement
    /// began none); a `ROLLBACK` when `body` throws (a connection that cannot roll back is closed, so the pool does
    /// not lend it again). A failed `COMMIT` has rolled back in PostgreSQL.
    private func inTransaction<T>(_ sql: IngestSQL, _ body: (IngestSQL) throws -> T) throws -> T {
        let result: T
        do {
            result = try body(sql)
        } catch {
            if Self.isConnectionLost(error) { throw error }  // nothing to roll back on a connection that is gone
            do {
                try sql.rollback()
            } catch let rollback {
                database.logger.warning(
                    "PostgreSQL: ROLLBACK failed; closing the connection",
                    metadata: ["spyglass.error": "\(String(reflecting: rollback))"])
                try? sql.connection.close().wait()
            }
            throw error
        }
        try sql.commit()
        return result
    }

    /// Stores one job outside the set: its event through ``PostgresEventRows``, then its side items.
    private static func store(
        _ job: PreparedIngest, set: PostgresEventSet, batch: PostgresWriterBatch, in sql: IngestSQL
    ) throws -> IngestReceipt {
        let work = job.work
        var stored = false
        if let event = work.event, let payload = job.payload,
            let rows = try PostgresEventRows.insert(event, payload: payload, projectID: work.projectID, batch: batch, in: sql)
        {
            stored = true
            set.storedAlone(event, projectID: work.projectID, issueID: rows.issueID, dictionary: rows.dictionary)
        }
        let now = Date.now.timeIntervalSince1970
        let projectID = work.projectID
        // Each side item is stored in a savepoint of its own: one PostgreSQL refuses for its values is rolled back
        // alone, logged and counted after the commit (it never costs its envelope's event); one it cannot store for
        // its own sake (a read-only standby) fails the request, which is then answered 503, not 200.
        func side(_ kind: String, _ write: () throws -> Void) throws {
            if let error = try sql.inSavepoint(write) {
                guard PostgresAppDatabase.refusesValues(error) else { throw error }
                batch.droppedSideItems.append((kind, PostgresAppDatabase.reason(error)))
            }
        }
        // Attachments of a duplicate event were stored with the first copy.
        for attachment in work.attachments where stored || work.event?.eventID != attachment.eventID {
            try side("attachment") {
                try sql.run(
                    """
                    INSERT INTO attachment (project_id, event_id, filename, content_type, attachment_type, size, data, received)
                    VALUES (\(projectID), \(attachment.eventID), \(attachment.filename), \(attachment.contentType),
                        \(attachment.attachmentType), \(Int64(attachment.data.count)), \(ByteBuffer(bytes: attachment.data)), \(now))
                    """)
            }
        }
        for report in work.userReports {
            try side("user_report") {
                try sql.run(
                    """
                    INSERT INTO user_report (project_id, event_id, name, email, comments, received)
                    VALUES (\(projectID), \(report.eventID)::text, \(report.name), \(report.email), \(report.comments),
                        \(report.received.timeIntervalSince1970))
                    """)
            }
        }
        for count in work.sessions {
            try side("session") {
                // Sessions name releases too: the release exists from its first session on.
                let created = try sql.row(
                    """
                    INSERT INTO release (project_id, version, created_at) VALUES (\(projectID), \(count.release), \(now))
                    ON CONFLICT (project_id, version) DO NOTHING RETURNING id
                    """)
                if created != nil { try PostgresLifecycleRows.releaseCreated(count.release, projectID: projectID, in: sql) }
                try sql.run(
                    """
                    INSERT INTO release_sessions (project_id, release, environment, started, exited, errored, crashed, abnormal)
                    VALUES (\(projectID), \(count.release), \(count.environment), \(count.started), \(count.exited),
                        \(count.errored), \(count.crashed), \(count.abnormal))
                    ON CONFLICT (project_id, release, environment) DO UPDATE SET
                        started = \(unescaped: saturatingSum("release_sessions", "started")),
                        exited = \(unescaped: saturatingSum("release_sessions", "exited")),
                        errored = \(unescaped: saturatingSum("release_sessions", "errored")),
                        crashed = \(unescaped: saturatingSum("release_sessions", "crashed")),
                        abnormal = \(unescaped: saturatingSum("release_sessions", "abnormal"))
                    """)
            }
        }
        for discarded in work.discarded {
            try side("client_report") {
                try sql.run(
                    """
                    INSERT INTO discarded_events (project_id, reason, category, quantity)
                    VALUES (\(projectID), \(discarded.reason), \(discarded.category), \(discarded.quantity))
                    ON CONFLICT (project_id, reason, category) DO UPDATE SET
                        quantity = \(unescaped: saturatingSum("discarded_events", "quantity"))
                    """)
            }
        }
        return IngestReceipt(eventStored: stored)
    }
}

/// The writer's connection, leased once and kept while it works: a lease is a task on the cooperative pool, which
/// request tasks keep busy under load, and each batch waited for it twice (to lend the connection and to give it
/// back) on its way to COMMIT (docs/performance.md).
final class KeptConnection: Sendable {
    private let held = Mutex<(lease: PostgresConnectionLease, connection: PostgresConnection)?>(nil)

    /// The kept connection while it is open, else one leased from `pool` (waiting at most `timeout`) and kept.
    func connection(from pool: PostgresClient, within timeout: Duration) throws -> PostgresConnection {
        if let connection = held.withLock({ $0?.connection }), !connection.isClosed { return connection }
        release()
        let lease = PostgresConnectionLease(pool)
        do {
            let connection = try lease.connection(within: timeout)
            held.withLock { $0 = (lease, connection) }
            return connection
        } catch {
            lease.release()
            throw error
        }
    }

    /// The kept connection of `database`'s ingest pool. When none comes within the lease timeout, PostgreSQL is down
    /// or unreachable (the pool keeps trying to connect): logs that `what` is refused and throws ``IngestRefusal``, so
    /// its requests are answered 503 now rather than held until their clients give up.
    func connection(for database: PostgresAppDatabase, refusing what: String) throws -> PostgresConnection {
        do {
            return try connection(from: database.ingestClient, within: PostgresIngestCommitter.leaseTimeout)
        } catch {
            database.logger.warning(
                "\(what) refused: no connection to PostgreSQL",
                metadata: ["spyglass.error": "\(PostgresAppDatabase.reason(error))"])
            throw IngestRefusal(.databaseUnavailable, retryAfter: PostgresIngestCommitter.retryAfter)
        }
    }

    /// Closes a connection that broke (postgres-nio may not have noticed yet: the pool would lend it again), and
    /// gives it back to the pool, which drops it.
    func discard() {
        if let connection = held.withLock({ $0?.connection }) { try? connection.close().wait() }
        release()
    }

    /// Gives the connection back to the pool (at the writer's end, or once closed).
    func release() {
        held.withLock { held in
            defer { held = nil }
            return held?.lease
        }?.release()
    }
}

/// Another writer (a second node) stored what this batch read as absent, between the batch's first read and its
/// write: the grouping hash of an issue the batch creates, or the event id of an event that creates one. The
/// transaction is rolled back and tried again (``PostgresIngestCommitter/commit(_:dictionaries:)``), so no issue is
/// left without its hash or its first event.
struct IngestRace: Error, CustomStringConvertible {
    var description: String
}

/// When the ingest writer last met an event id stored already: for a minute after, its batches look their event ids
/// up before writing (``PostgresIngestCommitter/commit(_:dictionaries:)``), so a client that keeps sending one event
/// again costs each batch the lookup, not a second attempt.
final class DuplicateWatch: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    /// How long batches look their event ids up after one met a stored id.
    static let window: Duration = .seconds(60)

    var metLately: Bool {
        last.withLock { last in last.map { ContinuousClock.now - $0 < Self.window } ?? false }
    }

    func met() { last.withLock { $0 = .now } }
}
