import Foundation
import Hummingbird
import SpyglassCore
import SpyglassProtocol

extension IngestController {
    /// `POST /api/{project_id}/store/`: one JSON event, or `base64(zlib(json))` as old raven clients send.
    func store(_ request: Request, context: Context) async throws -> IngestAnswer {
        let projectID = try projectID(context)
        guard let publicKey = try requestKey(request) else {
            throw IngestFailure.unauthorized("missing authorization: send X-Sentry-Auth, Authorization: Sentry or ?sentry_key=")
        }
        let key = try await authorize(publicKey, projectID: projectID)
        let encoding = try encoding(request)
        let limit = limits.maxEventSize
        var body: [UInt8] = []
        var chunks = BodyChunks(request.body)
        try await decodeBody(&chunks, encoding: encoding, inflatedLimit: limit) { chunk in
            guard body.count + chunk.count <= limit else {
                throw IngestFailure.tooLarge("event exceeds the \(EnvelopeReader.format(limit)) limit")
            }
            body.append(contentsOf: chunk)
        }
        guard let first = body.first(where: { ![0x20, 0x0a, 0x0d, 0x09].contains($0) }) else {
            throw IngestFailure.badRequest("empty request body: expected a JSON event")
        }
        if first != UInt8(ascii: "{") { body = try legacyDecode(body, limit: limit) }
        let normalizeContext = EventNormalizer.Context(received: .now, clientIP: clientIP(context))
        var event: NormalizedEvent
        // The usual event is read straight from its bytes (as in envelopes); anything else, and every error, as a tree.
        if let read = normalizer.normalize(json: body, context: normalizeContext) {
            try checkRateLimit(key)
            event = read
        } else {
            let payload: JSONValue
            do {
                payload = try JSONParser.parse(
                    body, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers)
            } catch {
                throw IngestFailure.badRequest("event: invalid JSON: \(error)")
            }
            try checkRateLimit(key)
            do {
                event = try normalizer.normalize(payload, context: normalizeContext)
            } catch {
                throw IngestFailure.badRequest("event: \(error.message)")
            }
        }
        event.raw = body
        await symbolicate(&event, projectID: projectID)
        let work = IngestWork(projectID: projectID, event: event)
        let receipt = try await sink.ingest(work)
        countStored(work, receipt)
        return IngestAnswer(eventID: event.eventID, hadEvent: true, stored: receipt.eventStored)
    }

    /// base64 of zlib-compressed JSON, without any Content-Encoding header.
    private func legacyDecode(_ body: [UInt8], limit: Int) throws -> [UInt8] {
        guard let compressed = Data(base64Encoded: Data(body), options: .ignoreUnknownCharacters), !compressed.isEmpty else {
            throw IngestFailure.badRequest("event: body is neither JSON nor base64(zlib(JSON))")
        }
        do {
            return try ZlibDecoder(format: .gzip).decodeAll(compressed, limit: limit) {
                IngestFailure.tooLarge("event exceeds the \(EnvelopeReader.format(limit)) limit")
            }
        } catch let error as DecodingError {
            throw IngestFailure.badRequest("event: base64 body is not zlib data: \(error.description)")
        }
    }
}
