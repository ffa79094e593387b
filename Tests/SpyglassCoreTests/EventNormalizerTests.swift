import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@Suite struct EventNormalizerTests {
    let received = Date(timeIntervalSince1970: 1_790_000_000)
    let normalizer = EventNormalizer()

    func normalize(_ json: String, header: String? = nil, sentAt: Date? = nil, ip: String? = "10.0.0.7") throws -> NormalizedEvent {
        try normalizer.normalize(
            JSONParser.parse(json),
            context: .init(envelopeEventID: header, sentAt: sentAt, received: received, clientIP: ip))
    }

    @Test func envelopeEventIDWinsAndDashedIDsAreCanonicalized() throws {
        let event = try normalize(#"{"event_id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#, header: "9EC79C33-EC99-42AB-8353-589FCB2E04DC")
        #expect(event.eventID == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(event.payload["event_id"] == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(try normalize(#"{"event_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#).eventID == String(repeating: "a", count: 32))
        #expect(try normalize("{}").eventID.count == 32)
        #expect(throws: DomainError.self) { try normalize(#"{"event_id":"nope"}"#) }
        #expect(throws: DomainError.self) { try normalize(#"{"event_id":12}"#) }
        #expect(throws: DomainError.self) { try normalize("[]") }
    }

    @Test func timestampsInEveryFormAndOutOfBounds() throws {
        let epoch = received.timeIntervalSince1970
        #expect(try normalize(#"{"timestamp":\#(epoch - 10)}"#).timestamp == received.addingTimeInterval(-10))
        #expect(try normalize(#"{"timestamp":"\#(epoch - 10)"}"#).timestamp == received.addingTimeInterval(-10))
        // received is 2026-09-21T14:13:20Z
        #expect(try normalize(#"{"timestamp":"2026-09-21T14:13:10.5Z"}"#).timestamp == received.addingTimeInterval(-9.5))
        #expect(try normalize(#"{"timestamp":"nan"}"#).timestamp == received)
        #expect(try normalize(#"{"timestamp":NaN}"#).timestamp == received)
        #expect(try normalize("{}").timestamp == received)

        let future = try normalize(#"{"timestamp":\#(epoch + 61)}"#)
        #expect(future.timestamp == received)
        #expect(future.payload["errors"]?.arrayValue?.first?["type"] == "future_timestamp")
        #expect(try normalize(#"{"timestamp":\#(epoch + 59)}"#).timestamp == received.addingTimeInterval(59))
        let old = try normalize(#"{"timestamp":\#(epoch - 31 * 86400)}"#)
        #expect(old.timestamp == received)
        #expect(old.payload["errors"]?.arrayValue?.first?["type"] == "past_timestamp")
    }

    @Test func clockDriftOfAnHourIsCorrected() throws {
        let epoch = received.timeIntervalSince1970
        // The SDK's clock is 2 hours behind: it stamped the event 10 s before it sent it.
        let sentAt = received.addingTimeInterval(-7200)
        let event = try normalize(#"{"timestamp":\#(epoch - 7210)}"#, sentAt: sentAt)
        #expect(event.timestamp == received.addingTimeInterval(-10))
        #expect(event.payload["errors"]?.arrayValue?.first?["type"] == "clock_drift")
        // Under 55 minutes nothing moves.
        let small = try normalize(#"{"timestamp":\#(epoch - 100)}"#, sentAt: received.addingTimeInterval(-54 * 60))
        #expect(small.timestamp == received.addingTimeInterval(-100))
        #expect(small.payload["errors"] == nil)
    }

    @Test func messageBecomesLogentryAndListsBecomeValues() throws {
        let event = try normalize(#"{"message":"Hello","exception":[{"type":"E"}],"breadcrumbs":[{"message":"b"}],"threads":[]}"#)
        #expect(event.payload["logentry"] == ["formatted": "Hello"])
        #expect(event.payload["message"] == nil)
        #expect(event.payload["exception"] == ["values": [["type": "E"]]])
        #expect(event.payload["breadcrumbs"] == ["values": [["message": "b"]]])
        #expect(event.payload["threads"] == ["values": []])
        let template = try normalize(#"{"logentry":{"message":"Failed %s","params":[1]}}"#)
        #expect(template.payload["logentry"]?["formatted"] == "Failed %s")
        let kept = try normalize(#"{"message":"ignored","logentry":{"formatted":"kept"},"exception":{"values":[]}}"#)
        #expect(kept.payload["logentry"] == ["formatted": "kept"])
        #expect(kept.payload["exception"] == ["values": []])
        let long = try normalize(#"{"message":"\#(String(repeating: "x", count: 9000))"}"#)
        #expect(long.payload["logentry"]?["formatted"]?.stringValue?.count == 8192)
    }

    @Test func tagsBecomeStringPairs() throws {
        #expect(try normalize(#"{"tags":{"b":"2","a":1,"c":null}}"#).payload["tags"] == [["a", "1"], ["b", "2"], ["c", ""]])
        #expect(try normalize(#"{"tags":[["x","y"],["bad"],[1,2],["n",true]]}"#).payload["tags"] == [["x", "y"], ["n", "true"]])
        let long = try normalize(#"{"tags":{"k":"\#(String(repeating: "v", count: 300))"}}"#)
        #expect(long.payload["tags"]?.arrayValue?.first?.arrayValue?[1].stringValue?.count == 200)
    }

    @Test func levelsAndPlatform() throws {
        #expect(try normalize(#"{"level":"warn"}"#).level == "warning")
        #expect(try normalize(#"{"level":"CRITICAL"}"#).level == "fatal")
        #expect(try normalize(#"{"level":"nonsense"}"#).level == "error")
        #expect(try normalize("{}").level == "error")
        #expect(try normalize("{}").platform == "other")
        #expect(try normalize(#"{"platform":"python"}"#).platform == "python")
    }

    @Test(arguments: [
        "latest", "LATEST", ".", "..", "", "a/b", "a\\b", "a\nb", "a\tb", " padded", String(repeating: "r", count: 201),
        // CR LF is one Character in Swift: checked by bytes, it is refused like "\n" alone.
        "a\r\nb", "a\u{0C}b", "trailing ", "nbsp\u{00A0}", "\u{2003}em-space",
        // SQLite's length() stops at a NUL: "\0\u{1}" failed the release table's CHECK and the event with it.
        "\u{0}\u{1}", "a\u{0}", "bell\u{7}", "del\u{7F}",
    ])
    func invalidReleasesAreDropped(_ release: String) throws {
        let json = JSONWriter.string(["release": .string(release)])
        let event = try normalize(json)
        #expect(event.release == nil)
        #expect(event.payload["release"] == nil)
        #expect(event.payload["errors"]?.arrayValue?.first?["name"] == "release")
    }

    @Test func validReleasesAndEnvironments() throws {
        let event = try normalize(#"{"release":"pkg@1.2.3+build.4","environment":"prod"}"#)
        #expect(event.release == "pkg@1.2.3+build.4")
        #expect(event.environment == "prod")
        #expect(try normalize(#"{"release":123}"#).release == "123")
        #expect(try normalize(#"{"release":"latest-2"}"#).release == "latest-2")
        #expect(try normalize(#"{"release":"ünï-1.0-é"}"#).release == "ünï-1.0-é")
        #expect(try normalize(#"{"environment":"none"}"#).environment == nil)
        #expect(try normalize(#"{"environment":"None"}"#).environment == "None")
        // Printable ASCII takes a shortcut: the same answers as the general checks at their edges.
        let longest = String(repeating: "e", count: 64)
        #expect(try normalize(#"{"environment":"\#(longest)"}"#).environment == longest)
        #expect(try normalize(#"{"environment":"\#(longest)e"}"#).environment == nil)
        #expect(try normalize(#"{"environment":"\#(String(repeating: "é", count: 64))"}"#).environment?.count == 64)
        #expect(try normalize(#"{"environment":"a/b"}"#).environment == nil)
        #expect(try normalize(#"{"environment":""}"#).environment == nil)
        #expect(try normalize(#"{"environment":" prod "}"#).environment == "prod")
        #expect(try normalize(#"{"environment":"pre prod"}"#).environment == "pre prod")
        #expect(try normalize(#"{"environment":"a\u007fb"}"#).environment == nil)
        #expect(try normalize(#"{"environment":"a~b!"}"#).environment == "a~b!")
    }

    @Test(arguments: ["python", "javascript"])
    func ingestDerivesTheSameFromAPayloadParsedWithoutItsUnreadMembers(_ platform: String) throws {
        let frame = { (n: Int) in
            #"{"function":"f\#(n)","module":"app.m\#(n)","filename":"app/m\#(n).py","abs_path":"/srv/app/m\#(n).py","lineno":\#(n),"in_app":\#(n % 2 == 0),"context_line":"  call(\#(n))","pre_context":["a","b"],"post_context":["c"],"vars":{"n":"\#(n)","request":{"sdk":1}}}"#
        }
        let frames = (1...20).map(frame).joined(separator: ",")
        let json = #"""
            {"platform":"\#(platform)","level":"error","release":"shop@1.4.2","environment":"production","server_name":"web-3",
             "timestamp":"2026-11-24T21:25:26Z","transaction":"/checkout","logger":"app.payments",
             "exception":{"values":[{"type":"PaymentError","value":"payment for order 1042 failed: card declined",
               "module":"app.errors","mechanism":{"type":"generic","handled":false,"data":{"extra":1}},
               "stacktrace":{"frames":[\#(frames)]}}]},
             "breadcrumbs":{"values":[{"category":"http","message":"GET /api/cart 200","level":"info"}]},
             "user":{"id":"u-4711","email":"buyer@example.com","ip_address":"{{auto}}"},
             "tags":{"tenant":"acme","region":"eu-west-1","request":"GET","sdk":{"extra":1},"t":{"vars":[1]}},"contexts":{"os":{"name":"Linux"},"runtime":{"name":"CPython"}},
             "request":{"url":"https://shop.example.com/checkout","method":"POST"},"modules":{"django":"5.0"},
             "extra":{"cart":[1,2,3]},"sdk":{"name":"sentry.python","version":"2.19.0"},"debug_meta":{"images":[]}}
            """#
        let context = EventNormalizer.Context(envelopeEventID: "9ec79c33ec9942ab8353589fcb2e04dc", received: received, clientIP: "10.0.0.7")
        let whole = try normalizer.normalize(JSONParser.parse(json), context: context)
        let lean = try normalizer.normalize(
            JSONParser.parse(json, omitting: IngestLimits.unreadEventMembers, keepingWhole: IngestLimits.wholeEventMembers), context: context)
        #expect(lean.payload["breadcrumbs"] == nil && whole.payload["breadcrumbs"] != nil)
        #expect(lean.hashes == whole.hashes)
        #expect(lean.summary == whole.summary)
        #expect(lean.tags == whole.tags)
        // Tags hold what they hold, also names omitted elsewhere.
        #expect(lean.tags.contains(EventTag(key: "request", value: "GET")))
        #expect(lean.tags.contains { $0.key == "t" && $0.value.contains("vars") })
        #expect(lean.userKey == whole.userKey)
        #expect(lean.clientIP == whole.clientIP && lean.clientIP == "10.0.0.7")
        #expect(lean.eventID == whole.eventID && lean.timestamp == whole.timestamp && lean.level == whole.level)
        #expect(lean.platform == whole.platform && lean.release == whole.release && lean.environment == whole.environment)
    }

    @Test func autoIPBecomesTheClientAddressAndUnknownFieldsStay() throws {
        let event = try normalize(#"{"user":{"id":"1","ip_address":"{{auto}}"},"custom":{"deep":[1,{"x":null}]}}"#)
        #expect(event.payload["user"] == ["id": "1", "ip_address": "10.0.0.7"])
        #expect(event.payload["custom"] == ["deep": [1, ["x": nil]]])
        #expect(try normalize(#"{"user":{"ip_address":"1.2.3.4"}}"#).payload["user"]?["ip_address"] == "1.2.3.4")
        // The client's address is kept with the event (for normalizing the raw payload again) only when used.
        #expect(event.clientIP == "10.0.0.7")
        #expect(try normalize(#"{"user":{"ip_address":"1.2.3.4"}}"#).clientIP == nil)
        #expect(try normalize(#"{"user":{"id":"1"}}"#).clientIP == nil)
        #expect(try normalize(#"{"message":"no user"}"#).clientIP == nil)
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2026-11-24T21:25:26.220336Z", 1_795_555_526.220336),
        ("2026-11-24T21:25:26Z", 1_795_555_526),
        ("2026-11-24T21:25:26", 1_795_555_526),
        ("2026-11-24 21:25:26", 1_795_555_526),
        ("2026-11-24T22:25:26+01:00", 1_795_555_526),
        ("2026-11-24T20:55:26-0030", 1_795_555_526),
        ("1970-01-01T00:00:00Z", 0),
        ("2000-02-29T12:00:00Z", 951_825_600),
    ])
    func parsesRFC3339(_ text: String, _ seconds: Double) throws {
        let date = try #require(Timestamp.parseRFC3339(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000001)
    }

    @Test(arguments: ["", "2026-11-24", "2026-13-01T00:00:00Z", "2026-11-24T25:00:00Z", "2026-11-24T21:25:26.Z", "yesterday", "2026-11-24T21:25:26Zjunk"])
    func rejectsOthers(_ text: String) {
        #expect(Timestamp.parseRFC3339(text) == nil)
    }

    @Test func parsesJSONValues() {
        #expect(Timestamp.parse(.number(JSONNumber(1.5))) == Date(timeIntervalSince1970: 1.5))
        #expect(Timestamp.parse("1700000000.25") == Date(timeIntervalSince1970: 1_700_000_000.25))
        #expect(Timestamp.parse("nan") == nil)
        #expect(Timestamp.parse(true) == nil)
        #expect(Timestamp.parse(nil) == nil)
    }
}
