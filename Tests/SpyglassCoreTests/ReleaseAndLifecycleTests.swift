import Foundation
import SpyglassCore
import Testing

@Suite struct ReleaseVersionTests {
    @Test func ordersSemverWithPrereleasesAndBuilds() throws {
        let ordered = try [
            "app@1.0.0-alpha", "app@1.0.0-alpha.1", "app@1.0.0-alpha.beta", "app@1.0.0-beta.2", "app@1.0.0-beta.11",
            "app@1.0.0-rc.1", "app@1.0.0", "app@1.0.0+2", "app@1.0.0+10", "app@1.0.1", "app@1.2", "app@1.10.0",
            "app@2.0.0.1",
        ].map { try #require(ReleaseVersion($0), "\($0)") }
        for (earlier, later) in zip(ordered, ordered.dropFirst()) {
            #expect(earlier < later, "\(earlier) < \(later)")
            #expect(!(later < earlier))
        }
        #expect(ReleaseVersion("1.2.3")?.package == nil)
        #expect(ReleaseVersion("my.app@1.2.3+45")?.package == "my.app")
        for bad in ["", "abc", "1.x", "1..2", "1.2.3.4.5", "a3f9c2d", "1.0.0-", "1.0.0+", "latest"] {
            #expect(ReleaseVersion(bad) == nil, "\(bad)")
        }
    }

    @Test func projectsFollowSemverAsSentryDecides() {
        #expect(ReleaseOrdering(recentNewestFirst: ["a@1.0.0"]).semver)
        #expect(!ReleaseOrdering(recentNewestFirst: ["3f9c2d1", "a@1.0.0"]).semver)
        #expect(ReleaseOrdering(recentNewestFirst: ["3f9c2d1", "8a7b6c5", "a@1.0.0", "x"]).semver)  // one of the last 3
        #expect(!ReleaseOrdering(recentNewestFirst: ["x1", "x2", "x3", "a@1.0.0"]).semver)
        let tenMostlyHashes = ["a@2.0.0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "a@1.0.0"]
        #expect(!ReleaseOrdering(recentNewestFirst: tenMostlyHashes).semver)  // fewer than 3 of the last 10
        let tenEnough = ["a@3.0.0", "h1", "a@2.0.0", "h3", "a@1.0.0", "h5", "h6", "h7", "h8", "h9"]
        #expect(ReleaseOrdering(recentNewestFirst: tenEnough).semver)
        #expect(!ReleaseOrdering(recentNewestFirst: []).semver)
    }

    @Test func newerBySemverOrByDate() {
        let old = ReleaseRef(version: "a@2.0.0", createdAt: 100)
        let new = ReleaseRef(version: "a@1.5.0", createdAt: 200)  // created later, but a lower version (a backport)
        #expect(ReleaseOrdering(semver: true).isNewer(old, than: new))
        #expect(ReleaseOrdering(semver: false).isNewer(new, than: old))
        let hash = ReleaseRef(version: "3f9c2d1", createdAt: 300)
        #expect(ReleaseOrdering(semver: true).isNewer(hash, than: old))  // not semver: falls back to dates
    }
}

@Suite struct RegressionRuleTests {
    let releases = [
        "a@1.0.0": ReleaseRef(version: "a@1.0.0", createdAt: 100), "a@1.1.0": ReleaseRef(version: "a@1.1.0", createdAt: 200),
        "a@2.0.0": ReleaseRef(version: "a@2.0.0", createdAt: 300), "a@0.9.0": ReleaseRef(version: "a@0.9.0", createdAt: 400),
    ]

    func covered(_ resolution: Resolution, _ event: String?, semver: Bool = true) -> Bool {
        Lifecycle.isCovered(
            resolution, eventRelease: event.flatMap { releases[$0] }, release: { releases[$0] }, ordering: ReleaseOrdering(semver: semver))
    }

    @Test func resolvedNowRegressesOnAnyEvent() {
        #expect(!covered(.now, nil))
        #expect(!covered(.now, "a@1.0.0"))
    }

    @Test(arguments: [
        // (event release, covered with semver, covered by date) for "resolved in next release" at a@1.1.0
        (nil, true, true), ("a@1.0.0", true, true), ("a@1.1.0", true, true), ("a@2.0.0", false, false),
        ("a@0.9.0", true, false),  // created after a@1.1.0: older by semver, newer by date
    ] as [(String?, Bool, Bool)])
    func resolvedInNextRelease(_ event: String?, _ semver: Bool, _ byDate: Bool) {
        #expect(covered(.inNextRelease(current: "a@1.1.0"), event, semver: true) == semver)
        #expect(covered(.inNextRelease(current: "a@1.1.0"), event, semver: false) == byDate)
    }

    @Test(arguments: [
        // (event release, covered with semver, covered by date) for "resolved in release a@1.1.0"
        (nil, true, true), ("a@1.0.0", true, true), ("a@1.1.0", false, false), ("a@2.0.0", false, false),
        ("a@0.9.0", true, false),
    ] as [(String?, Bool, Bool)])
    func resolvedInRelease(_ event: String?, _ semver: Bool, _ byDate: Bool) {
        #expect(covered(.inRelease("a@1.1.0"), event, semver: true) == semver)
        #expect(covered(.inRelease("a@1.1.0"), event, semver: false) == byDate)
    }

    @Test func nextReleaseWithoutAnyReleaseCoversOnlyEventsWithoutRelease() {
        #expect(covered(.inNextRelease(current: nil), nil))
        #expect(!covered(.inNextRelease(current: nil), "a@1.0.0"))
    }
}

@Suite struct IgnoreAndAgingTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func unignores(_ condition: IgnoreCondition, seen: Int = 10, users: Int = 2, hour: Int = 1, at date: Date? = nil) -> Bool? {
        Lifecycle.unignores(
            IgnoreState(condition: condition, timesSeenAtIgnore: 10, usersAtIgnore: 2, hourlyBaseline: 4),
            timesSeen: seen, userCount: users, eventsThisHour: hour, now: date ?? now)
    }

    @Test func conditions() {
        #expect(unignores(.forever, seen: 1000) == nil)
        #expect(unignores(.untilCount(5), seen: 14) == nil)
        #expect(unignores(.untilCount(5), seen: 15) == false)
        #expect(unignores(.untilUserCount(3), users: 4) == nil)
        #expect(unignores(.untilUserCount(3), users: 5) == false)
        #expect(unignores(.untilDate(now.addingTimeInterval(60))) == nil)
        #expect(unignores(.untilDate(now.addingTimeInterval(60)), at: now.addingTimeInterval(61)) == false)
        #expect(unignores(.untilEscalating, hour: 12) == nil)  // baseline 4/h: escalating above 12
        #expect(unignores(.untilEscalating, hour: 13) == true)
    }

    @Test func newAndRegressedBecomeOngoingAfterSevenDays() {
        let sixDays = now.addingTimeInterval(-6 * 86400)
        let eightDays = now.addingTimeInterval(-8 * 86400)
        #expect(Lifecycle.agedSubstatus("new", since: sixDays, now: now) == "new")
        #expect(Lifecycle.agedSubstatus("new", since: eightDays, now: now) == "ongoing")
        #expect(Lifecycle.agedSubstatus("regressed", since: eightDays, now: now) == "ongoing")
        #expect(Lifecycle.agedSubstatus("escalating", since: eightDays, now: now) == "escalating")
    }
}
