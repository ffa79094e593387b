import NIOCore
import Testing

@testable import SpyglassNotify

/// A block, an address inside it (refused, naming the block), and where meaningful the addresses just outside it
/// (accepted: outside the block and in no other).
struct BlockCase: Sendable, CustomTestStringConvertible {
    var cidr: String
    var inside: [String]
    var outside: [String] = []

    var testDescription: String { cidr }
}

@Suite struct SpecialPurposeAddressesTests {
    static let ipv4: [BlockCase] = [
        BlockCase(cidr: "0.0.0.0/8", inside: ["0.1.2.3", "0.255.255.255"], outside: ["1.0.0.0"]),
        BlockCase(cidr: "0.0.0.0/32", inside: ["0.0.0.0"]),
        BlockCase(cidr: "10.0.0.0/8", inside: ["10.0.0.0", "10.255.255.255"], outside: ["9.255.255.255", "11.0.0.0"]),
        BlockCase(
            cidr: "100.64.0.0/10", inside: ["100.64.0.1", "100.127.255.255"],
            outside: ["100.63.255.255", "100.128.0.0"]),
        BlockCase(
            cidr: "127.0.0.0/8", inside: ["127.0.0.1", "127.255.255.254"], outside: ["126.255.255.255", "128.0.0.0"]),
        BlockCase(cidr: "169.254.0.0/16", inside: ["169.254.169.254"], outside: ["169.253.255.255", "169.255.0.0"]),
        BlockCase(
            cidr: "172.16.0.0/12", inside: ["172.16.0.1", "172.31.255.255"], outside: ["172.15.255.255", "172.32.0.0"]),
        BlockCase(
            cidr: "192.0.0.0/24", inside: ["192.0.0.100", "192.0.0.255"], outside: ["191.255.255.255", "192.0.1.0"]),
        BlockCase(cidr: "192.0.0.0/29", inside: ["192.0.0.0", "192.0.0.7"]),
        BlockCase(cidr: "192.0.0.8/32", inside: ["192.0.0.8"]),
        BlockCase(cidr: "192.0.0.9/32", inside: ["192.0.0.9"]),
        BlockCase(cidr: "192.0.0.10/32", inside: ["192.0.0.10"]),
        BlockCase(cidr: "192.0.0.170/32", inside: ["192.0.0.170"]),
        BlockCase(cidr: "192.0.0.171/32", inside: ["192.0.0.171"]),
        BlockCase(cidr: "192.0.2.0/24", inside: ["192.0.2.1"], outside: ["192.0.3.0"]),
        BlockCase(cidr: "192.31.196.0/24", inside: ["192.31.196.1"], outside: ["192.31.195.255", "192.31.197.0"]),
        BlockCase(cidr: "192.52.193.0/24", inside: ["192.52.193.1"], outside: ["192.52.192.255", "192.52.194.0"]),
        BlockCase(cidr: "192.88.99.0/24", inside: ["192.88.99.1"], outside: ["192.88.98.255", "192.88.100.0"]),
        BlockCase(cidr: "192.88.99.2/32", inside: ["192.88.99.2"]),
        BlockCase(cidr: "192.168.0.0/16", inside: ["192.168.1.1"], outside: ["192.167.255.255", "192.169.0.0"]),
        BlockCase(cidr: "192.175.48.0/24", inside: ["192.175.48.1"], outside: ["192.175.47.255", "192.175.49.0"]),
        BlockCase(
            cidr: "198.18.0.0/15", inside: ["198.18.0.1", "198.19.255.255"], outside: ["198.17.255.255", "198.20.0.0"]),
        BlockCase(cidr: "198.51.100.0/24", inside: ["198.51.100.7"], outside: ["198.51.99.255", "198.51.101.0"]),
        BlockCase(cidr: "203.0.113.0/24", inside: ["203.0.113.9"], outside: ["203.0.112.255", "203.0.114.0"]),
        BlockCase(cidr: "224.0.0.0/4", inside: ["224.0.0.251", "239.255.255.250"], outside: ["223.255.255.255"]),
        BlockCase(cidr: "240.0.0.0/4", inside: ["240.0.0.1", "255.255.255.254"]),
        BlockCase(cidr: "255.255.255.255/32", inside: ["255.255.255.255"]),
    ]

