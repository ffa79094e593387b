import SpyglassHTTP
import Testing

/// Inputs `scripts/fuzz` found, reduced.
@Suite struct FuzzRegressionTests {
    /// content: bytes after a gzip body's end are ignored up to its end, wherever the chunks fall. A chunk that
    /// started with 0x1f after ignored bytes was read as a further member (here "world", or a corrupt-stream error).
    @Test func bytesAfterTheEndOfAGzipBodyAreIgnoredInAnyChunking() throws {
        let body = deflate(Array("hello".utf8), windowBits: 31) + [0x00] + deflate(Array("world".utf8), windowBits: 31)
        for chunk in [1, 2, 3, 7, body.count] {
            #expect(try decodeAll(.gzip, body, chunk: chunk) == Array("hello".utf8), "chunks of \(chunk) bytes")
        }
        let garbage = deflate(Array("hello".utf8), windowBits: 31) + [0x00, 0x1f, 0x09, 0x65]
        #expect(try decodeAll(.gzip, garbage, chunk: 1) == Array("hello".utf8))
    }
}
