import Foundation

/// An event payload from its bytes to the issue page, as the server handles it:
/// - ingest: parsed leaving out the unread members, normalized (with a clock drift or not), grouped, summarized;
///   and read straight from the bytes (`normalize(json:context:)`), which must give the same fields whenever it
///   gives an event (and an event only where the tree path gives one);
/// - reading a raw stored payload: parsed whole and normalized again (`EventPayloadCodec.decode(_:raw:…)`), or shown
///   as stored when that fails;
/// - the issue page's view model (`EventView`) of the normalized payload, and of the payload as parsed.
enum EventTarget {
    static let received = Date(timeIntervalSince1970: 1_795_000_000)

    static func run(_ bytes: [UInt8]) {
        var random = InputRandom(bytes)
        let sentAt = Bool.random(using: &random) ? nil : received.addingTimeInterval(-7200)
        let headerEventID = Bool.random(using: &random) ? nil : "9EC79C33-EC99-42AB-8353-589FCB2E04DC"
        let context = EventNormalizer.Context(
            envelopeEventID: headerEventID, sentAt: sentAt, received: received, clientIP: "192.0.2.1")

        let parsed = try? JSONParser.parse(
            bytes, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers)
        let tree = parsed.flatMap { try? EventNormalizer().normalize($0, context: context) }
        if let direct = EventNormalizer().normalize(json: bytes, context: context) {
            guard let tree else { fatalError("read from the bytes, refused as a tree") }
            let withID = headerEventID != nil || !(parsed?["event_id"]?.isNull ?? true)
            let (left, right) = (derived(direct, withID: withID), derived(tree, withID: withID))
            guard left == right else { fatalError("bytes and tree differ:\n\(left)\n---\n\(right)") }
        }

        guard let payload = try? JSONParser.parse(bytes) else { return }
        var timestamp = received
        if let event = try? EventNormalizer().normalize(payload, context: context) {
            timestamp = event.timestamp
            _ = (event.hashes, event.summary, event.tags, event.userKey)
            show(event.payload, timestamp: timestamp)
        }
        show(payload, timestamp: timestamp)
    }

    /// What ingest takes from a normalized event but its payload (a generated id left out: two readings make two).
    static func derived(_ event: NormalizedEvent, withID: Bool) -> String {
        let fields: [Any?] = [
            withID ? event.eventID : "", event.timestamp, event.received, event.level, event.platform, event.release,
            event.environment, event.hashes, event.summary, event.tags, event.userKey, event.user, event.sentAt,
            event.clientIP,
        ]
        return fields.map { "\($0 as Any)" }.joined(separator: "\n")
    }

    static func show(_ payload: JSONValue, timestamp: Date) {
        let info = EventInfo(
            eventID: "9ec79c33ec9942ab8353589fcb2e04dc", projectID: 1, issueID: 2, timestamp: timestamp,
            received: received, payload: payload, hash: nil)
        let view = EventView(info, issueURL: "/projects/p/issues/2/", previous: "a", next: nil)
        _ = (view.message, view.exceptions.count, view.breadcrumbs.count, view.request?.rows.count, view.sections.count)
    }
}
