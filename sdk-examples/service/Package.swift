// swift-tools-version:6.1
// A Hummingbird service that reports to Spyglass, as a user's package: it depends on the Spyglass package with
// the `Hummingbird` trait only, for the SDK and its middleware, so it resolves Hummingbird and the SDK's
// packages, not the server's. A user names the repository's URL where this names the path.
import PackageDescription

let package = Package(
    name: "spyglass-example-service",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "spyglass-example-service", targets: ["SpyglassExampleService"])],
    dependencies: [
        .package(name: "spyglass", path: "../..", traits: ["Hummingbird"]),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "SpyglassExampleService",
            dependencies: [
                .product(name: "Spyglass", package: "spyglass"),
                .product(name: "SpyglassLogging", package: "spyglass"),
                .product(name: "SpyglassHummingbird", package: "spyglass"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        )
    ]
)
