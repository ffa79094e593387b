import CBrotli
import CZlib
import SpyglassCore
import SpyglassProtocol

/// A piece of a request body as received: NIO's `ByteBuffer`, or bytes in memory.
package protocol BodyPiece {
    var readableBytes: Int { get }
    func withUnsafeReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T
}

extension ArraySlice<UInt8>: BodyPiece {
    package var readableBytes: Int { count }
    package func withUnsafeReadableBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try withUnsafeBytes(body)
    }
}

/// Looks at the start of an envelope as received, and reads an envelope of `log` items alone
/// (``IngestController/logsApart(_:encoding:projectID:)``).
package enum LogEnvelopePeek {
    /// The most of the body decoded to find the envelope header and the first item header.
    package static let maxPeek = 16 * 1024
    /// Decoded at most at a time while looking for them: no more is decoded than the two lines need.
    private static let step = 512

    /// Whether the body (`buffers` as received, in `encoding`; gzip in one or more members) holds an envelope whose
    /// header has no `event_id` and whose first item header is a `log` item's. Decodes no more of it than those two
    /// lines (a few hundred bytes; at most ``maxPeek``). A body that cannot be read so far answers false (the usual
    /// way reports it).
    package static func beginsWithLogItem(_ buffers: [some BodyPiece], encoding: ContentEncoding) -> Bool {
        let start: [UInt8]?
        switch encoding {
        case .identity: start = prefix(buffers)
        case .gzip: start = zlibPrefix(buffers, windowBits: 15 + 32)
        case .deflate:
            // As ``ZlibDecoder`` reads it: zlib-wrapped when the first two bytes say so, else raw.
            var two: [UInt8] = []
            for buffer in buffers where two.count < 2 {
                buffer.withUnsafeReadableBytes { two += $0.prefix(2 - two.count) }
            }
            guard two.count == 2 else { return false }
            let (a, b) = (two[0], two[1])
            let isZlib = a & 0x0f == 8 && (UInt16(a) << 8 | UInt16(b)) % 31 == 0
            start = zlibPrefix(buffers, windowBits: isZlib ? 15 : -15)
        case .brotli: start = brotliPrefix(buffers)
        }
        guard let start, let first = start.firstIndex(of: 0x0a) else { return false }
        let second = start[(first + 1)...].firstIndex(of: 0x0a) ?? start.count
        return isLogItem(header: Array(start[..<first]), item: Array(start[(first + 1)..<second]))
    }

    /// The decoded start of a body up to its second newline, or nil when it does not get that far within
    /// ``maxPeek`` or cannot be decoded. `decode` writes decoded bytes into the room it is given and answers how
    /// many, or nil when it has nothing more (or fails).
    private static func upToSecondNewline(_ decode: (UnsafeMutableBufferPointer<UInt8>) -> Int?) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: maxPeek)
        let count = output.withUnsafeMutableBufferPointer { out -> Int? in
            var produced = 0
            var newlines = 0
            while produced < out.count {
                let room = UnsafeMutableBufferPointer(rebasing: out[produced..<min(out.count, produced + step)])
                guard let written = decode(room) else { return nil }
                for index in produced..<(produced + written) where out[index] == 0x0a {
                    newlines += 1
                    if newlines == 2 { return index }
                }
                produced += written
            }
            return nil
        }
        guard let count else { return nil }
        output.removeSubrange(count...)
        return output
    }

    /// An identity body's start.
    private static func prefix(_ buffers: [some BodyPiece]) -> [UInt8]? {
        var next = 0
        var offset = 0
        return upToSecondNewline { room in
            while next < buffers.count && offset == buffers[next].readableBytes {
                next += 1
                offset = 0
            }
            guard next < buffers.count else { return nil }
            let buffer = buffers[next]
            let count = min(room.count, buffer.readableBytes - offset)
            buffer.withUnsafeReadableBytes { raw in
                _ = room.initialize(from: raw[offset..<(offset + count)])
            }
            offset += count
            return count
        }
    }

    /// A gzip or deflate body's start, through zlib (gzip: members one after another, as the usual decode reads).
    private static func zlibPrefix(_ buffers: [some BodyPiece], windowBits: Int32) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { inflateEnd(&stream) }
        // The chunks' bytes, which stay where they are: the chunks are held until the end.
        var next = 0
        var offset = 0
        /// The member read last ended: the next byte starts another gzip member, or nothing more is read.
        var ended = false
        return upToSecondNewline { room in
            while true {
                while next < buffers.count && offset == buffers[next].readableBytes {
                    next += 1
                    offset = 0
                }
                guard next < buffers.count else { return nil }
                let step = buffers[next].withUnsafeReadableBytes {
                    raw -> (status: Int32, consumed: Int, written: Int)? in
                    guard let base = raw.baseAddress else { return nil }
                    let input = UnsafeMutablePointer(mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
                    if ended {
                        guard windowBits == 15 + 32, input.pointee == 0x1f else { return nil }
                        inflateReset(&stream)
                        ended = false
                    }
                    stream.next_in = input
                    stream.avail_in = uInt(raw.count - offset)
                    stream.next_out = room.baseAddress
                    stream.avail_out = uInt(room.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    stream.next_in = nil
                    return (status, raw.count - offset - Int(stream.avail_in), room.count - Int(stream.avail_out))
                }
                guard let step, step.status == Z_OK || step.status == Z_BUF_ERROR || step.status == Z_STREAM_END else {
                    return nil
                }
                offset += step.consumed
                ended = step.status == Z_STREAM_END
                if step.written > 0 { return step.written }
                if step.consumed == 0 && !ended { return nil }  // no progress: broken, or zlib wants what is not here
            }
        }
    }

    /// A brotli body's start.
    private static func brotliPrefix(_ buffers: [some BodyPiece]) -> [UInt8]? {
        guard let state = BrotliDecoderCreateInstance(nil, nil, nil) else { return nil }
        defer { BrotliDecoderDestroyInstance(state) }
        var next = 0
        var offset = 0
        var ended = false
        return upToSecondNewline { room in
            while !ended {
                while next < buffers.count && offset == buffers[next].readableBytes {
                    next += 1
                    offset = 0
                }
                guard next < buffers.count else { return nil }
                let (result, consumed, written) = buffers[next].withUnsafeReadableBytes {
                    raw -> (BrotliDecoderResult, Int, Int) in
                    var availableIn = raw.count - offset
                    var nextIn = raw.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) + offset }
                    var availableOut = room.count
                    var nextOut: UnsafeMutablePointer<UInt8>? = room.baseAddress
                    let result = BrotliDecoderDecompressStream(
                        state, &availableIn, &nextIn, &availableOut, &nextOut, nil)
                    return (result, raw.count - offset - availableIn, room.count - availableOut)
                }
                offset += consumed
                switch result {
                case BROTLI_DECODER_RESULT_SUCCESS: ended = true
                case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT, BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: break
                default: return nil
                }
                if written > 0 { return written }
            }
            return nil
        }
    }

    /// An item header of type `log` after an envelope header without an `event_id` (the item first: most bodies
    /// are events', whose envelope header is then never parsed here).
    package static func isLogItem(header: [UInt8], item: [UInt8]) -> Bool {
        guard let itemHeader = try? JSONParser.parse(item), itemHeader["type"]?.stringValue == "log",
            let envelopeHeader = try? JSONParser.parse(header), envelopeHeader.objectValue != nil
        else { return false }
        return envelopeHeader["event_id"].map(\.isNull) ?? true
    }

    /// The `log` items of an envelope as received (`body` in `encoding`; on the log writer's reading thread), or nil
    /// when it holds anything else that is read (an event, a session, …), an item that was not kept, or cannot be
    /// decoded (to at most `inflatedLimit` bytes) or read within the limits: then the request goes the usual way,
    /// which stores the rest or answers what is wrong.
    package static func logItems(
        _ body: [UInt8], encoding: ContentEncoding, inflatedLimit: Int, readerLimits: EnvelopeReader.Limits,
        logLimits: LogItems.Limits
    ) -> UnreadLogItems? {
        let decoded: [UInt8]?
        switch encoding {
        case .identity: decoded = body.count <= inflatedLimit ? body : nil
        case .gzip: decoded = body.withUnsafeBytes { GzipInflater.inflate($0, limit: inflatedLimit) }
        case .deflate, .brotli:
            decoded = try? encoding.makeDecoder()?.decodeAll(body, limit: inflatedLimit) {
                DecodingError(description: "over the limit")
            }
        }
        guard let decoded, let envelope = try? Envelope.parse(decoded, limits: readerLimits),
            envelope.headers["event_id"].map(\.isNull) ?? true
        else { return nil }
        var unread = UnreadLogItems(limits: logLimits)
        for item in envelope.items {
            guard let type = item.knownType else { continue }  // read past, as the usual way reads past it
            guard type == .log, !item.isSkipped else { return nil }
            unread.items.append(UnreadLogItems.Item(index: item.index, payload: item.payload))
        }
        return unread.items.isEmpty ? nil : unread
    }
}
