import SpyglassProtocol
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindOfValue() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2.5e3, true, false, null, "x"], "b": {}} "#)
        #expect(value["a"] == [1, .number(JSONNumber(literal: "-2.5e3")), true, false, nil, "x"])
        #expect(value["b"] == .object([:]))
        #expect(value["a"]?.arrayValue?[1].doubleValue == -2500)
    }

    @Test func duplicateKeysKeepTheLastValueInSmallAndLargeObjects() throws {
        #expect(try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#) == ["a": 3, "b": 2])
        let keys = (0..<5000).map { "\"k\($0 % 100)\":\($0)" }.joined(separator: ",")
        let large = try JSONParser.parse("{" + keys + "}")
        #expect(large.objectValue?.count == 100)
        #expect(large["k7"] == .number(JSONNumber(literal: "4907")))
        // Objects compare as JSON does: member order does not matter.
        #expect(try JSONParser.parse(#"{"x":1,"y":[2]}"#) == JSONParser.parse(#"{"y":[2],"x":1}"#))
    }

    @Test func keepsNumbersTooBigForInt64Exactly() throws {
        let text = #"{"big":123456789012345678901234567890,"neg":-9223372036854775809}"#
        let value = try JSONParser.parse(text)
        #expect(value["big"]?.int64Value == nil)
        #expect(value["big"]?.doubleValue == 1.2345678901234568e29)
        #expect(JSONWriter.string(value) == text)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#)
        #expect(value == "a\"b\\c/d\n\té😀")
    }

    /// Strings are scanned eight bytes at a time: a quote or backslash after every length of plain text (at every
    /// offset of a word) ends or escapes the string where it is, in a string kept or left out, and an unterminated
    /// string is refused at the end of the input.
    @Test func stringsEndAndEscapeAtEveryOffsetOfAWord() throws {
        for length in 0..<40 {
            let plain = String((0..<length).map { Character(Unicode.Scalar(UInt8(97 + $0 % 26))) })
            #expect(try JSONParser.parse("\"\(plain)\"") == .string(plain))
            #expect(try JSONParser.parse("[\"\(plain)\\\"\(plain)\\\\x\",1]") == [.string(plain + "\"" + plain + "\\x"), 1])
            #expect(try JSONParser.parse("{\"vars\":\"\(plain)\\\"\(plain)\",\"k\":\"\(plain)\"}", omitting: ["vars"]) == ["k": .string(plain)])
            for omitting in [[], ["vars"]] {
                for (text, end) in [("{\"vars\":\"\(plain)", 9 + length), ("{\"vars\":\"\(plain)\\\"", 11 + length)] {
                    let error = #expect(throws: JSONParser.Error.self) { try JSONParser.parse(text, omitting: omitting) }
                    #expect(error?.message == "unterminated string" && error?.offset == end)
                }
            }
        }
    }

    @Test func replacesLoneSurrogatesAndInvalidUTF8() throws {
        #expect(try JSONParser.parse(#""x\ud800y""#) == "x\u{FFFD}y")
        #expect(try JSONParser.parse(#""\udc00""#) == "\u{FFFD}")
        #expect(try JSONParser.parse(#""\ud800\u0041""#) == "\u{FFFD}A")
        #expect(try JSONParser.parse([0x22, 0xff, 0x41, 0x22]) == "\u{FFFD}A")
    }

    @Test func keepsNULCharacters() throws {
        let value = try JSONParser.parse(#""a\u0000b""#)
        #expect(value.stringValue?.unicodeScalars.map(\.value) == [0x61, 0, 0x62])
        #expect(JSONWriter.string(value) == #""a\u0000b""#)
    }

    @Test func acceptsPythonsNonFiniteNumbersAsStrings() throws {
        let value = try JSONParser.parse(#"[NaN, Infinity, -Infinity, "nan"]"#)
        #expect(value == ["NaN", "Infinity", "-Infinity", "nan"])
    }

    @Test(arguments: [
        ("", "unexpected end of input, expected a value at byte 0"),
        ("{", "unexpected end of input, expected a member name in quotes at byte 1"),
        (#"{"a":1"#, "unexpected end of input in an object at byte 6"),
        (#"{"a" 1}"#, "unexpected '1', expected ':' after member name at byte 5"),
        ("[1,]", "unexpected ']', expected a value at byte 3"),
        (#""abc"#, "unterminated string at byte 4"),
        ("tru", "unexpected end of input in a literal at byte 0"),
        ("01x", "unexpected 'x' after the JSON value at byte 2"),
        ("1.", "invalid number: digits expected after '.' at byte 2"),
        (#""\q""#, "invalid escape '\\'q'' in a string at byte 2"),
        ("{} {}", "unexpected '{' after the JSON value at byte 3"),
    ])
    func refusesBrokenJSONSayingWhere(_ text: String, _ message: String) {
        let error = #expect(throws: JSONParser.Error.self) { try JSONParser.parse(text) }
        #expect(error?.description == message)
    }

    @Test func refusesDeepNestingWithoutExhaustingTheStack() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let error = #expect(throws: JSONParser.Error.self) { try JSONParser.parse(deep) }
        #expect(error?.message == "nesting deeper than 128 levels")
        let fine = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    @Test func omittedMembersAreCheckedButNotKeptAtAnyDepth() throws {
        let text = #"{"a":1,"vars":{"x":[1,"\u00e9\n",{"y":null}],"z":-2.5e3},"b":{"vars":"s","c":[{"vars":[]}],"v":2},"\u0076ars":3}"#
        // A name spelled with an escape is kept ("as written").
        #expect(try JSONParser.parse(text, omitting: ["vars"]) == JSONParser.parse(#"{"a":1,"b":{"c":[{}],"v":2},"vars":3}"#))
        #expect(try JSONParser.parse(text, omitting: []) == JSONParser.parse(text))
        #expect(try JSONParser.parse(text, omitting: ["va", "varsx"]) == JSONParser.parse(text))
        // Inside a member kept whole (compared decoded) nothing is left out; outside it omission goes on.
        let tagged = #"{"tags":{"vars":1,"x":{"vars":2}},"t\u0061gs2":{"vars":3},"vars":4,"b":{"vars":5}}"#
        #expect(
            try JSONParser.parse(tagged, omitting: ["vars"], keepingWhole: ["tags", "tags2"])
                == JSONParser.parse(#"{"tags":{"vars":1,"x":{"vars":2}},"tags2":{"vars":3},"b":{}}"#))
    }

    @Test(arguments: [
        #"{"vars":{"x":1,}}"#, #"{"vars":"\x"}"#, #"{"vars":"\u12G4"}"#, #"{"vars":"\ud800\uZZZZ"}"#, #"{"vars":[1 2]}"#,
        #"{"vars":"abc"#, #"{"vars":"abc\"#, #"{"vars":tru}"#, #"{"vars":{"a" 1}}"#, #"{"vars":{"a":}}"#, #"{"vars":[1,]"#,
        #"{"vars":-}"#, #"{"vars":{1:2}}"#, #"{"vars":"\u12"}"#, #"{"vars""#, #"{"vars":"#, #"{"vars":[{"a":"b"]}"#,
        #"{"vars":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}",
        #"{"a":"# + String(repeating: "[", count: 126) + #"{"vars":[[1]]}"# + String(repeating: "]", count: 126) + "}",
    ])
    func omittedMembersFailAsTheyWouldParsed(_ text: String) {
        func failure(_ parse: () throws(JSONParser.Error) -> JSONValue) -> JSONParser.Error? {
            do { _ = try parse(); return nil } catch { return error }
        }
        let whole = failure { () throws(JSONParser.Error) in try JSONParser.parse(text) }
        let omitting = failure { () throws(JSONParser.Error) in try JSONParser.parse(text, omitting: ["vars"]) }
        #expect(whole != nil)
        #expect(omitting == whole)
    }

    @Test func writerRoundTripsAndSortsKeys() throws {
        let value: JSONValue = ["b": 1, "a": ["x": "line\nbreak \"quoted\" \u{1}"], "c": [true, nil]]
        let text = JSONWriter.string(value)
        #expect(text == #"{"a":{"x":"line\nbreak \"quoted\" \u0001"},"b":1,"c":[true,null]}"#)
        #expect(try JSONParser.parse(text) == value)
    }
}