    static let ipv6: [BlockCase] = [
        BlockCase(cidr: "::/128", inside: ["::"]),
        BlockCase(cidr: "::1/128", inside: ["::1"]),
        BlockCase(cidr: "::/96", inside: ["::8.8.8.8", "::127.0.0.1"]),
        // Refused whole, whatever IPv4 address it carries: a socket to ::ffff:a.b.c.d reaches a.b.c.d.
        BlockCase(cidr: "::ffff:0:0/96", inside: ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:8.8.8.8"]),
        BlockCase(cidr: "64:ff9b:1::/48", inside: ["64:ff9b:1::808:808"]),
        BlockCase(cidr: "100::/64", inside: ["100::1"]),
        BlockCase(cidr: "100:0:0:1::/64", inside: ["100:0:0:1::1"]),
        BlockCase(cidr: "2001::/23", inside: ["2001:100::1", "2001:1ff:ffff::1"], outside: ["2001:200::1"]),
        BlockCase(cidr: "2001::/32", inside: ["2001:0:4136:e378:8000:63bf:3fff:fdd2"]),
        BlockCase(cidr: "2001:1::1/128", inside: ["2001:1::1"]),
        BlockCase(cidr: "2001:1::2/128", inside: ["2001:1::2"]),
        BlockCase(cidr: "2001:1::3/128", inside: ["2001:1::3"]),
        BlockCase(cidr: "2001:2::/48", inside: ["2001:2::1", "2001:2:0:ffff::1"]),
        BlockCase(cidr: "2001:3::/32", inside: ["2001:3::1"]),
        BlockCase(cidr: "2001:4:112::/48", inside: ["2001:4:112::1"]),
        BlockCase(cidr: "2001:10::/28", inside: ["2001:10::1", "2001:1f::1"]),
        BlockCase(cidr: "2001:20::/28", inside: ["2001:20::1", "2001:2f::1"]),
        BlockCase(cidr: "2001:30::/28", inside: ["2001:30::1"]),
        BlockCase(
            cidr: "2001:db8::/32", inside: ["2001:db8::1", "2001:db8:ffff::1"], outside: ["2001:db7::1", "2001:db9::1"]),
        BlockCase(
            cidr: "2002::/16", inside: ["2002:c000:204::1", "2002:7f00:1::1"], outside: ["2001:ffff::1", "2003::1"]),
        BlockCase(
            cidr: "2620:4f:8000::/48", inside: ["2620:4f:8000::42"], outside: ["2620:4f:7fff::1", "2620:4f:8001::1"]),
        BlockCase(cidr: "3fff::/20", inside: ["3fff::1", "3fff:fff::1"], outside: ["3ffe:ffff::1", "3fff:1000::1"]),
        BlockCase(cidr: "5f00::/16", inside: ["5f00::1"]),
        BlockCase(cidr: "fc00::/7", inside: ["fc00::1", "fd12:3456::1"]),
        BlockCase(cidr: "fe80::/10", inside: ["fe80::1", "febf::1"]),
        BlockCase(cidr: "fec0::/10", inside: ["fec0::1", "feff::1"]),
        BlockCase(cidr: "ff00::/8", inside: ["ff02::1", "ff0e::fb"]),
    ]

    static func refusal(_ address: String) throws -> SpecialPurposeAddresses.Refusal? {
        SpecialPurposeAddresses.refusal(try SocketAddress(ipAddress: address, port: 443))
    }

    @Test(arguments: ipv4 + ipv6)
    func anAddressInsideTheBlockIsRefusedAndOneJustOutsideIsNot(_ block: BlockCase) throws {
        for address in block.inside {
            let refusal = try #require(try Self.refusal(address), "\(address)")
            #expect(refusal.range.hasPrefix("\(block.cidr) ("), "\(address): \(refusal)")
        }
        for address in block.outside {
            #expect(try Self.refusal(address) == nil, "\(address)")
        }
    }

    @Test func everyBlockOfTheTablesHasItsTest() {
        let tested = Set((Self.ipv4 + Self.ipv6).map(\.cidr))
        let table = (SpecialPurposeAddresses.ipv4 + SpecialPurposeAddresses.ipv6).map(\.cidr).filter {
            $0 != "64:ff9b::/96"
        }
        #expect(table.filter { !tested.contains($0) } == [])
        #expect(tested.subtracting(table) == [])
    }

    @Test func publicAddressesAreAccepted() throws {
        for address in [
            "8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1",
        ] {
            #expect(try Self.refusal(address) == nil, "\(address)")
        }
    }

    @Test func ipv6OutsideGlobalUnicastIsRefused() throws {
        for address in ["1000::1", "4000::1", "e000::1", "::1:0:0:1"] {
            let refusal = try #require(try Self.refusal(address), "\(address)")
            #expect(refusal.range.contains("outside 2000::/3"), "\(address): \(refusal)")
        }
    }

    /// 64:ff9b::/96 is how an IPv6-only network with DNS64 reaches IPv4 hosts: judged by the IPv4 address it carries.
    @Test func nat64AddressesAreJudgedByTheIPv4AddressTheyCarry() throws {
        #expect(try Self.refusal("64:ff9b::808:808") == nil)
        #expect(try Self.refusal("64:ff9b::1.1.1.1") == nil)
        let loopback = try #require(try Self.refusal("64:ff9b::7f00:1"))
        #expect(
            loopback.description
                == "64:ff9b::7f00:1 is in 64:ff9b::/96 (IPv4-IPv6 translation) for 127.0.0.1, in 127.0.0.0/8 (loopback), which webhooks may not reach"
        )
        for address in [
            "64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254", "64:ff9b::198.18.0.1", "64:ff9b::255.255.255.255",
        ] {
            #expect(try Self.refusal(address) != nil, "\(address)")
        }
    }

    @Test func theRefusalSaysWhichBlock() throws {
        #expect(
            try Self.refusal("198.18.0.1")?.description
                == "198.18.0.1 is in 198.18.0.0/15 (benchmarking), which webhooks may not reach")
        #expect(
            try Self.refusal("192.0.0.9")?.description
                == "192.0.0.9 is in 192.0.0.9/32 (Port Control Protocol anycast), which webhooks may not reach")
        #expect(
            try Self.refusal("::1")?.resolved(from: "localhost")
                == "localhost resolves to ::1, in ::1/128 (loopback), which webhooks may not reach")
    }
}
