import CZlib
import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassStorage
import SpyglassStorageKit

extension EventPayloadCodec {
    /// A blob that needs no dictionary (the forms these tests make).
    static func decode(_ blob: [UInt8]) throws -> JSONValue {
        try decode(blob) { id in throw DomainError(.notFound, "no dictionary \(id) in this test") }
    }

    static func payloadBytes(_ blob: [UInt8]) throws -> ArraySlice<UInt8> {
        try payloadBytes(blob) { id in throw DomainError(.notFound, "no dictionary \(id) in this test") }
    }
}

@Suite struct EventPayloadCodecTests {
    /// A payload of `size` bytes of JSON whose content depends on `seed` (compressible, as events are).
    func payload(seed: Int, size: Int) -> [UInt8] {
        var text = #"{"seed":\#(seed),"frames":["#
        var n = seed
        while text.utf8.count < size {
            n = (n &* 1_103_515_245 &+ 12_345) & 0x7fff_ffff
            text += #"{"function":"handler_\#(n % 97)","lineno":\#(n % 5000)},"#
        }
        text += #"{}]}"#
        return Array(text.utf8)
    }

    /// zlib's one-shot `compress2` at the codec's level: the reference output.
    func referenceCompress(_ input: [UInt8]) -> [UInt8] { PayloadCompressor.compressOnce(input) }

    @Test func reusedCompressorsGiveZlibsOwnOutputAndDecodeBack() throws {
        // Small, typical and larger than the 64 KiB output chunk of the decoder; one after another on one compressor.
        for (seed, size) in [(1, 2), (2, 13_000), (3, 200_000), (4, 13_000), (5, 0)] {
            let input = size == 0 ? Array("{}".utf8) : payload(seed: seed, size: size)
            let blob = EventPayloadCodec.compress(input)
            #expect(blob == referenceCompress(input), "seed \(seed)")
            #expect(try EventPayloadCodec.decode(blob) == JSONParser.parse(input), "seed \(seed)")
        }
    }

    @Test func concurrentCompressionKeepsEachPayloadItsOwn() async throws {
        // More tasks than the pool keeps: compressors are created, shared out and dropped while others run.
        let inputs = (0..<64).map { payload(seed: $0, size: 4_000 + 997 * $0) }
        let blobs = await withTaskGroup(of: (Int, [UInt8]).self) { group in
            for (index, input) in inputs.enumerated() {
                group.addTask {
                    var blob: [UInt8] = []
                    for _ in 0..<20 { blob = EventPayloadCodec.compress(input) }
                    return (index, blob)
                }
            }
            var blobs = [[UInt8]](repeating: [], count: inputs.count)
            for await (index, blob) in group { blobs[index] = blob }
            return blobs
        }
        for (input, blob) in zip(inputs, blobs) {
            #expect(blob == referenceCompress(input))
        }
    }
}

