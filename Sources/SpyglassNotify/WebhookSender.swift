import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import SpyglassCore

/// POSTs JSON to webhook URLs: connect and read timeouts, no redirects, and no requests to loopback,
/// link-local or private addresses unless allowed (the URL is written by anyone who may edit alert rules).
public struct WebhookSender: Sendable {
    let client: HTTPClient
    let allowPrivate: Bool

    public init(client: HTTPClient, allowPrivate: Bool) {
        self.client = client
        self.allowPrivate = allowPrivate
    }

    /// A client with the settings webhooks need: 5 s to connect, 10 s to read, no redirects.
    public static func makeClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.httpVersion = .http1Only
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Hex HMAC-SHA256 of `body` with `secret`: the `X-Spyglass-Signature` header.
    public static func signature(_ body: [UInt8], secret: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))))
    }

    /// Sends `body`; throws unless the answer is 2xx.
    public func post(_ url: String, body: [UInt8], headers extra: [(String, String)]) async throws {
        guard let parsed = URL(string: url), let host = parsed.host(), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else {
            throw DeliveryError("\"\(url)\" is not an http(s) URL", permanent: true)
        }
        if !allowPrivate {
            let port = parsed.port ?? (scheme == "https" ? 443 : 80)
            if let refusal = try await AddressGuard.refusal(host: host, port: port) {
                throw DeliveryError("refused: \(refusal) (set SPYGLASS_WEBHOOK_ALLOW_PRIVATE=1 to allow it)", permanent: true)
            }
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Spyglass-Webhook/1")
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(15))
        } catch {
            throw DeliveryError("\(url): \(error)")
        }
        // Read (a little of) the answer so the connection can be reused, then judge it by its status.
        let answer = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
        guard (200..<300).contains(response.status.code) else {
            let permanent = response.status.code == 410  // Gone: the hook was deleted.
            throw DeliveryError("answered \(response.status.code) \(answer.prefix(200))", permanent: permanent)
        }
    }
}

/// Decides whether a host resolves to an address webhooks must not reach.
enum AddressGuard {
    /// A sentence saying why `host` is refused, or nil when every address it resolves to is public.
    static func refusal(host: String, port: Int) async throws -> String? {
        let addresses: [SocketAddress]
        do {
            addresses = try await resolve(host: host, port: port)
        } catch {
            throw DeliveryError("cannot resolve \(host): \(error)")
        }
        for address in addresses {
            if let reason = reason(address) { return "\(host) resolves to \(address.ipAddress ?? "?"), \(reason)" }
        }
        return nil
    }

    static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        try await withCheckedThrowingContinuation { continuation in
            // getaddrinfo blocks: keep it off the cooperative pool.
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, String(port), &hints, &list)
                guard status == 0, let first = list else {
                    continuation.resume(throwing: DeliveryError(String(cString: gai_strerror(status))))
                    return
                }
                defer { freeaddrinfo(first) }
                var result: [SocketAddress] = []
                var node: UnsafeMutablePointer<addrinfo>? = first
                while let current = node {
                    if let address = current.pointee.ai_addr {
                        switch Int32(address.pointee.sa_family) {
                        case AF_INET:
                            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                                result.append(SocketAddress($0.pointee, host: host))
                            }
                        case AF_INET6:
                            address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                                result.append(SocketAddress($0.pointee, host: host))
                            }
                        default: break
                        }
                    }
                    node = current.pointee.ai_next
                }
                continuation.resume(returning: result)
            }
        }
    }

    /// Why an address is not public, or nil.
    static func reason(_ address: SocketAddress) -> String? {
        switch address {
        case .v4(let v4): return reason(ipv4: UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            return reason(ipv6: bytes)
        default: return "not an IP address"
        }
    }

    static func reason(ipv4 value: UInt32) -> String? {
        func inRange(_ base: UInt32, _ bits: UInt32) -> Bool { bits == 0 || value >> (32 - bits) == base >> (32 - bits) }
        if inRange(0x7F00_0000, 8) { return "a loopback address" }
        if inRange(0x0A00_0000, 8) || inRange(0xAC10_0000, 12) || inRange(0xC0A8_0000, 16) { return "a private address" }
        if inRange(0xA9FE_0000, 16) { return "a link-local address" }
        if inRange(0x6440_0000, 10) { return "a shared (carrier-grade NAT) address" }
        if inRange(0x0000_0000, 8) { return "an unspecified address" }
        if inRange(0xE000_0000, 4) || value == 0xFFFF_FFFF { return "a multicast or broadcast address" }
        return nil
    }

    static func reason(ipv6 bytes: [UInt8]) -> String? {
        guard bytes.count == 16 else { return "not an IP address" }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) { return bytes[15] == 1 ? "a loopback address" : "an unspecified address" }
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible addresses: judge the IPv4 part.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && (bytes[10..<12].allSatisfy { $0 == 0xFF } || bytes[10..<12].allSatisfy { $0 == 0 }) {
            return reason(ipv4: bytes[12..<16].reduce(0) { $0 << 8 | UInt32($1) })
        }
        if bytes[0] & 0xFE == 0xFC { return "a private (unique local) address" }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "a link-local address" }
        if bytes[0] == 0xFF { return "a multicast address" }
        return nil
    }
}
