import Foundation
import NIOCore
import SpyglassCore
import SpyglassHTTP
import SpyglassProtocol
import Testing

/// Which gzip bodies ingest sends to the log writer whole, to be inflated there (``LogEnvelopePeek``).
@Suite struct LogEnvelopePeekTests {
    static let lines = #"{"items":[{"timestamp":1790000000.5,"level":"info","body":"order paid"}]}"#
    static let logItem = #"{"type":"log","item_count":1,"content_type":"application/vnd.sentry.items.log+json"}"#

    static func envelope(header: String = #"{"sent_at":"2026-12-07T10:00:00Z"}"#, items: [(String, String)]) -> [UInt8]
    {
        Array((header + "\n" + items.map { "\($0.0)\n\($0.1)\n" }.joined()).utf8)
    }

    /// `bytes` as gzip members of at most `member` bytes each, received in chunks of `chunk` bytes.
    static func body(_ bytes: [UInt8], member: Int = .max, chunk: Int = .max) -> [ByteBuffer] {
        var gzip: [UInt8] = []
        var start = 0
        repeat {
            let end = min(bytes.count, start + min(member, bytes.count))
            gzip += deflate(Array(bytes[start..<end]), windowBits: 31)
            start = end
        } while start < bytes.count
        return stride(from: 0, to: gzip.count, by: min(chunk, gzip.count)).map {
            ByteBuffer(bytes: gzip[$0..<min(gzip.count, $0 + chunk)])
        }
    }

    @Test func anEnvelopeWhoseFirstItemIsLogLinesGoesApartInWhateverMembersAndChunksItCame() {
        let logs = Self.envelope(items: [(Self.logItem, Self.lines)])
        for (member, chunk) in [(Int.max, Int.max), (Int.max, 3), (5, Int.max), (1, 2), (40, 17)] {
            #expect(
                LogEnvelopePeek.beginsWithLogItem(Self.body(logs, member: member, chunk: chunk), encoding: .gzip),
                "\(member) \(chunk)")
        }
        let logsThenEvent = Self.envelope(items: [
            (Self.logItem, Self.lines), (#"{"type":"event"}"#, #"{"message":"x"}"#),
        ])
        #expect(LogEnvelopePeek.beginsWithLogItem(Self.body(logsThenEvent), encoding: .gzip))
        #expect(
            LogEnvelopePeek.beginsWithLogItem(
                Self.body(Self.envelope(header: #"{"event_id":null}"#, items: [(Self.logItem, Self.lines)])),
                encoding: .gzip))
    }

    /// The same envelope of lines (and an event's, which goes the usual way) as each other encoding sends it.
    @Test func eachEncodingIsLookedAtAsItIsDecoded() throws {
        let logs = Self.envelope(items: [(Self.logItem, Self.lines)])
        let event = Self.envelope(
            header: #"{"event_id":"0123456789abcdef0123456789abcdef"}"#,
            items: [(#"{"type":"event"}"#, #"{"message":"x"}"#)])
        // sentry-python's brotli (the `brotli` module's, quality 11) of `logs` and `event`.
        let brotliLogs = try #require(Data(base64Encoded: Self.brotliLogs))
        let brotliEvent = try #require(Data(base64Encoded: Self.brotliEvent))
        func chunks(_ bytes: [UInt8], _ size: Int) -> [ByteBuffer] {
            stride(from: 0, to: bytes.count, by: size).map {
                ByteBuffer(bytes: bytes[$0..<min(bytes.count, $0 + size)])
            }
        }
        for size in [1, 7, 100_000] {
            #expect(LogEnvelopePeek.beginsWithLogItem(chunks(logs, size), encoding: .identity), "\(size)")
            #expect(!LogEnvelopePeek.beginsWithLogItem(chunks(event, size), encoding: .identity), "\(size)")
            for windowBits: Int32 in [15, -15] {
                #expect(
                    LogEnvelopePeek.beginsWithLogItem(
                        chunks(deflate(logs, windowBits: windowBits), size), encoding: .deflate))
                #expect(
                    !LogEnvelopePeek.beginsWithLogItem(
                        chunks(deflate(event, windowBits: windowBits), size), encoding: .deflate))
            }
            #expect(LogEnvelopePeek.beginsWithLogItem(chunks(Array(brotliLogs), size), encoding: .brotli), "\(size)")
            #expect(!LogEnvelopePeek.beginsWithLogItem(chunks(Array(brotliEvent), size), encoding: .brotli), "\(size)")
        }
        for encoding: ContentEncoding in [.identity, .deflate, .brotli] {
            let body: [UInt8] =
                switch encoding {
                case .brotli: Array(brotliLogs)
                case .deflate: deflate(logs, windowBits: 15)
                default: logs
                }
            let read = LogEnvelopePeek.logItems(
                body, encoding: encoding, inflatedLimit: 1 << 20,
                readerLimits: EnvelopeReader.Limits(keptItems: [.log: 1 << 20]),
                logLimits: LogItems.Limits())
            #expect(read?.items.first?.payload == Array(Self.lines.utf8), "\(encoding)")
        }
        #expect(!LogEnvelopePeek.beginsWithLogItem([ByteBuffer(bytes: brotliLogs.prefix(40))], encoding: .brotli))
        #expect(
            !LogEnvelopePeek.beginsWithLogItem(
                [ByteBuffer(bytes: Array(repeating: 0x41, count: 300))], encoding: .brotli))
    }

    static let brotliLogs = """
        G8EAYKwK7Dbcx13BYU6Lft0HCIOpRWK29rqNzaNiHamzW0F46/W/b0zP30QzsVaUKHVY+lKhq69q6HRywN6xBVKY1VoSSKwBpzd89Pu\
        kMcZ5x/JqCzdzsZrO5a32fbv7t0EsJ6NNlRQCOKJJq0i+7HIYs1AKieVFx0BFrLGT6kAZuwvoV2FaSggYvDDaYnAD
        """
    static let brotliEvent =
        "G1AAQB0HdoyzhTkIb+elQtoePP0OyT/QrZZRb1wBVzp9jnHAfDfQA42L4eAhC0+mFASezOksgah5lNr6WPvkfYzmoaBAawXqJw=="

    @Test func anythingElseGoesTheUsualWay() {
        let event = Self.envelope(
            header: #"{"event_id":"0123456789abcdef0123456789abcdef"}"#,
            items: [(#"{"type":"event"}"#, #"{"message":"x"}"#)])
        let withEventID = Self.envelope(
            header: #"{"event_id":"0123456789abcdef0123456789abcdef"}"#, items: [(Self.logItem, Self.lines)])
        let sessionFirst = Self.envelope(items: [(#"{"type":"session"}"#, "{}"), (Self.logItem, Self.lines)])
        let notJSON = Self.envelope(header: "{", items: [(Self.logItem, Self.lines)])
        var truncated = Self.body(Self.envelope(items: [(Self.logItem, Self.lines)]))[0]
        truncated.moveWriterIndex(to: 20)
        let longHeader = Self.envelope(
            header: #"{"x":""# + String(repeating: "a", count: LogEnvelopePeek.maxPeek) + #""}"#,
            items: [(Self.logItem, Self.lines)])
        let cases: [(String, [ByteBuffer])] = [
            ("an event", Self.body(event)), ("lines with an event id", Self.body(withEventID)),
            ("a session first", Self.body(sessionFirst)), ("a header that is not JSON", Self.body(notJSON)),
            ("a truncated body", [truncated]),
            ("not gzip", [ByteBuffer(bytes: Self.envelope(items: [(Self.logItem, Self.lines)]))]),
            ("lines past the most inflated to find them", Self.body(longHeader)), ("no body", []),
        ]
        for (name, body) in cases { #expect(!LogEnvelopePeek.beginsWithLogItem(body, encoding: .gzip), "\(name)") }
    }

    @Test func theLogWriterReadsLinesAloneAndHandsBackAnythingMore() throws {
        func read(_ envelope: [UInt8]) -> UnreadLogItems? {
            let body = Self.body(envelope, member: 50).flatMap { Array($0.readableBytesView) }
            return LogEnvelopePeek.logItems(
                body, encoding: .gzip, inflatedLimit: 1 << 20,
                readerLimits: EnvelopeReader.Limits(keptItems: [.log: 1 << 20, .event: 1 << 20]),
                logLimits: LogItems.Limits())
        }
        let two = try #require(
            read(
                Self.envelope(items: [
                    (Self.logItem, Self.lines), ("{\"type\":\"profile\"}", "{}"), (Self.logItem, "{}"),
                ])))
        #expect(two.items.map(\.index) == [1, 3])
        #expect(two.items.first?.payload == Array(Self.lines.utf8))
        #expect(
            read(Self.envelope(items: [(Self.logItem, Self.lines), (#"{"type":"event"}"#, #"{"message":"x"}"#)])) == nil
        )
        #expect(read(Self.envelope(items: [(Self.logItem, Self.lines), (#"{"type":"attachment"}"#, "x")])) == nil)
        #expect(read(Self.envelope(items: [(#"{"type":"log","length":99}"#, Self.lines)])) == nil)
    }
}
