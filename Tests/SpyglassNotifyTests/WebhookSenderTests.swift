import NIOCore
import Testing

@testable import SpyglassNotify

@Suite struct WebhookSenderTests {
    @Test func signatureIsHexHMACSHA256OfTheBody() {
        // RFC 4231 test case 2.
        let body = Array("what do ya want for nothing?".utf8)
        #expect(
            WebhookSender.signature(body, secret: "Jefe")
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func aNameThatResolvesToLoopbackIsRefusedAndNothingIsSent() async throws {
        let address = try #require(try await WebhookTarget.resolve(host: "localhost", port: 80).first?.ipAddress)
        try await withRecordingListener(on: address) { port, received in
            let error = try await #require(throws: DeliveryError.self) {
                try await WebhookSender(allowPrivate: false).post(
                    "http://localhost:\(port)/hook", body: [], headers: [])
            }
            #expect(error.permanent)
            #expect(error.message.hasPrefix("refused: localhost resolves to \(address), in "))
            #expect(error.message.contains("(loopback), which webhooks may not reach"))
            #expect(received().connections == 0)
        }
    }

    @Test func withAllowPrivateTheSameNameIsReached() async throws {
        let address = try #require(try await WebhookTarget.resolve(host: "localhost", port: 80).first?.ipAddress)
        try await withRecordingListener(on: address) { port, received in
            try await WebhookSender(allowPrivate: true).post(
                "http://localhost:\(port)/hook", body: Array("{}".utf8), headers: [("X-Spyglass-Delivery", "7")])
            let requests = received().requests
            #expect(requests.count == 1)
            #expect(requests.first?.hasPrefix("POST /hook HTTP/1.1\r\n") == true)
            #expect(requests.first?.lowercased().contains("\r\nhost: localhost:\(port)\r\n") == true)
            #expect(requests.first?.contains("X-Spyglass-Delivery: 7") == true)
        }
    }

    @Test func addressLiteralsAreJudgedAsWritten() async throws {
        try await withRecordingListener { port, received in
            for url in [
                "http://127.0.0.1:\(port)/", "http://[::1]:\(port)/", "http://[::ffff:127.0.0.1]:\(port)/",
                "http://0.0.0.0:\(port)/",
            ] {
                let error = try await #require(throws: DeliveryError.self, "\(url)") {
                    try await WebhookSender(allowPrivate: false).post(url, body: [], headers: [])
                }
                #expect(error.permanent && error.message.contains("which webhooks may not reach"), "\(url): \(error)")
            }
            let loopback = try await #require(throws: DeliveryError.self) {
                try await WebhookSender(allowPrivate: false).post("http://127.0.0.1:\(port)/", body: [], headers: [])
            }
            #expect(
                loopback.message.hasPrefix(
                    "refused: 127.0.0.1 is in 127.0.0.0/8 (loopback), which webhooks may not reach"))
            #expect(received().connections == 0)
        }
    }

    /// The DNS-rebinding test. The request goes to the address the guard judged, not to whatever the name answers
    /// when AsyncHTTPClient connects: here the name cannot resolve at all (.invalid, RFC 6761), yet the request
    /// arrives at the judged address with the name in its Host header. So there is one lookup per delivery, and an
    /// answer that is public when checked and private when connecting cannot happen; a name whose one answer is
    /// private is refused (aNameThatResolvesToLoopbackIsRefusedAndNothingIsSent).
    @Test func theRequestGoesToTheJudgedAddressWithoutASecondLookup() async throws {
        try await withRecordingListener { port, received in
            let target = WebhookTarget(
                url: "http://hooks.spyglass.invalid:\(port)/hook", host: "hooks.spyglass.invalid", port: port,
                addresses: [try SocketAddress(ipAddress: "127.0.0.1", port: port)])
            try await WebhookSender(allowPrivate: false).send(to: target, body: Array("{}".utf8), headers: [])
            let request = try #require(received().requests.first)
            #expect(request.lowercased().contains("\r\nhost: hooks.spyglass.invalid:\(port)\r\n"), "\(request)")
        }
    }

    @Test func theOverrideKeyIsAsyncHTTPClientsConnectionHost() async throws {
        #expect(try await WebhookTarget(url: "http://[::1]:8080/x").dnsOverride == ["[::1]": "::1"])
        #expect(try await WebhookTarget(url: "https://127.0.0.1/x").dnsOverride == ["127.0.0.1": "127.0.0.1"])
        let named = WebhookTarget(
            url: "https://hooks.example/x", host: "hooks.example", port: 443,
            addresses: [try SocketAddress(ipAddress: "2606:4700::1111", port: 443)])
        #expect(named.dnsOverride == ["hooks.example": "2606:4700::1111"])
    }

    @Test func aFailedDeliveryRecordsTheStatusNotTheBody() async throws {
        let answer = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 26\r\n\r\ndb password is hunter2 !!!"
        try await withRecordingListener(answer: answer) { port, _ in
            let error = try await #require(throws: DeliveryError.self) {
                try await WebhookSender(allowPrivate: true).post("http://127.0.0.1:\(port)/hook", body: [], headers: [])
            }
            #expect(error.message == "answered 500" && !error.permanent)
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        let answer = "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
        try await withRecordingListener(answer: answer) { port, received in
            let error = try await #require(throws: DeliveryError.self) {
                try await WebhookSender(allowPrivate: true).post("http://127.0.0.1:\(port)/hook", body: [], headers: [])
            }
            #expect(error.message == "answered 302")
            #expect(received().requests.count == 1)
        }
    }

    @Test func onlyHTTPURLsAreSent() async throws {
        // A port beyond 16 bits would trap in NIO's SocketAddress (a rule stored before ports were checked).
        for url in ["ftp://example.com/", "file:///etc/passwd", "http:///nohost", "not a url", "http://203.0.113.7:70000/", "http://127.0.0.1:99999/"] {
            let error = try await #require(throws: DeliveryError.self, "\(url)") {
                try await WebhookSender(allowPrivate: true).post(url, body: [], headers: [])
            }
            #expect(error.permanent, "\(url)")
        }
    }
}
