import Foundation
import CZlib
import SpyglassCore
import SpyglassHTTP
import Testing

/// Compresses with zlib: windowBits 31 = gzip, 15 = zlib-wrapped, -15 = raw deflate.
func deflate(_ input: [UInt8], windowBits: Int32) -> [UInt8] {
    var stream = z_stream()
    deflateInit2_(&stream, 9, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
    var input = input
    input.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            _ = CZlib.deflate(&stream, Z_FINISH)
        }
    }
    return Array(output.prefix(Int(stream.total_out)))
}

func decodeAll(_ encoding: ContentEncoding, _ input: [UInt8], chunk: Int = 7) throws -> [UInt8] {
    guard let decoder = encoding.makeDecoder() else { return input }
    var output: [UInt8] = []
    var offset = 0
    while offset < input.count {
        let piece = Array(input[offset..<min(offset + chunk, input.count)])
        try piece.withUnsafeBytes { raw in try decoder.decode(raw) { output.append(contentsOf: $0) } }
        offset += chunk
    }
    try decoder.finish()
    return output
}

@Suite struct ContentDecoderTests {
    let text = Array(String(repeating: "{\"message\":\"hello world\"}\n", count: 5000).utf8)

    @Test(arguments: [
        (nil, ContentEncoding.identity), ("", .identity), ("UTF-8", .identity), ("identity", .identity),
        ("gzip", .gzip), ("X-GZIP", .gzip), ("deflate", .deflate), ("br", .brotli),
    ] as [(String?, ContentEncoding)])
    func parsesTheHeader(_ header: String?, _ encoding: ContentEncoding) {
        #expect(ContentEncoding(header: header) == encoding)
    }

    @Test func refusesOtherEncodings() {
        #expect(ContentEncoding(header: "zstd") == nil)
        #expect(ContentEncoding(header: "gzip, br") == nil)
    }

    @Test(arguments: [(Int32(31), ContentEncoding.gzip), (15, .gzip), (15, .deflate), (-15, .deflate)])
    func inflatesGzipZlibAndRawDeflateInAnyChunking(_ windowBits: Int32, _ encoding: ContentEncoding) throws {
        let compressed = deflate(text, windowBits: windowBits)
        #expect(compressed.count < text.count / 10)
        for chunk in [1, 2, 7, 4096, compressed.count] {
            #expect(try decodeAll(encoding, compressed, chunk: chunk) == text, "chunk \(chunk)")
        }
    }

    @Test func gzipBodiesMayHoldSeveralMembers() throws {
        let first = Array("{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n".utf8)
        let rest = Array(text.prefix(5000))
        let body = deflate(first, windowBits: 31) + deflate(rest, windowBits: 31)
        for chunk in [1, 3, 64, body.count] {
            #expect(try decodeAll(.gzip, body, chunk: chunk) == first + rest, "chunk \(chunk)")
        }
        // Trailing garbage after the last member is ignored, as before.
        #expect(try decodeAll(.gzip, deflate(first, windowBits: 31) + [0, 1, 2]) == first)
    }

    @Test func truncatedAndCorruptStreamsFailWithAMessage() throws {
        let compressed = deflate(text, windowBits: 31)
        let truncated = #expect(throws: DecodingError.self) { try decodeAll(.gzip, Array(compressed.prefix(compressed.count / 2))) }
        #expect(truncated?.description.contains("truncated gzip data") == true)
        var corrupt = compressed
        corrupt[20] ^= 0xff
        corrupt[21] ^= 0xff
        let broken = #expect(throws: DecodingError.self) { try decodeAll(.gzip, corrupt) }
        #expect(broken?.description.hasPrefix("invalid gzip data") == true)
        #expect(throws: DecodingError.self) { try decodeAll(.brotli, Array("not brotli at all".utf8)) }
        #expect(throws: DecodingError.self) { try decodeAll(.gzip, [0x1f]) }
    }

    /// What ``GzipInflater`` gives for `body`, or nil.
    func inflatedAtOnce(_ body: [UInt8], limit: Int = 1 << 20) -> [UInt8]? {
        body.withUnsafeBytes { GzipInflater.inflate($0, limit: limit) }
    }