extension EventPayloadCodecTests {
    /// `input` compressed by zlib with `windowBits` (31 gzip, 15 zlib, -15 raw deflate), as a client would send it.
    func clientCompress(_ input: [UInt8], windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        deflateInit2_(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        var input = input
        input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = source.baseAddress
                stream.avail_in = uInt(source.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        return Array(output.prefix(Int(stream.total_out)))
    }

    @Test(arguments: [(Int32(31), CompressedBody.Format.gzip), (15, .gzip), (15, .zlib), (-15, .rawDeflate)])
    func bodiesStoredAsReceivedDecodeToTheirPayload(_ windowBits: Int32, _ format: CompressedBody.Format) throws {
        let event = payload(seed: 7, size: 150_000)  // beyond the 64 KiB chunk the reader inflates in
        let header = Array(#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}"#.utf8) + [0x0a]
        let itemHeader = Array(#"{"type":"event","length":\#(event.count)}"#.utf8) + [0x0a]
        let envelope = header + itemHeader + event + [0x0a]
        let body = CompressedBody(
            format: format, bytes: clientCompress(envelope, windowBits: windowBits),
            payloadOffset: header.count + itemHeader.count, payloadLength: event.count)
        let blob = EventPayloadCodec.encode(body)
        #expect(blob.count == body.bytes.count + 10)
        #expect(try EventPayloadCodec.payloadBytes(blob) == event[...])
        #expect(try EventPayloadCodec.decode(blob) == JSONParser.parse(event))
    }

    /// A gzip body libdeflate took at ingest where zlib stops (see GzipInflater) is stored as received, and reads
    /// back as ingest read it; a body neither takes still fails as damaged.
    @Test func aBodyZlibRefusesReadsBackAsLibdeflateInflatedIt() throws {
        let start = Array(#"{}"#.utf8) + [0x0a] + Array(#"{"type":"event"}"#.utf8) + [0x0a]
        // Accepted by libdeflate, refused by zlib (literal/length symbol 286 in a fixed block).
        let base64 = "H4sIAAAAAAAAA6uu5apWKqksSFWyUkotS80rUarlqlbKTS0uTkxPVbJSShwHSrVcAEoW9tImAQAA"
        let refused = Array(try #require(Data(base64Encoded: base64)))
        let inflated = try #require(refused.withUnsafeBytes { GzipInflater.inflate($0, limit: 1 << 20) })
        let message = Array(#"{"message":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 259)
            + Array(#""}"#.utf8)
        #expect(inflated == start + message + [0x0a])
        var event = try #require(EventNormalizer().normalize(json: message, context: .init(received: .now)))
        event.raw = message
        event.rawBody = CompressedBody(
            format: .gzip, bytes: refused, payloadOffset: start.count, payloadLength: message.count)
        let (blob, raw) = EventPayloadCodec.encode(event)
        #expect(raw && blob.first == 0, "stored as received")
        #expect(try EventPayloadCodec.payloadBytes(blob).elementsEqual(message))
        // Its checksum broken, neither zlib nor libdeflate takes it.
        var broken = refused
        broken[broken.count - 8] ^= 1
        let damaged = EventPayloadCodec.encode(
            CompressedBody(format: .gzip, bytes: broken, payloadOffset: start.count, payloadLength: message.count))
        #expect(throws: DomainError.self) { try EventPayloadCodec.payloadBytes(damaged) }
    }

    @Test func gzipBodiesOfSeveralMembersAreReadAcrossThem() throws {
        // As the benchmark and some clients send them: the envelope and item headers in one member, the event in
        // the next one, split in the middle of the payload.
        let event = payload(seed: 8, size: 20_000)
        let start = Array(#"{}"#.utf8) + [0x0a] + Array(#"{"type":"event"}"#.utf8) + [0x0a]
        let split = 5_000
        let bytes = clientCompress(start + event[..<split], windowBits: 31)
            + clientCompress(Array(event[split...]) + [0x0a], windowBits: 31)
        let blob = EventPayloadCodec.encode(
            CompressedBody(format: .gzip, bytes: bytes, payloadOffset: start.count, payloadLength: event.count))
        #expect(try EventPayloadCodec.payloadBytes(blob) == event[...])
    }

    @Test func damagedStoredBodiesFailWithAMessage() throws {
        let event = payload(seed: 9, size: 20_000)
        let bytes = clientCompress(event, windowBits: 31)
        let whole = CompressedBody(format: .gzip, bytes: bytes, payloadOffset: 0, payloadLength: event.count)
        // Cut short, a payload said to be longer than the body, an unknown format, a missing header.
        var truncated = whole
        truncated.bytes = Array(bytes.prefix(bytes.count / 2))
        var overlong = whole
        overlong.payloadLength += 1
        var unknown = EventPayloadCodec.encode(whole)
        unknown[1] = 9
        for blob in [EventPayloadCodec.encode(truncated), EventPayloadCodec.encode(overlong), unknown, [0, 1, 0]] {
            let error = #expect(throws: DomainError.self) { try EventPayloadCodec.decode(blob) }
            #expect(error?.message.hasPrefix("stored event payload is damaged") == true)
        }
    }
}
