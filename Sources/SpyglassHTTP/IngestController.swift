import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOCore
import SpyglassCore
import SpyglassProtocol
import Synchronization

/// The Sentry ingest endpoints: `POST /api/{project_id}/envelope/` and `/store/`, with CORS preflight.
///
/// Each request: authenticate the key (cache), stream-decode the body within limits, parse, normalize,
/// hand the work to the writer, and answer 200 only once it is committed.
public struct IngestController<Context: RequestContext & RemoteAddressRequestContext>: Sendable {
    let keys: KeyCache
    let sink: any IngestSink
    let limits: IngestLimits
    let normalizer = EventNormalizer()
    let rateLimiter: SharedRateLimiter
    let metrics: any MetricsFactory
    let logger: Logger
    /// Maps JavaScript frames through uploaded source maps before the event is grouped; nil: events as sent.
    let symbolicator: JavaScriptSymbolicator?
    /// The counters of each label set made so far (making one per request asks the metrics registry every time).
    let counters = MetricHandles()

    public init(
        keys: KeyCache, sink: any IngestSink, limits: IngestLimits, rateLimiter: SharedRateLimiter = SharedRateLimiter(),
        metrics: any MetricsFactory, logger: Logger, symbolicator: JavaScriptSymbolicator? = nil
    ) {
        self.symbolicator = symbolicator
        self.keys = keys
        self.sink = sink
        self.limits = limits
        self.rateLimiter = rateLimiter
        self.metrics = metrics
        self.logger = logger
    }

    public func addRoutes(to router: Router<Context>) {
        for endpoint in ["envelope", "store"] {
            router.on("api/:project_id/\(endpoint)", method: .options) { _, _ in
                Response(status: .ok, headers: IngestHeaders.preflight)
            }
        }
        router.post("api/:project_id/envelope") { request, context in
            await answer(request, context) { try await envelope(request, context: context) }
        }
        router.post("api/:project_id/store") { request, context in
            await answer(request, context) { try await store(request, context: context) }
        }
    }

