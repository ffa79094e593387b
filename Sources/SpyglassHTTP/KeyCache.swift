import Foundation
import SpyglassCore
import Synchronization

/// Active client keys in memory, so ingest does not query SQLite per request.
///
/// A key change in any process bumps a version number in the database (triggers); the cache reads that
/// number at most twice a second and reloads when it moved (so a key revoked on another node is refused here
/// within a second). An unknown key makes it read the number at once,
/// so a key created a moment ago works immediately. ``invalidate()`` forces a reload.
public final class KeyCache: Sendable {
    private struct State {
        var keys: [String: ClientKey] = [:]
        var version: Int64 = -1
        var checkedAt: ContinuousClock.Instant?
    }

    private let directory: any KeyDirectory
    private let state = Mutex(State())
    private let checkInterval: Duration

    /// How long a request waits for the database's key version before the cached keys answer.
    private let readTimeout: Duration

    public init(
        directory: any KeyDirectory, checkInterval: Duration = .milliseconds(500), readTimeout: Duration = .seconds(2)
    ) {
        self.directory = directory
        self.checkInterval = checkInterval
        self.readTimeout = readTimeout
    }

    /// What `operation` returns, or ``KeyCache/Timeout`` once `timeout` has passed (`operation` is then cancelled: a
    /// request waiting in a connection pool leaves it).
    static func within<T: Sendable>(
        _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Timeout(timeout: timeout)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    /// The database did not answer within the time allowed.
    struct Timeout: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "the database did not answer within \(timeout)" }
    }

    /// The active key `publicKey`, or `nil` when there is none.
    public func lookup(_ publicKey: String) async throws -> ClientKey? {
        let now = ContinuousClock.now
        let (key, stale) = state.withLock { state in
            (state.keys[publicKey], state.checkedAt.map { now - $0 >= checkInterval } ?? true)
        }
        guard stale || key == nil else { return key }
        let version: Int64
        do {
            version = try await Self.within(readTimeout) { [directory] in try await directory.keysVersion() }
        } catch {
            // The database does not answer (down, or restarting): the keys read last stay in force meanwhile, checked
            // again after the interval, rather than every request waiting for the database's pool.
            state.withLock { $0.checkedAt = now }
            guard let key else { throw error }
            return key
        }
        let (changed, current) = state.withLock { state in
            state.checkedAt = now
            return (state.version != version, state.keys[publicKey])
        }
        // Another request may have reloaded meanwhile: answer from the cache as it is now.
        guard changed else { return current }
        let keys = try await directory.activeKeys()
        return state.withLock { state in
            state.keys = Dictionary(keys.map { ($0.publicKey, $0) }, uniquingKeysWith: { first, _ in first })
            state.version = version
            return state.keys[publicKey]
        }
    }

    /// Forgets the cached keys; the next lookup reloads them.
    public func invalidate() {
        state.withLock { state in
            state.version = -1
            state.checkedAt = nil
        }
    }
}
