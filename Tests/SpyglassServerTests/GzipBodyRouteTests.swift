import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SpyglassProtocol
import Testing

extension RouteTests {
    /// A body libdeflate decodes but zlib refuses (its fixed-Huffman block uses literal/length symbol 286, which
    /// RFC 1951 does not allow): `{}`, an event item, and `{"message":"a…"}` with 259 `a`s.
    static let leniencyBody = "H4sIAAAAAAAAA6uu5apWKqksSFWyUkotS80rUarlqlbKTS0uTkxPVbJSShwHSrVcAEoW9tImAQAA"

    /// Gzip envelopes of each shape ingest tells apart, each event read back through the API: a small body (inflated
    /// at once), one that only libdeflate decodes (accepted, stored as received, read back through libdeflate),
    /// bytes after the last member (left to zlib), and one over 256 KiB compressed (streamed through zlib, kept).
    @Test func gzipBodiesOfEachShapeAreStoredAndReadBack() async throws {
        let lenient = try #require(Data(base64Encoded: Self.leniencyBody))
        let digits = Array("0123456789abcdef".utf8)
        let noise = String(decoding: (0..<600_000).map { _ in digits[Int.random(in: 0..<16)] }, as: UTF8.self)
        let largeEvent =
            #"{"level":"error","platform":"python","exception":{"values":[{"type":"LargeError","value":"\#(noise)"}]}}"#
        let large = Self.gzip("{}\n{\"type\":\"event\",\"length\":\(largeEvent.utf8.count)}\n\(largeEvent)\n")
        var trailing = Self.gzip(Self.envelope("TrailingError"))
        trailing.writeBytes([0, 1, 2])
        let cases: [(name: String, body: ByteBuffer, expected: String)] = [
            ("small", Self.gzip(Self.envelope("SmallError")), "SmallError"),
            ("libdeflate only", ByteBuffer(bytes: lenient), String(repeating: "a", count: 259)),
            ("trailing bytes", trailing, "TrailingError"),
            ("over 256 KiB", large, String(noise.prefix(200))),
        ]
        #expect(large.readableBytes > 256 * 1024)
        try await withApp { client, fixture in
            let auth: HTTPFields = [.authorization: "Bearer \(fixture.token)"]
            for (name, body, expected) in cases {
                var id = ""
                try await client.execute(
                    uri: "/api/\(fixture.projectID)/envelope/?sentry_key=\(fixture.key)", method: .post,
                    headers: [.contentEncoding: "gzip"], body: body
                ) { response in
                    #expect(response.status == .ok, "\(name): \(String(buffer: response.body))")
                    id = json(response)["id"]?.stringValue ?? ""
                }
                try #require(id.count == 32, "\(name)")
                try await client.execute(
                    uri: "/api/0/projects/spyglass/default/events/\(id)/", method: .get, headers: auth
                ) {
                    response in
                    #expect(response.status == .ok, "\(name): \(String(buffer: response.body).prefix(300))")
                    #expect(String(buffer: response.body).contains(expected), "\(name)")
                }
            }
        }
    }
}
