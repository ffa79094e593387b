import HTTPTypes
import Hummingbird
import SpyglassCore
import Testing

@testable import SpyglassHTTP

@Suite struct IngestFailureTests {
    /// A full log lines' queue limits the SDK's log lines alone (Sentry's `log_item` category), so that its errors
    /// keep coming; a full ingest queue limits every category, and the rest are 503s with their wait.
    @Test func aFullLogQueueLimitsOnlyLogLines() {
        let lines = IngestFailure(IngestRefusal(.logQueueFull, retryAfter: 1)).response
        #expect(lines.status == .tooManyRequests)
        #expect(lines.headers[.retryAfter] == "1")
        #expect(lines.headers[HTTPField.Name("X-Sentry-Rate-Limits")!] == "1:log_item:key")
        #expect(lines.headers[HTTPField.Name("X-Sentry-Error")!] == "the log lines' queue is full; retry them in 1 s")

        let events = IngestFailure(IngestRefusal(.queueFull, retryAfter: 1)).response
        #expect(events.status == .tooManyRequests)
        #expect(events.headers[HTTPField.Name("X-Sentry-Rate-Limits")!] == "1::key")

        for reason in [IngestRefusal.Reason.shuttingDown, .databaseUnavailable] {
            let response = IngestFailure(IngestRefusal(reason, retryAfter: 5)).response
            #expect(response.status == .serviceUnavailable && response.headers[.retryAfter] == "5")
            #expect(response.headers[HTTPField.Name("X-Sentry-Rate-Limits")!] == nil)
        }
    }
}
