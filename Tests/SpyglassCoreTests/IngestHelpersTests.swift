import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@Suite struct SessionItemsTests {
    @Test func sessionUpdatesCountStartsAndEndings() throws {
        let started = try JSONParser.parse(#"{"sid":"a","init":true,"status":"ok","attrs":{"release":"app@1","environment":"prod"}}"#)
        #expect(SessionItems.count(session: started) == SessionCount(release: "app@1", environment: "prod", started: 1))
        let crashed = try JSONParser.parse(#"{"sid":"a","status":"crashed","errors":1,"attrs":{"release":"app@1"}}"#)
        #expect(SessionItems.count(session: crashed) == SessionCount(release: "app@1", environment: "production", crashed: 1))
        let erroredExit = try JSONParser.parse(#"{"init":true,"status":"exited","errors":2,"attrs":{"release":"app@1"}}"#)
        #expect(SessionItems.count(session: erroredExit) == SessionCount(release: "app@1", environment: "production", started: 1, errored: 1))
        #expect(SessionItems.count(session: try JSONParser.parse(#"{"init":true,"attrs":{}}"#)) == nil)
        #expect(SessionItems.count(session: try JSONParser.parse(#"{"init":true,"attrs":{"release":"latest"}}"#)) == nil)
    }

    @Test func hostileAggregatesCannotOverflow() throws {
        let payload = try JSONParser.parse(
            #"{"attrs":{"release":"api@2"},"aggregates":[{"exited":9223372036854775807,"errored":9223372036854775807,"crashed":1}]}"#)
        let count = try #require(SessionItems.count(sessions: payload))
        #expect(count.exited == 1_000_000 && count.started == 2_000_001)
    }

    @Test func aggregatesAddUp() throws {
        let payload = try JSONParser.parse(
            #"{"attrs":{"release":"api@2","environment":"staging"},"aggregates":[{"started":"x","exited":3,"errored":1},{"crashed":2,"abnormal":1,"exited":-5}]}"#)
        #expect(
            SessionItems.count(sessions: payload)
                == SessionCount(release: "api@2", environment: "staging", started: 4, exited: 3, errored: 1))
    }
}

@Suite struct RateLimiterTests {
    @Test func countsPerKeyPerMinute() {
        var limiter = RateLimiter()
        let start = Date(timeIntervalSince1970: 6000)  // a minute boundary
        #expect(limiter.admit(key: "a", limit: 2, now: start) == nil)
        #expect(limiter.admit(key: "a", limit: 2, now: start.addingTimeInterval(1)) == nil)
        #expect(limiter.admit(key: "a", limit: 2, now: start.addingTimeInterval(20)) == 40)
        #expect(limiter.admit(key: "b", limit: 2, now: start.addingTimeInterval(20)) == nil)
        #expect(limiter.admit(key: "a", limit: 2, now: start.addingTimeInterval(59.5)) == 1)
        #expect(limiter.admit(key: "a", limit: 2, now: start.addingTimeInterval(60)) == nil)
    }

    /// What other nodes admitted in the same minute counts against the limit; in another minute it does not.
    @Test func countsWhatOtherNodesAdmittedInTheSameMinute() {
        var limiter = RateLimiter()
        let start = Date(timeIntervalSince1970: 6000)
        let minute = RateLimiter.minute(start)
        limiter.setOthers(["a": 2], minute: minute)
        #expect(limiter.admit(key: "a", limit: 3, now: start) == nil)
        #expect(limiter.admit(key: "a", limit: 3, now: start.addingTimeInterval(1)) == 59)
        #expect(limiter.admit(key: "b", limit: 3, now: start) == nil)
        #expect(limiter.counts(minute: minute) == ["a": 1, "b": 1])
        // Learned counts of an earlier minute do not hold back the next one.
        #expect(limiter.admit(key: "a", limit: 1, now: start.addingTimeInterval(60)) == nil)
        #expect(limiter.counts(minute: minute + 1) == ["a": 1])
    }
}

@Suite struct EventIDTests {
    @Test func normalizes() {
        #expect(EventID.normalize("9EC79C33EC9942AB8353589FCB2E04DC") == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(EventID.normalize("9ec79c33-ec99-42ab-8353-589fcb2e04dc") == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(EventID.normalize("9ec79c33ec9942ab8353589fcb2e04dc") == "9ec79c33ec9942ab8353589fcb2e04dc")
        #expect(EventID.normalize("00000000-0000-0000-0000-000000000001") == "00000000000000000000000000000001")
        for bad in [
            "", "9ec79c33ec9942ab8353589fcb2e04d", "9ec79c33_ec99_42ab_8353_589fcb2e04dc", String(repeating: "g", count: 32),
            String(repeating: "0", count: 32), "00000000-0000-0000-0000-000000000000", "9ec79c33ec9942ab8353589fcb2e04dé",
        ] {
            #expect(EventID.normalize(bad) == nil, "\(bad)")
        }
        let generated = (0..<64).map { _ in EventID.generate() }
        for id in generated { #expect(id.count == 32 && EventID.normalize(id) == id, "\(id)") }
        #expect(Set(generated).count == generated.count)
        // Every byte of the id comes from the generator: all 32 digits vary.
        for offset in 0..<32 {
            let digits = Set(generated.map { $0.utf8[$0.utf8.index($0.utf8.startIndex, offsetBy: offset)] })
            #expect(digits.count > 1, "digit \(offset) never changes")
        }
    }
}

@Suite struct SentryAuthTests {
    @Test func parsesWhatSDKsSend() {
        #expect(
            SentryAuth.parse("Sentry sentry_key=abc123, sentry_version=7, sentry_client=sentry.python/2.75.0")
                == ["sentry_key": "abc123", "sentry_version": "7", "sentry_client": "sentry.python/2.75.0"])
        #expect(SentryAuth.parse("sentry sentry_key=k,sentry_secret=s")?["sentry_secret"] == "s")
        #expect(SentryAuth.parse("Bearer abc") == nil)
        #expect(SentryAuth.parse("Sentry") == nil)
        #expect(SentryAuth.parse("Sentry garbage, =x, a=")?.isEmpty == true)
        #expect(RateLimitHeader.allCategories(retryAfter: 0, scope: "key") == "1::key")
        let lines = RateLimitHeader.categories(["log_item", "log_byte"], retryAfter: 30, scope: "key")
        #expect(lines == "30:log_item;log_byte:key")
    }

    /// Every shape of the header, read whole (`parse`) and for the key and version ingest needs (`credentials`).
    @Test func eachShapeOfTheHeaderIsReadAsSDKsMeanIt() {
        let cases: [(String, [String: String]?)] = [
            (
                "  sEnTrY sentry_version=8,sentry_key= k1 ,sentry_key=\tk2\t",
                ["sentry_version": "8", "sentry_key": "k2"]
            ),
            ("sentry sentry_key=,sentry_key=a=b", ["sentry_key": "a=b"]),
            ("Sentry ,,, sentry_key=x,,", ["sentry_key": "x"]),
            ("Sentry  sentry_key = y ", ["sentry_key": "y"]),
            ("Sentry sentry_keyx=1, xsentry_key=2", ["sentry_keyx": "1", "xsentry_key": "2"]),
            ("Sentry sentry_key=é, sentry_version=07", ["sentry_key": "é", "sentry_version": "07"]),
            ("Sentry sentry_key", [:]), ("Sentry ", [:]),
            ("Sentry=sentry_key=x", nil), ("Sentrysentry_key=x", nil), ("Bearer abc", nil), ("Sentry", nil), ("", nil),
        ]
        for (header, fields) in cases {
            #expect(SentryAuth.parse(header) == fields, "\(header)")
            let credentials = SentryAuth.credentials(header)
            #expect((credentials == nil) == (fields == nil), "\(header)")
            #expect(credentials?.key == fields?["sentry_key"], "\(header)")
            #expect(credentials?.version == fields?["sentry_version"], "\(header)")
        }
    }
}
