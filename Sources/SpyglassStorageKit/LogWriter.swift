import Foundation
import Logging
import Metrics
import SpyglassCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One request's log lines as the log writer stores them: read, with each line's attributes as stored.
package struct PreparedLogLines: Sendable {
    package var projectID: Int64
    package var received: Date
    package var lines: [LogRecord]
    /// Each line's ``LogRecord/attributesJSON``.
    package var attributes: [String]

    package init(projectID: Int64, received: Date, lines: [LogRecord]) {
        self.projectID = projectID
        self.received = received
        self.lines = lines
        self.attributes = lines.map(\.attributesJSON)
    }
}

/// A backend's side of the log writer: stores the lines of several requests together.
package protocol LogBatchCommitter: Sendable {
    /// Stores `jobs` and commits them durably (on the log writer's committing thread, one batch at a time); returns
    /// per job nil, or why its lines could not be stored (they alone are then left out: SQLite's savepoint per
    /// request, PostgreSQL's requests tried one by one). Throwing fails the whole batch.
    func commit(_ jobs: [PreparedLogLines]) throws -> [String?]

    /// Called once the log writer has committed its last batch: gives back what the committer held (a connection).
    func finish()
}

extension LogBatchCommitter {
    package func finish() {}
}

/// The writer of structured log lines, beside the ingest writer (``IngestWriter``) and apart from it: a database of
/// their own (SQLite's other file; on PostgreSQL a connection of their own), a queue of their own, and two threads
/// of the lowest CPU priority (``LowPriority``), one reading the requests' `log` items while the other commits the
/// lines read before. Error ingest thus never waits for lines in its
/// writer's batches, and whenever it wants the CPU the scheduler gives it to error ingest first (docs/performance.md,
/// "Log lines apart"). A line is still durable before its request is answered.
public final class LogWriter: Sendable {
    /// Requests waiting at most before new ones are refused (429). Few: a waiting request holds its connection, and
    /// when error ingest takes every CPU the log writer waits, so lines are refused (SDKs retry after the 429's
    /// Retry-After) rather than pile up connections that error ingest needs.
    public let capacity: Int
    /// Bytes the queued requests may hold at most (their items as received, or their lines).
    public let maxQueuedBytes: Int

    private struct Job: Sendable {
        var projectID: Int64
        var received: Date
        var lines: [LogRecord]
        var unread: UnreadLogItems?
        var continuation: CheckedContinuation<[LogLevel: Int], any Error>
        var cost: Int
    }

    private struct State: Sendable {
        /// Requests not read yet.
        var queue: [Job] = []
        /// Requests read, waiting for the commit.
        var ready: [(job: Job, lines: PreparedLogLines)] = []
        /// Requests taken and not answered yet (queued, being read, ready or being committed), and their cost.
        var pending = 0
        var pendingBytes = 0
        var stopping = false
        var readerDone = false
        var running = false
    }

    private let committer: any LogBatchCommitter
    private let state = Mutex(State())
    /// Wake the reading thread (a request queued, or stopping) and the committing one (requests read).
    private let wakeReader = DispatchSemaphore(value: 0)
    private let wakeCommitter = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let droppedSideItems: Counter
    private let logger: Logger?

    package init(
        committer: any LogBatchCommitter, capacity: Int = 512, maxQueuedBytes: Int = 64 * 1024 * 1024,
        metrics: any MetricsFactory, logger: Logger? = nil
    ) {
        self.committer = committer
        self.capacity = capacity
        self.maxQueuedBytes = maxQueuedBytes
        self.droppedSideItems = Counter(label: "spyglass_ingest_side_items_dropped_total", factory: metrics)
        self.logger = logger
    }

    /// Reads `unread` (on the writer's thread) after `lines`, stores them all and returns once they are committed,
    /// with the lines stored per level. Throws ``UnreadLogItems/Failure`` for an item that cannot be read (nothing
    /// of the request is stored), ``IngestRefusal`` when the queue is full or the writer stopping.
    public func store(
        projectID: Int64, received: Date, lines: [LogRecord], unread: UnreadLogItems?
    ) async throws -> [LogLevel: Int] {
        let cost = 4096 + (unread?.size ?? 0)
            + lines.reduce(0) { total, line in
                total + 256 + line.body.utf8.count
                    + line.attributes.reduce(0) { $0 + 32 + $1.name.utf8.count + $1.value.text.utf8.count }
            }
        return try await withCheckedThrowingContinuation { continuation in
            let refusal: IngestRefusal? = state.withLock { state in
                if state.stopping { return IngestRefusal(.shuttingDown, retryAfter: 5) }
                guard state.pending < capacity, state.pending == 0 || state.pendingBytes + cost <= maxQueuedBytes
                else { return IngestRefusal(.queueFull, retryAfter: 1) }
                state.pending += 1
                state.pendingBytes += cost
                state.queue.append(
                    Job(
                        projectID: projectID, received: received, lines: lines, unread: unread,
                        continuation: continuation, cost: cost))
                return nil
            }
            if let refusal { continuation.resume(throwing: refusal) } else { wakeReader.signal() }
        }
    }

