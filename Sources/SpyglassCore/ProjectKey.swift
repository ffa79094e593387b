/// The public part of a project's client key: 32 lower-case hex digits, as in Sentry's DSNs.
public enum PublicKey {
    /// Generates a new random key.
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Generates a new key from the system's secure generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// Normalizes a user-given key (upper-case hex is accepted) or throws naming the problem.
    public static func normalize(_ key: String) throws(DomainError) -> String {
        let lowered = key.lowercased()
        guard lowered.utf8.count == 32, lowered.utf8.allSatisfy(Hex.isDigit) else {
            throw DomainError(.invalidInput, "public key \"\(key)\" must be 32 hexadecimal digits")
        }
        return lowered
    }
}

/// Lower-case hexadecimal encoding.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Encodes bytes as lower-case hex.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `byte` is an ASCII lower-case hex digit.
    public static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
