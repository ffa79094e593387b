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

    public init(directory: any KeyDirectory, checkInterval: Duration = .milliseconds(500)) {
        self.directory = directory
        self.checkInterval = checkInterval
    }

    /// The active key `publicKey`, or `nil` when there is none.
    public func lookup(_ publicKey: String) async throws -> ClientKey? {
        let now = ContinuousClock.now
        let (key, stale) = state.withLock { state in
            (state.keys[publicKey], state.checkedAt.map { now - $0 >= checkInterval } ?? true)
        }
        guard stale || key == nil else { return key }
        let version = try await directory.keysVersion()
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
