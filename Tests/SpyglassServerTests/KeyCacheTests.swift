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

@Suite struct KeyCacheTests {
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
        let cache = KeyCache(directory: directory, checkInterval: .seconds(1))
        #expect(try await cache.lookup("k1")?.projectID == 1)
        // A new key: found at once, because a miss checks the version.
        directory.keys.withLock { $0.append(ClientKey(publicKey: "k2", projectID: 2, rateLimitPerMinute: 5)) }
        directory.version.withLock { $0 += 1 }
        #expect(try await cache.lookup("k2")?.rateLimitPerMinute == 5)
        // A revoked key: still served from the cache until the interval passes.
        directory.keys.withLock { $0.removeAll { $0.publicKey == "k1" } }
        directory.version.withLock { $0 += 1 }
        #expect(try await cache.lookup("k1") != nil)
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await cache.lookup("k1") == nil)
        // Unknown keys do not reload while nothing changed.
        let reads = directory.reads.withLock { $0 }
        for _ in 0..<10 { _ = try await cache.lookup("nope") }
        #expect(directory.reads.withLock { $0 } == reads)
    }
}
