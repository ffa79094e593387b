/// A request body still compressed as the client sent it, and where an event's payload lies in its decompressed
/// bytes. Stored as it is, an event needs no compression of its own (zlib's deflate was the largest single cost of
/// ingest); reading decompresses the body up to the payload's end.
public struct CompressedBody: Sendable, Hashable {
    /// The compressed format, as zlib reads it.
    public enum Format: UInt8, Sendable, Hashable {
        /// One or more gzip members (zlib streams are recognised too).
        case gzip = 1
        /// A zlib-wrapped deflate stream.
        case zlib = 2
        /// A raw deflate stream.
        case rawDeflate = 3
    }

    public var format: Format
    /// The body as received.
    public var bytes: [UInt8]
    /// Where the payload starts in the decompressed body.
    public var payloadOffset: Int
    /// The payload's length in bytes.
    public var payloadLength: Int

    public init(format: Format, bytes: [UInt8], payloadOffset: Int, payloadLength: Int) {
        self.format = format
        self.bytes = bytes
        self.payloadOffset = payloadOffset
        self.payloadLength = payloadLength
    }
}
