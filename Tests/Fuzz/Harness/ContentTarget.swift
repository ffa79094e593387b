import CDeflate

/// The request body decoders (`ContentEncoding.makeDecoder()`): gzip, deflate (zlib-wrapped or raw) and brotli,
/// chosen by the first byte, fed the rest whole and in random-size chunks, with an output cap as ingest has.
///
/// Properties: chunks decode to what the whole body decodes to, or fail as it does; a gzip or deflate body ingest would keep
/// (`bodyFormat`) reads back through the stored form (`EventPayloadCodec`) as the decoder's output; a gzip body
/// `GzipInflater` inflates at once decodes in zlib's stream to the same bytes, as a gzip body ingest keeps, where zlib
/// decodes it, and its stored form reads back as it was inflated, where zlib does or not.
enum ContentTarget {
    static let cap = 1 << 20

    struct OverCap: Error {}

    static func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let encoding: ContentEncoding = [.gzip, .deflate, .brotli][Int(first) % 3]
        let body = Array(bytes.dropFirst())
        var random = InputRandom(bytes)
        let whole = decode(body, encoding, chunks: [body[...]])
        let chunked = decode(body, encoding, chunks: random.chunks(body))
        // What a broken stream gave before its error differs with the chunks (brotli flushes its window when it
        // needs input) and does not matter: ingest refuses the request.
        if encoding == .gzip, let inflated = body.withUnsafeBytes({ GzipInflater.inflate($0, limit: cap) }) {
            // libdeflate may take streams zlib refuses (see GzipInflater); where zlib decodes a body, both agree.
            if !whole.failed, !whole.overCap {
                require(
                    whole.output == inflated && whole.bodyFormat == .gzip,
                    "gzip: inflated at once to \(inflated.count) bytes, the stream to \(whole.output.count) "
                        + "(format \(String(describing: whole.bodyFormat)))")
            }
            // Ingest stores such a body as received, zlib's stream or not: it reads back as it was inflated.
            let offset = inflated.count / 3
            let stored = EventPayloadCodec.encode(
                CompressedBody(
                    format: .gzip, bytes: body, payloadOffset: offset, payloadLength: inflated.count - offset))
            let read = try? EventPayloadCodec.payloadBytes(stored, dictionary: { _ in [] })
            require(read.map { Array($0) == Array(inflated[offset...]) } ?? false, "gzip: a body inflated at once "
                + "to \(inflated.count) bytes reads back as \(read.map { "\($0.count) other bytes" } ?? "an error")")
        }
        // The same for raw deflate (no checksum to get past, so the fuzzer reaches the two decoders' corners).
        if encoding == .deflate, whole.bodyFormat == .rawDeflate, !whole.failed, !whole.overCap {
            require(
                rawInflate(body).map { $0 == whole.output } ?? true,
                "raw deflate: libdeflate and zlib decode \(whole.output.count) bytes differently")
        }
        if !whole.overCap && !chunked.overCap {
            require(
                whole.failed == chunked.failed && (whole.failed || whole.output == chunked.output),
                "\(encoding): whole \(whole.output.count) bytes failed \(whole.failed), chunked \(chunked.output.count) bytes failed \(chunked.failed)"
            )
        }
        guard let format = whole.bodyFormat, !whole.failed, !whole.overCap else { return }
        let offset = whole.output.count / 3
        let stored = EventPayloadCodec.encode(
            CompressedBody(
                format: format, bytes: body, payloadOffset: offset, payloadLength: whole.output.count - offset))
        do {
            let payload = try EventPayloadCodec.payloadBytes(stored, dictionary: { _ in [] })
            require(
                Array(payload) == Array(whole.output[offset...]), "\(format): the stored body reads back differently")
        } catch {
            require(false, "\(format): the stored body does not read back: \(error)")
        }
    }

    /// `body` as one raw deflate stream through libdeflate; nil when it does not decode (or not to at most `cap`).
    static func rawInflate(_ body: [UInt8]) -> [UInt8]? {
        guard let decompressor = libdeflate_alloc_decompressor() else { return nil }
        defer { libdeflate_free_decompressor(decompressor) }
        var decoded = false
        let output = [UInt8](unsafeUninitializedCapacity: cap) { buffer, count in
            var read = 0
            var written = 0
            let status = body.withUnsafeBytes { input in
                libdeflate_deflate_decompress_ex(
                    decompressor, input.baseAddress, input.count, buffer.baseAddress, cap, &read, &written)
            }
            count = status == LIBDEFLATE_SUCCESS ? written : 0
            decoded = status == LIBDEFLATE_SUCCESS
        }
        return decoded ? output : nil
    }

    static func decode(
        _ body: [UInt8], _ encoding: ContentEncoding, chunks: [ArraySlice<UInt8>]
    ) -> (output: [UInt8], failed: Bool, overCap: Bool, bodyFormat: CompressedBody.Format?) {
        guard let decoder = encoding.makeDecoder() else { return (body, false, false, nil) }
        var output: [UInt8] = []
        var failed = false
        var overCap = false
        do {
            for chunk in chunks {
                try chunk.withUnsafeBytes { raw in
                    try decoder.decode(raw) { piece in
                        require(piece.count <= 64 * 1024, "a piece of \(piece.count) bytes")
                        guard output.count + piece.count <= cap else { throw OverCap() }
                        output.append(contentsOf: piece)
                    }
                }
            }
            try decoder.finish()
        } catch is OverCap {
            overCap = true
        } catch {
            require(error is DecodingError, "an error that is not a DecodingError: \(error)")
            failed = true
        }
        return (output, failed, overCap, (decoder as? ZlibDecoder)?.bodyFormat)
    }
}
