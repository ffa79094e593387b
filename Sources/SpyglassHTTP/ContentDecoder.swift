import Foundation
import CBrotli
import CZlib
import SpyglassCore

/// A request body's `Content-Encoding`, decoded as a stream so decompression bombs are caught early.
public enum ContentEncoding: Sendable, Hashable {
    case identity, gzip, deflate, brotli

    /// Parses the header. `nil` for a value Spyglass can't decode (→ 415).
    /// Empty values and `UTF-8` (sent by sentry-ruby 5 and an old Android SDK) mean identity, as in Relay.
    public init?(header: String?) {
        // What SDKs send, as they send it, without trimming and lowercasing (Foundation's cost showed in profiles).
        switch header {
        case nil, "": self = .identity; return
        case "gzip": self = .gzip; return
        default: break
        }
        let value = (header ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        switch value {
        case "", "identity", "utf-8", "utf8": self = .identity
        case "gzip", "x-gzip": self = .gzip
        case "deflate": self = .deflate
        case "br": self = .brotli
        default: return nil
        }
    }

    /// A fresh decoder for one body; `nil` for identity.
    package func makeDecoder() -> (any StreamDecoder)? {
        switch self {
        case .identity: nil
        case .gzip: ZlibDecoder(format: .gzip)
        case .deflate: ZlibDecoder(format: .deflateSniffed)
        case .brotli: BrotliDecoder()
        }
    }
}

/// A broken compressed stream.
package struct DecodingError: Error, CustomStringConvertible {
    package let description: String
}

/// Decodes a compressed stream chunk by chunk.
package protocol StreamDecoder: AnyObject {
    /// Decodes `input`, handing decoded bytes to `output` in pieces of at most 64 KiB.
    func decode(
        _ input: UnsafeRawBufferPointer, output: (UnsafeBufferPointer<UInt8>) throws -> Void
    ) throws
    /// Checks the stream ended where it should.
    func finish() throws
}

extension StreamDecoder {
    /// Decodes the whole of `input` into at most `limit` bytes; past that, throws what `tooLarge` makes, and a
    /// broken stream throws ``DecodingError``.
    package func decodeAll(_ input: some ContiguousBytes, limit: Int, tooLarge: () -> any Error) throws -> [UInt8] {
        var output: [UInt8] = []
        try input.withUnsafeBytes { raw in
            try decode(raw) { piece in
                guard output.count + piece.count <= limit else { throw tooLarge() }
                output.append(contentsOf: piece)
            }
        }
        try finish()
        return output
    }
}

private let outputChunk = 64 * 1024

/// gzip, zlib-wrapped deflate and raw deflate through zlib.
package final class ZlibDecoder: StreamDecoder {
    package enum Format { case gzip, deflateSniffed }

    private let format: Format
    private var stream = z_stream()
    private var started = false
    private var ended = false
    private var windowBits: Int32 = 0
    /// Input after the end of the stream was ignored.
    private var ignoredInput = false
    private var pending: [UInt8] = []
    /// Made at the first input: a gzip body that ``GzipInflater`` takes never needs it.
    private var output: [UInt8] = []

    package init(format: Format) { self.format = format }

    deinit { if started { inflateEnd(&stream) } }

    private func start(firstBytes: [UInt8]) throws {
        let windowBits: Int32
        switch format {
        case .gzip: windowBits = 15 + 32  // gzip, and zlib too, by header detection
        case .deflateSniffed:
            // "deflate" is zlib-wrapped per RFC 9110, but some clients send raw deflate: look at the header.
            let isZlib = firstBytes.count >= 2 && firstBytes[0] & 0x0f == 8
                && (UInt16(firstBytes[0]) << 8 | UInt16(firstBytes[1])) % 31 == 0
            windowBits = isZlib ? 15 : -15
        }
        let status = inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw DecodingError(description: "cannot start zlib (\(status))") }
        started = true
        self.windowBits = windowBits
    }

    /// The format to decode the whole body with again (``CompressedBody``): nil before the stream started, and
    /// when input after its end was ignored (a later decode of the whole body might not ignore the same bytes).
    package var bodyFormat: CompressedBody.Format? {
        guard started, ended, !ignoredInput else { return nil }
        switch windowBits {
        case 15: return .zlib
        case -15: return .rawDeflate
        default: return .gzip
        }
    }

