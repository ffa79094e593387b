import Foundation
import GRDB
import Logging
import Metrics
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import Synchronization

/// The single writer of ingested data, with group commit.
///
/// Requests hand their work to ``ingest(_:)`` and wait; the writer takes everything queued (up to
/// ``maxBatch`` jobs) into one SQLite transaction, commits (fsync), and only then answers each request.
/// Many concurrent events so cost one disk sync, not one each. The queue is bounded: when it holds
/// ``capacity`` jobs, new work is refused at once (the request answers 429) instead of growing memory.
public final class IngestWriter: IngestSink, Service {
    /// Jobs waiting at most before new ones are refused.
    public let capacity: Int
    /// Jobs committed in one transaction at most.
    public let maxBatch: Int
    /// Bytes the queued jobs may hold at most (compressed payloads and attachments, plus 4 KiB a job).
    public let maxQueuedBytes: Int
    /// Whether events are stored as what differs from their primary hash's first event (``PayloadDictionary``,
    /// ``PayloadDelta``): in the benchmark about a quarter of the database per event, at the same throughput.
    /// Events stored either way are read either way.
    public let compactEvents: Bool

    private struct Job {
        var work: IngestWork
        var payload: PayloadPlan?
        var continuation: CheckedContinuation<IngestReceipt, any Error>
        var cost: Int
    }

    private struct State {
        var queue: [Job] = []
        var finished: CheckedContinuation<Void, Never>?
        var stopping = false
        var queuedBytes = 0
        var count: Int { queue.count }
    }

    private let database: AppDatabase
    private let state = Mutex(State())
    /// Dictionaries of recently seen hashes (``PayloadDictionary``), for compressing events against them.
    let dictionaries = PayloadDictionaryCache()
    /// Wakes the writer thread: one signal per job queued, and one to stop.
    private let wakeUp = DispatchSemaphore(value: 0)
    private let queueDepth: Gauge
    private let commitTimer: Timer
    /// The part of a commit spent on the batch's statements; the rest is COMMIT itself (WAL writes, sync,
    /// checkpoints).
    private let statementsTimer: Timer
    private let logger: Logger?
    /// Side items (attachments, user reports, sessions, client reports) that could not be stored.
    private let droppedSideItems: Counter

    public init(
        database: AppDatabase, capacity: Int = 10_000, maxBatch: Int = 500, maxQueuedBytes: Int = 512 * 1024 * 1024,
        compactEvents: Bool = true, metrics: any MetricsFactory, logger: Logger? = nil
    ) {
        self.database = database
        self.compactEvents = compactEvents
        self.capacity = capacity
        self.maxBatch = maxBatch
        self.maxQueuedBytes = maxQueuedBytes
        self.queueDepth = Gauge(label: "spyglass_ingest_queue_depth", factory: metrics)
        self.commitTimer = Timer(label: "spyglass_ingest_commit_seconds", factory: metrics)
        self.statementsTimer = Timer(label: "spyglass_ingest_statements_seconds", factory: metrics)
        self.droppedSideItems = Counter(label: "spyglass_ingest_side_items_dropped_total", factory: metrics)
        self.logger = logger
    }

    /// Queues `work` and returns once it is committed.
    public func ingest(_ work: IngestWork) async throws -> IngestReceipt {
        // Compression happens here, on the request's task, so the single writer only writes.
        var work = work
        let payload = work.event.map { event in
            compactEvents
                ? PayloadPlan.prepare(event, projectID: work.projectID, dictionaries: dictionaries)
                : PayloadPlan.stored(event)
        }
        // The writer needs the event's fields, not its parsed tree or raw bytes (the payload holds them): let
        // them go before queueing, so what waits is what the cost below counts.
        work.event?.payload = .null
        work.event?.raw = nil
        work.event?.rawBody = nil
        let cost = 4096 + (payload?.size ?? 0) + work.attachments.reduce(0) { $0 + $1.data.count }
        return try await withCheckedThrowingContinuation { continuation in
            let outcome: Result<Int, IngestRefusal> = state.withLock { state in
                if state.stopping { return .failure(IngestRefusal(.shuttingDown, retryAfter: 5)) }
                guard state.count < capacity, state.count == 0 || state.queuedBytes + cost <= maxQueuedBytes else {
                    return .failure(IngestRefusal(.queueFull, retryAfter: 1))
                }
                state.queuedBytes += cost
                state.queue.append(Job(work: work, payload: payload, continuation: continuation, cost: cost))
                return .success(state.count)
            }
            switch outcome {
            case .success(let depth):
                queueDepth.record(depth)
                wakeUp.signal()
            case .failure(let refusal):
                continuation.resume(throwing: refusal)
            }
        }
    }

    /// Jobs queued now.
    public var depth: Int { state.withLock { $0.count } }

