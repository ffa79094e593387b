import CZlib
import Foundation
import SpyglassCore
import SpyglassProtocol
import Synchronization

/// Stored event payloads, told apart by their first byte:
/// - JSON, zlib-compressed (level 3: most of level 6's ratio at half its CPU); a zlib stream's first byte has 8
///   as its low nibble, which no other form's marker has;
/// - 0: the request body an event came in, as received (``CompressedBody``: its format and offsets, then the body);
/// - 1: the payload of a ``PayloadDictionary`` (the event that made it): the dictionary's id, nothing else;
/// - 2: JSON as it differs from a ``PayloadDictionary``: the dictionary's id, the Adler-32 of its bytes (4 bytes),
///   then a zlib stream of the ``PayloadDelta`` program that rebuilds the JSON from them.
///
/// Ids and checksums are stored little-endian. Forms 1 and 2 are read with the dictionary's payload (`dictionary`).
public enum EventPayloadCodec {
    /// The stored form of a payload.
    public static func encode(_ payload: JSONValue) -> [UInt8] {
        compress(JSONWriter.bytes(payload))
    }

    /// The stored form of an event: its request body as received when it has one, else its raw bytes compressed
    /// when it has them, else its normalized payload compressed.
    public static func encode(_ event: NormalizedEvent) -> (blob: [UInt8], raw: Bool) {
        if let body = event.rawBody { return (encode(body), true) }
        if let raw = event.raw { return (compress(raw), true) }
        return (encode(event.payload), false)
    }

    /// zlib-compressed bytes.
    public static func compress(_ json: [UInt8]) -> [UInt8] {
        let compressor = compressors.take()
        let blob = compressor.compress(json)
        compressors.put(compressor)
        return blob
    }

    /// `payload` as it differs from `dictionary` (form 2).
    package static func encode(_ payload: [UInt8], against dictionary: PayloadDictionary) -> [UInt8] {
        let program = PayloadDelta.encode(payload, dictionary: dictionary.bytes, index: dictionary.index)
        let stream = program.count < storedProgramLimit ? storedStream(program) : compress(program)
        var blob = [deltaMarker]
        blob.reserveCapacity(1 + idSize + 4 + stream.count)
        appendID(dictionary.id, to: &blob)
        appendLittleEndian(UInt64(dictionary.checksum), bytes: 4, to: &blob)
        blob += stream
        return blob
    }

    /// Delta programs shorter than this are written as a zlib stream of one stored (uncompressed) block: deflate
    /// saves a byte or two on a program that short, and each deflate has a fixed cost of a few microseconds
    /// (docs/performance.md, "Stored bodies read as ingest read them; short delta programs").
    package static let storedProgramLimit = 128

    /// `bytes` (at most 65 535) as a zlib stream of one stored block, as any zlib reader inflates it.
    package static func storedStream(_ bytes: [UInt8]) -> [UInt8] {
        precondition(bytes.count <= 0xffff, "a stored block holds at most 65 535 bytes")
        let length = UInt16(bytes.count)
        // The zlib header (deflate, 32 KiB window, no dictionary, fastest level: 0x7801 is a multiple of 31), then
        // the last block's header (BFINAL 1, BTYPE 00), its length and the length's complement (little-endian).
        var stream: [UInt8] = [0x78, 0x01, 0x01, UInt8(length & 0xff), UInt8(length >> 8)]
        stream += [UInt8(~length & 0xff), UInt8(~length >> 8)]
        stream.reserveCapacity(stream.count + bytes.count + 4)
        stream += bytes
        // zlib's trailer: the Adler-32 of the bytes, big-endian.
        let checksum = PayloadDictionary.checksum(bytes)
        for shift in [24, 16, 8, 0] as [UInt32] { stream.append(UInt8(truncatingIfNeeded: checksum >> shift)) }
        return stream
    }

    /// The blob of the event whose payload is the dictionary's (form 1).
    package static func reference(to dictionaryID: Int64) -> [UInt8] {
        var blob = [dictionaryMarker]
        appendID(dictionaryID, to: &blob)
        return blob
    }

    private static let compressors = CompressorPool()

