import Foundation
import Logging
import PostgresNIO
import SpyglassPostgres
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The PostgreSQL server the tests of this process share, and a fresh database for each test.
///
/// The server is `SPYGLASS_TEST_DATABASE_URL` when set (its user must be allowed to create databases); otherwise a
/// throwaway cluster that `scripts/postgres` starts once per test process, from Debian's binaries in
/// /usr/lib/postgresql/*/bin, and stops when the process exits (and, should the process crash, within a second
/// after: `--watch`). Without binaries the tests skip, unless `CI` is set: then they fail.
enum TestPostgres {
    /// The server, or why there is none.
    enum Server {
        case running(DatabaseURL)
        case unavailable(String)
    }

    /// Whether the suites run: false only where they cannot and should not (no server, no binaries, not CI).
    static let isEnabled: Bool = {
        if ProcessInfo.processInfo.environment["SPYGLASS_TEST_DATABASE_URL"] != nil || isCI { return true }
        return serverBinaries != nil
    }()

    static let disabledReason: Comment =
        "PostgreSQL: no server binaries in /usr/lib/postgresql/*/bin and no SPYGLASS_TEST_DATABASE_URL (apt-get install postgresql)"

    static var isCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() ?? ""
        return !value.isEmpty && value != "0" && value != "false"
    }

    static var serverBinaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return versions.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
            .map { "\(root)/\($0)/bin" }
            .last { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    /// Started at most once, on first use; a `static let` is initialized exactly once even when tests run in parallel.
    static let server: Server = {
        if let url = ProcessInfo.processInfo.environment["SPYGLASS_TEST_DATABASE_URL"] {
            do { return .running(try DatabaseURL(url)) } catch {
                return .unavailable("SPYGLASS_TEST_DATABASE_URL: \(error)")
            }
        }
        return startCluster()
    }()

    /// Where the cluster lives; read by the exit handler, which cannot capture. Safe unsynchronized: written once,
    /// inside the one-time initializer of `server` and before the handler is registered; read only at exit.
    nonisolated(unsafe) private static var clusterDirectory: String?

    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/postgres").path

    private static func startCluster() -> Server {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("spyglass-postgres-\(UUID().uuidString.prefix(8))").path
        let (status, output) = run([script, "start", "\(directory)/cluster", "--watch", "\(getpid())"])
        guard status == 0 else { return .unavailable("scripts/postgres start failed (\(status)): \(output)") }
        clusterDirectory = directory
        atexit {
            guard let directory = TestPostgres.clusterDirectory else { return }
            _ = TestPostgres.run([TestPostgres.script, "stop", "\(directory)/cluster"])
            try? FileManager.default.removeItem(atPath: directory)
        }
        let line = output.split(separator: "\n").last.map(String.init) ?? ""
        do { return .running(try DatabaseURL(line)) } catch {
            return .unavailable("scripts/postgres printed '\(line)': \(error)")
        }
    }

    /// Runs a command, returning its status and its standard output and error together. posix_spawn and waitpid
    /// rather than Foundation's `Process`, whose `waitUntilExit` was seen never to return here (Swift 6.3, Linux).
    @discardableResult
    private static func run(_ arguments: [String]) -> (Int32, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "spyglass-postgres-\(UUID().uuidString).out"
        ).path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else { return (-1, "cannot run \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, which Swift does not import.
        let exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exitStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static let logger = Logger(label: "spyglass.test.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server's URL; throws (failing the test) when there is none.
    static func serverURL() throws -> DatabaseURL {
        switch server {
        case .running(let url): return url
        case .unavailable(let reason): throw TestDatabaseError(message: reason)
        }
    }

    /// Creates the database `test_<random>` on the server, runs `body` with its URL, then drops it.
    @discardableResult
    static func withFreshDatabase<Result: Sendable>(_ body: (DatabaseURL) async throws -> Result) async throws -> Result
    {
        let server = try serverURL()
        var url = server
        url.database = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let name = url.database
        try await withRunningDatabase(server) { admin in
            try await admin.withConnection {
                try await $0.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            }
        }
        do {
            let result = try await body(url)
            try await drop(name, on: server)
            return result
        } catch {
            try? await drop(name, on: server)
            throw error
        }
    }

    private static func drop(_ name: String, on server: DatabaseURL) async throws {
        try await withRunningDatabase(server) { admin in
            try await admin.withConnection {
                try await $0.query(
                    PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: logger)
            }
        }
    }

    /// A `PostgresAppDatabase` for `url` whose pool runs for the length of `body`.
    @discardableResult
    static func withRunningDatabase<Result: Sendable>(
        _ url: DatabaseURL, maximumConnections: Int = 4, ingestConnections: Int = 2,
        _ body: (PostgresAppDatabase) async throws -> Result
    ) async throws -> Result {
        let database = PostgresAppDatabase(
            url: url, maximumConnections: maximumConnections, ingestConnections: ingestConnections, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            do {
                let result = try await body(database)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

/// A fresh, empty database of its own for one test, its pool running: the way every test here gets a database.
@discardableResult
func withTestDatabase<Result: Sendable>(_ body: (PostgresAppDatabase) async throws -> Result) async throws -> Result {
    try await TestPostgres.withFreshDatabase { url in try await TestPostgres.withRunningDatabase(url, body) }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
