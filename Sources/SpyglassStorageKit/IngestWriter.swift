import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SpyglassCore
import SpyglassProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Work as the writer commits it: what a request brought, and how its event's payload is to be stored.
package struct PreparedIngest: Sendable {
    package var work: IngestWork
    package var payload: PayloadPlan?

    /// Prepares `work` as the writer queues it: its event's payload planned (compressed against `dictionaries` when
    /// `compactEvents`), and the event's parsed tree and raw bytes let go (the payload holds them).
    package init(_ work: IngestWork, compactEvents: Bool, dictionaries: PayloadDictionaryCache) {
        var work = work
        payload = work.event.map { event in
            compactEvents
                ? PayloadPlan.prepare(event, projectID: work.projectID, dictionaries: dictionaries)
                : PayloadPlan.stored(event)
        }
        work.event?.payload = .null
        work.event?.raw = nil
        work.event?.rawBody = nil
        self.work = work
    }
}

/// What committing a batch gave: a receipt per job, and the side items that could not be stored (kind, error).
package struct CommittedBatch: Sendable {
    package var receipts: [IngestReceipt]
    package var droppedSideItems: [(kind: String, error: String)]

    package init(receipts: [IngestReceipt], droppedSideItems: [(kind: String, error: String)] = []) {
        self.receipts = receipts
        self.droppedSideItems = droppedSideItems
    }
}

/// A backend's side of the writer: stores a batch of jobs in one transaction.
package protocol IngestBatchCommitter: Sendable {
    /// Stores `jobs` in one transaction and commits it durably (called on the writer's own thread, one batch at a
    /// time, so it may block); returns a receipt per job, in order. Throwing fails the whole batch: the writer then
    /// commits each job alone, so only a job at fault fails; except ``IngestRefusal`` (the database cannot be
    /// reached), which answers every job of the batch at once.
    func commit(_ jobs: [PreparedIngest], dictionaries: PayloadDictionaryCache) throws -> CommittedBatch

    /// Called once the writer has committed its last batch: gives back what the committer held (a connection).
    func finish()
}

extension IngestBatchCommitter {
    package func finish() {}
}

