import Foundation

/// `Envelope.parse` and `EnvelopeReader.consume` in random-size chunks, with the server's kept items and limits,
/// and with small limits the fuzzer's inputs reach; kept session, report, feedback and log items read as ingest reads
/// them.
///
/// Properties: feeding the bytes in chunks gives what parsing them whole gives (the same envelope, or the same
/// error); a kept item's payload is the bytes at its offset (the server stores an event as that range of the body).
enum EnvelopeTarget {
    /// As `IngestController.readerLimits` with the default `IngestLimits`.
    static let server: EnvelopeReader.Limits = {
        let limits = IngestLimits()
        return EnvelopeReader.Limits(
            maxEnvelope: limits.maxEnvelopeSize,
            keptItems: [
                .event: limits.maxEventSize, .feedback: limits.maxEventSize, .attachment: limits.maxAttachmentSize,
                .userReport: limits.maxSmallItemSize, .session: limits.maxSmallItemSize,
                .sessions: limits.maxSmallItemSize * 100, .clientReport: limits.maxSmallItemSize,
                .log: limits.maxLogItemSize,
            ])
    }()

    static let small = EnvelopeReader.Limits(
        maxHeaderLine: 120, maxEnvelope: 2000, keptItems: [.event: 300, .attachment: 40, .session: 0, .userReport: 8])

    static func run(_ bytes: [UInt8]) {
        var random = InputRandom(bytes)
        for limits in [server, small] {
            let whole = Result { () throws(EnvelopeError) in try Envelope.parse(bytes, limits: limits) }
            let chunked = Result { () throws(EnvelopeError) in
                var reader = EnvelopeReader(limits: limits)
                for chunk in random.chunks(bytes) {
                    try chunk.withUnsafeBufferPointer { (buffer) throws(EnvelopeError) in try reader.consume(buffer) }
                }
                return try reader.finish()
            }
            switch (whole, chunked) {
            case (.success(let envelope), .success(let other)):
                require(summary(envelope) == summary(other), "chunked: \(summary(other))\nwhole: \(summary(envelope))")
                for item in envelope.items where !item.isSkipped {
                    readAsIngestDoes(item)
                    let range = item.offset..<(item.offset + item.size)
                    require(
                        item.size == item.payload.count && range.upperBound <= bytes.count
                            && Array(bytes[range]) == item.payload,
                        "item \(item.index) (\(item.type)): its payload is not the \(item.size) bytes at offset \(item.offset)"
                    )
                }
            case (.failure(let error), .failure(let other)):
                // Over the envelope limit, the whole parse refuses before reading; chunks may find an error first.
                if bytes.count <= limits.maxEnvelope {
                    require(error == other, "chunked: \(other.kind) \(other)\nwhole: \(error.kind) \(error)")
                }
            case (.success, .failure(let error)):
                require(false, "chunked parse refuses what the whole parse accepts: \(error)")
            case (.failure(let error), .success):
                require(false, "chunked parse accepts what the whole parse refuses: \(error)")
            }
        }
    }

    /// The small items, as `IngestController.makeWork` reads them (events and attachments have targets of their own).
    static func readAsIngestDoes(_ item: EnvelopeItem) {
        guard let json = try? JSONParser.parse(item.payload) else { return }
        switch item.type {
        case "session": _ = SessionItems.count(session: json)
        case "sessions": _ = SessionItems.count(sessions: json)
        case "user_report": _ = json["event_id"]?.stringValue.flatMap(EventID.normalize)
        case "feedback":
            _ = json["contexts"]?["feedback"]?["associated_event_id"]?.stringValue.flatMap(EventID.normalize)
        case "client_report":
            for entry in json["discarded_events"]?.arrayValue ?? [] {
                if let quantity = entry["quantity"]?.int64Value, quantity > 0 { _ = Int(clamping: quantity) }
            }
        case "log":
            if let lines = try? LogItems.records(json, received: Date(timeIntervalSince1970: 1_795_000_000)) {
                for line in lines { _ = line.storedSize(attributesJSON: line.attributesJSON) }
            }
        default: break
        }
    }

    /// What an envelope holds, comparable.
    static func summary(_ envelope: Envelope) -> String {
        var text = "size \(envelope.size) headers \(JSONWriter.string(.object(envelope.headers)))"
        for item in envelope.items {
            text += "\n#\(item.index) \(item.type) skipped \(item.isSkipped) size \(item.size) offset \(item.offset)"
            text += " headers \(JSONWriter.string(.object(item.headers))) payload \(item.payload)"
        }
        return text
    }
}
