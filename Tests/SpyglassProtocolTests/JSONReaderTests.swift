import SpyglassProtocol
import Testing

/// `JSONReader` walks a document with the parser's rules: walked whole (every object and array stepped into, every
/// scalar read) or skipped, a document gives the value `JSONParser` gives, or the same error at the same byte.
struct JSONReaderTests {
    /// The document rebuilt by walking it with the reader: objects and arrays through `members` and `elements`.
    static func walked(_ text: String) -> String {
        let bytes = Array(text.utf8)
        do {
            return try bytes.withUnsafeBufferPointer { buffer in
                var reader = JSONReader(buffer)
                let value = try walk(&reader, depth: 0)
                try reader.finish()
                return "value: \(JSONWriter.string(value))"
            }
        } catch {
            return "error: \(error)"
        }
    }

    static func walk(_ reader: inout JSONReader, depth: Int) throws -> JSONValue {
        if reader.atObject {
            var object = JSONObject()
            try reader.members(depth: depth) { reader, name in object[name] = try walk(&reader, depth: depth + 1) }
            return .object(object)
        }
        if reader.atArray {
            var elements: [JSONValue] = []
            try reader.elements(depth: depth) { reader, index in
                #expect(index == elements.count)
                elements.append(try walk(&reader, depth: depth + 1))
            }
            return .array(elements)
        }
        return try reader.value(depth: depth)
    }

    static let names = ["a", "b", "c", "d", "", "items", "timestamp", "v", "w", "b\"", "é"]

    /// The document rebuilt as `walked`, but members named by their index in `names` (a name not there: "?") and
    /// scalars read as tokens, decoded here.
    static func walkedByTokens(_ text: String) -> String {
        let bytes = Array(text.utf8)
        let table = JSONReader.Names(names)
        func walk(_ reader: inout JSONReader, depth: Int, _ buffer: UnsafeBufferPointer<UInt8>) throws -> JSONValue {
            if reader.atObject {
                var object = JSONObject()
                try reader.members(depth: depth, names: table) { reader, index in
                    object[index.map { names[$0] } ?? "?"] = try walk(&reader, depth: depth + 1, buffer)
                }
                return .object(object)
            }
            if reader.atArray {
                var elements: [JSONValue] = []
                try reader.elements(depth: depth) { reader, _ in elements.append(try walk(&reader, depth: depth + 1, buffer)) }
                return .array(elements)
            }
            guard let token = try reader.token() else {
                Issue.record("no token at a scalar")
                return .null
            }
            let inner = UnsafeBufferPointer(rebasing: buffer[token.start..<token.end])
            switch token.kind {
            case .string:
                #expect(!inner.contains(UInt8(ascii: "\\")))
                return .string(String(decoding: inner, as: UTF8.self))
            case .escapedString:
                return try JSONParser.parse(UnsafeBufferPointer(rebasing: buffer[(token.start - 1)..<(token.end + 1)]))
            case .number:
                return .number(JSONNumber(literal: String(decoding: inner, as: UTF8.self)))
            case .literal, .special:
                return try JSONParser.parse(inner)
            }
        }
        do {
            return try bytes.withUnsafeBufferPointer { buffer in
                var reader = JSONReader(buffer)
                let value = try walk(&reader, depth: 0, buffer)
                try reader.finish()
                return "value: \(JSONWriter.string(value))"
            }
        } catch {
            return "error: \(error)"
        }
    }

    /// The document skipped whole.
    static func skipped(_ text: String) -> String {
        let bytes = Array(text.utf8)
        do {
            try bytes.withUnsafeBufferPointer { buffer in
                var reader = JSONReader(buffer)
                try reader.skip(depth: 0)
                try reader.finish()
            }
            return "ok"
        } catch {
            return "error: \(error)"
        }
    }

    static func parsed(_ text: String) -> String {
        do {
            return "value: \(JSONWriter.string(try JSONParser.parse(text)))"
        } catch {
            return "error: \(error)"
        }
    }

    static let documents: [String] = [
        "", " ", "{", "}", "[", "]", "[1,]", "{,}", #"{"a":1"#, #"{"a" 1}"#, #"{"a":1,}"#, #"{"a":1 "b":2}"#, #""abc"#,
        "tru", "01x", "1.", #""\q""#, "{} {}", "[1 2]", "nul", "-", "--1", #"{1:2}"#, #"{"a":}"#,
        #"  {"b": [1, 2.5e3, -0, true, false, null, "x\"y\\z\u00e9"], "a": {"c": {}, "d": []}, "a": 7}  "#,
        "[[],[[]],{},{\"\":{}}]", #"{"items":[{"timestamp":NaN,"v":Infinity,"w":-Infinity}]}"#,
        String(repeating: "[", count: 128) + String(repeating: "]", count: 128),
        String(repeating: "[", count: 129) + String(repeating: "]", count: 129),
        String(repeating: "{\"a\":", count: 129) + "1" + String(repeating: "}", count: 129),
        "[" + String(repeating: "\"abcdefghijklmnopq\",", count: 20) + "\"\\u12\"]",
        #"{"\u0061":1,"b\"":"\u0041","\u00e9":-2.5E-3,"w":[NaN,-Infinity,-1,0]}"#, #"{"a":-"#, #"{"a":-I}"#,
        #"{"a":"x"#, #"{"a\u00"#, #"{"\u0061""#,
    ]

    @Test(arguments: documents)
    func walkingOrSkippingADocumentGivesWhatParsingItGives(_ text: String) {
        let parsed = Self.parsed(text)
        #expect(Self.walked(text) == parsed)
        // Every name in these documents is in `names`.
        #expect(Self.walkedByTokens(text) == parsed)
        #expect(Self.skipped(text) == (parsed.hasPrefix("value: ") ? "ok" : parsed))
    }
}