/// The single writer of ingested data, with group commit, for any backend (``IngestBatchCommitter``).
///
/// Requests hand their work to ``ingest(_:)`` and wait; the writer takes everything queued (up to
/// ``maxBatch`` jobs) into one transaction, commits (fsync), and only then answers each request.
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
    /// ``PayloadDelta``): far less database per event, at the same throughput (docs/performance.md).
    /// Events stored either way are read either way.
    public let compactEvents: Bool

    private struct Job {
        var prepared: PreparedIngest
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

    private let committer: any IngestBatchCommitter
    /// Where log lines go: this writer's jobs never carry any.
    package let logWriter: LogWriter
    private let state = Mutex(State())
    /// Dictionaries of recently seen hashes (``PayloadDictionary``), for compressing events against them.
    package let dictionaries = PayloadDictionaryCache()
    /// Wakes the writer thread: one signal per job queued, and one to stop.
    private let wakeUp = DispatchSemaphore(value: 0)
    private let queueDepth: Gauge
    private let commitTimer: Timer
    private let logger: Logger?
    /// Side items (attachments, user reports, sessions, client reports) that could not be stored.
    private let droppedSideItems: Counter

    package init(
        committer: any IngestBatchCommitter, capacity: Int = 10_000, maxBatch: Int = 500,
        maxQueuedBytes: Int = 512 * 1024 * 1024, compactEvents: Bool = true, logWriter: LogWriter,
        metrics: any MetricsFactory, logger: Logger? = nil
    ) {
        self.committer = committer
        self.logWriter = logWriter
        self.compactEvents = compactEvents
        self.capacity = capacity
        self.maxBatch = maxBatch
        self.maxQueuedBytes = maxQueuedBytes
        self.queueDepth = Gauge(label: "spyglass_ingest_queue_depth", factory: metrics)
        self.commitTimer = Timer(label: "spyglass_ingest_commit_seconds", factory: metrics)
        self.droppedSideItems = Counter(label: "spyglass_ingest_side_items_dropped_total", factory: metrics)
        self.logger = logger
    }

    /// Queues `work` and returns once it is committed; its log lines go to the ``logWriter``. Unread `log` items
    /// of an envelope with more than lines are read first (throwing ``UnreadLogItems/Failure``, nothing stored);
    /// an envelope of lines alone leaves the reading to the log writer.
    public func ingest(_ work: IngestWork) async throws -> IngestReceipt {
        var work = work
        if let unread = work.unreadLogs, !work.onlyLogs {
            work.logs += try unread.read(received: work.received, alreadyRead: work.logs.count)
            work.unreadLogs = nil
        }
        guard !work.logs.isEmpty || work.unreadLogs != nil else { return try await enqueue(work) }
        // The lines' place in the log writer's queue first (a full queue refuses the envelope whole), then the rest
        // (an envelope's event is stored even if its lines then fail), then the lines.
        let (lines, unread) = (work.logs, work.unreadLogs)
        work.logs = []
        work.unreadLogs = nil
        let reservation = try logWriter.reserve(
            projectID: work.projectID, received: work.received, lines: lines, unread: unread)
        var receipt = work.isEmpty ? IngestReceipt(eventStored: false) : try await enqueue(work)
        receipt.logLines = try await logWriter.store(reservation)
        return receipt
    }

    private func enqueue(_ work: IngestWork) async throws -> IngestReceipt {
        // Compression happens here, on the request's task, so the single writer only writes. What waits is what the
        // cost below counts: the event's parsed tree and raw bytes are let go.
        let prepared = PreparedIngest(work, compactEvents: compactEvents, dictionaries: dictionaries)
        let cost = 4096 + (prepared.payload?.size ?? 0) + prepared.work.attachments.reduce(0) { $0 + $1.data.count }
        return try await withCheckedThrowingContinuation { continuation in
            let outcome: Result<Int, IngestRefusal> = state.withLock { state in
                if state.stopping { return .failure(IngestRefusal(.shuttingDown, retryAfter: 5)) }
                guard state.count < capacity, state.count == 0 || state.queuedBytes + cost <= maxQueuedBytes else {
                    return .failure(IngestRefusal(.queueFull, retryAfter: 1))
                }
                state.queuedBytes += cost
                state.queue.append(Job(prepared: prepared, continuation: continuation, cost: cost))
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

    /// A batch of at least this many requests makes error ingest busy for the log writer
    /// (``LogWriter/errorIngestBusy(for:)``): they came while the batch before was committing, a few milliseconds.
    package static let busyBatch = 4

    /// Commits batches until graceful shutdown, then drains what is queued and returns.
    ///
    /// The commits run on a thread of their own (a backend may block it), so a busy cooperative thread pool
    /// (request processing) never delays the commit that requests are waiting for.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    state.withLock { $0.finished = finished }
                    logWriter.start()
                    let thread = Thread { [self] in
                        Thread.nameForSystem("spyglass-ingest")
                        self.loop()
                    }
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
        // The lines' writer is stopped (and waited for) by the loop once this one is drained.
    }

    private func loop() {
        while let batch = nextBatch() {
            commit(batch)
        }
        logWriter.stopAndWait()
        committer.finish()
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
                // Requests queued while the last batch committed: error ingest is busy, and the log lines keep to
                // their share of the CPU for a while.
                if taken.count >= Self.busyBatch { logWriter.errorIngestBusy() }
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
        } catch let refusal as IngestRefusal {
            // The database cannot be reached: no job is at fault, and each alone would wait as long again.
            logger?.warning(
                "ingest batch refused: the database cannot be reached", metadata: ["spyglass.jobs": "\(batch.count)"])
            for job in batch { job.continuation.resume(throwing: refusal) }
        } catch {
            // One job may have failed the whole batch: commit each alone so only that one fails.
            logger?.warning("ingest batch failed, retrying jobs one by one", metadata: ["error": "\(error)"])
            var refusal: IngestRefusal?
            for job in batch {
                if let refusal {
                    job.continuation.resume(throwing: refusal)
                    continue
                }
                do {
                    let receipts = try commitTransaction([job])
                    job.continuation.resume(returning: receipts[0])
                } catch let error as IngestRefusal {
                    refusal = error
                    job.continuation.resume(throwing: error)
                } catch {
                    job.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// Commits `jobs` in one transaction; counts and logs the side items that could not be stored.
    private func commitTransaction(_ jobs: [Job]) throws -> [IngestReceipt] {
        let batch = try committer.commit(jobs.map(\.prepared), dictionaries: dictionaries)
        for (kind, error) in batch.droppedSideItems {
            droppedSideItems.increment()
            logger?.error("an envelope item could not be stored; its event was", metadata: ["spyglass.item": "\(kind)", "error": "\(error)"])
        }
        return batch.receipts
    }
}

extension Thread {
    /// Names the calling thread as `top -H`, `ps -L` and perf show it (at most 15 bytes; Foundation's `name` is not
    /// passed on to the system on Linux).
    package static func nameForSystem(_ name: String) {
        #if canImport(Glibc)
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        #endif
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at Int64.max.
    package var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product &+ attoseconds / 1_000_000_000
    }
}
