// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "spyglass",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "spyglass", targets: ["SpyglassCLI"]),
        .executable(name: "spyglass-example-cli", targets: ["SpyglassExampleCLI"]),
        .executable(name: "spyglass-example-service", targets: ["SpyglassExampleService"]),
        .executable(name: "spyglass-sdk-bench", targets: ["SpyglassSDKBenchmark"]),
        .library(name: "SpyglassProtocol", targets: ["SpyglassProtocol"]),
        // The Swift SDK: one `.package(url:)` line, then these products.
        .library(name: "Spyglass", targets: ["Spyglass"]),
        .library(name: "SpyglassLogging", targets: ["SpyglassLogging"]),
        .library(name: "SpyglassTesting", targets: ["SpyglassTesting"]),
        .library(name: "SpyglassHummingbird", targets: ["SpyglassHummingbird"]),
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
                "Spyglass", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // For SDK users' tests: a transport that collects envelopes.
        .target(name: "SpyglassTesting", dependencies: ["Spyglass", "SpyglassProtocol"]),

        // The SDK examples (sdk-examples/), built with the package so the end-to-end suite can run them.
        .executableTarget(
            name: "SpyglassExampleCLI",
            dependencies: ["Spyglass", "SpyglassLogging", .product(name: "Logging", package: "swift-log")],
            path: "sdk-examples/cli/Sources/SpyglassExampleCLI"
        ),
        .executableTarget(
            name: "SpyglassExampleService",
            dependencies: [
                "Spyglass", "SpyglassLogging", "SpyglassHummingbird", .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "sdk-examples/service/Sources/SpyglassExampleService"
        ),

        // The SDK's caller-side cost (Benchmarks/SDK; run it in release).
        .executableTarget(name: "SpyglassSDKBenchmark", dependencies: ["Spyglass", "SpyglassProtocol"], path: "Benchmarks/SDK"),
        // Envelope parsing speed by item size (Benchmarks/run reports it; linear parsing keeps MB/s flat).
        .executableTarget(name: "SpyglassEnvelopeBenchmark", dependencies: ["SpyglassProtocol"], path: "Benchmarks/Envelope"),

        // Server domain: pure code, no HTTP, no SQL.
        .target(
            name: "SpyglassCore",
            dependencies: [
                "SpyglassProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // C libraries from Debian: zlib (zlib1g-dev) and the brotli decoder (libbrotli-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlidec", providers: [.apt(["libbrotli-dev"])]),

        // What both storage adapters share: the group-commit ingest writer and the stored payload formats.
        .target(
            name: "SpyglassStorageKit",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, as GRDB imports it: the writer binds its hot statements directly (WriterStatement).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
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
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Notifications: the SMTP client (SwiftNIO + NIOSSL), webhooks (AsyncHTTPClient), the outbox worker.
        .target(
            name: "SpyglassNotify",
            dependencies: [
                "SpyglassCore",
                "SpyglassProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
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
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
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
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SpyglassHTTPTests",
            dependencies: [
                "SpyglassHTTP",
                "SpyglassCore",
                "SpyglassStorage",
                "CZlib",
            ]
        ),
        .testTarget(
            name: "SpyglassWebTests",
            dependencies: [
                "SpyglassWeb", "SpyglassWebAssets", "SpyglassCore", "SpyglassProtocol",
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .testTarget(
            name: "SpyglassSDKTests",
            dependencies: [
                "Spyglass", "SpyglassLogging", "SpyglassTesting", "SpyglassProtocol",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SpyglassNotifyTests",
            dependencies: [
                "SpyglassNotify",
                "SpyglassCore",
                "SpyglassProtocol",
                "SpyglassStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "SpyglassServerTests",
            dependencies: [
                "SpyglassServer",
                "SpyglassProtocol",
                "CZlib",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "SpyglassHTTP",
                "SpyglassStorage",
                "SpyglassStorageKit",
                "SpyglassCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
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
