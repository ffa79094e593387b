import Foundation
import SpyglassCore
import Synchronization

/// Active client keys in memory, so ingest does not query SQLite per request.
///
/// A key change in any process bumps a version number in the database (triggers); the cache reads that
/// number at most once a second and reloads when it moved. An unknown key triggers a reload at most four
/// times a second, so a key created a moment ago works at once. ``invalidate()`` forces a reload.
public final class KeyCache: Sendable {
    private struct State {
        var keys: [String: ClientKey] = [:]
        var version: Int64 = -1
        var checkedAt: ContinuousClock.Instant?
        var reloadedAt: ContinuousClock.Instant?
    }

    private let directory: any KeyDirectory
    private let state = Mutex(State())
    private let checkInterval: Duration
    private let missReloadInterval: Duration

    public init(directory: any KeyDirectory, checkInterval: Duration = .seconds(1), missReloadInterval: Duration = .milliseconds(250)) {
        self.directory = directory
        self.checkInterval = checkInterval
        self.missReloadInterval = missReloadInterval
    }

    /// The active key `publicKey`, or `nil` when there is none.
    public func lookup(_ publicKey: String) async throws -> ClientKey? {
        let now = ContinuousClock.now
        let (key, stale, canReload) = state.withLock { state in
            (
                state.keys[publicKey],
                state.checkedAt.map { now - $0 >= checkInterval } ?? true,
                state.reloadedAt.map { now - $0 >= missReloadInterval } ?? true
            )
        }
        if stale {
            let version = try await directory.keysVersion()
            let changed = state.withLock { state in
                state.checkedAt = now
                return state.version != version
            }
            if changed {
                try await reload(version: version)
                return state.withLock { $0.keys[publicKey] }
            }
        }
        if key == nil && canReload {
            try await reload(version: try await directory.keysVersion())
            return state.withLock { $0.keys[publicKey] }
        }
        return key
    }

    /// Forgets the cached keys; the next lookup reloads them.
    public func invalidate() {
        state.withLock { state in
            state.version = -1
            state.checkedAt = nil
            state.reloadedAt = nil
        }
    }

    private func reload(version: Int64) async throws {
        let keys = try await directory.activeKeys()
        let now = ContinuousClock.now
        state.withLock { state in
            state.keys = Dictionary(keys.map { ($0.publicKey, $0) }, uniquingKeysWith: { first, _ in first })
            state.version = version
            state.checkedAt = now
            state.reloadedAt = now
        }
    }
}