    private var name: String { format == .gzip ? "gzip" : "deflate" }

    package func decode(_ input: UnsafeRawBufferPointer, output emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        if !started {
            pending.append(contentsOf: input)
            guard pending.count >= 2 else { return }
            try start(firstBytes: pending)
            let buffered = pending
            pending = []
            try buffered.withUnsafeBytes { try inflateAll($0, emit) }
            return
        }
        try inflateAll(input, emit)
    }

    private func inflateAll(_ input: UnsafeRawBufferPointer, _ emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        guard let base = input.baseAddress, input.count > 0 else { return }
        if ended {
            // The next gzip member may start in a later chunk; anything else after the end is ignored, and so is all
            // that follows it, as when the body comes in one piece (where the chunks fall must not matter).
            guard format == .gzip, !ignoredInput, input[0] == 0x1f else {
                ignoredInput = true
                return
            }
            inflateReset(&stream)
            ended = false
        }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        if output.isEmpty { output = [UInt8](repeating: 0, count: outputChunk) }
        try output.withUnsafeMutableBufferPointer { out in
            guard let outBase = out.baseAddress else { return }
            while true {
                stream.next_out = outBase
                stream.avail_out = uInt(out.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                let produced = out.count - Int(stream.avail_out)
                if produced > 0 { try emit(UnsafeBufferPointer(start: outBase, count: produced)) }
                switch status {
                case Z_STREAM_END:
                    // A gzip body may hold several members (RFC 1952 §2.2): go on with the next one.
                    if format == .gzip && stream.avail_in > 0 && stream.next_in.pointee == 0x1f {
                        inflateReset(&stream)
                        continue
                    }
                    ended = true
                    if stream.avail_in > 0 { ignoredInput = true }
                    return
                case Z_OK:
                    if stream.avail_in == 0 && stream.avail_out > 0 { return }
                case Z_BUF_ERROR:
                    return  // needs more input
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw DecodingError(description: "invalid \(name) data: \(reason)")
                }
            }
        }
        stream.next_in = nil
    }

    package func finish() throws {
        if !started && !pending.isEmpty { throw DecodingError(description: "truncated \(name) data") }
        if started && !ended { throw DecodingError(description: "truncated \(name) data: the stream does not end") }
    }
}

/// Brotli through Debian's libbrotlidec.
package final class BrotliDecoder: StreamDecoder {
    private let state: OpaquePointer
    private var ended = false
    private var sawInput = false
    private var output = [UInt8](repeating: 0, count: outputChunk)

    package init() {
        // Allocation failure here means the process is out of memory; nothing sensible remains.
        state = BrotliDecoderCreateInstance(nil, nil, nil)!
    }

    deinit { BrotliDecoderDestroyInstance(state) }

    package func decode(_ input: UnsafeRawBufferPointer, output emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        guard !ended, let base = input.baseAddress, input.count > 0 else { return }
        sawInput = true
        var availableIn = input.count
        var nextIn: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
        try output.withUnsafeMutableBufferPointer { out in
            guard let outBase = out.baseAddress else { return }
            while true {
                var availableOut = out.count
                var nextOut: UnsafeMutablePointer<UInt8>? = outBase
                let result = BrotliDecoderDecompressStream(state, &availableIn, &nextIn, &availableOut, &nextOut, nil)
                let produced = out.count - availableOut
                if produced > 0 { try emit(UnsafeBufferPointer(start: outBase, count: produced)) }
                switch result {
                case BROTLI_DECODER_RESULT_SUCCESS:
                    ended = true
                    return
                case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
                    return
                case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
                    continue
                default:
                    let code = BrotliDecoderGetErrorCode(state)
                    let reason = BrotliDecoderErrorString(code).map { String(cString: $0) } ?? "error"
                    throw DecodingError(description: "invalid brotli data: \(reason)")
                }
            }
        }
    }

    package func finish() throws {
        if sawInput && !ended { throw DecodingError(description: "truncated brotli data: the stream does not end") }
    }
}
