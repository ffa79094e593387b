import CZlibLoad

/// One gzip member of `input` (RFC 1952). Members concatenate into one valid gzip body.
func gzipMember(_ input: [UInt8], level: Int32) -> [UInt8] {
    var stream = z_stream()
    deflateInit2_(&stream, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
    var source = input
    source.withUnsafeMutableBufferPointer { inBuffer in
        output.withUnsafeMutableBufferPointer { outBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            stream.next_out = outBuffer.baseAddress
            stream.avail_out = uInt(outBuffer.count)
            _ = deflate(&stream, Z_FINISH)
        }
    }
    return Array(output.prefix(Int(stream.total_out)))
}
