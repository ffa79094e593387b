import SpyglassCore

/// How an event's payload is to be stored: prepared on the request's task (all compression happens there), then
/// settled by the writer against the dictionary its primary hash has in the database (``settle(primaryDictionary:)``).
package enum PayloadPlan: Sendable {
    /// Stored as is, whatever dictionary the hash has (no bytes as sent, or compact storage off).
    case stored(blob: [UInt8], raw: Bool)
    /// Compressed against the cached dictionary `dictionaryID`, if that is still the primary hash's.
    case delta(dictionaryID: Int64, blob: [UInt8], raw: [UInt8])
    /// No dictionary cached: `blob` (the body as received, or the bytes as sent compressed), stored as the event's
    /// own or, when the hash has no dictionary yet, as the data of the one it becomes.
    case plain(blob: [UInt8], raw: [UInt8])

    /// As stored without dictionaries: the body as received, else the bytes as sent compressed, else the normalized
    /// payload compressed.
    package static func stored(_ event: NormalizedEvent) -> PayloadPlan {
        let (blob, raw) = EventPayloadCodec.encode(event)
        return .stored(blob: blob, raw: raw)
    }

    /// Payloads larger than this neither make a dictionary nor are stored as a delta: the cache holds a dictionary
    /// whole, with its index.
    package static let maxDictionaryPayload = 4 * 1024 * 1024

    /// The plan for `event`: against its primary hash's dictionary when `dictionaries` holds it.
    package static func prepare(_ event: NormalizedEvent, projectID: Int64, dictionaries: PayloadDictionaryCache) -> PayloadPlan {
        guard let raw = event.raw, let hash = event.hashes.first, raw.count <= maxDictionaryPayload else {
            return .stored(event)
        }
        if let dictionary = dictionaries.dictionary(projectID: projectID, hash: hash) {
            return .delta(dictionaryID: dictionary.id, blob: EventPayloadCodec.encode(raw, against: dictionary), raw: raw)
        }
        return .plain(blob: EventPayloadCodec.encode(event).blob, raw: raw)
    }

    /// Bytes held while queued.
    package var size: Int {
        switch self {
        case .stored(let blob, _): blob.count
        case .delta(_, let blob, let raw): blob.count + raw.count
        case .plain(let blob, let raw): blob.count + raw.count
        }
    }

    /// What the writer stores, given the dictionary the event's primary hash has (nil: none, or a new hash).
    package enum Settled {
        /// Store `blob`; when `dictionaryToCache` is set, the hash has that dictionary and the cache lacks it.
        case store(blob: [UInt8], raw: Bool, dictionaryToCache: Int64?)
        /// Make the payload its hash's dictionary (`data`: its blob) and store a reference to it.
        case makeDictionary(data: [UInt8], raw: [UInt8])
    }

    package func settle(primaryDictionary: Int64?) -> Settled {
        switch self {
        case .stored(let blob, let raw):
            return .store(blob: blob, raw: raw, dictionaryToCache: nil)
        case .delta(let id, let blob, _) where id == primaryDictionary:
            return .store(blob: blob, raw: true, dictionaryToCache: nil)
        case .delta(_, _, let raw):
            // The cached dictionary is no longer the hash's (its issue was deleted and the hash came back): rare, so
            // the writer compresses this once.
            return PayloadPlan.plain(blob: EventPayloadCodec.compress(raw), raw: raw).settle(primaryDictionary: primaryDictionary)
        case .plain(let blob, let raw):
            guard let primaryDictionary else { return .makeDictionary(data: blob, raw: raw) }
            return .store(blob: blob, raw: true, dictionaryToCache: primaryDictionary)
        }
    }
}
