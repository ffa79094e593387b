/// Size limits of ingest, Relay's defaults unless configured.
public struct IngestLimits: Sendable, Hashable {
    /// Members of an event payload that ingest never reads (grouping, summary, user and the columns use none of
    /// them), at any depth except inside ``wholeEventMembers``: parsed past without building them
    /// (`JSONParser.parse(_:omitting:keepingWhole:)`). The stored raw payload keeps them, and reading normalizes
    /// it again whole.
    public static let unreadEventMembers = [
        "breadcrumbs", "modules", "extra", "debug_meta", "contexts", "request", "sdk", "vars", "pre_context",
        "post_context",
    ]
    /// Members read whole at ingest, whatever names they hold: tags (every member of a tags object is a tag, and
    /// a non-string value is kept as its JSON).
    public static let wholeEventMembers = ["tags"]

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
    /// A `log` item, decompressed (10 MiB: thousands of lines with their attributes).
    public var maxLogItemSize = 10 * 1024 * 1024
    /// Lines per envelope and the sizes of a line's parts.
    public var logs = LogItems.Limits()

    public init() {}
}
