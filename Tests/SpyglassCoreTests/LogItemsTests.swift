import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

/// `LogItems.records(json:…)` reads log lines straight from an item's bytes; it must give what reading the parsed
/// tree gives (`records(_:…)`): the same lines, or the same error (a JSON error before any other).
struct LogItemsTests {
    static let received = Date(timeIntervalSince1970: 1_795_000_000)

    static var small: LogItems.Limits {
        var limits = LogItems.Limits()
        limits.maxLines = 3
        limits.maxAttributes = 2
        limits.maxBody = 8
        return limits
    }

    /// The outcome of a reading, comparable: the lines, or the kind and text of the error.
    static func outcome(_ read: () throws -> [LogRecord]) -> String {
        do {
            return "\(try read())"
        } catch let error as DomainError {
            return "domain: \(error.message)"
        } catch {
            return "json: \(error)"
        }
    }

    static func both(_ text: String, limits: LogItems.Limits = LogItems.Limits(), alreadyRead: Int = 0) -> (tree: String, bytes: String) {
        let bytes = Array(text.utf8)
        let tree = outcome {
            try LogItems.records(try JSONParser.parse(bytes), received: received, alreadyRead: alreadyRead, limits: limits)
        }
        let direct = outcome {
            try LogItems.records(json: bytes, received: received, alreadyRead: alreadyRead, limits: limits)
        }
        return (tree, direct)
    }

    static let line = #"{"timestamp":1795000000.25,"level":"info","body":"paid"}"#

