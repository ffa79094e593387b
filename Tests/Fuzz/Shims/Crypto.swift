// Stand-in for swift-crypto's `Insecure.MD5`, which grouping (Sources/SpyglassCore/Grouping/Grouping.swift) uses
// to hash its values. The fuzz build compiles the sources it exercises into one module and replaces their imported
// modules by empty ones (see scripts/fuzz), so it needs neither swift-crypto nor BoringSSL. Fuzzing looks for traps,
// not for the hash's value: two FNV-1a runs make the 16 bytes.

/// The subset of swift-crypto's `Insecure` namespace grouping calls.
enum Insecure {
    struct MD5 {
        private var low: UInt64 = 0xcbf2_9ce4_8422_2325
        private var high: UInt64 = 0x6c62_272e_07bb_0142

        mutating func update(data: [UInt8]) {
            for byte in data {
                low = (low ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
                high = (high ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 &+ 1
            }
        }

        mutating func update(bufferPointer: UnsafeRawBufferPointer) { update(data: Array(bufferPointer)) }

        func finalize() -> [UInt8] {
            (0..<8).map { UInt8(truncatingIfNeeded: low >> UInt64(8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: high >> UInt64(8 * $0)) }
        }
    }

    /// Stands in for SHA-1, which artifact checksums (Sources/SpyglassCore/Storage/Artifacts.swift) use: 20 bytes
    /// from the same FNV-1a runs, and a third.
    struct SHA1 {
        private var md5 = MD5()
        private var extra: UInt32 = 0x811c_9dc5

        mutating func update(data: [UInt8]) {
            md5.update(data: data)
            for byte in data { extra = (extra ^ UInt32(byte)) &* 0x0100_0193 }
        }

        func finalize() -> [UInt8] {
            md5.finalize() + (0..<4).map { UInt8(truncatingIfNeeded: extra >> UInt32(8 * $0)) }
        }
    }
}
