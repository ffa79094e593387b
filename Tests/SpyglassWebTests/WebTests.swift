import Foundation
import Mustache
import SpyglassCore
import SpyglassProtocol
import SpyglassWebAssets
import Testing

@testable import SpyglassWeb

struct WebTests {
    @Test func everyTemplateParsesAndEscapesWhatItShows() throws {
        MustacheContentTypes.register(SafeHTML(), named: SafeHTML.name)
        var library = MustacheLibrary()
        for (name, bytes) in WebAssets.templates {
            library.register(try MustacheTemplate(string: String(decoding: bytes, as: UTF8.self)), named: name)
        }
        struct Model {
            var heading: String
            var text: String
            var back: String
        }
        let html = try #require(library.render(Model(heading: "<script>x</script>", text: "\"'&", back: "/\"\u{301}x"), withTemplate: "message"))
        #expect(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x"))
        #expect(html.contains("href=\"/&quot;\u{301}x\""))  // in an attribute, through the layout
        #expect(html.contains("&quot;&#39;&amp;"))
        MustacheContentTypes.register(SafeHTML(), named: SafeHTML.name)
    }

    @Test func escapingIsByByteSoCombiningMarksHideNothing() throws {
        #expect(SafeHTML.escape("\"\u{301} onmouseover=x <\u{301}b> &\u{301} '") == "&quot;\u{301} onmouseover=x &lt;\u{301}b&gt; &amp;\u{301} &#39;")
        #expect(SafeHTML.escape("plain text é") == "plain text é")
        MustacheContentTypes.register(SafeHTML(), named: SafeHTML.name)
        for (name, bytes) in WebAssets.templates {
            #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("{{% CONTENT_TYPE: SAFEHTML}}"), "\(name)")
        }
    }

