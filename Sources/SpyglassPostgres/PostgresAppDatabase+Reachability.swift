import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SpyglassCore

extension PostgresAppDatabase {
    /// Opens one connection of its own and closes it: fails fast, naming the server and the reason, where the pool
    /// would wait for a connection forever (a wrong host or port, a refused login, no TLS where it is required).
    public func checkReachable() async throws {
        guard let url else { return }
        var configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: try Self.connectionTLS(url))
        configuration.options.connectTimeout = .seconds(10)
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger)
            try await connection.close()
        } catch {
            throw DomainError(.unavailable, "database: cannot connect to \(url): \(Self.reason(error))")
        }
    }

    private static func connectionTLS(_ url: DatabaseURL) throws -> PostgresConnection.Configuration.TLS {
        guard let (required, configuration) = url.tlsSettings else { return .disable }
        let context = try NIOSSLContext(configuration: configuration)
        return required ? .require(context) : .prefer(context)
    }

    /// What went wrong, in words: the server's message, or the underlying network error (postgres-nio's own
    /// description hides both).
    static func reason(_ error: any Error) -> String {
        if case .server(let message) = error as? PostgresError, let text = message.fields[.message] {
            return [text, message.fields[.detail]].compactMap { $0 }.joined(separator: ": ")
        }
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return [message, error.serverInfo?[.detail]].compactMap { $0 }.joined(separator: ": ")
        }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}
