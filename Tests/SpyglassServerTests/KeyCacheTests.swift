import Foundation
import SpyglassCore
import SpyglassHTTP
import Synchronization
import Testing

/// A key directory that counts its reads and can hold them back, to reproduce races.
final class SlowDirectory: KeyDirectory {
    let version = Mutex<Int64>(1)
    let keys = Mutex<[ClientKey]>([ClientKey(publicKey: "k1", projectID: 1, rateLimitPerMinute: nil)])
    let reads = Mutex(0)

    func keysVersion() async throws -> Int64 {
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...5)))
        return version.withLock { $0 }
    }

    func activeKeys() async throws -> [ClientKey] {
        reads.withLock { $0 += 1 }
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
        return keys.withLock { $0 }
    }
}

/// A key directory whose database stops answering (as a PostgreSQL pool waits while the server is down): every
/// version read after `down` is set suspends until it is cancelled.
final class UnansweringDirectory: KeyDirectory {
    let down = Mutex(false)

    func keysVersion() async throws -> Int64 {
        if down.withLock({ $0 }) { try await Task.sleep(for: .seconds(3600)) }
        return 1
    }

    func activeKeys() async throws -> [ClientKey] {
        [ClientKey(publicKey: "k1", projectID: 1, rateLimitPerMinute: nil)]
    }
}

@Suite struct KeyCacheTests {
    @Test func aDatabaseThatStopsAnsweringLeavesTheKeysReadLastInForce() async throws {
        let directory = UnansweringDirectory()
        let cache = KeyCache(directory: directory, checkInterval: .milliseconds(10), readTimeout: .milliseconds(200))
        #expect(try await cache.lookup("k1")?.projectID == 1)
        directory.down.withLock { $0 = true }
        try await Task.sleep(for: .milliseconds(20))
        let start = ContinuousClock.now
        #expect(try await cache.lookup("k1")?.projectID == 1)  // the check gave up after its timeout
        #expect(ContinuousClock.now - start < .seconds(60))
        // A key never read cannot be vouched for: the lookup fails rather than waiting.
        await #expect(throws: (any Error).self) { try await cache.lookup("k2") }
    }

    @Test func concurrentFirstLookupsAllFindTheKey() async throws {
        for _ in 0..<20 {
            let cache = KeyCache(directory: SlowDirectory())
            let found = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<8 { group.addTask { try await cache.lookup("k1") != nil } }
                return try await group.reduce(true) { $0 && $1 }
            }
            #expect(found)
        }
    }

    @Test func changesAreSeenAfterTheCheckIntervalAndNewKeysAtOnce() async throws {
        let directory = SlowDirectory()
        // An interval a loaded machine (the whole suite in parallel) does not overrun between two lookups.
        let cache = KeyCache(directory: directory, checkInterval: .seconds(4))
        #expect(try await cache.lookup("k1")?.projectID == 1)
        // A new key: found at once, because a miss checks the version.
        directory.keys.withLock { $0.append(ClientKey(publicKey: "k2", projectID: 2, rateLimitPerMinute: 5)) }
        directory.version.withLock { $0 += 1 }
        #expect(try await cache.lookup("k2")?.rateLimitPerMinute == 5)
        // A revoked key: still served from the cache until the interval passes.
        directory.keys.withLock { $0.removeAll { $0.publicKey == "k1" } }
        directory.version.withLock { $0 += 1 }
        #expect(try await cache.lookup("k1") != nil)
        try await Task.sleep(for: .milliseconds(4100))
        #expect(try await cache.lookup("k1") == nil)
        // Unknown keys do not reload while nothing changed.
        let reads = directory.reads.withLock { $0 }
        for _ in 0..<10 { _ = try await cache.lookup("nope") }
        #expect(directory.reads.withLock { $0 } == reads)
    }
}
