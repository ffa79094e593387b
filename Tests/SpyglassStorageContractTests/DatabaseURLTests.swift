import PostgresNIO
import SpyglassCore
import SpyglassPostgres
import Testing

@Suite struct DatabaseURLTests {
    @Test func aFullURLIsReadPartByPart() throws {
        let url = try DatabaseURL("postgres://spyglass:s3cret@db.internal:6543/errors?sslmode=verify-full")
        #expect(url.host == "db.internal")
        #expect(url.port == 6543)
        #expect(url.user == "spyglass")
        #expect(url.password == "s3cret")
        #expect(url.database == "errors")
        #expect(url.sslMode == .verifyFull)
    }

    @Test func portDatabaseAndSSLModeHaveLibpqsDefaults() throws {
        let url = try DatabaseURL("postgresql://spyglass@localhost")
        #expect(url.port == 5432)
        #expect(url.database == "spyglass")
        #expect(url.password == nil)
        #expect(url.sslMode == .prefer)
    }

    @Test func userPasswordAndDatabaseArePercentDecoded() throws {
        let url = try DatabaseURL("postgres://us%40er:p%3Ass%2Fw%40rd@localhost/my%20db")
        #expect(url.user == "us@er")
        #expect(url.password == "p:ss/w@rd")
        #expect(url.database == "my db")
    }

    @Test func anUnencodedAtInThePasswordStillParses() throws {
        let url = try DatabaseURL("postgres://spyglass:a@b@localhost/db")
        #expect(url.password == "a@b")
        #expect(url.host == "localhost")
    }

    @Test func anIPv6HostIsWrittenInBrackets() throws {
        let url = try DatabaseURL("postgres://spyglass@[::1]:5433/db?sslmode=disable")
        #expect(url.host == "::1")
        #expect(url.port == 5433)
        #expect(url.sslMode == .disable)
        #expect(try DatabaseURL("postgres://spyglass@[fe80::1]/db").port == 5432)
        #expect(url.description == "postgres://spyglass@[::1]:5433/db?sslmode=disable")
    }

    @Test(arguments: DatabaseURL.SSLMode.allCases)
    func everySSLModeIsUnderstood(mode: DatabaseURL.SSLMode) throws {
        let url = try DatabaseURL("postgres://u@h/d?sslmode=\(mode.rawValue)")
        #expect(url.sslMode == mode)
        #expect(url.clientConfiguration.host == "h")
    }

    @Test func theDescriptionHidesThePassword() throws {
        let url = try DatabaseURL("postgres://spyglass:hunter2@db:5432/errors?sslmode=require")
        #expect(url.description == "postgres://spyglass:***@db:5432/errors?sslmode=require")
        #expect(!"\(url)".contains("hunter2"))
        #expect(try DatabaseURL(url.urlString) == url)
    }

    @Test func theClientConfigurationCarriesTheParts() throws {
        let configuration = try DatabaseURL("postgres://spyglass:pw@db:6000/errors?sslmode=disable").clientConfiguration
        #expect(configuration.host == "db")
        #expect(configuration.port == 6000)
        #expect(configuration.username == "spyglass")
        #expect(configuration.password == "pw")
        #expect(configuration.database == "errors")
    }

    @Test(arguments: [
        (
            "mysql://u@h/d",
            "database URL: expected postgres://user:password@host:port/database?sslmode=prefer (the scheme is 'mysql')"
        ),
        ("localhost:5432", "database URL: expected postgres://user:password@host:port/database?sslmode=prefer"),
        ("postgres://u@h:0/d", "database URL: the port must be 1–65535, got '0'"),
        ("postgres://u@h:65536/d", "database URL: the port must be 1–65535, got '65536'"),
        ("postgres://u@h:port/d", "database URL: the port must be 1–65535, got 'port'"),
        (
            "postgres://u@h/d?sslmode=x",
            "database URL: unknown sslmode 'x' (expected one of disable, prefer, require, verify-ca, verify-full)"
        ),
        ("postgres://u@h/d?timeout=3", "database URL: unknown parameter 'timeout' (understood: sslmode, sslrootcert)"),
        (
            "postgres://u@/d",
            "database URL: the host is missing (expected postgres://user:password@host:port/database?sslmode=prefer)"
        ),
        (
            "postgres://h/d",
            "database URL: the user name is missing (expected postgres://user:password@host:port/database?sslmode=prefer)"
        ),
        ("postgres://u@[::1/d", "database URL: the IPv6 address has no closing ']'"),
        ("postgres://u:secret%zz@h/d", "database URL: the password has an invalid percent-escape"),
    ])
    func aWrongURLNamesThePartThatIsWrong(input: String, message: String) {
        #expect {
            try DatabaseURL(input)
        } throws: { error in
            guard let error = error as? DomainError else { return false }
            return error.kind == .invalidInput && error.message == message && !error.message.contains("secret")
        }
    }
}
