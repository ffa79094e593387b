import Logging
import NIOCore
import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// `query`'s rows, all of them; or `PostgresError.connectionClosed` once the connection is closed.
    ///
    /// Every query of the API and the services goes through here, not through postgres-nio's `query`: that writes a
    /// query to the connection's channel without a promise, and one written after the channel closed (PostgreSQL went
    /// away in the moment after the pool lent the connection) is never answered: the request would wait for good and
    /// keep its connection leased. ``IngestSQL/wait(_:)`` does the same for the writer's thread.
    @discardableResult
    func answer(_ query: PostgresQuery, logger: Logger) async throws -> PostgresQueryResult {
        let future: EventLoopFuture<PostgresQueryResult> = self.query(query, logger: logger)
        return try await ClosingConnections.shared.answer(future, on: self)
    }
}

/// The queries awaiting answers on each connection, failed when it closes: one callback on a connection's close
/// future for its life (a future keeps its callbacks until it completes), not one per query.
final class ClosingConnections: Sendable {
    static let shared = ClosingConnections()

    private struct Watched {
        /// Each waiting query's way to fail, by its number.
        var waiters: [UInt64: @Sendable () -> Void] = [:]
    }

    private struct State {
        var next: UInt64 = 0
        /// By connection, until it closes (its close future then removes it).
        var connections: [ObjectIdentifier: Watched] = [:]
    }

    private let state = Mutex(State())

    /// `future`'s result, or `PostgresError.connectionClosed` when `connection` closes first.
    func answer<Value: Sendable>(_ future: EventLoopFuture<Value>, on connection: PostgresConnection) async throws
        -> Value
    {
        let promise = future.eventLoop.makePromise(of: Value.self)
        future.cascade(to: promise)
        let key = ObjectIdentifier(connection)
        let (number, watch) = state.withLock { state in
            state.next += 1
            let watch = state.connections[key] == nil
            state.connections[key, default: Watched()].waiters[state.next] = {
                promise.fail(PostgresError.connectionClosed)
            }
            return (state.next, watch)
        }
        if watch {
            // On a connection closed already, the callback runs at once. A query the connection's handler took was
            // failed by it before the close future completed (both on the channel's event loop), so failing it
            // again changes nothing (a promise keeps its first result); any other would never be answered.
            connection.closeFuture.whenComplete { [self] _ in
                let waiters = state.withLock { $0.connections.removeValue(forKey: key)?.waiters.values.map { $0 } }
                for fail in waiters ?? [] { fail() }
            }
        }
        defer { state.withLock { _ = $0.connections[key]?.waiters.removeValue(forKey: number) } }
        return try await promise.futureResult.get()
    }
}
