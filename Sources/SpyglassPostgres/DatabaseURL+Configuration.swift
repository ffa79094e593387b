import NIOSSL
public import PostgresNIO

extension DatabaseURL {
    /// The postgres-nio client configuration for this URL, TLS chosen by `sslMode` as libpq does:
    ///
    /// | sslmode     | postgres-nio | certificate check                         |
    /// |-------------|--------------|-------------------------------------------|
    /// | disable     | `.disable`   | –                                         |
    /// | prefer      | `.prefer`    | none (TLS against passive listeners only) |
    /// | require     | `.require`   | none                                      |
    /// | verify-ca   | `.require`   | trusted chain, any host name              |
    /// | verify-full | `.require`   | trusted chain and this host name          |
    ///
    /// `sslrootcert` replaces the system's trust roots. Pool options (size, timeouts) keep postgres-nio's defaults;
    /// the caller may change `options` on the result.
    public var clientConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
    }

    var tls: PostgresClient.Configuration.TLS {
        switch tlsSettings {
        case nil: .disable
        case let (required, configuration)?: required ? .require(configuration) : .prefer(configuration)
        }
    }

    /// Whether TLS is required (else preferred) and its settings; nil for no TLS.
    var tlsSettings: (required: Bool, configuration: TLSConfiguration)? {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let sslRootCertificatePath {
            configuration.trustRoots = .file(sslRootCertificatePath)
        }
        switch sslMode {
        case .disable:
            return nil
        case .prefer:
            configuration.certificateVerification = .none
            return (false, configuration)
        case .require:
            configuration.certificateVerification = .none
            return (true, configuration)
        case .verifyCA:
            configuration.certificateVerification = .noHostnameVerification
            return (true, configuration)
        case .verifyFull:
            configuration.certificateVerification = .fullVerification
            return (true, configuration)
        }
    }
}