    /// Requests taken and not answered yet.
    package var depth: Int { state.withLock { $0.pending } }

    /// Starts the writer's threads (once): one reads requests' items while the other commits the lines read before
    /// (and waits for the disk), both at the lowest priority.
    package func start() {
        let start = state.withLock { state in
            defer { state.running = true }
            return !state.running
        }
        guard start else { return }
        for (name, loop) in [("spyglass-logrd", readLoop), ("spyglass-logs", commitLoop)] {
            let thread = Thread { [self] in
                if let failure = LowPriority.enter() {
                    logger?.warning("the log writer's thread keeps its priority", metadata: ["error": "\(failure)"])
                }
                Thread.nameForSystem(name)
                loop()
            }
            thread.start()
        }
    }

    /// Refuses new requests, commits what is queued and returns once the threads have ended (at once if they never
    /// ran).
    package func stopAndWait() {
        let running = state.withLock { state in
            state.stopping = true
            return state.running
        }
        wakeReader.signal()
        if running { stopped.wait() }
    }

    /// Reads queued requests' items until stopping and drained; one that cannot be read is answered at once and
    /// stores nothing.
    private func readLoop() {
        while true {
            let taken: [Job]? = state.withLock { state in
                if !state.queue.isEmpty {
                    defer { state.queue = [] }
                    return state.queue
                }
                if state.stopping { state.readerDone = true }
                return state.stopping ? [] : nil
            }
            guard let taken else {
                wakeReader.wait()
                continue
            }
            if taken.isEmpty { break }
            var read: [(job: Job, lines: PreparedLogLines)] = []
            for job in taken {
                do {
                    var lines = job.lines
                    if let unread = job.unread { lines += try unread.read(received: job.received, alreadyRead: lines.count) }
                    read.append((job, PreparedLogLines(projectID: job.projectID, received: job.received, lines: lines)))
                } catch {
                    answered([job])
                    job.continuation.resume(throwing: error)
                }
            }
            state.withLock { $0.ready += read }
            wakeCommitter.signal()
        }
        wakeCommitter.signal()
    }

    /// Commits what was read until the reader is done and nothing is left.
    private func commitLoop() {
        while true {
            let taken: [(job: Job, lines: PreparedLogLines)]? = state.withLock { state in
                if !state.ready.isEmpty {
                    defer { state.ready = [] }
                    return state.ready
                }
                return state.readerDone ? [] : nil
            }
            guard let taken else {
                wakeCommitter.wait()
                continue
            }
            if taken.isEmpty { break }
            commit(taken)
        }
        committer.finish()
        stopped.signal()
    }

    /// `jobs` leave the count of pending requests.
    private func answered(_ jobs: [Job]) {
        state.withLock { state in
            state.pending -= jobs.count
            state.pendingBytes -= jobs.reduce(0) { $0 + $1.cost }
        }
    }

    private func commit(_ jobs: [(job: Job, lines: PreparedLogLines)]) {
        defer { answered(jobs.map(\.job)) }
        do {
            let dropped = try committer.commit(jobs.map(\.lines))
            for ((job, prepared), error) in zip(jobs, dropped) {
                if let error {
                    droppedSideItems.increment()
                    logger?.error(
                        "log lines could not be stored", metadata: ["spyglass.item": "log", "error": "\(error)"])
                    job.continuation.resume(returning: [:])
                } else {
                    job.continuation.resume(returning: LogLevel.counts(prepared.lines))
                }
            }
        } catch {
            logger?.warning("log batch failed", metadata: ["error": "\(error)", "spyglass.jobs": "\(jobs.count)"])
            for (job, _) in jobs { job.continuation.resume(throwing: error) }
        }
    }
}

/// The lowest CPU priority Linux gives a thread: `SCHED_IDLE`, or nice 19 where that is refused. An idle thread runs
/// when no other thread of the machine wants its CPU, and a thread that wakes takes the CPU from it at once: with
/// nice 19 alone the log writer took about three times as much of error ingest's throughput (docs/performance.md,
/// "Log lines apart"). Linux keeps both per thread, and changing the calling thread's needs no privilege.
package enum LowPriority {
    /// Puts the calling thread at the lowest priority; returns what failed, or nil.
    package static func enter() -> String? {
        #if canImport(Glibc)
        var parameters = sched_param()
        parameters.sched_priority = 0
        // SCHED_IDLE (5): not among Glibc's imported constants.
        if sched_setscheduler(0, 5, &parameters) == 0 { return nil }
        let idleError = errno
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19) == 0 { return nil }
        return "SCHED_IDLE: errno \(idleError), nice 19: errno \(errno)"
        #else
        return "no thread priorities on this system"
        #endif
    }
}
