import Foundation
import NIOCore

/// The address blocks webhooks may not reach: the IANA special-purpose address registries for IPv4 and IPv6
/// (iana-ipv4-special-registry, iana-ipv6-special-registry), plus the multicast, reserved and deprecated
/// site-local blocks beside them, and for IPv6 everything outside global unicast (2000::/3).
///
/// Blocks are refused whole, even the few the registries mark globally reachable (PCP and TURN anycast,
/// AS112, AMT): no webhook receiver lives there. The exception is the NAT64 well-known prefix 64:ff9b::/96,
/// which stands for the IPv4 address in its last 32 bits (RFC 6052) and is what DNS64 answers on IPv6-only
/// networks: it is judged by that IPv4 address.
enum SpecialPurposeAddresses {
    /// Why an address is refused: the address and the block it is in, e.g. `198.18.0.0/15 (benchmarking)`.
    struct Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The address as `inet_ntop` writes it.
        var address: String
        /// The block (and for NAT64 the IPv4 address and its block), e.g. `127.0.0.0/8 (loopback)`.
        var range: String

        /// `198.18.0.1 is in 198.18.0.0/15 (benchmarking), which webhooks may not reach`.
        var description: String { "\(address) is in \(range), which webhooks may not reach" }

        /// The same for an address a host name resolved to: `hooks.example resolves to 10.0.0.1, in 10.0.0.0/8 …`.
        func resolved(from host: String) -> String {
            "\(host) resolves to \(address), in \(range), which webhooks may not reach"
        }
    }

    /// A CIDR block and what it is for.
    struct Block: Sendable {
        let cidr: String
        let purpose: String
        let prefixLength: Int
        /// The network address in the high bits (IPv4 addresses in the low 32 bits).
        let network: UInt128
        /// Whether the block's last 32 bits are an IPv4 address to judge instead (NAT64).
        let translatesIPv4: Bool

        init(_ cidr: String, _ purpose: String, translatesIPv4: Bool = false) {
            let parts = cidr.split(separator: "/")
            guard parts.count == 2, let length = Int(parts[1]),
                let address = try? SocketAddress(ipAddress: String(parts[0]), port: 0)
            else { preconditionFailure("bad CIDR block \(cidr)") }
            self.cidr = cidr
            self.purpose = purpose
            self.prefixLength = length
            self.network = SpecialPurposeAddresses.bits(address) ?? 0
            self.translatesIPv4 = translatesIPv4
        }

        func contains(_ value: UInt128, width: Int) -> Bool {
            let shift = width - prefixLength
            return shift >= width || value >> shift == network >> shift
        }
    }

    /// IPv4: the special-purpose registry, multicast and the limited broadcast address.
    static let ipv4: [Block] = mostSpecificFirst([
        Block("0.0.0.0/8", "\"this network\""),
        Block("0.0.0.0/32", "\"this host on this network\""),
        Block("10.0.0.0/8", "private use"),
        Block("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        Block("127.0.0.0/8", "loopback"),
        Block("169.254.0.0/16", "link-local"),
        Block("172.16.0.0/12", "private use"),
        Block("192.0.0.0/24", "IETF protocol assignments"),
        Block("192.0.0.0/29", "IPv4 service continuity prefix"),
        Block("192.0.0.8/32", "IPv4 dummy address"),
        Block("192.0.0.9/32", "Port Control Protocol anycast"),
        Block("192.0.0.10/32", "TURN anycast"),
        Block("192.0.0.170/32", "NAT64/DNS64 discovery"),
        Block("192.0.0.171/32", "NAT64/DNS64 discovery"),
        Block("192.0.2.0/24", "documentation (TEST-NET-1)"),
        Block("192.31.196.0/24", "AS112-v4"),
        Block("192.52.193.0/24", "AMT"),
        Block("192.88.99.0/24", "deprecated 6to4 relay anycast"),
        Block("192.88.99.2/32", "6a44 relay anycast"),
        Block("192.168.0.0/16", "private use"),
        Block("192.175.48.0/24", "direct delegation AS112 service"),
        Block("198.18.0.0/15", "benchmarking"),
        Block("198.51.100.0/24", "documentation (TEST-NET-2)"),
        Block("203.0.113.0/24", "documentation (TEST-NET-3)"),
        Block("224.0.0.0/4", "multicast"),
        Block("240.0.0.0/4", "reserved"),
        Block("255.255.255.255/32", "limited broadcast"),
    ])

    /// IPv6: the special-purpose registry, site-local, multicast.
    static let ipv6: [Block] = mostSpecificFirst([
        Block("::/128", "unspecified"),
        Block("::1/128", "loopback"),
        Block("::/96", "IPv4-compatible (deprecated)"),
        Block("::ffff:0:0/96", "IPv4-mapped"),
        Block("64:ff9b::/96", "IPv4-IPv6 translation", translatesIPv4: true),
        Block("64:ff9b:1::/48", "local-use IPv4-IPv6 translation"),
        Block("100::/64", "discard-only"),
        Block("100:0:0:1::/64", "dummy IPv6 prefix"),
        Block("2001::/23", "IETF protocol assignments"),
        Block("2001::/32", "Teredo"),
        Block("2001:1::1/128", "Port Control Protocol anycast"),
        Block("2001:1::2/128", "TURN anycast"),
        Block("2001:1::3/128", "DNS-SD service registration protocol anycast"),
        Block("2001:2::/48", "benchmarking"),
        Block("2001:3::/32", "AMT"),
        Block("2001:4:112::/48", "AS112-v6"),
        Block("2001:10::/28", "deprecated ORCHID"),
        Block("2001:20::/28", "ORCHIDv2"),
        Block("2001:30::/28", "drone remote ID entity tags"),
        Block("2001:db8::/32", "documentation"),
        Block("2002::/16", "6to4"),
        Block("2620:4f:8000::/48", "direct delegation AS112 service"),
        Block("3fff::/20", "documentation"),
        Block("5f00::/16", "segment routing (SRv6) SIDs"),
        Block("fc00::/7", "unique local"),
        Block("fe80::/10", "link-local"),
        Block("fec0::/10", "site-local (deprecated)"),
        Block("ff00::/8", "multicast"),
    ])

    /// Global unicast: IPv6 outside it is unassigned or special.
    static let globalUnicast = Block("2000::/3", "global unicast")

    /// Why webhooks may not reach `address`, or nil when it is a public unicast address.
    static func refusal(_ address: SocketAddress) -> Refusal? {
        guard let value = bits(address), let text = address.ipAddress else {
            return Refusal(address: "\(address)", range: "no IP address family")
        }
        switch address {
        case .v4: return refusal(ipv4: UInt32(truncatingIfNeeded: value), text: text)
        default: return refusal(ipv6: value, text: text)
        }
    }

    static func refusal(ipv4 value: UInt32, text: String) -> Refusal? {
        guard let block = ipv4.first(where: { $0.contains(UInt128(value), width: 32) }) else { return nil }
        return Refusal(address: text, range: "\(block.cidr) (\(block.purpose))")
    }

    static func refusal(ipv6 value: UInt128, text: String) -> Refusal? {
        guard let block = ipv6.first(where: { $0.contains(value, width: 128) }) else {
            if globalUnicast.contains(value, width: 128) { return nil }
            return Refusal(
                address: text, range: "reserved space outside \(globalUnicast.cidr) (\(globalUnicast.purpose))")
        }
        let range = "\(block.cidr) (\(block.purpose))"
        guard block.translatesIPv4 else { return Refusal(address: text, range: range) }
        let embedded = UInt32(truncatingIfNeeded: value)
        let dotted = [24, 16, 8, 0].map { String(embedded >> UInt32($0) & 0xFF) }.joined(separator: ".")
        guard let inner = refusal(ipv4: embedded, text: dotted) else { return nil }
        return Refusal(address: text, range: "\(range) for \(inner.address), in \(inner.range)")
    }

    /// The address as a number: IPv4 in the low 32 bits, IPv6 in all 128; nil for other families.
    static func bits(_ address: SocketAddress) -> UInt128? {
        switch address {
        case .v4(let v4): return UInt128(UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            return withUnsafeBytes(of: v6.address.sin6_addr) { $0.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
        default: return nil
        }
    }

    /// Longest prefix first, so that a refusal names the most specific block.
    private static func mostSpecificFirst(_ blocks: [Block]) -> [Block] {
        blocks.sorted { $0.prefixLength > $1.prefixLength }
    }
}