    /// The normalized payload of a stored event: raw payloads are normalized again as at ingest.
    /// `dictionary` gives the payload of a ``PayloadDictionary`` by id (for forms 1 and 2).
    public static func decode(
        _ blob: [UInt8], raw: Bool, eventID: String, received: Date, sentAt: Date?, clientIP: String?,
        dictionary: (Int64) throws -> [UInt8]
    ) throws -> JSONValue {
        let stored = try decode(blob, dictionary: dictionary)
        guard raw else { return stored }
        let context = EventNormalizer.Context(envelopeEventID: eventID, sentAt: sentAt, received: received, clientIP: clientIP)
        return (try? EventNormalizer().normalize(stored, context: context).payload) ?? stored
    }

    /// The JSON of a stored blob; throws when the blob is damaged.
    public static func decode(_ blob: [UInt8], dictionary: (Int64) throws -> [UInt8]) throws -> JSONValue {
        try JSONParser.parse(payloadBytes(blob, dictionary: dictionary))
    }

    /// The ``PayloadDictionary`` a stored blob is read with (forms 1 and 2), so a caller can load it first; nil for
    /// the other forms.
    package static func dictionaryID(of blob: [UInt8]) -> Int64? {
        switch blob.first {
        case dictionaryMarker where blob.count == 1 + idSize, deltaMarker where blob.count > 1 + idSize + 4: readID(blob)
        default: nil
        }
    }

    /// The payload bytes of a stored blob, in any of the forms above.
    package static func payloadBytes(_ blob: [UInt8], dictionary: (Int64) throws -> [UInt8]) throws -> ArraySlice<UInt8> {
        switch blob.first {
        case dictionaryMarker:
            guard blob.count == 1 + idSize else { throw damaged("bad dictionary reference") }
            return try dictionary(readID(blob))[...]
        case deltaMarker:
            guard blob.count > 1 + idSize + 4 else { throw damaged("bad dictionary reference") }
            let base = try dictionary(readID(blob))
            guard PayloadDictionary.checksum(base) == littleEndian32(blob, at: 1 + idSize) else {
                throw damaged("its dictionary \(readID(blob)) does not match")
            }
            let program = try inflate(blob[(1 + idSize + 4)...], windowBits: MAX_WBITS, through: nil)
            do { return try PayloadDelta.decode(program, dictionary: base)[...] } catch { throw damaged(error.reason) }
        case bodyMarker:
            break
        default:
            return try inflate(blob[...], windowBits: MAX_WBITS, through: nil)[...]
        }
        guard blob.count >= bodyHeaderSize, let format = CompressedBody.Format(rawValue: blob[1]) else {
            throw damaged("unknown body header")
        }
        let offset = Int(littleEndian32(blob, at: 2))
        let length = Int(littleEndian32(blob, at: 6))
        let windowBits: Int32
        switch format {
        case .gzip: windowBits = MAX_WBITS + 32
        case .zlib: windowBits = MAX_WBITS
        case .rawDeflate: windowBits = -MAX_WBITS
        }
        let body: [UInt8]
        do {
            body = try inflate(blob[bodyHeaderSize...], windowBits: windowBits, through: offset + length)
        } catch {
            // A gzip body libdeflate took at ingest where zlib stops (see GzipInflater) reads as ingest read it.
            let limit = max(offset + length, GzipInflater.defaultLimit)
            guard format == .gzip, let inflated = blob[bodyHeaderSize...].withUnsafeBytes({
                GzipInflater.inflate($0, limit: limit)
            }) else { throw error }
            body = inflated
        }
        guard body.count >= offset + length else { throw damaged("the body ends before the payload does") }
        return body[offset..<(offset + length)]
    }

    /// The stored form of a body: a marker no zlib stream starts with (its first byte's low nibble is 8), the
    /// format, the payload's offset and length (little-endian UInt32), then the body's bytes.
    package static func encode(_ body: CompressedBody) -> [UInt8] {
        var blob: [UInt8] = [bodyMarker, body.format.rawValue]
        blob.reserveCapacity(bodyHeaderSize + body.bytes.count)
        for value in [body.payloadOffset, body.payloadLength] {
            appendLittleEndian(UInt64(UInt32(clamping: value)), bytes: 4, to: &blob)
        }
        blob += body.bytes
        return blob
    }

    private static let bodyMarker: UInt8 = 0
    private static let bodyHeaderSize = 10
    private static let dictionaryMarker: UInt8 = 1
    private static let deltaMarker: UInt8 = 2
    private static let idSize = 8

    private static func appendID(_ id: Int64, to blob: inout [UInt8]) {
        appendLittleEndian(UInt64(bitPattern: id), bytes: idSize, to: &blob)
    }

