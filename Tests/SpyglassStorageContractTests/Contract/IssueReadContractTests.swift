import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

/// The issue and event ports of both backends over the same data (SQLite's, copied into PostgreSQL) give the same
/// answers, and the answers are right.
@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct IssueReadContractTests {
    static let queries = [
        "", "is:unresolved", "is:resolved", "is:ignored", "is:unresolved is:ignored", "level:warning",
        "level:error level:info",
        "release:1.0.0", "release:1.1.0", "release:2.0.0", "firstRelease:1.0.0", "environment:staging",
        "environment:production environment:staging", "assigned:me", "assigned:none", "assigned:dev@example.com",
        "assigned:admin@example.com", "tenant:acme", "tenant:globex", "firstSeen:-24h", "firstSeen:+24h",
        "lastSeen:-4h",
        "lastSeen:+4h", "undefined", "foo", "foo.bar", "TYPEERROR", "typeerror undefined", "conn", "Connection refused",
        "\"connection refused\"", "\"refused connection\"", "handle_request", "app.views", "views", "order_17", "type",
        "disk full", "nomatch", "type undefined", "undefined type", "...", "foo...", "is:unresolved undefined",
        "level:error bad checksum", "is:unresolved OR is:ignored", "!environment:staging", "release:1.*",
        "release:[1.0.0, 2.0.0]", "!release:1.*", "user.email:u1@example.com", "user.email:*@example.com",
        "user.id:u3", "user.id:u*", "has:user", "!has:user", "has:tenant", "(level:warning OR level:info) !release:1.0.0",
        "level:error (undefined OR checksum)", "age:-24h", "firstSeen:+24h OR lastSeen:-4h", "timesSeen:>2",
        "tenant:ac*", "tenant:GLO*", "!tenant:acme", "is:assigned", "is:unassigned level:error",
    ]

    /// Issue ids of the list `text` gives, from each backend, after checking both give the same issues.
    static func bothList(
        _ stores: CopiedStores, _ text: String, projects: [Int64] = [1, 2], sort: IssueSort = .date, limit: Int = 100,
        offset: Int = 0
    ) async throws -> [Int64] {
        let request = IssueListRequest(
            projectIDs: projects, query: try IssueQuery.parse(text, now: IssueFixture.now), sort: sort, limit: limit,
            offset: offset,
            userID: stores.fixture.developerID)
        let sqlite = try await stores.sqlite.issues.issues(request)
        let postgres = try await stores.postgres.issues.issues(request)
        let what: Comment = "query \"\(text)\", sort \(sort), projects \(projects), offset \(offset)"
        // The ids first, for a readable failure; then the issues whole.
        #expect(sqlite.map(\.id) == postgres.map(\.id), what)
        if sqlite.map(\.id) == postgres.map(\.id) { #expect(sqlite == postgres, what) }
        // The total the list's pages show: the same on both, the whole list when it fits one page, and capped.
        let total = try await stores.sqlite.issues.countIssues(request, upTo: 1000)
        #expect(try await stores.postgres.issues.countIssues(request, upTo: 1000) == total, what)
        if offset == 0 && sqlite.count <= limit { #expect(total == sqlite.count, what) }
        if total > 1 { #expect(try await stores.postgres.issues.countIssues(request, upTo: 1) == 1, what) }
        return sqlite.map(\.id)
    }

    @Test func issueListsAgreeForEveryFilterSortAndSearchAndFindTheRightIssues() async throws {
        try await withCopiedStores { stores in
            let issues = stores.fixture
            for text in Self.queries {
                for sort in IssueSort.allCases {
                    _ = try await Self.bothList(stores, text, sort: sort)
                }
                _ = try await Self.bothList(stores, text, projects: [1])
            }
            #expect(try await Self.bothList(stores, "").count == 6)
            #expect(try await Self.bothList(stores, "", projects: [2]) == [issues.backendIssue])
            #expect(try await Self.bothList(stores, "undefined") == [issues.typeError])
            #expect(try await Self.bothList(stores, "foo.bar") == [issues.typeError])
            #expect(try await Self.bothList(stores, "TYPEERROR") == [issues.typeError])
            #expect(try await Self.bothList(stores, "type") == [issues.typeError], "the last word is a prefix")
            #expect(try await Self.bothList(stores, "type undefined") == [], "the other words are whole words")
            #expect(try await Self.bothList(stores, "undefined type") == [issues.typeError])
            #expect(try await Self.bothList(stores, "conn") == [issues.connection])
            #expect(try await Self.bothList(stores, "\"connection refused\"") == [issues.connection])
            #expect(try await Self.bothList(stores, "\"refused connection\"") == [])
            #expect(try await Self.bothList(stores, "nomatch") == [])
            #expect(try await Self.bothList(stores, "is:ignored") == [issues.ignored])
            #expect(try await Self.bothList(stores, "is:resolved") == [], "the resolved issue regressed")
            #expect(try await Self.bothList(stores, "assigned:me") == [issues.typeError])
            #expect(try await Self.bothList(stores, "assigned:dev@example.com") == [issues.typeError])
            #expect(try await Self.bothList(stores, "release:2.0.0") == [issues.backendIssue])
            #expect(try await Self.bothList(stores, "tenant:globex") == [issues.typeError])
            #expect(try await Self.bothList(stores, "level:warning") == [issues.connection])
            #expect(
                Set(try await Self.bothList(stores, "environment:staging")) == [issues.typeError, issues.connection])
            // Sentry's syntax: OR, negation, wildcards, lists, has:, user fields.
            let unresolved = Set(try await Self.bothList(stores, "is:unresolved"))
            #expect(Set(try await Self.bothList(stores, "is:unresolved OR is:ignored")) == unresolved.union([issues.ignored]))
            #expect(
                Set(try await Self.bothList(stores, "!environment:staging"))
                    == [issues.keyError, issues.regressed, issues.ignored, issues.backendIssue])
            #expect(Set(try await Self.bothList(stores, "release:[1.0.0, 2.0.0]")) == [issues.typeError, issues.regressed, issues.backendIssue])
            #expect(try await Self.bothList(stores, "!release:1.*") == [issues.backendIssue])
            #expect(try await Self.bothList(stores, "user.email:U1@example.com") == [issues.typeError], "found by e-mail, counted by id")
            #expect(Set(try await Self.bothList(stores, "user.email:*@example.com")) == [issues.typeError, issues.regressed])
            #expect(try await Self.bothList(stores, "user.id:u3") == [issues.connection])
            #expect(Set(try await Self.bothList(stores, "has:user")) == [issues.typeError, issues.connection, issues.regressed])
            #expect(Set(try await Self.bothList(stores, "!has:user")) == [issues.keyError, issues.ignored, issues.backendIssue])
            #expect(try await Self.bothList(stores, "tenant:GLO*") == [issues.typeError], "wildcards ignore case")
            #expect(try await Self.bothList(stores, "level:error (undefined OR checksum)").sorted() == [issues.typeError, issues.regressed].sorted())
            #expect(try await Self.bothList(stores, "is:assigned") == [issues.typeError])
            #expect(try await Self.bothList(stores, "", sort: .freq).first == issues.typeError)
            #expect(try await Self.bothList(stores, "", sort: .new).last == issues.typeError)
        }
    }

    @Test func pagesAgreeAndHoldOneMoreThanTheLimitWhileThereIsANextPage() async throws {
        try await withCopiedStores { stores in
            var seen: [Int64] = []
            for offset in stride(from: 0, to: 8, by: 2) {
                for sort in IssueSort.allCases {
                    _ = try await Self.bothList(stores, "", sort: sort, limit: 2, offset: offset)
                }
                let page = try await Self.bothList(stores, "", limit: 2, offset: offset)
                #expect(page.count == min(3, max(0, 6 - offset)))
                seen += page.prefix(2)
            }
            #expect(seen == (try await Self.bothList(stores, "")))
        }
    }

    @Test func issueDetailCountsTagsHashesAndRelatedIssuesAgree() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let (sqlite, postgres) = (stores.sqlite.issues, stores.postgres.issues)
            for id in fixture.issueIDs + [999] {
                let issue = try await sqlite.issue(id: id)
                #expect(issue == (try await postgres.issue(id: id)), "issue \(id)")
                #expect(
                    try await sqlite.tags(issueID: id, top: 2) == (try await postgres.tags(issueID: id, top: 2)),
                    "tags of \(id)")
                #expect(
                    try await sqlite.hashes(issueID: id) == (try await postgres.hashes(issueID: id)), "hashes of \(id)")
                #expect(
                    try await sqlite.activities(issueID: id).map { ActivityDigest($0) }
                        == (try await postgres.activities(issueID: id).map { ActivityDigest($0) }),
                    "activities of \(id)")
                if let issue {
                    #expect(
                        try await sqlite.similarIssueIDs(of: issue, limit: 5)
                            == (try await postgres.similarIssueIDs(of: issue, limit: 5)))
                }
            }
            let since = IssueFixture.now.addingTimeInterval(-72 * 3600)
            let hourly = try await postgres.hourlyCounts(issueIDs: fixture.issueIDs, since: since)
            #expect(try await sqlite.hourlyCounts(issueIDs: fixture.issueIDs, since: since) == hourly)
            #expect(hourly[fixture.typeError]?.values.reduce(0, +) == 3)
            #expect(try await postgres.hourlyCounts(issueIDs: [], since: since).isEmpty)
            // Time ranges: events per bucket from the events, users last seen in the range.
            let buckets = try await postgres.eventCounts(
                issueIDs: fixture.issueIDs, from: since, to: IssueFixture.now, bucketSeconds: 3600)
            #expect(
                try await sqlite.eventCounts(issueIDs: fixture.issueIDs, from: since, to: IssueFixture.now, bucketSeconds: 3600)
                    == buckets)
            #expect(buckets[fixture.typeError] == [24: 1, 42: 1, 67: 1], "48, 30 and 5 hours ago")
            let recent = IssueFixture.now.addingTimeInterval(-10 * 3600)
            let recentUsers = try await postgres.userCounts(issueIDs: fixture.issueIDs, from: recent, to: IssueFixture.now)
            #expect(try await sqlite.userCounts(issueIDs: fixture.issueIDs, from: recent, to: IssueFixture.now) == recentUsers)
            #expect(recentUsers[fixture.typeError] == 1, "u1 was seen 5 hours ago, u2 30 hours ago")

            let typeError = try #require(try await postgres.issue(id: fixture.typeError))
            #expect(
                typeError.timesSeen == 3 && typeError.userCount == 2 && typeError.assignee?.email == "dev@example.com")
            // Affected users, most recently seen first, with their events.
            let users = try await postgres.affectedUsers(issueID: fixture.typeError, limit: 10)
            #expect(try await sqlite.affectedUsers(issueID: fixture.typeError, limit: 10) == users)
            #expect(users.map(\.key) == ["id:u1", "id:u2"] && users.map(\.timesSeen) == [2, 1])
            #expect(users.first?.email == "u1@example.com" && users.first?.id == "u1")
            #expect(
                abs((users.first?.lastSeen ?? .distantPast).timeIntervalSince(IssueFixture.now.addingTimeInterval(-5 * 3600))) < 0.01)
            #expect(try await postgres.affectedUsers(issueID: fixture.typeError, limit: 1).count == 1)
            #expect(typeError.title.contains("TypeError") && typeError.project.slug == "default")
            #expect(typeError.firstRelease == "1.0.0" && typeError.lastRelease == "1.1.0")
            let ignored = try #require(try await postgres.issue(id: fixture.ignored))
            #expect(
                ignored.status == .ignored && ignored.ignore?.condition == .untilCount(5)
                    && ignored.substatus == .archivedUntilConditionMet)
            let regressed = try #require(try await postgres.issue(id: fixture.regressed))
            #expect(regressed.status == .unresolved && regressed.substatus == .regressed)

            let tags = try await postgres.tags(issueID: fixture.typeError, top: 1)
            #expect(
                tags.first { $0.key == "tenant" }.map { [$0.totalValues, $0.uniqueValues, $0.topValues.count] } == [
                    3, 2, 1,
                ])
            #expect(tags.first { $0.key == "tenant" }?.topValues.first?.value == "acme")
            #expect(tags.map(\.key) == tags.map(\.key).sorted())

            for version in ["1.1.0", "1.0.0", "2.0.0"] {
                #expect(
                    try await sqlite.regressedIssueIDs(projectID: 1, version: version, limit: 10)
                        == (try await postgres.regressedIssueIDs(projectID: 1, version: version, limit: 10)))
            }
            #expect(
                try await postgres.regressedIssueIDs(projectID: 1, version: "1.1.0", limit: 10) == [fixture.regressed])
            #expect(
                try await postgres.activities(issueID: fixture.regressed).map(\.kind) == [
                    .firstSeen, .setResolved, .setRegression,
                ])
        }
    }

    @Test func eventsOfAnIssueWithDecodedPayloadsNeighboursAndLookupsAgree() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let (sqlite, postgres) = (stores.sqlite.events, stores.postgres.events)
            for id in fixture.issueIDs {
                for offset in 0..<4 {
                    let page = try await postgres.events(issueID: id, limit: 1, offset: offset).map(EventDigest.init)
                    #expect(
                        try await sqlite.events(issueID: id, limit: 1, offset: offset).map(EventDigest.init) == page)
                }
                let all = try await postgres.events(issueID: id, limit: 100, offset: 0)
                #expect(
                    try await sqlite.events(issueID: id, limit: 100, offset: 0).map(EventDigest.init)
                        == all.map(EventDigest.init))
                #expect(
                    try await sqlite.latestEvent(issueID: id).map(EventDigest.init)
                        == (try await postgres.latestEvent(issueID: id).map(EventDigest.init)))
                for event in all {
                    let (previous, next) = try await postgres.neighbours(of: event)
                    let expected = try await sqlite.neighbours(of: event)
                    #expect(previous == expected.previous && next == expected.next, "neighbours of \(event.eventID)")
                }
            }
            let typeError = try await postgres.events(issueID: fixture.typeError, limit: 10, offset: 0)
            #expect(typeError.map(\.eventID) == [3, 2, 1].map(IssueFixture.eventID))
            #expect(
                typeError.allSatisfy {
                    $0.payload["exception"] != nil && $0.payload["event_id"]?.stringValue == $0.eventID
                })
            #expect(typeError.first?.payload["release"]?.stringValue == "1.1.0")
            #expect(
                try await postgres.neighbours(of: typeError[1]) == (IssueFixture.eventID(1), IssueFixture.eventID(3)))

            for eventID in fixture.eventIDs {
                for project in [fixture.defaultProject, fixture.backendProject] {
                    #expect(
                        try await sqlite.event(projectID: project, eventID: eventID).map(EventDigest.init)
                            == (try await postgres.event(projectID: project, eventID: eventID).map(EventDigest.init)))
                }
            }
            let asked = [
                IssueFixture.eventID(11), String(repeating: "f", count: 32), IssueFixture.eventID(1),
                IssueFixture.eventID(11),
            ]
            let byIDs = try await postgres.events(ids: asked).map(EventDigest.init)
            #expect(try await sqlite.events(ids: asked).map(EventDigest.init) == byIDs)
            #expect(byIDs.map(\.eventID) == [11, 1, 11].map(IssueFixture.eventID))

            let mark = try await postgres.eventMark()
            #expect(try await sqlite.eventMark() == mark)
            #expect(
                try await postgres.eventsStored(after: mark - 3, projectIDs: [1])
                    == (try await sqlite.eventsStored(after: mark - 3, projectIDs: [1])))
            #expect(try await postgres.eventsStored(after: 0, projectIDs: [1, 2]) == 11)
            #expect(try await postgres.eventsStored(after: 0, projectIDs: []) == 0)
        }
    }

    @Test func attachmentsAgreeWithTheirBytesAndOnlyForTheirEvent() async throws {
        try await withCopiedStores { stores in
            let fixture = stores.fixture
            let (sqlite, postgres) = (stores.sqlite.events, stores.postgres.events)
            let listed = try await postgres.attachments(projectID: 1, eventID: fixture.attachmentEvent)
            #expect(
                try await sqlite.attachments(projectID: 1, eventID: fixture.attachmentEvent).map(AttachmentDigest.init)
                    == listed.map(AttachmentDigest.init))
            #expect(listed.map(\.filename) == ["log.txt", "dump.bin"] && listed.map(\.size) == [14, 5])
            for attachment in listed {
                let stored = try #require(
                    try await postgres.attachment(id: attachment.id, projectID: 1, eventID: fixture.attachmentEvent))
                let expected = try #require(
                    try await sqlite.attachment(id: attachment.id, projectID: 1, eventID: fixture.attachmentEvent))
                #expect(AttachmentDigest(stored.0) == AttachmentDigest(expected.0) && stored.1 == expected.1)
                #expect(
                    try await postgres.attachment(id: attachment.id, projectID: 1, eventID: IssueFixture.eventID(1))
                        == nil)
                #expect(
                    try await postgres.attachment(id: attachment.id, projectID: 2, eventID: fixture.attachmentEvent)
                        == nil)
            }
            #expect(
                try await postgres.attachment(id: listed[1].id, projectID: 1, eventID: fixture.attachmentEvent)?.1 == [
                    0, 1, 2, 255, 254,
                ])
            #expect(try await postgres.attachments(projectID: 2, eventID: fixture.attachmentEvent).isEmpty)
        }
    }
}
