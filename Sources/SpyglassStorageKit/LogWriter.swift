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
    /// per job nil (stored), or the error its request is answered with: a ``DomainError`` of kind `.invalidInput`
    /// when the database refuses that request's lines alone (400: they are left out, SQLite's savepoint per
    /// request, PostgreSQL's requests tried one by one), anything else when they were not stored for the
    /// database's sake (503: the SDK sends them again). Throwing fails the whole batch (nothing of it stored).
    func commit(_ jobs: [PreparedLogLines]) throws -> [(any Error)?]

    /// Called once the log writer has committed its last batch: gives back what the committer held (a connection).
    func finish()

    /// Whether most of a commit's work is done by another process (a database server): the log writer then paces
    /// its commits by the time they take rather than its own thread's CPU time (``LogWriter/busyShare``).
    var worksElsewhere: Bool { get }
}

extension LogBatchCommitter {
    package func finish() {}
    package var worksElsewhere: Bool { false }
}

/// The writer of structured log lines, beside the ingest writer (``IngestWriter``) and apart from it: a database of
/// their own (SQLite's other file; on PostgreSQL a connection of their own), a queue of their own, and two threads
/// of the lowest CPU priority (``LowPriority``), one reading the requests' `log` items while the other commits the
/// lines read before. Error ingest thus never waits for lines in its
/// writer's batches, and whenever it wants the CPU the scheduler gives it to error ingest first (docs/performance.md,
/// "Log lines apart"); while error ingest is busy the threads also keep to ``busyShare`` of a CPU each, since on a VM
/// the CPU error ingest leaves idle is not free. A line is still durable before its request is answered.
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

    /// What the writer's two threads hand each other: the requests read, and whether the reader is done. Only they
    /// take this lock.
    private struct Handoff: Sendable {
        var ready: [(job: Job, lines: PreparedLogLines)] = []
        var readerDone = false
    }

    private let committer: any LogBatchCommitter
    /// Requests not read yet. Request tasks never wait for a lock the writer's threads take: a thread of the lowest
    /// priority that the scheduler stopped while holding one would hold up every request task waiting for it, and
    /// with them the threads of Swift's cooperative pool (error ingest's too), until some CPU had nothing else to do.
    private let inbox = Inbox()
    private let handoff = Mutex(Handoff())
    /// Requests taken and not answered yet (queued, being read, ready or being committed), and their cost.
    private let pending = Atomic<Int>(0)
    private let pendingBytes = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Requests between their look at `stopping` and their request in the inbox (a ``Reservation`` counts until
    /// used or given back): the reader ends only once stopping with none left, so that no request is queued after
    /// it.
    private let entering = Atomic<Int>(0)
    private let running = Mutex(false)
    /// Wake the reading thread (a request queued, or stopping) and the committing one (requests read).
    private let wakeReader = DispatchSemaphore(value: 0)
    private let wakeCommitter = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let logger: Logger?

    /// The share of a CPU each of the writer's threads uses at most while error ingest is busy
    /// (``errorIngestBusy(for:)``): after reading or committing, a thread pauses so that its CPU time is at most this
    /// share of the time passed. 1 never pauses.
    package let busyShare: Double
    /// How long error ingest counts as busy after its writer said so, in nanoseconds.
    private let busyWindow: UInt64
    /// Until when (`DispatchTime.uptimeNanoseconds`) error ingest counts as busy.
    private let busyUntil = Atomic<UInt64>(0)
    /// Nanoseconds the writer's threads paused for error ingest, in all.
    private let paused = Atomic<Int64>(0)

    /// `busyShare` is taken between 0.01 and 1; `busyWindow` is how long error ingest counts as busy after its writer
    /// said so (``errorIngestBusy(for:)``).
    package init(
        committer: any LogBatchCommitter, capacity: Int = 512, maxQueuedBytes: Int = 64 * 1024 * 1024,
        busyShare: Double = LogWriter.defaultBusyShare, busyWindow: Duration = .milliseconds(200), logger: Logger? = nil
    ) {
        self.committer = committer
        self.capacity = capacity
        self.maxQueuedBytes = maxQueuedBytes
        self.busyShare = busyShare.isNaN ? 1 : min(max(busyShare, 0.01), 1)
        self.busyWindow = Self.nanoseconds(busyWindow)
        self.logger = logger
    }

    /// What each of the writer's threads may use of a CPU while error ingest is busy, unless configured.
    package static let defaultBusyShare = 0.01

    /// Reads `unread` (on the writer's thread) after `lines`, stores them all and returns once they are committed,
    /// with the lines stored per level. Throws ``UnreadLogItems/Failure`` for an item that cannot be read (nothing
    /// of the request is stored), ``IngestRefusal`` when the queue is full or the writer stopping, and what the
    /// committer answers a request whose lines were not stored (``LogBatchCommitter/commit(_:)``).
    public func store(
        projectID: Int64, received: Date, lines: [LogRecord], unread: UnreadLogItems?
    ) async throws -> [LogLevel: Int] {
        try await store(reserve(projectID: projectID, received: received, lines: lines, unread: unread))
    }

    /// Takes a place in the queue for a request of these lines, or throws the ``IngestRefusal`` it would be
    /// answered now (full, or stopping). An envelope with more than lines takes its place before the rest is
    /// stored, so that a full queue refuses it whole (its SDK sends it again; stored, its event's sessions and
    /// client reports would count twice), and the lines of an envelope whose rest was stored are never refused
    /// for a queue that filled meanwhile.
    package func reserve(
        projectID: Int64, received: Date, lines: [LogRecord], unread: UnreadLogItems?
    ) throws -> Reservation {
        let cost = Self.cost(lines: lines, unread: unread)
        entering.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if let refusal = admit(cost) {
            leave()
            throw refusal
        }
        return Reservation(
            writer: self, projectID: projectID, received: received, lines: lines, unread: unread, cost: cost)
    }

    /// ``store(projectID:received:lines:unread:)`` for the request `reservation` holds a place for: queued whatever
    /// the queue holds now, stopping or not.
    package func store(_ reservation: Reservation) async throws -> [LogLevel: Int] {
        try await withCheckedThrowingContinuation { continuation in
            guard reservation.take() else {
                continuation.resume(throwing: DomainError(.unavailable, "a place in the log writer's queue used twice"))
                return
            }
            inbox.push(
                Job(
                    projectID: reservation.projectID, received: reservation.received, lines: reservation.lines,
                    unread: reservation.unread, continuation: continuation, cost: reservation.cost))
            leave()
        }
    }

    /// A request's place in the queue (``reserve(projectID:received:lines:unread:)``): it counts in the queue, and a
    /// stopping writer waits for its request, until it is stored (``store(_:)``) or the place is given back when
    /// dropped unused (the envelope's event refused, the request given up).
    package final class Reservation: Sendable {
        fileprivate let projectID: Int64
        fileprivate let received: Date
        fileprivate let lines: [LogRecord]
        fileprivate let unread: UnreadLogItems?
        fileprivate let cost: Int
        private let writer: LogWriter
        private let taken = Atomic<Bool>(false)

        fileprivate init(
            writer: LogWriter, projectID: Int64, received: Date, lines: [LogRecord], unread: UnreadLogItems?, cost: Int
        ) {
            self.writer = writer
            self.projectID = projectID
            self.received = received
            self.lines = lines
            self.unread = unread
            self.cost = cost
        }

        /// True for the first call only.
        fileprivate func take() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }

        deinit {
            guard take() else { return }
            writer.uncount(cost)
            writer.leave()
        }
    }

    /// Counts a request of `cost` bytes in, or says why not: the writer is stopping, or the queue is full (a request
    /// alone is taken whatever its size).
    private func admit(_ cost: Int) -> IngestRefusal? {
        if stopping.load(ordering: .sequentiallyConsistent) { return IngestRefusal(.shuttingDown, retryAfter: 5) }
        let count = pending.wrappingAdd(1, ordering: .relaxed).newValue
        let bytes = pendingBytes.wrappingAdd(cost, ordering: .relaxed).newValue
        guard count > capacity || (count > 1 && bytes > maxQueuedBytes) else { return nil }
        uncount(cost)
        return IngestRefusal(.logQueueFull, retryAfter: 1)
    }

    /// A request of `cost` bytes leaves the queue's counts.
    private func uncount(_ cost: Int) {
        pending.wrappingSubtract(1, ordering: .relaxed)
        pendingBytes.wrappingSubtract(cost, ordering: .relaxed)
    }

    /// A request is queued or gone: no longer entering (a stopping reader may end once none is).
    private func leave() {
        entering.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        wakeReader.signal()
    }

    /// What a request counts in the queue's bytes when it is taken.
    private static func cost(lines: [LogRecord], unread: UnreadLogItems?) -> Int {
        4096 + (unread?.size ?? 0) + size(of: lines)
    }

    /// About the memory `lines` hold.
    private static func size(of lines: [LogRecord]) -> Int {
        lines.reduce(0) { total, line in
            total + 256 + line.body.utf8.count
                + line.attributes.reduce(0) { $0 + 32 + $1.name.utf8.count + $1.value.text.utf8.count }
        }
    }

    /// Requests taken and not answered yet.
    package var depth: Int { pending.load(ordering: .relaxed) }
    /// What they cost (the bound is ``maxQueuedBytes``): their items as received, and their lines once read.
    package var queuedBytes: Int { pendingBytes.load(ordering: .relaxed) }

    /// Starts the writer's threads (once): one reads requests' items while the other commits the lines read before
    /// (and waits for the disk), both at the lowest priority.
    package func start() {
        let start = running.withLock { running in
            defer { running = true }
            return !running
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
        let running = running.withLock { running in
            stopping.store(true, ordering: .sequentiallyConsistent)
            return running
        }
        wakeReader.signal()
        if running { stopped.wait() }
    }

    /// Reads queued requests' items until stopping and drained; one that cannot be read is answered at once and
    /// stores nothing.
    private func readLoop() {
        while true {
            var taken = inbox.takeAll()
            if taken.isEmpty {
                guard stopping.load(ordering: .sequentiallyConsistent) else {
                    wakeReader.wait()
                    continue
                }
                // Stopping: a request task that looked at `stopping` before it was set may still be queueing; once
                // none is, what it queued is in the inbox, and no other comes.
                guard entering.load(ordering: .sequentiallyConsistent) == 0 else {
                    wakeReader.wait()
                    continue
                }
                taken = inbox.takeAll()
                if taken.isEmpty { break }
            }
            let start = Self.threadCPUTime()
            var read: [(job: Job, lines: PreparedLogLines)] = []
            for var job in taken {
                do {
                    var lines = job.lines
                    if let unread = job.unread {
                        let more = try unread.read(received: job.received, alreadyRead: lines.count)
                        lines += more
                        // The lines read now count too (a tiny line is a few times larger read than received).
                        let size = Self.size(of: more)
                        pendingBytes.wrappingAdd(size, ordering: .relaxed)
                        job.cost += size
                    }
                    read.append((job, PreparedLogLines(projectID: job.projectID, received: job.received, lines: lines)))
                } catch {
                    answered([job])
                    job.continuation.resume(throwing: error)
                }
            }
            handoff.withLock { $0.ready += read }
            wakeCommitter.signal()
            pace(working: Self.threadCPUTime() - start)
        }
        handoff.withLock { $0.readerDone = true }
        wakeCommitter.signal()
    }

    /// Commits what was read until the reader is done and nothing is left.
    private func commitLoop() {
        while true {
            let taken: [(job: Job, lines: PreparedLogLines)]? = handoff.withLock { handoff in
                if !handoff.ready.isEmpty {
                    defer { handoff.ready = [] }
                    return handoff.ready
                }
                return handoff.readerDone ? [] : nil
            }
            guard let taken else {
                wakeCommitter.wait()
                continue
            }
            if taken.isEmpty { break }
            let (start, began) = (Self.threadCPUTime(), DispatchTime.now().uptimeNanoseconds)
            commit(taken)
            pace(
                working: committer.worksElsewhere
                    ? Int64(clamping: DispatchTime.now().uptimeNanoseconds &- began) : Self.threadCPUTime() - start)
        }
        committer.finish()
        stopped.signal()
    }

    /// Error ingest is busy (its writer took a batch of several requests, ``IngestWriter``): the log writer's threads
    /// keep to ``busyShare`` of a CPU each for the next `window` (the writer's busy window unless given). Priority
    /// alone does not keep the lines from slowing error ingest: on a VM even a busy loop at the lowest priority does
    /// (docs/performance.md, "What log lines beside cost the error load is the machine's CPU, not their priority").
    package func errorIngestBusy(for window: Duration? = nil) {
        let nanoseconds = window.map(Self.nanoseconds) ?? busyWindow
        busyUntil.store(DispatchTime.now().uptimeNanoseconds &+ nanoseconds, ordering: .relaxed)
    }

    /// `duration` in nanoseconds, 0 when negative, at most about a year.
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return 0 }
        return UInt64(min(seconds, 1 << 25)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// Whether error ingest counts as busy now.
    package var errorIngestIsBusy: Bool {
        busyUntil.load(ordering: .relaxed) > DispatchTime.now().uptimeNanoseconds
    }

    /// Nanoseconds the writer's threads paused for error ingest so far.
    package var pausedNanoseconds: Int64 { paused.load(ordering: .relaxed) }

    /// After `working` nanoseconds of the calling thread's CPU time, pauses it while error ingest is busy, for as
    /// long as keeps that work at ``busyShare`` of the time (in slices, so that it goes on as soon as error ingest
    /// is no longer busy or the writer stops).
    private func pace(working: Int64) {
        guard busyShare < 1, working > 0 else { return }
        // At most a second owed for one batch, whatever the clock said.
        var owed = Int64(min(Double(working) * (1 / busyShare - 1), 1e9))
        while owed > 0, errorIngestIsBusy, !stopping.load(ordering: .relaxed) {
            let slice = min(owed, 10_000_000)
            var time = timespec(tv_sec: 0, tv_nsec: Int(slice))
            nanosleep(&time, nil)
            owed -= slice
            paused.wrappingAdd(slice, ordering: .relaxed)
        }
    }

    /// The calling thread's CPU time in nanoseconds (0 where there is no such clock).
    private static func threadCPUTime() -> Int64 {
        #if canImport(Glibc)
        var time = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return 0 }
        return Int64(time.tv_sec) &* 1_000_000_000 &+ Int64(time.tv_nsec)
        #else
        return 0
        #endif
    }

    /// `jobs` leave the count of pending requests.
    private func answered(_ jobs: [Job]) {
        pending.wrappingSubtract(jobs.count, ordering: .relaxed)
        pendingBytes.wrappingSubtract(jobs.reduce(0) { $0 + $1.cost }, ordering: .relaxed)
    }

    /// Commits `jobs` and answers them, each once it no longer counts in the queue.
    private func commit(_ jobs: [(job: Job, lines: PreparedLogLines)]) {
        let outcomes: [Result<[LogLevel: Int], any Error>]
        do {
            let errors = try committer.commit(jobs.map(\.lines))
            outcomes = jobs.indices.map { index in
                let error = index < errors.count ? errors[index] : IngestRefusal(.databaseUnavailable, retryAfter: 5)
                guard let error else { return .success(LogLevel.counts(jobs[index].lines.lines)) }
                logger?.error("log lines not stored", metadata: ["spyglass.item": "log", "error": "\(error)"])
                return .failure(error)
            }
        } catch {
            logger?.warning("log batch failed", metadata: ["error": "\(error)", "spyglass.jobs": "\(jobs.count)"])
            outcomes = jobs.map { _ in .failure(error) }
        }
        answered(jobs.map(\.job))
        for ((job, _), outcome) in zip(jobs, outcomes) { job.continuation.resume(with: outcome) }
    }
}