    static let cases: [String] = {
        var cases: [String] = []
        // Lines as SDKs send them, with every column attribute and each attribute type.
        cases.append(#"{"items":[{"timestamp":1795000000.5,"level":"info","body":"order 42 paid","trace_id":"0123456789ABCDEF0123456789abcdef","span_id":"0123456789abcdef","severity_number":10,"attributes":{"sentry.message.template":{"value":"order {id} paid","type":"string"},"sentry.release":{"value":"shop@1.0","type":"string"},"sentry.environment":{"value":"prod","type":"string"},"sentry.sdk.name":{"value":"sentry.python","type":"string"},"sentry.sdk.version":{"value":"2.40.0","type":"string"},"sentry.severity_text":{"value":"info","type":"string"},"id":{"value":42,"type":"integer"},"ms":{"value":1.5,"type":"double"},"ok":{"value":true,"type":"boolean"},"odd":{"value":[1,{"a":null}],"type":"list"},"n":{"value":"7","type":"integer"},"gone":{"value":null,"type":"string"},"none":{"type":"string"}}}]}"#)
        // Duplicates: the last value, at the first name's place; members the reader does not know.
        cases.append(#"{"items":[{"timestamp":1,"level":"loud","body":"a","level":"WARNING","x":{"y":[1,2]},"attributes":{"b":{"value":1,"type":"integer"},"a":{"value":"x","type":"string"},"b":{"value":2,"type":"integer","type":"double"}}}],"other":[]}"#)
        cases.append(#"{"items":[],"items":["# + line + "]}")
        cases.append(#"{"items":"# + line + #","items":[]}"#)
        cases.append(#"{"items":["# + line + #"],"items":{}}"#)
        // Many duplicate attribute names (the index past 16).
        let repeated: [String] = (0..<40).map { #""k\#($0 % 20)":{"value":\#($0),"type":"integer"}"# }
        cases.append(#"{"items":[{"timestamp":1,"level":"debug","body":"b","attributes":{"# + repeated.joined(separator: ",") + "}}]}")
        // The level from sentry.severity_number; a severity contradicting the level dropped.
        cases.append(#"{"items":[{"timestamp":1,"body":"s","attributes":{"sentry.severity_number":{"value":18,"type":"integer"}}},{"timestamp":1,"level":"info","severity_number":20,"body":"c"}]}"#)
        // A time ahead of the server's counts as received; texts cut; NUL replaced; escapes in names.
        cases.append(#"{"items":[{"timestamp":"2099-01-01T00:00:00Z","level":"error","body":"a very long body\u0000","attributes":{"\u0061\u0000":{"value":"v","type":"string"},"null":null,"attributes":null}}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"n","attributes":null}]}"#)
        // Refused lines: each error, the first line's.
        cases.append(#"{"items":[{"timestamp":"soon","level":"info","body":"x"},{"level":"x"}]}"#)
        cases.append(#"{"items":[7]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":7}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","trace_id":"not-hex"}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","span_id":"0123"}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":[1]}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":{"a":5}}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":{"a":{"value":"many","type":"integer"}}}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":{"a":{"value":1e400,"type":"double"}}}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":{"a":{"value":"yes","type":"boolean"}}}]}"#)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"x","attributes":{"a":5,"a":{"value":1,"type":"integer"}}}]}"#)
        // Not a log item.
        cases.append(#"[]"#)
        cases.append(#"{}"#)
        cases.append(#"{"items":{}}"#)
        cases.append(#"{"items":null}"#)
        cases.append(#"7"#)
        // JSON errors, also after a refused line (the JSON error wins, as parsing first finds it).
        cases.append("")
        cases.append(#"{"items":[{"timestamp":"soon","level":"info","body":"x"},]}"#)
        cases.append(#"{"items":[{"timestamp":1}]"#)
        cases.append(#"{"items":[]} x"#)
        cases.append(#"{"items":[{"body":"\q"}]}"#)
        cases.append(#"{"items" [] }"#)
        cases.append(#"{"items":[{1:2}]}"#)
        cases.append("{\"items\":[" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "]}")
        let deep = String(repeating: "[", count: 130) + String(repeating: "]", count: 130)
        cases.append(#"{"items":[{"timestamp":1,"level":"info","body":"d","attributes":{"a":{"value":"# + deep + #","type":"x"}}}]}"#)
        cases.append("  {\"items\" : [ " + line + " , " + line + " ] }\n")
        return cases
    }()

    @Test(arguments: cases)
    func readingTheBytesGivesWhatReadingTheTreeGives(_ text: String) {
        let (tree, bytes) = Self.both(text)
        #expect(tree == bytes)
        let (smallTree, smallBytes) = Self.both(text, limits: Self.small, alreadyRead: 1)
        #expect(smallTree == smallBytes)
    }

    @Test func theLineLimitCountsEveryLineEvenAfterARefusedOne() {
        let refused = #"{"timestamp":"soon","level":"info","body":"x"}"#
        let text = "{\"items\":[" + ([refused] + Array(repeating: Self.line, count: 4)).joined(separator: ",") + "]}"
        let (tree, bytes) = Self.both(text, limits: Self.small)
        #expect(tree == "domain: 5 log lines; an envelope carries at most 3")
        #expect(bytes == tree)
        var five = Self.small
        five.maxLines = 5
        let (treeRefused, bytesRefused) = Self.both(text, limits: five)
        #expect(treeRefused.hasPrefix("domain: items[0].timestamp: "))
        #expect(bytesRefused == treeRefused)
    }

    @Test func linesReadFromTheBytesKeepTheirColumnsAndTypedAttributes() throws {
        let text = #"{"items":[{"timestamp":1794999990,"level":"warning","body":"b","trace_id":"ABCDEF0123456789abcdef0123456789","attributes":{"sentry.release":{"value":"r@1","type":"string"},"sentry.sdk.name":{"value":"s","type":"string"},"sentry.sdk.version":{"value":"1","type":"string"},"z":{"value":true,"type":"boolean"},"a":{"value":"3","type":"integer"}}}]}"#
        let lines = try LogItems.records(json: Array(text.utf8), received: Self.received)
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.level == .warn && line.severityNumber == 13 && line.body == "b")
        #expect(line.timestamp == Date(timeIntervalSince1970: 1_794_999_990))
        #expect(line.traceID == "abcdef0123456789abcdef0123456789" && line.release == "r@1" && line.sdk == "s 1")
        #expect(line.attributes == [LogAttribute(name: "a", value: .integer(3)), LogAttribute(name: "z", value: .boolean(true))])
    }
}