    @Test func hugeLineNumbersInEventDataDoNotCrash() throws {
        let payload = try JSONParser.parse(Array(#"""
            {"exception":{"values":[{"type":"E","stacktrace":{"frames":[
              {"function":"a","lineno":9223372036854775807,"context_line":"x","post_context":["y"],"colno":9223372036854775807},
              {"function":"b","lineno":-9223372036854775808,"context_line":"x","pre_context":["w"]},
              {"function":"c","lineno":2,"context_line":"x","pre_context":["u","v","w"]}]}}]},
             "breadcrumbs":[{"level":"\" onclick=x","message":"m"}]}
            """#.utf8))
        let event = EventInfo(eventID: String(repeating: "a", count: 32), projectID: 1, issueID: 1, timestamp: .now, received: .now, payload: payload, hash: nil)
        let view = EventView(event, issueURL: "/i/", previous: nil, next: nil)
        #expect(view.exceptions[0].frames.map(\.line) == [2, nil, nil])
        #expect(view.exceptions[0].frames[0].context.map(\.number) == [1, 2])
        #expect(view.breadcrumbs.map(\.level) == ["info"])
    }

    @Test func onlyLocalPathsAreRedirectTargets() {
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "", "/a\nb", "/\t/evil.example", "/ /x", "/é"] {
            #expect(WebResponse.localPath(bad, fallback: "/home") == "/home", "\(bad)")
        }
        #expect(WebResponse.localPath("/organizations/spyglass/issues/?query=a", fallback: "/") == "/organizations/spyglass/issues/?query=a")
    }

    @Test func formattingAnyStoredTimeNeverTraps() {
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        // Stored before times were checked at ingest: they must still render.
        for seconds in [1e300, -1e300, 9e15, -9e15, 1e20, .infinity, -.infinity, .nan, 0] {
            let date = Date(timeIntervalSince1970: seconds)
            _ = Formatting.clock(date)
            _ = Formatting.ago(date, now: now)
            _ = Formatting.age(date, now: now)
            _ = Formatting.timestamp(date)
        }
        #expect(Formatting.clock(Date(timeIntervalSince1970: 1e300)) == "")
        #expect(Formatting.ago(Date(timeIntervalSince1970: -1e300), now: now) == "\(Int.max) years ago")
        #expect(Formatting.clock(Date(timeIntervalSince1970: 1_795_589_568.123)) == "06:52:48.123")
    }

    @Test func wrongPasswordsAreRefusedPerAccountAndAddressWithAHigherCeilingPerAccount() {
        let throttle = LoginThrottle()
        let start = Date(timeIntervalSince1970: 1_000_000)
        func keys(_ account: String, _ address: String) -> [LoginThrottle.Key] { LoginThrottle.keys(account: account, address: address) }
        // Each attempt counts when it is checked: five in parallel, then the sixth from that address is refused.
        for second in 0..<5 { #expect(throttle.attempt(keys("a", "x"), now: start + Double(second)) == nil) }
        #expect(throttle.attempt(keys("a", "x"), now: start + 5) == 55)
        // The real user, elsewhere, is not locked out by someone guessing from x.
        #expect(throttle.attempt(keys("a", "y"), now: start + 5) == nil)
        #expect(throttle.attempt(keys("a", "x"), now: start + 61) == nil)
        // One address trying many accounts: refused after 20 within the minute.
        let spray = LoginThrottle()
        for index in 0..<20 { #expect(spray.attempt(keys("user\(index)", "z"), now: start + 1) == nil) }
        #expect(spray.attempt(keys("user99", "z"), now: start + 2) == 59)
        #expect(spray.attempt(keys("user99", "w"), now: start + 2) == nil)
        // Many addresses guessing one account: refused everywhere after 50 within 15 minutes.
        let distributed = LoginThrottle()
        for index in 0..<50 { #expect(distributed.attempt(keys("b", "10.0.0.\(index)"), now: start + Double(index)) == nil) }
        #expect(distributed.attempt(keys("b", "10.0.1.1"), now: start + 60) == 840)
        #expect(distributed.attempt(keys("c", "10.0.1.1"), now: start + 60) == nil)
        // A success takes its own count back and clears the account from that address.
        let other = LoginThrottle()
        for second in 0..<4 { _ = other.attempt(keys("c", "w"), now: start + Double(second)) }
        other.succeeded(keys("c", "w"), now: start + 3)
        #expect(other.attempt(keys("c", "w"), now: start + 4) == nil)
    }

    @Test func theEventViewShowsTheChainNewestFirstWithInAppFramesOpen() throws {
        let payload = try JSONParser.parse(Array(#"""
            {"exception":{"values":[
              {"type":"IOError","value":"disk","stacktrace":{"frames":[{"function":"read","in_app":false}]}},
              {"type":"SyncFailed","value":"sync","mechanism":{"type":"generic","handled":false},"stacktrace":{"frames":[
                {"function":"main","in_app":true,"lineno":3},{"function":"lib","in_app":false},
                {"function":"sync","in_app":true,"lineno":10,"context_line":"try sync()","pre_context":["a","b"],"post_context":["c"],"vars":{"n":3}}]}}]},
             "breadcrumbs":{"values":[{"timestamp":"2026-11-25T06:52:48.123Z","category":"http","message":"GET /"}]},
             "tags":[["env","prod"]],"request":{"url":"javascript:x","headers":[["Accept","*/*"]]}}
            """#.utf8))
        let event = EventInfo(eventID: String(repeating: "a", count: 32), projectID: 1, issueID: 1, timestamp: .now, received: .now, payload: payload, hash: nil)
        let view = EventView(event, issueURL: "/organizations/o/issues/1/", previous: nil, next: "b")
        #expect(view.exceptions.map(\.type) == ["SyncFailed", "IOError"])
        #expect(view.exceptions[0].unhandled)
        #expect(view.exceptions[0].frames.map(\.function) == ["sync", "lib", "main"])
        #expect(view.exceptions[0].frames.map(\.open) == [true, false, true])
        #expect(view.exceptions[0].frames[0].context.map(\.number) == [8, 9, 10, 11])
        #expect(view.exceptions[0].frames[0].context.map(\.current) == [false, false, true, false])
        #expect(view.exceptions[0].frames[0].vars.map { "\($0.key)=\($0.value)" } == ["n=3"])
        #expect(view.breadcrumbs.map(\.time) == ["06:52:48.123"])
        #expect(view.request?.url == "javascript:x" && view.request?.rows.first?.key == "Accept")
        #expect(view.sections.first?.rows.map(\.key) == ["env"])
        #expect(view.newerURL == "/organizations/o/issues/1/events/b/" && view.olderURL == nil)
    }

    @Test func sparklinesAndAgesAreTextTheTemplatesCanShow() {
        #expect(Formatting.sparkline([0, 2, 1], width: 10, height: 5) == "0.0,4.0 5.0,1.0 10.0,2.5")
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(Formatting.ago(now - 30, now: now) == "just now")
        #expect(Formatting.ago(now - 7200, now: now) == "2 hours ago")
        #expect(Formatting.age(now - 86_400 * 3, now: now) == "3 days")
    }
}
