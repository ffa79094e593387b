import SpyglassProtocol
import Testing

@Suite struct EnvelopeTests {
    let keepEvents = EnvelopeReader.Limits(keptItems: [.event: 1024 * 1024, .attachment: 100])

    func parse(_ text: String, limits: EnvelopeReader.Limits? = nil) throws(EnvelopeError) -> Envelope {
        try Envelope.parse(Array(text.utf8), limits: limits ?? keepEvents)
    }

    @Test func readsItemsWithLengthAsPythonSendsThem() throws {
        let attachment = "Hello\r\nab\n"  // newlines inside: only `length` can frame it
        let event = #"{"message":"hi\nthere"}"#
        let body = """
            {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2026-11-24T21:25:26.237919Z"}
            {"type":"attachment","length":\(attachment.utf8.count),"content_type":"text/plain","filename":"hello.txt"}
            \(attachment)
            {"type":"event","content_type":"application/json","length":\(event.utf8.count)}
            \(event)

            """
        let envelope = try parse(body)
        #expect(envelope.headers["event_id"] == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(envelope.items.map(\.type) == ["attachment", "event"])
        #expect(envelope.items[0].payload == Array(attachment.utf8))
        #expect(envelope.items[0].headers["filename"] == "hello.txt")
        #expect(try JSONParser.parse(envelope.items[1].payload)["message"] == "hi\nthere")
    }

    @Test func readsNewlineFramedItemsWithoutTrailingNewlineAsJavaScriptSendsThem() throws {
        let body = "{\"event_id\":\"abc\"}\n{\"type\":\"event\"}\n{\"a\":1}\n{\"type\":\"session\"}\n{\"sid\":\"x\"}"
        let envelope = try parse(body)
        #expect(envelope.items.map(\.type) == ["event", "session"])
        #expect(envelope.items[0].payload == Array(#"{"a":1}"#.utf8))
        #expect(envelope.items[1].isSkipped)
        #expect(envelope.items[1].size == 11)
        #expect(envelope.items[1].payload.isEmpty)
    }

    @Test func acceptsEmptyEnvelopesAndZeroLengthItems() throws {
        #expect(try parse("{}").items.isEmpty)
        #expect(try parse("{}\n").items.isEmpty)
        #expect(try parse("{}\n\n").items.isEmpty)
        let zero = try parse("{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"event\",\"length\":2}\n{}")
        #expect(zero.items.map(\.type) == ["attachment", "event"])
        #expect(zero.items[0].payload.isEmpty && zero.items[0].size == 0)
        #expect(zero.items[1].payload == Array("{}".utf8))
    }

    @Test func chunkBoundariesDoNotMatter() throws {
        let body = Array(
            "{\"event_id\":\"abc\"}\n{\"type\":\"attachment\",\"length\":5}\nab\ncd\n{\"type\":\"event\"}\n{\"x\":[1,2]}\n".utf8)
        let whole = try Envelope.parse(body, limits: keepEvents)
        for size in 1...7 {
            var reader = EnvelopeReader(limits: keepEvents)
            var offset = 0
            while offset < body.count {
                let chunk = Array(body[offset..<min(offset + size, body.count)])
                try chunk.withUnsafeBufferPointer { (buffer) throws(EnvelopeError) in try reader.consume(buffer) }
                offset += size
            }
            let pieces = try reader.finish()
            #expect(pieces.items.map(\.payload) == whole.items.map(\.payload), "chunk size \(size)")
            #expect(pieces.items.map(\.payload) == [Array("ab\ncd".utf8), Array(#"{"x":[1,2]}"#.utf8)])
            // Where each payload lies in the body, whatever the chunks (a stored body is read back by it).
            for item in pieces.items {
                #expect(Array(body[item.offset..<(item.offset + item.size)]) == item.payload, "chunk size \(size)")
            }
            #expect(pieces.size == body.count)
        }
        // Blank lines between items, a zero-length item and a newline-framed last item without its newline.
        let spaced = Array("{}\n\n{\"type\":\"event\",\"length\":0}\n\n\r\n{\"type\":\"event\"}\n{\"y\":1}".utf8)
        let items = try Envelope.parse(spaced, limits: keepEvents).items
        #expect(items.map(\.size) == [0, 7])
        #expect(Array(spaced[items[1].offset...]) == Array(#"{"y":1}"#.utf8))
    }

    @Test(arguments: [
        ("", EnvelopeError.Kind.malformed, "empty envelope: no header line"),
        ("not json\n", .malformed, "envelope header: invalid JSON: unexpected 'n', expected a value at byte 0"),
        ("[]\n", .malformed, "envelope header: expected a JSON object"),
        ("{}\n{\"length\":2}\nab", .malformed, "item 1 header: missing \"type\""),
        ("{}\n{\"type\":\"event\",\"length\":500}\n{\"a\":1}", .malformed, "item 1: length 500 exceeds the remaining 7 bytes"),
        ("{}\n{\"type\":\"event\",\"length\":2}\n{}{}\n", .malformed,
         "item 1: expected a newline after its 2-byte payload, found other data (wrong length?)"),
        ("{}\n{\"type\":\"event\",\"length\":-1}\n", .malformed, "item 1 header: \"length\" must be a non-negative integer"),
        ("{}\n{\"type\":\"event\",\"length\":\"5\"}\n", .malformed, "item 1 header: \"length\" must be a non-negative integer"),
        ("{}\n{\"type\":\"event\"}\n{}\n{garbage\n", .malformed,
         "item 2 header: invalid JSON: unexpected 'g', expected a member name in quotes at byte 1"),
        ("{}\n{\"type\":\"attachment\",\"length\":101}\n", .tooLarge, "item 1 (attachment): 101 bytes exceed the 100 bytes limit"),
    ])
    func refusesBrokenEnvelopesSayingWhere(_ body: String, _ kind: EnvelopeError.Kind, _ message: String) {
        let error = #expect(throws: EnvelopeError.self) { try parse(body) }
        #expect(error?.kind == kind)
        #expect(error?.message == message)
    }

    @Test func enforcesPayloadAndEnvelopeLimitsWhileStreaming() {
        let limits = EnvelopeReader.Limits(maxHeaderLine: 64, maxEnvelope: 1000, keptItems: [.event: 10])
        let longEvent = "{}\n{\"type\":\"event\"}\n" + String(repeating: "x", count: 11) + "\n"
        let error = #expect(throws: EnvelopeError.self) { try parse(longEvent, limits: limits) }
        #expect(error?.message == "item 1 (event): payload exceeds the 10 bytes limit")

        let longHeader = String(repeating: " ", count: 65)
        #expect(throws: EnvelopeError(.tooLarge, "envelope header is longer than 64 bytes")) {
            try parse(longHeader, limits: limits)
        }
        // Skipped items are read past but still count towards the envelope limit.
        let bigSkipped = "{}\n{\"type\":\"transaction\"}\n" + String(repeating: "x", count: 990)
        #expect(throws: EnvelopeError(.tooLarge, "envelope exceeds the 1000 bytes limit")) {
            try parse(bigSkipped, limits: limits)
        }
    }
}
