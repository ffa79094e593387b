import CZlib
import Synchronization

/// What the events of one grouping hash share, stored once: the first event's payload, which later events of the
/// hash are stored as differences from (``PayloadDelta``).
///
/// Events of one issue repeat each other's stack frames, context lines, modules and contexts: against the first
/// one, a later event takes a small part of what it takes compressed alone (docs/performance.md). The row lives in
/// `payload_dictionary` (its `data` is the first event's blob, as the event table would hold it), and
/// `grouping_hash.dictionary_id` names it; that
/// event's own blob only refers to it. An event's dictionary is always its primary hash's, and an event lives as
/// long as that hash's row does (both go with their issue; merge and unmerge move a hash with its events), so
/// a dictionary is deleted with its hash (``AppDatabase/deleteIssue(id:)``, or the project's cascade).
package struct PayloadDictionary: Sendable {
    /// The `payload_dictionary` row.
    package let id: Int64
    /// The first event's payload.
    package let bytes: [UInt8]
    /// Where runs of ``bytes`` start, for encoding.
    package let index: DeltaIndex
    /// Adler-32 of ``bytes``, stored with each delta: reading checks it has the bytes the delta was made from.
    package let checksum: UInt32

    package init(id: Int64, payload: [UInt8]) {
        self.id = id
        self.bytes = payload
        self.index = DeltaIndex(payload)
        self.checksum = Self.checksum(payload)
    }

    /// Bytes it holds in memory.
    package var size: Int { bytes.count + index.size }

    package static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: adler32_z(adler32_z(0, nil, 0), $0.baseAddress, $0.count)) }
    }
}

/// The dictionaries of recently seen hashes, for the request tasks that compress events against them.
///
/// Filled by the writer after a commit (a new dictionary, or one an event found in the database); bounded by
/// bytes in two generations: a lookup moves an entry to the current one, and when the current one is full it
/// becomes the previous one, whose entries are dropped unless looked up before the next turn. A miss only costs
/// one event its compression against the dictionary (the writer then loads it here for the next ones); a stale
/// entry (its issue deleted) is noticed by the writer, which stores that event without it.
package final class PayloadDictionaryCache: Sendable {
    package struct Key: Hashable {
        package var projectID: Int64
        package var hash: String

        package init(projectID: Int64, hash: String) {
            self.projectID = projectID
            self.hash = hash
        }
    }

    private struct State {
        var current: [Key: PayloadDictionary] = [:]
        var previous: [Key: PayloadDictionary] = [:]
        var currentBytes = 0
    }

    /// Bytes of dictionaries a generation holds at most.
    package let generationBytes: Int
    private let state = Mutex(State())

    package init(maxBytes: Int = 4 * 1024 * 1024) {
        generationBytes = max(maxBytes / 2, 1)
    }

    package func dictionary(projectID: Int64, hash: String) -> PayloadDictionary? {
        let key = Key(projectID: projectID, hash: hash)
        return state.withLock { state in
            if let found = state.current[key] { return found }
            guard let found = state.previous.removeValue(forKey: key) else { return nil }
            Self.insert(found, for: key, into: &state, limit: generationBytes)
            return found
        }
    }

    /// Adds `dictionary`, unless it alone would fill a generation (an event of megabytes: it would push out
    /// every other one at each turn).
    package func insert(_ dictionary: PayloadDictionary, for key: Key) {
        guard dictionary.size <= generationBytes / 4 else { return }
        state.withLock { state in
            state.previous[key] = nil
            Self.insert(dictionary, for: key, into: &state, limit: generationBytes)
        }
    }

    /// The entry for `key`, without moving it to the current generation.
    package func peek(_ key: Key) -> PayloadDictionary? {
        state.withLock { $0.current[key] ?? $0.previous[key] }
    }

    /// Entries held now (both generations).
    package var count: Int { state.withLock { $0.current.count + $0.previous.count } }

    private static func insert(_ dictionary: PayloadDictionary, for key: Key, into state: inout State, limit: Int) {
        if let replaced = state.current.updateValue(dictionary, forKey: key) {
            state.currentBytes -= replaced.size
        }
        state.currentBytes += dictionary.size
        guard state.currentBytes > limit else { return }
        state.previous = state.current
        state.current = [:]
        state.currentBytes = 0
    }
}
