import Foundation

/// How events are stored: `EventPayloadCodec` (zlib JSON, request bodies, dictionary references, deltas) and
/// `PayloadDelta`.
///
/// Arbitrary bytes are read as a stored blob and as a delta program (a damaged row must throw, not trap). Derived
/// inputs round-trip: the input as a payload against a sample event's dictionary, and its second half against its
/// first half.
enum PayloadTarget {
    /// The dictionary every blob's id refers to: a small event, as the first event of an issue.
    static let dictionary = Array(
        #"""
        {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","level":"error","platform":"python","timestamp":1795000000.5,"exception":{"values":[{"type":"ZeroDivisionError","value":"division by zero","stacktrace":{"frames":[{"filename":"app.py","function":"main","lineno":12,"in_app":true,"context_line":"    1 / 0"}]}}]},"tags":[["tenant","acme"]],"sdk":{"name":"sentry.python","version":"2.75.0"}}
        """#.utf8)
    static let dictionaryID: Int64 = 7
    static let index = DeltaIndex(dictionary)

    static func run(_ bytes: [UInt8]) {
        let lookup: (Int64) throws -> [UInt8] = { id in
            guard id == dictionaryID else { throw DomainError(.notFound, "no dictionary \(id)") }
            return dictionary
        }
        _ = try? EventPayloadCodec.decode(bytes, dictionary: lookup)
        _ = try? EventPayloadCodec.decode(
            bytes, raw: true, eventID: "9ec79c33ec9942ab8353589fcb2e04dc", received: EventTarget.received, sentAt: nil,
            clientIP: "192.0.2.1", dictionary: lookup)
        _ = try? PayloadDelta.decode(bytes, dictionary: dictionary)

        roundTrip(bytes, dictionary: dictionary, index: index)
        let half = bytes.count / 2
        let ownDictionary = Array(bytes[..<half])
        roundTrip(Array(bytes[half...]), dictionary: ownDictionary, index: DeltaIndex(ownDictionary))

        let stored = EventPayloadCodec.encode(bytes, against: PayloadDictionary(id: dictionaryID, payload: dictionary))
        let read = try? EventPayloadCodec.payloadBytes(stored, dictionary: lookup)
        require(read.map(Array.init) == bytes, "a delta blob reads back differently")
        let compressed = try? EventPayloadCodec.payloadBytes(EventPayloadCodec.compress(bytes), dictionary: lookup)
        require(compressed.map(Array.init) == bytes, "a compressed blob reads back differently")
    }

    static func roundTrip(_ payload: [UInt8], dictionary: [UInt8], index: DeltaIndex) {
        let program = PayloadDelta.encode(payload, dictionary: dictionary, index: index)
        do {
            let decoded = try PayloadDelta.decode(program, dictionary: dictionary)
            require(decoded == payload, "a delta program rebuilds other bytes")
        } catch {
            require(false, "a delta program the encoder made is refused: \(error.reason)")
        }
    }
}
