import Foundation

/// An event payload from its bytes to the issue page, as the server handles it:
/// - ingest: parsed leaving out the unread members, normalized (with a clock drift or not), grouped, summarized;
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

        if let payload = try? JSONParser.parse(
            bytes, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers)
        {
            _ = try? EventNormalizer().normalize(payload, context: context)
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

    static func show(_ payload: JSONValue, timestamp: Date) {
        let info = EventInfo(
            eventID: "9ec79c33ec9942ab8353589fcb2e04dc", projectID: 1, issueID: 2, timestamp: timestamp,
            received: received, payload: payload, hash: nil)
        let view = EventView(info, issueURL: "/projects/p/issues/2/", previous: "a", next: nil)
        _ = (view.message, view.exceptions.count, view.breadcrumbs.count, view.request?.rows.count, view.sections.count)
    }
}
