import Foundation
import NIOCore
import SpyglassCore
import SpyglassProtocol

extension IngestController {
    /// An envelope of log lines alone, read and stored entirely by the log writer's lowest-priority threads: its
    /// body goes there as received, so that decoding and splitting it never takes CPU from error ingest
    /// (docs/performance.md, "Log envelopes read apart"). Only a body of at most ``GzipInflater/maxInput`` bytes as
    /// received, whose envelope header has no `event_id` and whose first item is a `log` item, is sent apart
    /// (``LogEnvelopePeek``); the log writer stores it only if every item it reads is a `log` item, and otherwise
    /// hands it back unstored for the usual way, which also answers any error in it. Returns the answer once the
    /// lines are stored, or nil with what was read of the body back in `chunks`.
    func logsApart(
        _ chunks: inout BodyChunks, encoding: ContentEncoding, projectID: Int64
    ) async throws -> IngestAnswer? {
        var seen: [ByteBuffer] = []
        var received = 0
        while let buffer = try await chunks.next() {
            seen.append(buffer)
            received += buffer.readableBytes
            if received > GzipInflater.maxInput { break }
        }
        guard received <= GzipInflater.maxInput, LogEnvelopePeek.beginsWithLogItem(seen, encoding: encoding) else {
            chunks.replay = seen
            return nil
        }
        var held: [UInt8] = []
        held.reserveCapacity(received)
        for buffer in seen { buffer.withUnsafeReadableBytes { held.append(contentsOf: $0) } }
        let body = held
        let readerLimits = readerLimits
        let logLimits = limits.logs
        let most = min(GzipInflater.defaultLimit, limits.maxEnvelopeSize)
        let stored: [LogLevel: Int]?
        do {
            stored = try await sink.ingestLogsApart(projectID: projectID, received: .now, bytes: body.count) {
                LogEnvelopePeek.logItems(
                    body, encoding: encoding, inflatedLimit: most, readerLimits: readerLimits, logLimits: logLimits)
            }
        } catch let failure as UnreadLogItems.Failure {
            throw IngestFailure.badRequest(failure.description)
        } catch let error as DomainError where error.kind == .invalidInput {
            throw IngestFailure.badRequest(error.message)  // lines the database refuses (the log writer's committer)
        }
        guard let stored else {
            chunks.replay = [ByteBuffer(bytes: body)]
            return nil
        }
        countStored(IngestWork(projectID: projectID), IngestReceipt(eventStored: false, logLines: stored))
        return IngestAnswer(eventID: nil, hadEvent: false, stored: false)
    }
}

/// NIO's buffers are body pieces as received (``LogEnvelopePeek``).
extension ByteBuffer: BodyPiece {}
