import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@testable import SpyglassWeb

/// Inputs `scripts/fuzz` found, reduced.
@Suite struct FuzzRegressionTests {
    /// event: a breadcrumb timestamp past Int64 milliseconds (any number over about 9.2e15 seconds, here 1e20)
    /// trapped in `Formatting.clock` while the issue page built its view of the event: the normalizer keeps
    /// breadcrumbs as sent, so one event from anyone with the DSN stopped the server when its issue was opened.
    /// An exit test: a trap would end the test process (it did before `Formatting.clock` converted with
    /// `Int64(exactly:)`).
    @Test func aBreadcrumbTimestampBeyondAnyClockDoesNotStopTheIssuePage() async {
        await #expect(processExitsWith: .success) {
            let payload = try JSONParser.parse(#"{"breadcrumbs":[{"timestamp":1e20,"message":"m"}]}"#)
            let event = EventInfo(
                eventID: String(repeating: "a", count: 32), projectID: 1, issueID: 1, timestamp: .now,
                received: .now, payload: payload, hash: nil)
            let view = EventView(event, issueURL: "/i/", previous: nil, next: nil)
            #expect(view.breadcrumbs.map(\.message) == ["m"])
        }
    }
}