extension LogWriter {
    /// Requests waiting to be read: request tasks push theirs without a lock, and the reading thread takes all of
    /// them at once (a stack of nodes whose top is swapped atomically; taking everything leaves no node another
    /// thread could still be reading, so no tag against reuse is needed).
    private final class Inbox: @unchecked Sendable {
        private struct Node {
            var job: Job
            var next: UnsafeMutablePointer<Node>?
        }

        /// The request queued last; its node leads to the ones before. Nodes belong to the stack until taken.
        private let top = Atomic<UnsafeMutablePointer<Node>?>(nil)

        func push(_ job: Job) {
            let node = UnsafeMutablePointer<Node>.allocate(capacity: 1)
            node.initialize(to: Node(job: job, next: nil))
            var expected = top.load(ordering: .relaxed)
            while true {
                node.pointee.next = expected
                let (exchanged, found) = top.compareExchange(
                    expected: expected, desired: node, successOrdering: .releasing, failureOrdering: .relaxed)
                if exchanged { return }
                expected = found
            }
        }

        /// Every request queued, oldest first.
        func takeAll() -> [Job] {
            var node = top.exchange(nil, ordering: .acquiring)
            var jobs: [Job] = []
            while let current = node {
                let taken = current.move()
                current.deallocate()
                jobs.append(taken.job)
                node = taken.next
            }
            return jobs.reversed()
        }

        deinit {
            // Requests still here when a writer that never ran goes are refused, not left waiting.
            for job in takeAll() { job.continuation.resume(throwing: IngestRefusal(.shuttingDown, retryAfter: 5)) }
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
