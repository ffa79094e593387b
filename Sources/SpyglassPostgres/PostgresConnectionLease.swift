import Dispatch
import PostgresNIO
import SpyglassStorageKit
import Synchronization

/// A connection of a postgres-nio pool, held for its borrower by a task of its own until ``release()``, and
/// waited for at most a given time: while PostgreSQL is down the pool keeps trying to connect and would hold a
/// request in its queue for up to a minute (its circuit breaker), so a borrower gives up sooner and says so
/// (``LeaseTimeout``), and the pool forgets the request.
///
/// The ingest writer's thread waits for one blocking, a task awaits one (`connection(within:)`, synchronous or
/// async). One lease lends one connection once.
final class PostgresConnectionLease: Sendable {
    private struct State {
        /// The borrower's answer, once given: the connection, the pool's error, or the borrower gave up.
        var answer: Result<PostgresConnection, any Error>?
        /// A task awaiting the answer.
        var waiter: CheckedContinuation<PostgresConnection, any Error>?
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let answered = DispatchSemaphore(value: 0)
    private let done: AsyncStream<Never>.Continuation

    /// Asks `pool` for a connection at once.
    init(_ pool: PostgresClient) {
        let (released, done) = AsyncStream<Never>.makeStream()
        self.done = done
        let task = Task {
            // The pool may lend a connection PostgreSQL has just closed, before it learns of the close; a statement
            // written to it would never be answered (`IngestSQL.wait`). It goes back (the pool drops it) and another
            // is asked for, a few times, a moment apart; then the borrower is told.
            for attempt in 1...Self.attempts {
                do {
                    let lent = try await pool.withConnection { connection in
                        if connection.isClosed { return false }
                        // A connection that comes after the borrower gave up goes straight back.
                        guard self.answer(.success(connection)) else { return true }
                        for await _ in released {}
                        return true
                    }
                    if lent { return }
                } catch {
                    self.answer(.failure(error))
                    return
                }
                if attempt < Self.attempts { try? await Task.sleep(for: .milliseconds(10 * attempt)) }
            }
            self.answer(.failure(PostgresError.connectionClosed))
        }
        state.withLock { $0.task = task }
    }

    /// How many connections a lease asks for when the pool lends closed ones (10, 20, … 70 ms apart): the pool drops
    /// a closed connection only once its event loop has seen the close, which a busy machine delays.
    static let attempts = 8

    /// Settles the borrower's answer if it is not settled yet; whether it was.
    @discardableResult
    private func answer(_ result: Result<PostgresConnection, any Error>) -> Bool {
        let waiter: CheckedContinuation<PostgresConnection, any Error>?? = state.withLock { state in
            guard state.answer == nil else { return .none }
            state.answer = result
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard case .some(let waiter) = waiter else { return false }
        answered.signal()
        waiter?.resume(with: result)
        return true
    }

    /// Gives up waiting: the pool forgets the request (a connection it lends later goes back at once).
    private func giveUp(_ error: any Error) {
        if answer(.failure(error)) { state.withLock { $0.task }?.cancel() }
    }

    private var settled: Result<PostgresConnection, any Error> {
        state.withLock { $0.answer } ?? .failure(CancellationError())
    }

    /// Blocks the calling thread until the pool lends the connection, fails to, or `timeout` has passed.
    func connection(within timeout: Duration) throws -> PostgresConnection {
        if answered.wait(timeout: .now() + .nanoseconds(Int(timeout.nanosecondsClamped))) == .timedOut {
            giveUp(LeaseTimeout(timeout: timeout))
        }
        return try settled.get()
    }

    /// Awaits the connection until the pool lends it, fails to, or `timeout` has passed; a cancelled task gives up.
    func connection(within timeout: Duration) async throws -> PostgresConnection {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { giveUp(LeaseTimeout(timeout: timeout)) }
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<PostgresConnection, any Error>) in
                let answer: Result<PostgresConnection, any Error>? = state.withLock { state in
                    if state.answer == nil { state.waiter = waiter }
                    return state.answer
                }
                if let answer { waiter.resume(with: answer) }
            }
        } onCancel: {
            giveUp(CancellationError())
        }
    }

    /// Gives the connection back to the pool.
    func release() { done.finish() }
}

/// The pool lent no connection in time (PostgreSQL down or unreachable while the pool keeps trying).
struct LeaseTimeout: Error, CustomStringConvertible {
    var timeout: Duration
    var description: String { "no connection to PostgreSQL within \(timeout)" }
}
