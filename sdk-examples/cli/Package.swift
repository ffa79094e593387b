// swift-tools-version:6.1
// A command-line tool that reports to Spyglass, as a user's package: it depends on the Spyglass package for the
// SDK only (`traits: []`), so it resolves swift-log, swift-service-lifecycle, AsyncHTTPClient and the SwiftNIO
// packages, not the server's. A user names the repository's URL where this names the path.
import PackageDescription

let package = Package(
    name: "spyglass-example-cli",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "spyglass-example-cli", targets: ["SpyglassExampleCLI"])],
    dependencies: [
        .package(name: "spyglass", path: "../..", traits: []),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
    ],
    targets: [
        .executableTarget(
            name: "SpyglassExampleCLI",
            dependencies: [
                .product(name: "Spyglass", package: "spyglass"),
                .product(name: "SpyglassLogging", package: "spyglass"),
                .product(name: "Logging", package: "swift-log"),
            ]
        )
    ]
)
