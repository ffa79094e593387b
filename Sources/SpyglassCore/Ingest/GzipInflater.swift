import CDeflate

/// A small gzip body inflated in one call of Debian's libdeflate: the bytes ``ZlibDecoder`` gives, for less CPU
/// than zlib's stream (docs/performance.md, "Bodies inflated at once"). Only the plain case: one or more gzip members
/// with no header CRC (zlib checks it, libdeflate skips it) and nothing after the last. Anything else (zlib-wrapped
/// data sent as gzip, bytes after the last member, broken or truncated data, more than `limit` bytes) gives nil, and
/// the caller decodes the body with ``ZlibDecoder``, whose output, limits and messages stay the reference.
///
/// libdeflate also decodes some invalid streams that zlib refuses (literal/length symbols 286 and 287, distance
/// codes 30 and 31, too many code lengths): such a body is accepted here where a longer one would get a 400, and
/// its content is what the sender meant. Where zlib stops at such a stream while reading a stored body, the reader
/// inflates it here too (`EventPayloadCodec`), and gets the bytes ingest read: the two agree on every valid stream,
/// and libdeflate gives the same output with as much room or more.
package enum GzipInflater {
    /// Compressed bodies up to this size are collected and inflated at once; larger ones stream through zlib.
    package static let maxInput = 256 * 1024
    /// The most an envelope's body is inflated to at once by default (at most the envelope limit); a reader of a
    /// stored body allows at least as much.
    package static let defaultLimit = 2 << 20
    /// The most a deflate stream can expand (258 bytes from two bits), with room for gzip's framing.
    private static let maxRatio = 1032

    package static func inflate(_ input: UnsafeRawBufferPointer, limit: Int) -> [UInt8]? {
        guard input.count >= 18, input.count <= maxInput, limit > 0, let base = input.baseAddress else { return nil }
        // The last member's ISIZE (its decoded length modulo 2^32, as the sender claims it) sizes the output, with
        // room for small members before it. One attempt: a body that does not fit (several large members, a false
        // claim) is left to zlib, so no body costs more than one partial inflate besides zlib's.
        let claimed = input.loadUnaligned(fromByteOffset: input.count - 4, as: UInt32.self).littleEndian
        let capacity = min(limit, input.count * maxRatio, max(Int(claimed) + 8 * input.count, 4096))
        guard let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var inflated = false
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            count = 0
            guard let out = buffer.baseAddress else { return }
            var consumed = 0
            var produced = 0
            while consumed < input.count {
                // A member starts with 1f 8b 08 (deflate) and flags without FHCRC or reserved bits.
                guard input.count - consumed >= 18, input[consumed] == 0x1f, input[consumed + 1] == 0x8b,
                    input[consumed + 2] == 8, input[consumed + 3] & 0xe2 == 0
                else { return }
                var read = 0
                var written = 0
                let status = libdeflate_gzip_decompress_ex(
                    decompressor, base + consumed, input.count - consumed, out + produced, capacity - produced,
                    &read, &written)
                guard status == LIBDEFLATE_SUCCESS else { return }
                consumed += read
                produced += written
            }
            count = produced
            inflated = true
        }
        return inflated ? output : nil
    }
}
