public import Logging
public import PostgresNIO
public import ServiceLifecycle
import SpyglassCore

/// The PostgreSQL database: one postgres-nio connection pool, transactions, and the schema's migrations.
///
/// The pool works only while ``run()`` runs: add the database to the server's `ServiceGroup` (it is a `Service`),
/// or run it in a child task for the length of a piece of work, as the tests do:
///
/// ```swift
/// let database = try PostgresAppDatabase(url: DatabaseURL("postgres://spyglass@db/spyglass"), logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await database.run() }
///     try await database.migrate()
///     // …
///     group.cancelAll()  // cancelling run() closes the pool's connections
/// }
/// ```
///
/// Several `serve` processes may share one database: ``migrate()`` serializes them with an advisory lock.
public final class PostgresAppDatabase: Service, Sendable {
    /// The postgres-nio pool, for the adapters built on this database.
    package let client: PostgresClient
    /// The ingest writer's own connections: it changes their planner settings (``PostgresIngestCommitter``), which
    /// must not reach the API's queries.
    let ingestClient: PostgresClient
    /// Where the database is (its password hidden when printed).
    public let url: DatabaseURL?
    let logger: Logger

    /// Creates the pool for `url`; no connection is opened until ``run()`` runs and a query needs one.
    ///
    /// - Parameters:
    ///   - maximumConnections: The pool's size; every `serve` process opens up to this many connections, and up to
    ///     `ingestConnections` more for the ingest writer.
    ///   - ingestConnections: The ingest writer's own pool (``withIngestConnection(isolation:_:)``): three, one kept
    ///     by the writer, one by the log writer (``PostgresLogCommitter``), and one so a batch need not wait for a
    ///     broken connection to be given back.
    public convenience init(url: DatabaseURL, maximumConnections: Int = 20, ingestConnections: Int = 3, logger: Logger) {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = maximumConnections
        self.init(configuration: configuration, url: url, ingestConnections: ingestConnections, logger: logger)
    }

    /// Creates the pool from a postgres-nio configuration (a Unix socket, custom TLS, pool options), and the ingest
    /// writer's pool of `ingestConnections` with the same settings.
    public init(
        configuration: PostgresClient.Configuration, url: DatabaseURL? = nil, ingestConnections: Int = 3, logger: Logger
    ) {
        var backgroundLogger = logger
        backgroundLogger[metadataKey: "spyglass.database"] = "\(url.map(String.init(describing:)) ?? "postgres")"
        self.client = PostgresClient(configuration: configuration, backgroundLogger: backgroundLogger)
        var ingest = configuration
        ingest.options.minimumConnections = 0
        ingest.options.maximumConnections = max(1, ingestConnections)
        self.ingestClient = PostgresClient(configuration: ingest, backgroundLogger: backgroundLogger)
        self.url = url
        self.logger = logger
    }

    /// Runs the pool until the task is cancelled or the service group shuts down gracefully; queries made while
    /// it is not running wait for a connection that never comes. Call once per instance.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.ingestClient.run() }
        }
    }

    /// Leases one of the ingest writer's connections for `body`, as ``withConnection(isolation:_:)`` does from the
    /// pool.
    package func withIngestConnection<Result: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(of: ingestClient, isolation: isolation, body)
    }

    /// Leases a connection for `body`; the connection goes back to the pool when `body` returns.
    /// `body` must not keep the connection.
    ///
    /// Text PostgreSQL cannot store (a NUL character, which SQLite stores) is bad input: a ``DomainError`` of kind
    /// `.invalidInput` (an API answers 400), not a server error; a connection lost under `body` is one of kind
    /// `.unavailable` (503).
    @discardableResult
    public func withConnection<Result: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(of: client, isolation: isolation, body)
    }

    private func withConnection<Result: Sendable>(
        of pool: PostgresClient, isolation: isolated (any Actor)?, _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let lease = PostgresConnectionLease(pool)
        defer { lease.release() }
        let connection: PostgresConnection
        do {
            connection = try await lease.connection(within: Self.leaseTimeout)
        } catch let error as CancellationError {
            throw error
        } catch {
            throw DomainError(.unavailable, "database: \(Self.reason(error))")
        }
        do {
            return try await body(connection)
        } catch let error as PSQLError {
            if PostgresIngestCommitter.isConnectionLost(error) { throw Self.connectionLost(error) }
            throw Self.domainError(error) ?? error
        } catch {
            if PostgresIngestCommitter.isConnectionLost(error) { throw Self.connectionLost(error) }
            throw error
        }
    }

    /// A query's connection closed under it (PostgreSQL restarted, crashed or ended the session): the API answers
    /// 503, as while PostgreSQL is down, and the pool connects anew for the next query.
    private static func connectionLost(_ error: any Error) -> DomainError {
        DomainError(.unavailable, "database: the connection to PostgreSQL was lost (\(Self.reason(error)))")
    }

    /// How long a query waits for a connection of the pool before it fails (``DomainError`` `.unavailable`: the
    /// API answers 503): the pool lends one at once unless all are busy or PostgreSQL is down, when the pool would
    /// hold the request for up to a minute while it keeps trying to connect.
    static let leaseTimeout: Duration = .seconds(10)

    /// The bad input a PostgreSQL error reports, or nil: text PostgreSQL cannot store.
    static func domainError(_ error: any Error) -> DomainError? {
        guard sqlState(error) == Self.characterNotInRepertoire else { return nil }
        return DomainError(.invalidInput, "a text contains a character PostgreSQL cannot store (\(Self.reason(error)))")
    }

    /// The SQLSTATE of a server error, as postgres-nio reports it (a `PSQLError`, or the `PostgresError` its
    /// future-based API turns it into).
    static func sqlState(_ error: any Error) -> String? {
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] }
        if case .server(let message) = error as? PostgresError { return message.fields[.sqlState] }
        return nil
    }

    /// Whether PostgreSQL refused the values written (SQLSTATE class 22, data exception, or 23, integrity
    /// constraint), not its own state (a full disk, a read-only standby, a cancelled statement, a lost connection):
    /// only then is the request that brought them at fault.
    static func refusesValues(_ error: any Error) -> Bool {
        guard let state = sqlState(error) else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// SQLSTATE 22021, `character_not_in_repertoire`: e.g. U+0000 in text.
    static let characterNotInRepertoire = "22021"

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`) on one leased connection; when `body` throws, the
    /// transaction is rolled back and `body`'s own error is rethrown (not wrapped, unlike postgres-nio's
    /// `withTransaction`, so a `DomainError` thrown inside reaches the caller as it is).
    @discardableResult
    public func withTransaction<Result: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await withConnection(isolation: isolation) { connection in
            try await connection.execute("BEGIN", logger: logger)
            let result: Result
            do {
                result = try await body(connection)
            } catch {
                await rollBack(connection)
                throw error
            }
            // A failed COMMIT ends the transaction in PostgreSQL (rolled back), so the connection is clean.
            try await connection.execute("COMMIT", logger: logger)
            return result
        }
    }

    private func rollBack(_ connection: PostgresConnection) async {
        do {
            try await connection.execute("ROLLBACK", logger: logger)
        } catch {
            // The connection is broken or stuck in the transaction: close it so the pool does not lend it again.
            logger.warning(
                "PostgreSQL: ROLLBACK failed; closing the connection",
                metadata: ["spyglass.error": "\(String(reflecting: error))"])
            try? await connection.close()
        }
    }
}
