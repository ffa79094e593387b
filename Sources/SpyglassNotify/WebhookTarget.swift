import Foundation
import NIOCore

/// A webhook URL whose host was resolved once: the addresses the guard judges are the ones the request is sent to.
struct WebhookTarget: Sendable {
    /// The URL as written in the alert rule.
    var url: String
    /// The host as AsyncHTTPClient reads it from the URL (`URL.host` without IPv6 brackets): the name its `Host`
    /// header, SNI and certificate check use.
    var host: String
    var port: Int
    /// What `host` resolved to, in `getaddrinfo`'s order; never empty. The request goes to the first.
    var addresses: [SocketAddress]

    /// Parses `url` as AsyncHTTPClient 1.37 does on Linux (`DeconstructedURL`) and resolves its host once.
    init(url: String) async throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = parsed.host.map(Self.trimmingBrackets), !host.isEmpty
        else {
            throw DeliveryError("\"\(url)\" is not an http(s) URL", permanent: true)
        }
        let port = parsed.port ?? (scheme == "https" ? 443 : 80)
        // NIO's SocketAddress traps on a port beyond 16 bits (a rule stored before ports were checked).
        guard (1...65535).contains(port) else {
            throw DeliveryError("\"\(url)\" has port \(port), not one from 1 to 65535", permanent: true)
        }
        // An IP literal is what AsyncHTTPClient connects to without a lookup; anything else goes to getaddrinfo,
        // which also reads forms like 127.1 or 0x7f.0.0.1.
        let addresses: [SocketAddress]
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            addresses = [literal]
        } else {
            do {
                addresses = try await Self.resolve(host: host, port: port)
            } catch {
                throw DeliveryError("cannot resolve \(host): \(error)")
            }
        }
        guard !addresses.isEmpty else { throw DeliveryError("\(host) resolves to no IP address") }
        self.init(url: url, host: host, port: port, addresses: addresses)
    }

    init(url: String, host: String, port: Int, addresses: [SocketAddress]) {
        self.url = url
        self.host = host
        self.port = port
        self.addresses = addresses
    }

    /// Why webhooks may not reach this target: the first of its addresses that is special-purpose. All are
    /// judged, not only the one connected to, so a name with a mixed answer is refused whatever the order.
    var refusal: String? {
        let isLiteral = (try? SocketAddress(ipAddress: host, port: port)) != nil
        for address in addresses {
            if let refusal = SpecialPurposeAddresses.refusal(address) {
                return isLiteral ? refusal.description : refusal.resolved(from: host)
            }
        }
        return nil
    }

    /// The entry for `HTTPClient.Configuration.dnsOverride` that makes AsyncHTTPClient connect to `addresses[0]`
    /// instead of looking `host` up again. Its key is AsyncHTTPClient's `ConnectionTarget.host`: the name, the IPv4
    /// literal, or the IPv6 literal in brackets.
    var dnsOverride: [String: String] {
        guard let ip = addresses[0].ipAddress else { return [:] }
        let key: String
        switch try? SocketAddress(ipAddress: host, port: port) {
        case .v6: key = "[\(host)]"
        default: key = host
        }
        return [key: ip]
    }

    /// AsyncHTTPClient's `trimIPv6Brackets`: a leading `[` and a trailing `]`, each if present.
    private static func trimmingBrackets(_ host: String) -> String {
        var host = Substring(host)
        if host.first == "[" { host = host.dropFirst() }
        if host.last == "]" { host = host.dropLast() }
        return String(host)
    }

    static func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        try await withCheckedThrowingContinuation { continuation in
            // getaddrinfo blocks: keep it off the cooperative pool.
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                hints.ai_protocol = Int32(IPPROTO_TCP)
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
}