    /// Commits batches until graceful shutdown, then drains what is queued and returns.
    ///
    /// The commits run on a thread of their own with GRDB's blocking API, so a busy cooperative thread pool
    /// (request processing) never delays the commit that requests are waiting for.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    state.withLock { $0.finished = finished }
                    let thread = Thread { [self] in self.loop() }
                    thread.name = "spyglass-ingest-writer"
                    thread.start()
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Refuses new work; the thread commits what is queued, then ends.
    private func stop() {
        state.withLock { $0.stopping = true }
        wakeUp.signal()
    }

    private func loop() {
        while let batch = nextBatch() {
            commit(batch)
        }
        let finished = state.withLock { state in
            defer { state.finished = nil }
            return state.finished
        }
        finished?.resume()
    }

    /// The next jobs to commit, waiting for some; `nil` once stopping and drained.
    private func nextBatch() -> [Job]? {
        while true {
            let taken: [Job]? = state.withLock { state in
                if state.count > 0 {
                    // Taken jobs leave the queue at once (nothing committed stays referenced from it). Usually
                    // the whole queue fits in a batch and is swapped out; a longer one loses its first part.
                    let batch: [Job]
                    if state.queue.count <= maxBatch {
                        batch = state.queue
                        state.queue = []
                        state.queue.reserveCapacity(batch.count)
                    } else {
                        batch = Array(state.queue.prefix(maxBatch))
                        state.queue.removeFirst(maxBatch)
                    }
                    state.queuedBytes -= batch.reduce(0) { $0 + $1.cost }
                    return batch
                }
                return state.stopping ? [] : nil
            }
            if let taken {
                queueDepth.record(depth)
                return taken.isEmpty ? nil : taken
            }
            wakeUp.wait()
        }
    }

    private func commit(_ batch: [Job]) {
        let start = ContinuousClock.now
        do {
            let receipts = try commitTransaction(batch)
            commitTimer.recordNanoseconds((ContinuousClock.now - start).nanosecondsClamped)
            for (job, receipt) in zip(batch, receipts) { job.continuation.resume(returning: receipt) }
        } catch {
            // One job may have failed the whole batch: commit each alone so only that one fails.
            logger?.warning("ingest batch failed, retrying jobs one by one", metadata: ["error": "\(error)"])
            for job in batch {
                do {
                    let receipts = try commitTransaction([job])
                    job.continuation.resume(returning: receipts[0])
                } catch {
                    job.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Stores the jobs in the current transaction, sharing what they can (``WriterBatch``). The dictionaries it
    /// wrote or read reach the cache once the transaction commits.
    private static func store(
        _ jobs: [Job], dictionaries: PayloadDictionaryCache, in db: Database
    ) throws -> (receipts: [IngestReceipt], batch: WriterBatch) {
        let shared = WriterBatch(dictionaries: dictionaries)
        let receipts = try jobs.map { job in try store(job.work, payload: job.payload, batch: shared, in: db) }
        try shared.finish(db)
        return (receipts, shared)
    }

    /// Commits `jobs` in one transaction; then the dictionaries it wrote or read go to the cache.
    private func commitTransaction(_ jobs: [Job]) throws -> [IngestReceipt] {
        let start = ContinuousClock.now
        let (receipts, batch) = try database.writer.write { db in
            defer { statementsTimer.recordNanoseconds((ContinuousClock.now - start).nanosecondsClamped) }
            return try Self.store(jobs, dictionaries: dictionaries, in: db)
        }
        for (key, dictionary) in batch.dictionariesToCache { dictionaries.insert(dictionary, for: key) }
        for (kind, error) in batch.droppedSideItems {
            droppedSideItems.increment()
            logger?.error("an envelope item could not be stored; its event was", metadata: ["spyglass.item": "\(kind)", "error": "\(error)"])
        }
        return receipts
    }

    private static func store(
        _ work: IngestWork, payload: PayloadPlan?, batch: WriterBatch, in db: Database
    ) throws -> IngestReceipt {
        var stored = false
        if let event = work.event, let payload {
            stored = try EventRows.insert(event, payload: payload, projectID: work.projectID, batch: batch, in: db)
        }
        let now = Date.now.timeIntervalSince1970
        // Side items never cost their envelope's event: each is stored in a savepoint of its own, and one that
        // cannot be stored is rolled back alone, logged and counted after the commit.
        func side(_ kind: String, _ write: () throws -> Void) {
            do {
                try db.inSavepoint {
                    try write()
                    return .commit
                }
            } catch {
                batch.droppedSideItems.append((kind, "\(error)"))
            }
        }
        // Attachments of a duplicate event were stored with the first copy.
        for attachment in work.attachments where stored || work.event?.eventID != attachment.eventID {
            side("attachment") {
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
            side("user_report") {
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
            side("session") {
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
            side("client_report") {
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

extension Duration {
    /// Whole nanoseconds, saturating at Int64.max.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product &+ attoseconds / 1_000_000_000
    }
}
