import Foundation
import Testing

@testable import Spyglass

@Suite struct RateLimitTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func categoriesScopesAndRetryAfter() {
        var limits = RateLimits()
        limits.update(rateLimits: "60:error;transaction:key, 2700:attachment:organization", retryAfter: "5", now: now)
        #expect(!limits.allows("error", now: now.addingTimeInterval(59)))
        #expect(limits.allows("error", now: now.addingTimeInterval(61)))
        #expect(!limits.allows("transaction", now: now.addingTimeInterval(30)))
        #expect(limits.allows("session", now: now))  // not named: not limited
        #expect(!limits.allows("attachment", now: now.addingTimeInterval(2000)))

        var all = RateLimits()
        all.update(rateLimits: "30::organization", retryAfter: nil, now: now)  // no categories: everything
        #expect(!all.allows("session", now: now.addingTimeInterval(29)) && all.allows("error", now: now.addingTimeInterval(31)))

        var retry = RateLimits()
        retry.update(rateLimits: nil, retryAfter: "12", now: now)
        #expect(!retry.allows("error", now: now.addingTimeInterval(11)) && retry.allows("error", now: now.addingTimeInterval(13)))

        var defaults = RateLimits()
        defaults.update(rateLimits: "20:default", retryAfter: nil, now: now)
        #expect(!defaults.allows("error", now: now.addingTimeInterval(10)))  // events count as "default" too
    }

    @Test func inAppFollowsIncludeExcludeAndLibraryModules() {
        let symbolicator = Symbolicator(inAppInclude: ["MyDeps"], inAppExclude: ["App.Generated"])
        #expect(symbolicator.isInApp(module: "App", image: "app", mainImage: "app"))
        #expect(!symbolicator.isInApp(module: "NIOPosix", image: "app", mainImage: "app"))
        #expect(!symbolicator.isInApp(module: "Hummingbird", image: "app", mainImage: "app"))
        #expect(!symbolicator.isInApp(module: "App.Generated", image: "app", mainImage: "app"))
        #expect(symbolicator.isInApp(module: "MyDepsKit", image: "libMyDeps.so", mainImage: "app"))
        #expect(!symbolicator.isInApp(module: "libswiftCore.so", image: "libswiftCore.so", mainImage: "app"))
        #expect(Symbolicator.module(ofMangled: "$s18SpyglassExampleCLI9InventoryO4syncSiyKFZ") == "SpyglassExampleCLI")
        #expect(Symbolicator.relativePath("/src/app/.build/checkouts/swift-nio/Sources/NIOPosix/x.swift") == ("swift-nio/Sources/NIOPosix/x.swift", true))
        #expect(Symbolicator.relativePath("/home/me/app/Sources/App/main.swift") == ("Sources/App/main.swift", false))
    }
}