    /// The id after a form 1 or 2 marker (the caller checked the length).
    private static func readID(_ blob: [UInt8]) -> Int64 {
        Int64(bitPattern: littleEndian(blob, at: 1, bytes: idSize))
    }

    private static func appendLittleEndian(_ value: UInt64, bytes: Int, to blob: inout [UInt8]) {
        for index in 0..<bytes { blob.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * index))) }
    }

    private static func littleEndian(_ blob: [UInt8], at index: Int, bytes: Int) -> UInt64 {
        (0..<bytes).reduce(0) { $0 | UInt64(blob[index + $1]) << UInt64(8 * $1) }
    }

    private static func littleEndian32(_ bytes: [UInt8], at index: Int) -> UInt32 {
        UInt32(littleEndian(bytes, at: index, bytes: 4))
    }

    private static func damaged(_ reason: String) -> DomainError {
        DomainError(.unavailable, "stored event payload is damaged (\(reason))")
    }

    /// Inflates `input` to its end (several gzip members in a row for gzip), or only until `through` bytes are out.
    private static func inflate(_ input: ArraySlice<UInt8>, windowBits: Int32, through: Int?) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DomainError(.unavailable, "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        try input.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            try chunk.withUnsafeMutableBufferPointer { buffer in
                while through.map({ out.count < $0 }) ?? true {
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else { throw damaged("zlib \(status)") }
                    out.append(contentsOf: buffer[0..<(buffer.count - Int(stream.avail_out))])
                    guard status == Z_STREAM_END else { continue }
                    // As the ingest decoder reads a gzip body: a further member follows where a gzip header starts.
                    guard windowBits > MAX_WBITS, stream.avail_in > 0, stream.next_in.pointee == 0x1f else { break }
                    inflateReset(&stream)
                }
            }
        }
        return out
    }
}

/// A zlib deflate stream kept for reuse. Setting one up allocates about 256 KiB (window, hash chains, output
/// buffer): glibc serves that from fresh pages and gives them back on free, so `compress2` per event cost more
/// than the compression itself (page faults, TLB shootdowns: docs/performance.md); `deflateReset` keeps the memory.
///
/// `@unchecked Sendable`: a compressor is used by one caller at a time. Only ``CompressorPool`` hands them out, and
/// it gives each to one taker, which uses it synchronously and returns it; zlib keeps no thread affinity.
package final class PayloadCompressor: @unchecked Sendable {
    /// zlib's level for stored payloads: most of level 6's ratio at half its CPU.
    package static let level: Int32 = 3

    private var stream = z_stream()

    package init() {
        let status = deflateInit2_(
            &stream, Self.level, Z_DEFLATED, MAX_WBITS, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        // Only an allocation failure (out of memory) makes deflateInit2 fail with these constant arguments.
        precondition(status == Z_OK, "zlib deflateInit2 failed: \(status)")
    }

    deinit { deflateEnd(&stream) }

    /// `input` as one complete zlib stream.
    package func compress(_ input: [UInt8]) -> [UInt8] {
        // One deflate call takes at most 4 GiB (`uInt`); zlib's one-shot function loops over larger input.
        guard input.count <= Int(UInt32.max) else { return Self.compressOnce(input) }
        deflateReset(&stream)
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        return [UInt8](unsafeUninitializedCapacity: bound) { out, count in
            input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(bound)
                // deflateBound guarantees that one call with Z_FINISH ends the stream.
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "zlib deflate did not finish: \(status)")
                count = bound - Int(stream.avail_out)
                stream.next_in = nil
                stream.next_out = nil
            }
        }
    }
}

extension PayloadCompressor {
    /// `compress2` at the same level, for input a single deflate call cannot take.
    package static func compressOnce(_ input: [UInt8]) -> [UInt8] {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = compress2(&out, &bound, input, uLong(input.count), level)
        // compressBound guarantees room; a failure would be an out-of-memory condition in zlib.
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        return Array(out.prefix(Int(bound)))
    }
}

/// Idle compressors, shared by the request tasks (at most a few are in use at once: one per core running).
package final class CompressorPool: Sendable {
    /// Idle compressors kept at most; more are freed when returned.
    private let keep = 8
    private let idle = Mutex<[PayloadCompressor]>([])

    package func take() -> PayloadCompressor {
        idle.withLock { $0.popLast() } ?? PayloadCompressor()
    }

    package func put(_ compressor: PayloadCompressor) {
        idle.withLock { idle in
            if idle.count < keep { idle.append(compressor) }
        }
    }
}
