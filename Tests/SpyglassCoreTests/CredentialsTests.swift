import SpyglassCore
import Testing

/// A deterministic generator (SplitMix64) so generated values can be compared.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct CredentialsTests {
    @Test func passwordsAreBcryptHashedAndVerified() {
        let hash = Password.hash("correct horse")
        #expect(hash.hasPrefix("$2b$10$") || hash.hasPrefix("$2a$10$") || hash.hasPrefix("$2y$10$"))
        #expect(!hash.contains("correct horse"))
        #expect(Password.verify("correct horse", hash: hash))
        #expect(!Password.verify("correct horsE", hash: hash))
    }

    @Test func weakOrOverlongPasswordsAreRejected() {
        #expect(throws: DomainError.self) { try Password.validate("short") }
        #expect(throws: DomainError.self) { try Password.validate(String(repeating: "x", count: 73)) }
        #expect(throws: Never.self) { try Password.validate("long enough") }
    }

    @Test func generatedPasswordsDependOnlyOnTheGenerator() {
        var a = SeededGenerator(state: 1)
        var b = SeededGenerator(state: 1)
        var c = SeededGenerator(state: 2)
        let first = Password.generate(using: &a)
        #expect(first.count == 20)
        #expect(first == Password.generate(using: &b))
        #expect(first != Password.generate(using: &c))
        #expect(!first.contains { "0O1lI".contains($0) })
    }

    @Test func apiTokensAre32RandomBytesStoredAsSHA256() {
        var generator = SeededGenerator(state: 7)
        let (token, hash) = APIToken.generate(using: &generator)
        #expect(token.count == 64)
        #expect(token.utf8.allSatisfy(Hex.isDigit))
        #expect(hash == APIToken.hash(token))
        #expect(hash != token)
        // FIPS 180-2 test vector.
        #expect(APIToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func emailAddressesAreNormalized() throws {
        #expect(try EmailAddress.normalize("  Admin@Example.COM ") == "admin@example.com")
        for bad in ["", "admin", "@example.com", "admin@", "a b@example.com", "a@b@c", "<a@b>"] {
            #expect(throws: DomainError.self, "\(bad)") { try EmailAddress.normalize(bad) }
        }
    }
}
