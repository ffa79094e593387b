import SpyglassProtocol
import Testing

/// Hostile input never traps: random bytes and mutated envelopes either parse or fail with an error.
@Suite struct FuzzTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    static let seed = Array(
        """
        {"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2026-11-24T21:25:26Z"}
        {"type":"attachment","length":5,"filename":"a"}
        ab\ncd
        {"type":"event"}
        {"message":"x\\ud800","tags":[["a",1]],"n":1e999,"deep":[[{"a":[null,true,-0.5e-3]}]]}

        """.utf8)

    @Test func mutatedEnvelopesNeverTrap() {
        var generator = Generator(state: 42)
        let limits = EnvelopeReader.Limits(maxHeaderLine: 256, maxEnvelope: 4096, keptItems: [.event: 512, .attachment: 64])
        var outcomes = (parsed: 0, refused: 0)
        for _ in 0..<20_000 {
            var bytes = Self.seed
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes.remove(at: index)
                case 2: bytes.insert(bytes[Int.random(in: 0..<bytes.count, using: &generator)], at: index)
                default: bytes.removeSubrange(index...)
                }
                if bytes.isEmpty { break }
            }
            do {
                let envelope = try Envelope.parse(bytes, limits: limits)
                for item in envelope.items where !item.isSkipped { _ = try? JSONParser.parse(item.payload) }
                outcomes.parsed += 1
            } catch {
                #expect(!error.message.isEmpty)
                outcomes.refused += 1
            }
        }
        #expect(outcomes.parsed > 100 && outcomes.refused > 100)
    }

    /// Mutated events parse to the same value with omitted members left out, or fail with the same error.
    @Test func omittingMembersChangesNothingElse() {
        var generator = Generator(state: 11)
        let seed = Array(
            #"{"a":[1,{"vars":{"k":"v\u00e9","n":[null,true,-1.5e2]},"b":"\"q\""}],"vars":[{"x":{}}],"c":{"vars":"s"}}"#.utf8)
        func strip(_ value: JSONValue) -> JSONValue {
            switch value {
            case .object(let object):
                var result = JSONObject()
                for member in object where member.key != "vars" { result[member.key] = strip(member.value) }
                return .object(result)
            case .array(let values): return .array(values.map(strip))
            default: return value
            }
        }
        var outcomes = (parsed: 0, refused: 0)
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[index] = seed[Int.random(in: 0..<seed.count, using: &generator)]
                case 1: bytes.remove(at: index)
                default: bytes.insert(seed[Int.random(in: 0..<seed.count, using: &generator)], at: index)
                }
                if bytes.isEmpty { break }
            }
            do {
                let whole = try JSONParser.parse(bytes)
                #expect((try? JSONParser.parse(bytes, omitting: ["vars"])) == strip(whole))
                outcomes.parsed += 1
            } catch {
                #expect(throws: error) { try JSONParser.parse(bytes, omitting: ["vars"]) }
                outcomes.refused += 1
            }
        }
        #expect(outcomes.parsed > 100 && outcomes.refused > 100)
    }

    @Test func randomBytesNeverTrapTheJSONParser() {
        var generator = Generator(state: 7)
        let alphabet = Array("{}[]\":,\\/ -+.eE0123456789tfnulrasNIbu\u{0}".utf8) + [0xff, 0xc3, 0xa9]
        for _ in 0..<20_000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            if let value = try? JSONParser.parse(bytes) {
                // Whatever parses writes back to JSON that parses to the same value.
                #expect((try? JSONParser.parse(JSONWriter.bytes(value))) == value)
            }
        }
    }
}
