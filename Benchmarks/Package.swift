// swift-tools-version:6.2
// The ingest load generator (see README.md here). A package of its own, so the server's build and tests
// don't pull in the HTTP client.
import PackageDescription

let package = Package(
    name: "spyglass-benchmarks",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "spyglass-load", targets: ["SpyglassLoad"])],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlibLoad", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .executableTarget(
            name: "SpyglassLoad",
            dependencies: [
                "CSQLite", "CZlibLoad",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)
