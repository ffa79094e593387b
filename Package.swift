// swift-tools-version:6.1
import PackageDescription

// One package, two audiences. The server (the `spyglass` executable and its modules) needs the `Server` trait,
// on by default, so `swift build`, `swift run spyglass` and `swift test` here build everything. A service that
// only wants the SDK depends on this package with `traits: []` and resolves only what the SDK's products need
// (swift-log, swift-service-lifecycle, AsyncHTTPClient and the SwiftNIO packages it brings); adding the
// `Hummingbird` trait brings Hummingbird for the SpyglassHummingbird middleware. Tests/e2e/test_sdk_package.py
// resolves such a package and checks the list.
//
// macOS 15 is what the SDK needs (Synchronization's Mutex); the server needs nothing higher.

/// A product that only the server's modules and tests use: resolved only with the `Server` trait.
func server(_ product: String, _ package: String) -> Target.Dependency {
    .product(name: product, package: package, condition: .when(traits: ["Server"]))
}

let package = Package(
    name: "spyglass",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spyglass", targets: ["SpyglassCLI"]),
        .library(name: "SpyglassProtocol", targets: ["SpyglassProtocol"]),
        // The Swift SDK: one `.package(url:)` line, then these products.
        .library(name: "Spyglass", targets: ["Spyglass"]),
        .library(name: "SpyglassLogging", targets: ["SpyglassLogging"]),
        .library(name: "SpyglassTesting", targets: ["SpyglassTesting"]),
        .library(name: "SpyglassHummingbird", targets: ["SpyglassHummingbird"]),
    ],
    traits: [
        .trait(name: "Hummingbird", description: "Hummingbird, for the SpyglassHummingbird middleware."),
        .trait(
            name: "Server", description: "The server's packages (storage, web, CLI). On by default.",
            enabledTraits: ["Hummingbird"]
        ),
        .default(enabledTraits: ["Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Wire types shared by the SDK and the server. Foundation only.
        .target(name: "SpyglassProtocol"),

        // The SDK: capture, scopes, stack traces (the runtime's Backtrace), transport (AsyncHTTPClient), spool.
        .target(
            name: "Spyglass",
            dependencies: [
                "SpyglassProtocol",
                "CZlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // swift-log integration: errors become events, info/notice/warning breadcrumbs.
        .target(
            name: "SpyglassLogging",
            dependencies: ["Spyglass", "SpyglassProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        // Hummingbird integration: 5xx errors with the request, a scope per request.
        .target(
            name: "SpyglassHummingbird",
            dependencies: [
                "Spyglass",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Hummingbird"])),
            ]
        ),
        // For SDK users' tests: a transport that collects envelopes.
        .target(name: "SpyglassTesting", dependencies: ["Spyglass", "SpyglassProtocol"]),

        // The examples (sdk-examples/) are packages of their own that depend on this one as a user's would.

        // The SDK's caller-side cost (Benchmarks/SDK; `swift run -c release SpyglassSDKBenchmark`).
        .executableTarget(name: "SpyglassSDKBenchmark", dependencies: ["Spyglass", "SpyglassProtocol"], path: "Benchmarks/SDK"),
        // Envelope parsing speed by item size (Benchmarks/run reports it; linear parsing keeps MB/s flat).
        .executableTarget(name: "SpyglassEnvelopeBenchmark", dependencies: ["SpyglassProtocol"], path: "Benchmarks/Envelope"),
        // The request side without HTTP or storage: parse, normalize and group an event, read log lines (Benchmarks/run
        // reports it; steadier than the load runs for parser and normalizer changes).
        .executableTarget(
            name: "SpyglassPipelineBenchmark", dependencies: ["SpyglassProtocol", "SpyglassCore"],
            path: "Benchmarks/Pipeline"),

        // Server domain: pure code, no HTTP, no SQL.
        .target(
            name: "SpyglassCore",
            dependencies: [
                "SpyglassProtocol",
                "CDeflate",
                server("Logging", "swift-log"),
                server("HummingbirdBcrypt", "hummingbird-auth"),
                server("Crypto", "swift-crypto"),
            ]
        ),

        // C libraries from Debian: zlib (zlib1g-dev), the brotli decoder (libbrotli-dev) and libdeflate
        // (libdeflate-dev: small gzip bodies inflated at once, faster than zlib's stream).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlidec", providers: [.apt(["libbrotli-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // A VFS over SQLite's own (libsqlite3-dev, as GRDB uses it) that writes a transaction's WAL frames at once.
        .target(name: "CSQLiteWAL", linkerSettings: [.linkedLibrary("sqlite3")]),

        // What both storage adapters share: the group-commit ingest writer and the stored payload formats.
        .target(
            name: "SpyglassStorageKit",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                "CZlib",
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),

        // SQLite through GRDB: AppDatabase, migrations, records, the ports' implementations.
        .target(
            name: "SpyglassStorage",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                "SpyglassStorageKit",
                "CZlib",
                "CSQLiteWAL",
                server("GRDB", "GRDB.swift"),
                // SQLite's C API, as GRDB imports it: the writer binds its hot statements directly (WriterStatement).
                server("GRDBSQLite", "GRDB.swift"),
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),

        // PostgreSQL through postgres-nio: the connection URL, the pool, migrations and the schema that the
        // PostgreSQL adapters of the storage ports stand on. Only the composition root will import it.
        .target(
            name: "SpyglassPostgres",
            dependencies: [
                "SpyglassCore",
                "SpyglassStorageKit",
                "SpyglassProtocol",
                server("NIOPosix", "swift-nio"),
                server("PostgresNIO", "postgres-nio"),
                server("NIOCore", "swift-nio"),
                server("NIOSSL", "swift-nio-ssl"),
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),

        // Hummingbird routes and middleware.
        .target(
            name: "SpyglassHTTP",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                "CZlib",
                "CBrotli",
                server("Hummingbird", "hummingbird"),
                server("HummingbirdCore", "hummingbird"),
                server("HTTPTypes", "swift-http-types"),
                server("NIOCore", "swift-nio"),
                server("NIOHTTP1", "swift-nio"),
                server("NIOHTTPTypes", "swift-nio-extras"),
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("Prometheus", "swift-prometheus"),
            ]
        ),

        // The files of the web UI (web/templates, web/static), compiled into the binary: one file to deploy.
        .target(
            name: "SpyglassWebAssets",
            path: "web",
            exclude: ["README.md"],
            sources: ["WebAssets.swift"],
            resources: [.embedInCode("templates"), .embedInCode("static")]
        ),

        // The web UI: server-rendered pages (swift-mustache), sessions, CSRF, the security headers.
        .target(
            name: "SpyglassWeb",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                "SpyglassHTTP",
                "SpyglassWebAssets",
                server("Hummingbird", "hummingbird"),
                server("HTTPTypes", "swift-http-types"),
                server("Mustache", "swift-mustache"),
                server("Crypto", "swift-crypto"),
                server("Logging", "swift-log"),
            ]
        ),

        // Notifications: the SMTP client (SwiftNIO + NIOSSL), webhooks (AsyncHTTPClient), the outbox worker.
        .target(
            name: "SpyglassNotify",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                server("NIOCore", "swift-nio"),
                server("NIOPosix", "swift-nio"),
                server("NIOHTTP1", "swift-nio"),
                server("NIOSSL", "swift-nio-ssl"),
                server("AsyncHTTPClient", "async-http-client"),
                server("Crypto", "swift-crypto"),
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),

        // Composition root: configuration, logging, buildApplication, services.
        .target(
            name: "SpyglassServer",
            dependencies: [
                "SpyglassCore",
                "SpyglassStorage",
                "SpyglassStorageKit",
                "SpyglassPostgres",
                "SpyglassHTTP",
                "SpyglassNotify",
                "SpyglassWeb",
                server("Hummingbird", "hummingbird"),
                server("HummingbirdCore", "hummingbird"),
                server("Logging", "swift-log"),
                server("Metrics", "swift-metrics"),
                server("Prometheus", "swift-prometheus"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),

        // The `spyglass` executable.
        .executableTarget(
            name: "SpyglassCLI",
            dependencies: [
                "SpyglassServer",
                "SpyglassStorage",
                "SpyglassPostgres",
                "SpyglassCore",
                server("ArgumentParser", "swift-argument-parser"),
                server("Logging", "swift-log"),
            ]
        ),

        .testTarget(name: "SpyglassProtocolTests", dependencies: ["SpyglassProtocol"]),
        .testTarget(name: "SpyglassCoreTests", dependencies: ["SpyglassCore"]),
        .testTarget(
            name: "SpyglassStorageTests",
            dependencies: [
                "SpyglassStorage",
                "SpyglassStorageKit",
                "CZlib",
                "SpyglassCore",
                "SpyglassProtocol",
                server("GRDB", "GRDB.swift"),
                server("MetricsTestKit", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
                server("Logging", "swift-log"),
            ]
        ),
        .testTarget(
            // The storage ports' contract, run against both backends (SQLite and a PostgreSQL server the tests start),
            // and the PostgreSQL adapter's own tests.
            name: "SpyglassStorageContractTests",
            dependencies: [
                "SpyglassPostgres",
                "SpyglassStorage",
                "SpyglassStorageKit",
                "SpyglassCore",
                "SpyglassProtocol",
                // Fixture rows that no port writes yet (outbox rows, issues), in plain SQL on the SQLite side.
                server("GRDB", "GRDB.swift"),
                server("Metrics", "swift-metrics"),
                server("MetricsTestKit", "swift-metrics"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
                server("PostgresNIO", "postgres-nio"),
                server("NIOCore", "swift-nio"),
                server("Logging", "swift-log"),
            ]
        ),
        .testTarget(
            name: "SpyglassHTTPTests",
            dependencies: [
                "SpyglassHTTP",
                "SpyglassCore",
                "SpyglassStorage",
                "CZlib",
                server("Hummingbird", "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SpyglassWebTests",
            dependencies: [
                "SpyglassWeb", "SpyglassWebAssets", "SpyglassCore", "SpyglassProtocol",
                server("Mustache", "swift-mustache"),
            ]
        ),
        .testTarget(
            name: "SpyglassSDKTests",
            dependencies: [
                "Spyglass", "SpyglassLogging", "SpyglassTesting", "SpyglassProtocol",
                server("Logging", "swift-log"),
                server("ServiceLifecycle", "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SpyglassNotifyTests",
            dependencies: [
                "SpyglassNotify",
                "SpyglassCore",
                "SpyglassProtocol",
                "SpyglassStorage",
                server("Logging", "swift-log"),
                server("MetricsTestKit", "swift-metrics"),
                server("NIOCore", "swift-nio"),
                server("NIOPosix", "swift-nio"),
                server("Crypto", "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "SpyglassServerTests",
            dependencies: [
                "SpyglassServer",
                "SpyglassProtocol",
                "CZlib",
                server("ServiceLifecycle", "swift-service-lifecycle"),
                "SpyglassHTTP",
                "SpyglassStorage",
                "SpyglassStorageKit",
                "SpyglassCore",
                server("Hummingbird", "hummingbird"),
                server("HummingbirdTesting", "hummingbird"),
                server("GRDB", "GRDB.swift"),
                server("Logging", "swift-log"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
