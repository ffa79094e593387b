/// Event ids: 32 lower-case hex digits; 36-character dashed UUIDs are accepted and normalized.
public enum EventID {
    /// The canonical form of `text`, or `nil` when it is not an event id.
    public static func normalize(_ text: String) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        let bytes = Array(text.utf8)
        guard bytes.count == 32 || bytes.count == 36 else { return nil }
        for (index, byte) in bytes.enumerated() {
            if bytes.count == 36 && [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? byte + 32 : byte
            guard Hex.isDigit(lower) else { return nil }
            out.append(lower)
        }
        let id = String(decoding: out, as: UTF8.self)
        return id == String(repeating: "0", count: 32) ? nil : id
    }

    /// A new random event id.
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        Hex.encode((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// A new random event id from the system's generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }
}
