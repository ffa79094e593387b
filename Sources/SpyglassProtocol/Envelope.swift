/// A Sentry envelope: a JSON header line, then items (header line + payload).
///
/// ```
/// {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42"}
/// {"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}
/// \xef\xbb\xbfHello\r\n
/// {"type":"event","content_type":"application/json"}
/// {"message":"hello world","level":"error"}
/// ```
public struct Envelope: Sendable {
    /// The envelope header (`event_id`, `dsn`, `sent_at`, `sdk`, `trace`, …).
    public var headers: JSONObject
    /// The items in order, including those whose payload was skipped (``EnvelopeItem/isSkipped``).
    public var items: [EnvelopeItem]
    /// The envelope's size in bytes, decompressed.
    public var size: Int

    public init(headers: JSONObject, items: [EnvelopeItem], size: Int = 0) {
        self.headers = headers
        self.items = items
        self.size = size
    }

    /// Parses a whole envelope held in memory with the given limits.
    public static func parse(
        _ bytes: [UInt8], limits: EnvelopeReader.Limits = .init()
    ) throws(EnvelopeError) -> Envelope {
        var reader = EnvelopeReader(limits: limits)
        try bytes.withUnsafeBufferPointer { (buffer) throws(EnvelopeError) in try reader.consume(buffer) }
        return try reader.finish()
    }
}

/// The item types the server reads (Relay's `ItemType`); an envelope may carry others, which are read past.
public enum EnvelopeItemType: String, Sendable, Hashable, CaseIterable {
    case event, attachment, feedback, session, sessions, log
    case userReport = "user_report"
    case clientReport = "client_report"
}

/// One item of an envelope.
public struct EnvelopeItem: Sendable {
    /// Position in the envelope, from 1 (for error messages).
    public var index: Int
    /// The item header (`type`, `length`, `content_type`, `filename`, `attachment_type`, …).
    public var headers: JSONObject
    /// The item type, e.g. `event`, `attachment`, `session`.
    public var type: String
    /// The payload; empty when skipped.
    public var payload: [UInt8]
    /// Whether the payload was read past without being kept (a type the server drops).
    public var isSkipped: Bool
    /// The payload's size in bytes, also for skipped items.
    public var size: Int
    /// Where the payload starts in the decompressed envelope (bytes from its start).
    public var offset: Int

    /// The type, when it is one the server reads.
    public var knownType: EnvelopeItemType? { EnvelopeItemType(rawValue: type) }
}

/// Why an envelope was refused.
public struct EnvelopeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Malformed input (HTTP 400) or over a size limit (HTTP 413).
    public enum Kind: Sendable, Hashable { case malformed, tooLarge }
    public let kind: Kind
    /// What is wrong and where, e.g. "item 2: length 500 exceeds the remaining 120 bytes".
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// An incremental envelope parser: feed decompressed chunks as they arrive, then ``finish()``.
///
/// Memory stays bounded by what is kept: payloads of item types the server drops are read past, not stored,
/// and every kept item, header line and the whole envelope have a size limit.
/// Supports both framings: items with `length`, and newline-terminated items without it.
public struct EnvelopeReader {
    /// Size limits, as Relay's defaults.
    public struct Limits: Sendable {
        /// Longest header line (envelope or item).
        public var maxHeaderLine = 64 * 1024
        /// Whole decompressed envelope.
        public var maxEnvelope = 200 * 1024 * 1024
        /// Item types whose payload is kept, with the largest payload accepted for each.
        public var keptItems: [EnvelopeItemType: Int] = [:]

        public init(
            maxHeaderLine: Int = 64 * 1024, maxEnvelope: Int = 200 * 1024 * 1024, keptItems: [EnvelopeItemType: Int] = [:]
        ) {
            self.maxHeaderLine = maxHeaderLine
            self.maxEnvelope = maxEnvelope
            self.keptItems = keptItems
        }
    }

    private enum State {
        case envelopeHeader
        case itemHeader
        case payload(remaining: Int)
        case payloadLine
        case terminator
    }

    private let limits: Limits
    private var state = State.envelopeHeader
    private var line: [UInt8] = []
    private var total = 0
    private var headers: JSONObject?
    private var items: [EnvelopeItem] = []
    /// The item being read; its payload is built in ``payload`` (appending to a copy of the item per chunk
    /// would copy the payload each time: quadratic in its size).
    private var current: EnvelopeItem?
    private var payload: [UInt8] = []
    private var payloadSize = 0
    private var currentLimit: Int?

    public init(limits: Limits) {
        self.limits = limits
    }

    /// The envelope header, once its line has been read.
    public var envelopeHeaders: JSONObject? { headers }

