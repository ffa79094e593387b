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
    ]

    @Test(arguments: documents)
    func walkingOrSkippingADocumentGivesWhatParsingItGives(_ text: String) {
        let parsed = Self.parsed(text)
        #expect(Self.walked(text) == parsed)
        #expect(Self.skipped(text) == (parsed.hasPrefix("value: ") ? "ok" : parsed))
    }
}
