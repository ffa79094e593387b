import SpyglassCore
import Testing

@Suite struct SlugTests {
    @Test(arguments: ["default", "my-app", "api_v2", "a", String(repeating: "x", count: 50), "9lives"])
    func acceptsSentrySlugs(_ slug: String) {
        #expect(throws: Never.self) { try Slug.validate(slug) }
    }

    @Test(arguments: ["", "My-App", "with space", "ünïcode", "123", String(repeating: "x", count: 51), "a/b"])
    func rejectsOthers(_ slug: String) {
        #expect(throws: DomainError.self) { try Slug.validate(slug) }
    }

    @Test func derivesSlugsFromNames() {
        #expect(Slug.derive(from: "My Web App") == "my-web-app")
        #expect(Slug.derive(from: "  Payments (EU)!  ") == "payments-eu")
        #expect(Slug.derive(from: "api_v2") == "api_v2")
        #expect(Slug.derive(from: String(repeating: "ab ", count: 40))?.count ?? 0 <= 50)
        #expect(Slug.derive(from: String(repeating: "ab ", count: 40))?.hasSuffix("-") == false)
        #expect(Slug.derive(from: "2024") == nil)
        #expect(Slug.derive(from: "???") == nil)
    }
}

@Suite struct PublicKeyTests {
    @Test func generatedKeysAre32HexDigits() {
        var generator = SeededGenerator(state: 3)
        let key = PublicKey.generate(using: &generator)
        #expect(key.utf8.count == 32)
        #expect(key.utf8.allSatisfy(Hex.isDigit))
        #expect(PublicKey.generate() != PublicKey.generate())
    }

    @Test func userKeysAreNormalizedOrRejected() throws {
        #expect(try PublicKey.normalize("0123456789ABCDEF0123456789abcdef") == "0123456789abcdef0123456789abcdef")
        for bad in ["", "xyz", String(repeating: "a", count: 31), String(repeating: "g", count: 32)] {
            #expect(throws: DomainError.self, "\(bad)") { try PublicKey.normalize(bad) }
        }
    }

    @Test func hexEncodesBytes() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
    }
}
