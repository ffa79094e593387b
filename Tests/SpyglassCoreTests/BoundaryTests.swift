import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

/// Numbers from outside are checked where they enter: nothing out of range reaches a conversion that traps.
@Suite struct BoundaryTests {
    let received = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func derivedTextHoldsNoNULAndAPlatformIsAnIdentifier() throws {
        // PostgreSQL's text cannot hold U+0000: the fields derived for columns replace it; the payload keeps it.
        let json = #"{"platform":"\u0000py","transaction":"a\u0000b","tags":{"k\u0000":"v\u0000"},"#
            + #""user":{"username":"\u0000"},"exception":{"values":[{"type":"Boom","value":"bad \u0000 nul"}]}}"#
        let event = try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: .now))
        #expect(event.platform == "other")
        #expect(event.summary.title == "Boom: bad \u{FFFD} nul" && event.summary.culprit == "a\u{FFFD}b")
        #expect(event.summary.message == "bad \u{FFFD} nul")
        #expect(event.userKey == "username:\u{FFFD}")
        #expect(event.tags.contains(EventTag(key: "k\u{FFFD}", value: "v\u{FFFD}")))
        #expect(!event.tags.contains { $0.key.contains("\u{0}") || $0.value.contains("\u{0}") })
        #expect(event.payload["exception"]?["values"]?.arrayValue?.first?["value"]?.stringValue == "bad \u{0} nul")
        for (sent, kept) in [("swift", "swift"), ("python", "python"), ("as3", "as3"), ("<b>", "other"), ("", "other")] {
            let other = try EventNormalizer().normalize(
                JSONParser.parse(#"{"platform":"\#(sent)","message":"x"}"#), context: .init(received: .now))
            #expect(other.platform == kept)
        }
    }

    @Test func timestampsAreOnlyTimesFrom1970To9999() throws {
        for refused in ["1e300", "9e15", "-1", "-1e300", "\"1e20\"", "\"-5\"", "\"0x1p1000\"", "\"nan\"", "\"inf\""] {
            #expect(Timestamp.parse(try JSONParser.parse(refused)) == nil, "\(refused)")
        }
        #expect(Timestamp.parse(try JSONParser.parse("0")) == Date(timeIntervalSince1970: 0))
        #expect(Timestamp.parse(try JSONParser.parse("253402300799")) != nil)
        #expect(Timestamp.parse(try JSONParser.parse("253402300800")) == nil)
        #expect(Timestamp.parse(.string("1969-12-31T23:59:59Z")) == nil)
        #expect(Timestamp.parse(.string("2026-11-25T06:52:48.123Z"))?.timeIntervalSince1970 == 1_795_589_568.123)
    }

    @Test func breadcrumbTimesThatAreNoTimesAreDroppedAndNoted() throws {
        let json = #"""
            {"breadcrumbs":[{"timestamp":1e300,"message":"a"},{"timestamp":9e15,"message":"b"},
             {"timestamp":"1e20","message":"c"},{"timestamp":"2026-11-25T06:52:48.5Z","message":"d"},
             {"timestamp":1795589568.25,"message":"e"},{"message":"f"}]}
            """#
        let event = try EventNormalizer().normalize(JSONParser.parse(json), context: .init(received: received))
        let crumbs = try #require(event.payload["breadcrumbs"]?["values"]?.arrayValue)
        #expect(crumbs.map { $0["message"]?.stringValue } == ["a", "b", "c", "d", "e", "f"])
        #expect(crumbs.prefix(3).allSatisfy { $0["timestamp"] == nil })
        #expect(crumbs[3]["timestamp"]?.doubleValue == 1_795_589_568.5)
        #expect(crumbs[4]["timestamp"]?.doubleValue == 1_795_589_568.25)
        let errors = try #require(event.payload["errors"]?.arrayValue)
        #expect(errors.compactMap { $0["name"]?.stringValue } == (0..<3).map { "breadcrumbs.values.\($0).timestamp" })
        #expect(errors.allSatisfy { $0["type"]?.stringValue == "invalid_data" })
        #expect(errors[2]["value"]?.stringValue == "1e20")
    }

    @Test func alertRuleNumbersAreBoundedAndTheErrorNamesTheField() throws {
        func rule(_ part: String) throws -> AlertRule {
            try AlertRule(
                json: JSONParser.parse(#"{"name":"r","conditions":[{"id":"first_seen"}],"actions":[{"id":"email","targetType":"Members"}],\#(part)}"#),
                secret: { "s" })
        }
        func message(_ part: String) -> String? {
            do {
                _ = try rule(part)
                return nil
            } catch let error as DomainError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        let huge = "9223372036854775807"
        #expect(message(#""filters":[{"id":"age_comparison","comparison_type":"older","value":\#(huge),"time":"minute"}]"#)?
            .contains("filters[0].value") == true)
        #expect(message(#""filters":[{"id":"age_comparison","comparison_type":"older","value":"1000000000000000000","time":"week"}]"#)?
            .contains("filters[0].value") == true)
        #expect(message(#""conditions":[{"id":"event_unique_user_frequency","value":\#(huge),"interval":"1h"}]"#)?
            .contains("conditions[0].value") == true)
        #expect(message(#""actions":[{"id":"webhook","url":"http://203.0.113.7:70000/hook"}]"#)?.contains("actions[0].url") == true)
        // Ten years is the longest age; a kept rule round-trips.
        let kept = try rule(#""filters":[{"id":"age_comparison","comparison_type":"older","value":520,"time":"week"}]"#)
        #expect(try AlertRule(json: .object(kept.json), secret: { "s" }) == kept)
        #expect(message(#""filters":[{"id":"age_comparison","comparison_type":"older","value":3651,"time":"day"}]"#) != nil)
    }

    @Test func searchTextIsSplitByUnicodeScalar() throws {
        // A quote followed by a combining mark is one Character: it must still open a quoted phrase.
        let query = try IssueQuery.parse("\"\u{301}abc def\"", now: received)
        #expect(query.texts == ["\u{301}abc def"])
        #expect(throws: DomainError.self) { try IssueQuery.parse("\"\u{301}", now: received) }
        #expect(throws: DomainError.self) { try IssueQuery.parse("lastSeen:-1e300h", now: received) }
    }

    @Test func sessionTotalsSaturate() {
        let most = ReleaseInfo.Health(environment: "a", started: .max, crashed: .max, errored: 1, abnormal: 0)
        let total = ReleaseInfo.Health.total([most, most])
        #expect(total.started == .max && total.crashed == .max && total.errored == 2)
    }

    @Test func doublesConvertWithoutTrapping() {
        #expect(Int64(saturating: 1e300) == .max)
        #expect(Int64(saturating: -1e300) == .min)
        #expect(Int64(saturating: .nan) == 0)
        #expect(Int64(saturating: -.infinity) == .min)
        #expect(Int64(saturating: 42.9) == 42)
        #expect(Int(saturating: 9.3e18) == .max)
    }
}
