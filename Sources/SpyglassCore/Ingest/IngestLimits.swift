/// Size limits of ingest, Relay's defaults unless configured.
public struct IngestLimits: Sendable, Hashable {
    /// An event item or a /store/ body, decompressed (1 MiB).
    public var maxEventSize = 1024 * 1024
    /// A whole envelope, decompressed (200 MiB).
    public var maxEnvelopeSize = 200 * 1024 * 1024
    /// A request body as sent, compressed (20 MiB).
    public var maxCompressedSize = 20 * 1024 * 1024
    /// One attachment (200 MiB, within the envelope limit).
    public var maxAttachmentSize = 200 * 1024 * 1024
    /// A session, sessions, client report or user report item (100 KiB).
    public var maxSmallItemSize = 100 * 1024

    public init() {}
}