    /// Consumes the next chunk of the decompressed body.
    public mutating func consume(_ chunk: UnsafeBufferPointer<UInt8>) throws(EnvelopeError) {
        total += chunk.count
        guard total <= limits.maxEnvelope else {
            throw EnvelopeError(.tooLarge, "envelope exceeds the \(Self.format(limits.maxEnvelope)) limit")
        }
        var index = 0
        while index < chunk.count {
            switch state {
            case .envelopeHeader, .itemHeader:
                let newline = Self.find(0x0a, in: chunk, from: index)
                let end = newline ?? chunk.count
                line.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[index..<end]))
                guard line.count <= limits.maxHeaderLine else {
                    throw EnvelopeError(.tooLarge, "\(headerName) is longer than \(Self.format(limits.maxHeaderLine))")
                }
                index = end
                if newline != nil {
                    index += 1
                    try endHeaderLine()
                    // The payload (if this line was an item header) starts right after its newline.
                    current?.offset = total - chunk.count + index
                }
            case .payload(let remaining):
                let take = min(remaining, chunk.count - index)
                try appendPayload(UnsafeBufferPointer(rebasing: chunk[index..<(index + take)]))
                index += take
                state = remaining - take == 0 ? .terminator : .payload(remaining: remaining - take)
            case .payloadLine:
                let newline = Self.find(0x0a, in: chunk, from: index)
                let end = newline ?? chunk.count
                try appendPayload(UnsafeBufferPointer(rebasing: chunk[index..<end]))
                index = end
                if newline != nil {
                    index += 1
                    finishItem()
                }
            case .terminator:
                guard chunk[index] == 0x0a else {
                    throw EnvelopeError(
                        .malformed,
                        "item \(current?.index ?? 0): expected a newline after its \(payloadSize)-byte payload, found other data (wrong length?)")
                }
                index += 1
                finishItem()
            }
        }
    }

    /// Ends the input and returns the envelope.
    public mutating func finish() throws(EnvelopeError) -> Envelope {
        switch state {
        case .envelopeHeader:
            guard !line.isEmpty else { throw EnvelopeError(.malformed, "empty envelope: no header line") }
            try endHeaderLine()
        case .itemHeader:
            if !Self.isBlank(line) { try endHeaderLine() }
            if case .payload(let remaining) = state, remaining > 0 { throw truncated(remaining) }
            if current != nil { finishItem() }
        case .payload(let remaining):
            throw truncated(remaining)
        case .payloadLine, .terminator:
            finishItem()
        }
        return Envelope(headers: headers ?? [:], items: items, size: total)
    }

    private func truncated(_ remaining: Int) -> EnvelopeError {
        let item = current?.index ?? 0
        let length = payloadSize + remaining
        return EnvelopeError(
            .malformed, "item \(item): length \(length) exceeds the remaining \(length - remaining) bytes")
    }

    private var headerName: String {
        if case .envelopeHeader = state { return "envelope header" }
        return "item \(items.count + 1) header"
    }

    private mutating func endHeaderLine() throws(EnvelopeError) {
        defer { line.removeAll(keepingCapacity: true) }
        if case .envelopeHeader = state {
            headers = try parseHeader(line, what: "envelope header")
            state = .itemHeader
            return
        }
        // Blank lines between items (a trailing newline, doubled newlines) are tolerated.
        if Self.isBlank(line) { return }
        let index = items.count + 1
        let header = try parseHeader(line, what: "item \(index) header")
        guard let type = header["type"]?.stringValue, !type.isEmpty else {
            throw EnvelopeError(.malformed, "item \(index) header: missing \"type\"")
        }
        var length: Int?
        if let value = header["length"], !value.isNull {
            guard let number = value.int64Value, number >= 0, number <= Int64(Int.max) else {
                throw EnvelopeError(.malformed, "item \(index) header: \"length\" must be a non-negative integer")
            }
            length = Int(number)
        }
        let limit = EnvelopeItemType(rawValue: type).flatMap { limits.keptItems[$0] }
        if let length, let limit, length > limit {
            throw EnvelopeError(
                .tooLarge, "item \(index) (\(type)): \(length) bytes exceed the \(Self.format(limit)) limit")
        }
        current = EnvelopeItem(
            index: index, headers: header, type: type, payload: [], isSkipped: limit == nil, size: 0, offset: 0)
        currentLimit = limit
        payload = []
        payloadSize = 0
        if let length {
            state = length == 0 ? .terminator : .payload(remaining: length)
            // Reserved up to 1 MiB: a header alone must not make the server set aside the item's whole size.
            if length > 0, limit != nil { payload.reserveCapacity(min(length, 1024 * 1024)) }
        } else {
            state = .payloadLine
        }
    }

    private mutating func appendPayload(_ bytes: UnsafeBufferPointer<UInt8>) throws(EnvelopeError) {
        guard let item = current else { return }
        payloadSize += bytes.count
        if let limit = currentLimit {
            guard payloadSize <= limit else {
                throw EnvelopeError(
                    .tooLarge, "item \(item.index) (\(item.type)): payload exceeds the \(Self.format(limit)) limit")
            }
            payload.append(contentsOf: bytes)
        }
    }

    private mutating func finishItem() {
        if var item = current {
            item.size = payloadSize
            item.payload = payload
            items.append(item)
        }
        current = nil
        currentLimit = nil
        payload = []
        payloadSize = 0
        state = .itemHeader
    }

    private func parseHeader(_ bytes: [UInt8], what: String) throws(EnvelopeError) -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw EnvelopeError(.malformed, "\(what): invalid JSON: \(error)")
        }
        guard let object = value.objectValue else {
            throw EnvelopeError(.malformed, "\(what): expected a JSON object")
        }
        return object
    }

    private static func find(_ byte: UInt8, in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start
        while index < buffer.count {
            if buffer[index] == byte { return index }
            index += 1
        }
        return nil
    }

    private static func isBlank(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 == 0x20 || $0 == 0x0d || $0 == 0x09 }
    }

    /// "1 MiB", "64 KiB", "1500 bytes".
    public static func format(_ bytes: Int) -> String {
        if bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0 { return "\(bytes / (1024 * 1024)) MiB" }
        if bytes >= 1024 && bytes % 1024 == 0 { return "\(bytes / 1024) KiB" }
        return "\(bytes) bytes"
    }
}
