/// Event ids: 32 lower-case hex digits; 36-character dashed UUIDs are accepted and normalized.
public enum EventID {
    /// The canonical form of `text`, or `nil` when it is not an event id.
    public static func normalize(_ text: String) -> String? {
        let utf8 = text.utf8
        let count = utf8.count
        guard count == 32 || count == 36 else { return nil }
        // Already canonical (what SDKs send): the text itself, nothing built.
        if count == 32, utf8.allSatisfy(Hex.isDigit) {
            return utf8.contains { $0 != UInt8(ascii: "0") } ? text : nil
        }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for (index, byte) in utf8.enumerated() {
            if count == 36 && (index == 8 || index == 13 || index == 18 || index == 23) {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let lower = (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? byte + 32 : byte
            guard Hex.isDigit(lower) else { return nil }
            out.append(lower)
        }
        guard out.contains(where: { $0 != UInt8(ascii: "0") }) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// A new random event id: two draws of 64 bits (the system's generator makes a system call a draw, so one a
    /// byte cost ~5 µs an event sent without an id).
    public static func generate(using generator: inout some RandomNumberGenerator) -> String {
        let words = (generator.next(), generator.next())
        return withUnsafeBytes(of: words) { Hex.encode($0) }
    }

    /// A new random event id from the system's generator.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }
}