    /// Runs a handler, turning every failure into its documented response; nothing escapes as a 500.
    private func answer(_ request: Request, _ context: Context, _ body: () async throws -> IngestAnswer) async -> Response {
        do {
            let answer = try await body()
            if let outcome = answer.outcome { count(outcome) }
            let eventID = answer.eventID
            var headers = IngestHeaders.cors
            headers[.contentType] = "application/json"
            let json: JSONValue = eventID.map { ["id": .string($0)] } ?? .object([:])
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.bytes(json))))
        } catch let failure as IngestFailure {
            count(failure.outcome)
            return failure.response
        } catch let refusal as IngestRefusal {
            let failure = IngestFailure(refusal)
            count(failure.outcome)
            return failure.response
        } catch {
            logger.error("ingest failed", metadata: ["error": "\(error)", "http.path": "\(request.uri.path)"])
            let failure = IngestFailure(
                status: .serviceUnavailable, message: "the event could not be stored; retry later", outcome: .invalid, retryAfter: 5)
            return failure.response
        }
    }

    private func count(_ outcome: IngestFailure.Outcome) {
        counters.counter("spyglass_ingest_events_total", [("outcome", outcome.rawValue)], factory: metrics).increment()
    }

    /// Per project and level, what was stored: `spyglass_project_events_total` and
    /// `spyglass_project_log_lines_total`. The labels are bounded: the project id is one the key was checked
    /// against, the level one of the normalized few (an event's five, a log line's six).
    func countStored(_ work: IngestWork, _ receipt: IngestReceipt) {
        let project = String(work.projectID)
        if receipt.eventStored, let event = work.event {
            counters.counter("spyglass_project_events_total", [("project", project), ("level", event.level)], factory: metrics).increment()
        }
        for (level, count) in receipt.logLines {
            counters.counter("spyglass_project_log_lines_total", [("project", project), ("level", level.rawValue)], factory: metrics)
                .increment(by: count)
        }
    }

    // MARK: - Shared steps

    /// The project id from the URL.
    func projectID(_ context: Context) throws -> Int64 {
        guard let text = context.parameters.get("project_id"), let id = Int64(text), id > 0 else {
            throw IngestFailure.badRequest("project id in the URL must be a positive integer")
        }
        return id
    }

    /// The key the request carries in `?sentry_key=`, `X-Sentry-Auth` or `Authorization: Sentry …`.
    func requestKey(_ request: Request) throws -> String? {
        if let key = request.uri.queryParameters.get("sentry_key"), !key.isEmpty { return key }
        for name in [IngestHeaders.sentryAuth, HTTPField.Name.authorization] {
            guard let header = request.headers[name] else { continue }
            guard let fields = SentryAuth.credentials(header) else {
                if name == IngestHeaders.sentryAuth { throw IngestFailure.unauthorized("bad X-Sentry-Auth header: it must start with \"Sentry \"") }
                continue
            }
            guard let key = fields.key, !key.isEmpty else {
                throw IngestFailure.unauthorized("bad \(name.canonicalName) header: no sentry_key")
            }
            if let version = fields.version, let number = Int(version), number > 7 {
                throw IngestFailure.badRequest("unsupported protocol version \(number) (Spyglass speaks 7)")
            }
            return key
        }
        return nil
    }

    /// Checks the key against the project in the URL.
    func authorize(_ publicKey: String, projectID: Int64) async throws -> ClientKey {
        guard let key = try await keys.lookup(publicKey.lowercased()) else {
            throw IngestFailure.forbidden("unknown or revoked project key \(String(publicKey.prefix(64)))")
        }
        guard key.projectID == projectID else {
            throw IngestFailure.forbidden("the key is not a key of project \(projectID)")
        }
        return key
    }

    /// Per-key events-per-minute limit.
    func checkRateLimit(_ key: ClientKey) throws {
        guard let limit = key.rateLimitPerMinute else { return }
        if let retryAfter = rateLimiter.admit(key: key.publicKey, limit: limit, now: .now) {
            throw IngestFailure.rateLimited("rate limit of \(limit) events per minute for this key exceeded", retryAfter: retryAfter)
        }
    }

    /// The request's Content-Encoding, or 415.
    func encoding(_ request: Request) throws -> ContentEncoding {
        let header = request.headers[.contentEncoding]
        guard let encoding = ContentEncoding(header: header) else {
            throw IngestFailure(
                status: .unsupportedMediaType,
                message: "unsupported Content-Encoding \"\(header ?? "")\": use gzip, deflate, br or identity", outcome: .invalid)
        }
        return encoding
    }

    /// Streams the body through the decoder into `consume`, enforcing the compressed-size limit.
    ///
    /// A gzip body of at most ``GzipInflater/maxInput`` bytes is held until it ends and inflated at once when it
    /// decodes to at most `inflatedLimit` bytes (the memory a request may take for it; 2 MiB by default, at most the
    /// envelope limit); else it goes through zlib as a longer body does, in pieces of 64 KiB.
    ///
    /// With `keepingBody`, returns a gzip or deflate body as received, with its format, when it is at most
    /// ``IngestLimits/maxEventSize`` (the caller may store it instead of compressing the event again: see
    /// ``CompressedBody``).
    @discardableResult
    func decodeBody(
        _ chunks: inout BodyChunks, encoding: ContentEncoding, keepingBody: Bool = false, inflatedLimit: Int? = nil,
        consume: (UnsafeBufferPointer<UInt8>) throws -> Void
    ) async throws -> (format: CompressedBody.Format, bytes: [UInt8])? {
        let decoder = encoding.makeDecoder()
        let zlib = keepingBody ? decoder as? ZlibDecoder : nil
        var kept: [UInt8]? = zlib == nil ? nil : []
        var held: [UInt8]? = encoding == .gzip ? [] : nil
        var received = 0
        while let buffer = try await chunks.next() {
            received += buffer.readableBytes
            guard received <= limits.maxCompressedSize else {
                throw IngestFailure.tooLarge("request body exceeds the \(EnvelopeReader.format(limits.maxCompressedSize)) limit")
            }
            if held != nil {
                if received <= GzipInflater.maxInput {
                    buffer.withUnsafeReadableBytes { held?.append(contentsOf: $0) }
                    continue
                }
                // Too long to hold: it streams, from what was held.
                let earlier = held ?? []
                held = nil
                if kept != nil { kept = earlier.count <= limits.maxEventSize ? earlier : nil }
                try earlier.withUnsafeBytes { try decode($0, with: decoder, into: consume) }
            }
            if kept != nil {
                if received <= limits.maxEventSize {
                    buffer.withUnsafeReadableBytes { kept?.append(contentsOf: $0) }
                } else {
                    kept = nil
                }
            }
            try buffer.withUnsafeReadableBytes { try decode($0, with: decoder, into: consume) }
        }
        if let held, !held.isEmpty {
            let keepable = held.count <= limits.maxEventSize
            let most = inflatedLimit ?? min(GzipInflater.defaultLimit, limits.maxEnvelopeSize)
            if let inflated = held.withUnsafeBytes({ GzipInflater.inflate($0, limit: most) }) {
                try inflated.withUnsafeBufferPointer { try consume($0) }
                return keepingBody && keepable ? (.gzip, held) : nil
            }
            if kept != nil { kept = keepable ? held : nil }
            try held.withUnsafeBytes { try decode($0, with: decoder, into: consume) }
        }
        do {
            try decoder?.finish()
        } catch let error as DecodingError {
            throw IngestFailure.badRequest(error.description)
        }
        guard let kept, let format = zlib?.bodyFormat else { return nil }
        return (format, kept)
    }

    /// Reads and decodes the body only as far as the envelope's header line, for a request that authenticates
    /// through its `dsn`: nothing past that line is inflated before the key is known. The chunks read are
    /// replayed by `chunks` for the whole envelope's parse, which starts over.
    func envelopeHeader(_ chunks: inout BodyChunks, encoding: ContentEncoding) async throws -> JSONObject {
        let decoder = encoding.makeDecoder()
        var reader = EnvelopeReader(limits: EnvelopeReader.Limits(maxEnvelope: limits.maxEnvelopeSize))
        var seen: [ByteBuffer] = []
        var received = 0
        defer { chunks.replay = seen }
        while let buffer = try await chunks.next() {
            seen.append(buffer)
            received += buffer.readableBytes
            guard received <= limits.maxCompressedSize else {
                throw IngestFailure.tooLarge("request body exceeds the \(EnvelopeReader.format(limits.maxCompressedSize)) limit")
            }
            do {
                try buffer.withUnsafeReadableBytes { raw in
                    try decode(raw, with: decoder) { chunk in
                        try reader.consume(chunk)
                        if reader.envelopeHeaders != nil { throw HeaderRead() }
                    }
                }
            } catch is HeaderRead {}
            catch let error as EnvelopeError { throw IngestFailure(error) }
            if let headers = reader.envelopeHeaders { return headers }
        }
        do {
            return try reader.finish().headers
        } catch {
            throw IngestFailure(error)
        }
    }

    /// Decodes one chunk of the body into `consume`; broken compressed data is a 400.
    private func decode(
        _ raw: UnsafeRawBufferPointer, with decoder: (any StreamDecoder)?,
        into consume: (UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws {
        do {
            if let decoder {
                try decoder.decode(raw) { try consume($0) }
            } else {
                try consume(raw.assumingMemoryBound(to: UInt8.self))
            }
        } catch let error as DecodingError {
            throw IngestFailure.badRequest("\(error.description)")
        }
    }

    /// The client address for `{{auto}}`.
    func clientIP(_ context: Context) -> String? {
        context.remoteAddress?.ipAddress
    }
}

/// What a successful ingest request answers with, and how its event counts.
struct IngestAnswer {
    /// The id to answer with (`{}` when nil).
    var eventID: String?
    /// `accepted`, `filtered` (a duplicate event id), or nil when the request carried no event.
    var outcome: IngestFailure.Outcome?

    init(eventID: String?, hadEvent: Bool, stored: Bool) {
        self.eventID = eventID
        self.outcome = hadEvent ? (stored ? .accepted : .filtered) : nil
    }
}

/// Stops decoding once the envelope's header line is read (``IngestController/envelopeHeader(_:encoding:)``).
private struct HeaderRead: Error {}

/// The request body's chunks as they arrive, after any chunks read once already and replayed.
struct BodyChunks {
    /// Chunks to hand out again before reading on.
    var replay: [ByteBuffer] = []
    private var iterator: RequestBody.AsyncIterator

    init(_ body: RequestBody) {
        iterator = body.makeAsyncIterator()
    }

    /// The next chunk; a body that breaks off (the client closed before its `Content-Length`) is a 400.
    mutating func next() async throws -> ByteBuffer? {
        if !replay.isEmpty { return replay.removeFirst() }
        do {
            return try await iterator.next()
        } catch {
            throw IngestFailure.badRequest("the request body ended before its Content-Length (or chunked encoding) said: \(error)")
        }
    }
}

extension IngestController {
    /// Symbolicates a JavaScript event whose project has source maps (``JavaScriptSymbolicator``); a symbolicated
    /// event is stored as the payload it became, not the bytes as sent.
    ///
    /// Ingest parses past the members it does not read (``IngestLimits/unreadEventMembers``, `debug_meta` among
    /// them) and stores the bytes as sent; an event whose payload changes is stored as that payload, so it is read
    /// whole first, normalized as reading a stored event normalizes it again.
    func symbolicate(_ event: inout NormalizedEvent, projectID: Int64) async {
        guard let symbolicator, JavaScriptSymbolicator.applies(to: event.platform),
            await symbolicator.mayApply(projectID: projectID)
        else { return }
        var whole = event
        if let raw = event.raw {
            let context = EventNormalizer.Context(
                envelopeEventID: event.eventID, sentAt: event.sentAt, received: event.received, clientIP: event.clientIP)
            guard let payload = try? JSONParser.parse(raw), let normalized = try? normalizer.normalize(payload, context: context)
            else { return }
            whole.payload = normalized.payload
        }
        if await symbolicator.symbolicate(&whole, projectID: projectID) { event = whole }
    }
}
