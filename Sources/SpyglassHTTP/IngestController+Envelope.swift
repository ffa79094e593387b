import Foundation
import Hummingbird
import SpyglassCore
import SpyglassProtocol

extension IngestController {
    /// `POST /api/{project_id}/envelope/`.
    func envelope(_ request: Request, context: Context) async throws -> IngestAnswer {
        let projectID = try projectID(context)
        var key: ClientKey?
        if let publicKey = try requestKey(request) { key = try await authorize(publicKey, projectID: projectID) }
        let encoding = try encoding(request)
        var chunks = BodyChunks(request.body)

        if key == nil {
            // Tunnels forward envelopes with only the `dsn` header to authenticate them: the key is checked as soon
            // as that line is read, before the rest of the body is decoded.
            let headers = try await envelopeHeader(&chunks, encoding: encoding)
            guard let text = headers["dsn"]?.stringValue else {
                throw IngestFailure.unauthorized(
                    "missing authorization: send X-Sentry-Auth, Authorization: Sentry, ?sentry_key= or an envelope dsn")
            }
            guard let dsn = DSN(text) else { throw IngestFailure.unauthorized("envelope header: invalid dsn \"\(text.prefix(200))\"") }
            key = try await authorize(dsn.publicKey, projectID: projectID)
        }

        var reader = EnvelopeReader(limits: readerLimits)
        let body: (format: CompressedBody.Format, bytes: [UInt8])?
        do {
            body = try await decodeBody(&chunks, encoding: encoding, keepingBody: true) { try reader.consume($0) }
        } catch let error as EnvelopeError {
            throw IngestFailure(error)
        }
        let envelope: Envelope
        do { envelope = try reader.finish() } catch { throw IngestFailure(error) }
        var headerEventID: String?
        if let value = envelope.headers["event_id"], !value.isNull {
            guard let text = value.stringValue, let id = EventID.normalize(text) else {
                throw IngestFailure.badRequest("envelope header: invalid event_id \(JSONWriter.string(value).prefix(100))")
            }
            headerEventID = id
        }
        let hasEvent = envelope.items.contains { $0.knownType == .event }
        if hasEvent, let key { try checkRateLimit(key) }

        var work = try makeWork(envelope, projectID: projectID, eventID: headerEventID, context: context)
        if var event = work.event, JavaScriptSymbolicator.applies(to: event.platform) {
            await symbolicate(&event, projectID: projectID)
            work.event = event
        }
        // Little besides the event (headers, no large attachment: at most as much again, or 4 KiB, decompressed;
        // compressed, at most 4 KiB more than the event itself): store the body as sent instead of compressing the
        // event again. Offsets are stored as UInt32.
        if let body, let raw = work.event?.raw,
            let item = envelope.items.first(where: { $0.knownType == .event && !$0.isSkipped }),
            envelope.size - raw.count <= max(raw.count, 4096), body.bytes.count <= raw.count + 4096,
            item.offset + raw.count <= Int(UInt32.max)
        {
            work.event?.rawBody = CompressedBody(
                format: body.format, bytes: body.bytes, payloadOffset: item.offset, payloadLength: raw.count)
        }
        let receipt: IngestReceipt
        do {
            receipt = work.isEmpty ? IngestReceipt(eventStored: false) : try await sink.ingest(work)
        } catch let failure as UnreadLogItems.Failure {
            throw IngestFailure.badRequest(failure.description)
        } catch let error as DomainError where error.kind == .invalidInput {
            throw IngestFailure.badRequest(error.message)  // lines the database refuses (the log writer's committer)
        }
        countStored(work, receipt)
        return IngestAnswer(eventID: work.event?.eventID ?? headerEventID, hadEvent: work.event != nil, stored: receipt.eventStored)
    }

    /// What the reader keeps, and up to which size; other item types are read past.
    var readerLimits: EnvelopeReader.Limits {
        EnvelopeReader.Limits(
            maxEnvelope: limits.maxEnvelopeSize,
            keptItems: [
                .event: limits.maxEventSize, .feedback: limits.maxEventSize, .attachment: limits.maxAttachmentSize,
                .userReport: limits.maxSmallItemSize, .session: limits.maxSmallItemSize,
                .sessions: limits.maxSmallItemSize * 100, .clientReport: limits.maxSmallItemSize,
                .log: limits.maxLogItemSize,
            ])
    }

