import Foundation
import SpyglassProtocol
import Testing

@Suite struct DSNTests {
    @Test func parsesTheFormSpyglassPrints() throws {
        let dsn = try #require(DSN("http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1"))
        #expect(dsn.scheme == "http")
        #expect(dsn.publicKey == "0123456789abcdef0123456789abcdef")
        #expect(dsn.secretKey == nil)
        #expect(dsn.host == "127.0.0.1")
        #expect(dsn.port == 8000)
        #expect(dsn.pathPrefix == "")
        #expect(dsn.projectID == "1")
        #expect(dsn.description == "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1")
        #expect(dsn.envelopeURL?.absoluteString == "http://127.0.0.1:8000/api/1/envelope/")
    }

    @Test func keepsLegacySecretAndPathPrefix() throws {
        let text = "https://public:secret@errors.example.com/sentry/42"
        let dsn = try #require(DSN(text))
        #expect(dsn.secretKey == "secret")
        #expect(dsn.pathPrefix == "sentry")
        #expect(dsn.projectID == "42")
        #expect(dsn.port == nil)
        #expect(dsn.description == text)
        #expect(dsn.envelopeURL?.absoluteString == "https://errors.example.com/sentry/api/42/envelope/")
    }

    @Test func bracketsIPv6Hosts() throws {
        let dsn = try #require(DSN("http://key@[::1]:9000/3"))
        #expect(dsn.host == "::1")
        #expect(dsn.description == "http://key@[::1]:9000/3")
    }

    @Test(arguments: [
        "", "not a dsn", "ftp://key@host/1", "http://host/1", "http://key@host/", "http://key@host",
        "http://@host/1",
    ])
    func rejectsWhatIsNotADSN(_ text: String) {
        #expect(DSN(text) == nil)
    }

    @Test func buildsFromABaseURL() throws {
        let base = try #require(URL(string: "https://errors.example.com/tracker"))
        let dsn = try #require(DSN(baseURL: base, publicKey: "abc", projectID: 7))
        #expect(dsn.description == "https://abc@errors.example.com/tracker/7")
        let plain = try #require(URL(string: "http://127.0.0.1:8000"))
        #expect(DSN(baseURL: plain, publicKey: "k", projectID: 1)?.description == "http://k@127.0.0.1:8000/1")
        #expect(DSN(baseURL: URL(filePath: "/tmp"), publicKey: "k", projectID: 1) == nil)
    }
}