    @Test func smallGzipBodiesInflateAtOnceToWhatZlibGives() throws {
        let first = Array("{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\"}\n".utf8)
        let one = deflate(text, windowBits: 31)
        #expect(inflatedAtOnce(one) == text)
        // Several members: the envelope's headers in a small one, the event in the last (as the benchmark sends),
        // and an empty one.
        let several = deflate(first, windowBits: 31) + deflate([], windowBits: 31) + deflate(text, windowBits: 31)
        let expected = try decodeAll(.gzip, several)
        #expect(expected == first + text)
        #expect(inflatedAtOnce(several) == expected)
        // A large member before a small last one: the last one's length understates the output, and the one
        // attempt leaves the body to zlib's stream.
        let largeFirst = deflate(text, windowBits: 31) + deflate(first, windowBits: 31)
        #expect(inflatedAtOnce(largeFirst) == nil)
        #expect(try decodeAll(.gzip, largeFirst) == text + first)
        // Exactly at the limit still inflates; a byte less and zlib's stream must do it (nil).
        #expect(inflatedAtOnce(one, limit: text.count) == text)
        #expect(inflatedAtOnce(one, limit: text.count - 1) == nil)
    }

    /// libdeflate decodes some streams RFC 1951 does not allow and zlib refuses: here a fixed-Huffman block using
    /// literal/length symbol 286. The inflater takes it (why a reader of a stored body falls back to it where zlib
    /// stops: `EventPayloadCodec`); zlib's stream refuses it.
    @Test func theInflaterTakesSomeInvalidStreamsZlibRefuses() throws {
        let base64 = "H4sIAAAAAAAAA6uu5apWKqksSFWyUkotS80rUarlqlbKTS0uTkxPVbJSShwHSrVcAEoW9tImAQAA"
        let body = try #require(Data(base64Encoded: base64))
        let expected = Array(#"{}"#.utf8) + [10] + Array(#"{"type":"event"}"#.utf8) + [10]
            + Array(#"{"message":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 259) + Array(#""}"#.utf8) + [10]
        #expect(inflatedAtOnce(Array(body)) == expected)
        #expect(throws: DecodingError.self) { try decodeAll(.gzip, Array(body)) }
    }

    @Test func whatTheInflaterDoesNotTakeIsLeftToZlib() throws {
        let member = deflate(text, windowBits: 31)
        // zlib-wrapped data sent as gzip, and bytes after the last member: zlib decodes them (ignoring the bytes).
        let zlibWrapped = deflate(text, windowBits: 15)
        #expect(inflatedAtOnce(zlibWrapped) == nil)
        #expect(try decodeAll(.gzip, zlibWrapped) == text)
        #expect(inflatedAtOnce(member + [0, 1, 2]) == nil)
        #expect(try decodeAll(.gzip, member + [0, 1, 2]) == text)
        // A header CRC (FHCRC), which zlib checks and libdeflate skips: a wrong one fails in zlib, so the inflater
        // must not accept it.
        var withHeaderCRC = Array(member.prefix(10)) + [0xde, 0xad] + Array(member.dropFirst(10))
        withHeaderCRC[3] |= 0x02
        #expect(inflatedAtOnce(withHeaderCRC) == nil)
        #expect(throws: DecodingError.self) { try decodeAll(.gzip, withHeaderCRC) }
        // Truncated, corrupt, a false length in the trailer, empty: nil, and zlib's error is the answer.
        var corrupt = member
        corrupt[20] ^= 0xff
        corrupt[21] ^= 0xff
        var falseLength = member
        falseLength[falseLength.count - 1] ^= 0x40
        for broken in [Array(member.prefix(member.count / 2)), corrupt, falseLength] {
            #expect(inflatedAtOnce(broken) == nil)
            #expect(throws: DecodingError.self) { try decodeAll(.gzip, broken) }
        }
        #expect(inflatedAtOnce([]) == nil)
        // Longer than the bodies it holds: left to the stream.
        let large = deflate((0..<400_000).map { _ in UInt8.random(in: 0...255) }, windowBits: 31)
        #expect(large.count > GzipInflater.maxInput)
        #expect(inflatedAtOnce(large, limit: 1 << 22) == nil)
    }

    @Test func outputArrivesInBoundedPieces() throws {
        let zeros = [UInt8](repeating: 0, count: 10 * 1024 * 1024)
        let compressed = deflate(zeros, windowBits: 31)
        let decoder = try #require(ContentEncoding.gzip.makeDecoder())
        var largest = 0
        var total = 0
        try compressed.withUnsafeBytes { raw in
            try decoder.decode(raw) { piece in
                largest = max(largest, piece.count)
                total += piece.count
            }
        }
        #expect(total == zeros.count)
        #expect(largest <= 64 * 1024)
    }
}