    private func makeWork(
        _ envelope: Envelope, projectID: Int64, eventID headerEventID: String?, context: Context
    ) throws -> IngestWork {
        let received = Date.now
        var work = IngestWork(projectID: projectID, received: received)
        let normalizeContext = EventNormalizer.Context(
            envelopeEventID: headerEventID, sentAt: Timestamp.parse(envelope.headers["sent_at"]), received: received,
            clientIP: clientIP(context))
        for item in envelope.items where !item.isSkipped {
            switch item.knownType {
            case .event?:
                // One event per envelope, as in Relay, which refuses a second.
                if let first = envelope.items.first(where: { $0.knownType == .event }), first.index != item.index {
                    throw IngestFailure.badRequest(
                        "item \(item.index): duplicate \"event\" item (item \(first.index) is this envelope's event; an envelope carries one)")
                }
                do {
                    // The usual event is read straight from its bytes; anything else (and every error) as a tree.
                    var event: NormalizedEvent
                    if let read = normalizer.normalize(json: item.payload, context: normalizeContext) {
                        event = read
                    } else {
                        let payload = try json(
                            item, omitting: IngestLimits.unreadEventMembers,
                            keepingWhole: IngestLimits.wholeEventMembers)
                        event = try normalizer.normalize(payload, context: normalizeContext)
                    }
                    event.raw = item.payload
                    work.event = event
                } catch let error as DomainError {
                    throw IngestFailure.badRequest("item \(item.index) (event): \(error.message)")
                }
            case .attachment?:
                guard let eventID = headerEventID else { continue }
                work.attachments.append(
                    Attachment(
                        eventID: eventID,
                        filename: String((item.headers["filename"]?.stringValue ?? "attachment").prefix(256)),
                        contentType: String((item.headers["content_type"]?.stringValue ?? "application/octet-stream").prefix(128)),
                        attachmentType: String((item.headers["attachment_type"]?.stringValue ?? "event.attachment").prefix(64)),
                        data: item.payload))
            case .userReport?:
                let report = try json(item)
                work.userReports.append(
                    UserReport(
                        eventID: report["event_id"]?.stringValue.flatMap(EventID.normalize) ?? headerEventID,
                        name: text(report["name"], 128), email: text(report["email"], 128),
                        comments: text(report["comments"], 4096), received: received))
            case .feedback?:
                let feedback = try json(item)["contexts"]?["feedback"]
                work.userReports.append(
                    UserReport(
                        eventID: feedback?["associated_event_id"]?.stringValue.flatMap(EventID.normalize),
                        name: text(feedback?["name"], 128), email: text(feedback?["contact_email"], 128),
                        comments: text(feedback?["message"], 4096), received: received))
            case .session?:
                if let count = (try? json(item)).flatMap(SessionItems.count(session:)) { work.sessions.append(count) }
            case .sessions?:
                if let count = (try? json(item)).flatMap(SessionItems.count(sessions:)) { work.sessions.append(count) }
            case .clientReport?:
                for entry in (try? json(item))?["discarded_events"]?.arrayValue ?? [] {
                    guard let reason = entry["reason"]?.stringValue, let category = entry["category"]?.stringValue,
                        let quantity = entry["quantity"]?.int64Value, quantity > 0
                    else { continue }
                    // One report counts at most a billion of a kind: a sum of them stays far from overflowing.
                    work.discarded.append(
                        DiscardedCount(
                            reason: String(reason.prefix(64)), category: String(category.prefix(64)),
                            quantity: Int(min(quantity, 1_000_000_000))))
                }
            case .log?:
                // Read where they are stored (``UnreadLogItems``): on SQLite by the log writer, at low priority.
                work.unreadLogs = work.unreadLogs ?? UnreadLogItems(limits: limits.logs)
                work.unreadLogs?.items.append(UnreadLogItems.Item(index: item.index, payload: item.payload))
            case nil:
                continue
            }
        }
        return work
    }

    private func json(_ item: EnvelopeItem, omitting: [String] = [], keepingWhole: [String] = []) throws -> JSONValue {
        do {
            return try JSONParser.parse(item.payload, omitting: omitting, keepingWhole: keepingWhole)
        } catch {
            throw IngestFailure.badRequest("item \(item.index) (\(item.type)): invalid JSON: \(error)")
        }
    }

    private func text(_ value: JSONValue?, _ limit: Int) -> String {
        String((value?.stringValue ?? "").prefix(limit))
    }
}
