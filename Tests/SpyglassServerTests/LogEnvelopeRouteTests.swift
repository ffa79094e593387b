import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SpyglassProtocol
import Testing

extension RouteTests {
    /// Gzip envelopes that begin with a `log` item, which ingest sends whole to the log writer to be inflated there
    /// (``LogEnvelopePeek``): lines alone are stored; more than lines, a line that cannot be read, a broken body, an
    /// event id go the usual way, with the answers they always had.
    @Test func gzipEnvelopesBeginningWithLogLinesAreStoredOrAnsweredAsAlways() async throws {
        let item = #"{"type":"log","content_type":"application/vnd.sentry.items.log+json"}"#
        func lines(_ bodies: String...) -> String {
            #"{"items":["#
                + bodies.map { #"{"timestamp":1790000000.5,"level":"warn","body":"\#($0)"}"# }
                .joined(separator: ",") + "]}"
        }
        // The benchmark's framing too: a gzip member per piece, the first ending inside the first line's JSON.
        func members(_ text: String, size: Int) -> ByteBuffer {
            var body = ByteBuffer()
            var rest = Substring(text)
            while !rest.isEmpty {
                var piece = Self.gzip(String(rest.prefix(size)))
                body.writeBuffer(&piece)
                rest = rest.dropFirst(size)
            }
            return body
        }
        let eventID = "0123456789abcdef0123456789abcdef"
        var broken = Self.gzip("{}\n\(item)\n\(lines("never stored"))\n")
        broken.moveWriterIndex(to: broken.writerIndex - 12)
        broken.writeBytes(Array(repeating: 0xff, count: 12))
        let cases: [(name: String, body: ByteBuffer, status: HTTPResponse.Status, answer: String)] = [
            ("lines alone", Self.gzip("{}\n\(item)\n\(lines("one", "two"))\n"), .ok, "{}"),
            (
                "lines alone in members",
                members("{\"sent_at\":\"2026-12-07T10:00:00Z\"}\n\(item)\n\(lines("three"))\n", size: 90), .ok, "{}"
            ),
            (
                "lines then an event",
                Self.gzip("{}\n\(item)\n\(lines("four"))\n\(#"{"type":"event"}"#)\n\(Self.event("LinesFirstError"))\n"),
                .ok, "id"
            ),
            (
                "lines with an event id", Self.gzip("{\"event_id\":\"\(eventID)\"}\n\(item)\n\(lines("five"))\n"), .ok,
                eventID
            ),
            (
                "a line that cannot be read", Self.gzip("{}\n\(item)\n\(lines("six"))\n\(item)\n{\"items\": 3}\n"),
                .badRequest,
                #"item 2 (log): expected {\"items\": [log lines]}"#
            ),
            ("a broken body", broken, .badRequest, "gzip data"),
        ]
        try await withApp { client, fixture in
            let auth: HTTPFields = [.authorization: "Bearer \(fixture.token)"]
            for (name, body, status, answer) in cases {
                try await client.execute(
                    uri: "/api/\(fixture.projectID)/envelope/?sentry_key=\(fixture.key)", method: .post,
                    headers: [.contentEncoding: "gzip"], body: body
                ) { response in
                    let text = String(buffer: response.body)
                    #expect(response.status == status, "\(name): \(text)")
                    switch answer {
                    case "{}": #expect(text == "{}", "\(name)")
                    case "id": #expect(json(response)["id"]?.stringValue?.count == 32, "\(name): \(text)")
                    default: #expect(text.contains(answer), "\(name): \(text)")
                    }
                }
            }
            try await client.execute(uri: "/api/0/projects/spyglass/default/logs/", method: .get, headers: auth) {
                response in
                #expect(response.status == .ok)
                let bodies = (json(response).arrayValue ?? []).compactMap { $0["body"]?.stringValue }
                #expect(Set(bodies) == ["one", "two", "three", "four", "five"], "\(bodies)")
            }
            try await client.execute(
                uri: "/api/0/projects/spyglass/default/issues/?query=LinesFirstError", method: .get, headers: auth
            ) { response in
                #expect(json(response).arrayValue?.count == 1, "\(String(buffer: response.body).prefix(300))")
            }
        }
    }
}
