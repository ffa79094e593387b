import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SpyglassCore

/// POSTs JSON to webhook URLs: connect and read timeouts, no redirects, and no requests to special-purpose
/// addresses (loopback, private, link-local, documentation, …; see `SpecialPurposeAddresses`) unless allowed:
/// the URL is written by anyone who may edit alert rules.
///
/// The guard judges the address the request is actually sent to. The host is resolved once (`WebhookTarget`),
/// every address is judged, and the request goes to the first through a client whose
/// `HTTPClient.Configuration.dnsOverride` maps the host to that IP: AsyncHTTPClient then connects to the IP
/// without a lookup of its own, while the `Host` header, TLS SNI and certificate verification still use the name
/// from the URL. A second lookup could answer differently (DNS rebinding: public when checked, 127.0.0.1 when
/// connecting); with the override there is no second lookup. `dnsOverride` is a client setting, so each delivery
/// has its own client, shut down when it ends. Redirects are not followed (`.disallow`): a 3xx to an internal
/// address would be a second, unchecked target, so it counts as a failed delivery.
public struct WebhookSender: Sendable {
    let allowPrivate: Bool

    /// - Parameter allowPrivate: send to special-purpose addresses too (`SPYGLASS_WEBHOOK_ALLOW_PRIVATE`, for tests).
    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    /// Hex HMAC-SHA256 of `body` with `secret`: the `X-Spyglass-Signature` header.
    public static func signature(_ body: [UInt8], secret: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    /// Sends `body`; throws unless the answer is 2xx. The error says the status code, never the answer's body:
    /// it is shown to every member of the project.
    public func post(_ url: String, body: [UInt8], headers extra: [(String, String)]) async throws {
        let target = try await WebhookTarget(url: url)
        if !allowPrivate, let refusal = target.refusal {
            throw DeliveryError(
                "refused: \(refusal) (set SPYGLASS_WEBHOOK_ALLOW_PRIVATE=1 to allow it)", permanent: true)
        }
        try await send(to: target, body: body, headers: extra)
    }

    /// Sends to `target.addresses[0]`, whatever its host resolves to now.
    func send(to target: WebhookTarget, body: [UInt8], headers extra: [(String, String)]) async throws {
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Spyglass-Webhook/1")
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let client = Self.makeClient(dnsOverride: target.dnsOverride)
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .seconds(15))
            // Read (a little of) the answer so the exchange ends cleanly; it is not kept.
            _ = try? await response.body.collect(upTo: 4096)
            status = response.status.code
        } catch {
            try? await client.shutdown()
            throw DeliveryError("\(target.host): \(error)")
        }
        try? await client.shutdown()
        guard (200..<300).contains(status) else {
            throw DeliveryError("answered \(status)", permanent: status == 410)  // 410 Gone: the hook was deleted.
        }
    }

    /// A client with the settings webhooks need: 5 s to connect, 10 s to read, no redirects, and `dnsOverride`.
    static func makeClient(dnsOverride: [String: String]) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        configuration.dnsOverride = dnsOverride
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}
