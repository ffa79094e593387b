import Foundation
import SpyglassCore
import Testing

@Suite struct IssueQueryTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    @Test func parsesEveryKey() throws {
        let query = try IssueQuery.parse(
            #"is:unresolved is:ignored level:error release:"pkg@1.2 beta" environment:prod assigned:me firstSeen:-24h lastSeen:+7d timeout "db down""#,
            now: now)
        #expect(query.statuses == ["unresolved", "ignored"])
        #expect(query.levels == ["error"])
        #expect(query.releases == ["pkg@1.2 beta"])
        #expect(query.environments == ["prod"])
        #expect(query.assigned == .me)
        #expect(query.firstSeenAfter == now.addingTimeInterval(-86400))
        #expect(query.lastSeenBefore == now.addingTimeInterval(-7 * 86400))
        #expect(query.text == ["timeout", "db down"])
        #expect(try IssueQuery.parse("assigned:none", now: now).assigned == .nobody)
        #expect(try IssueQuery.parse("assigned:Bob@Example.com", now: now).assigned == .email("bob@example.com"))
        #expect(try IssueQuery.parse("", now: now) == IssueQuery())
        #expect(try IssueQuery.parse("tenant:acme server_name:web-1", now: now).tags == [.init(key: "tenant", value: "acme"), .init(key: "server_name", value: "web-1")])
    }

    @Test(arguments: [
        ("is:sleeping", "is:sleeping"), ("level:loud", "level:loud"), ("col/our:red", "is not a tag name"),
        ("firstSeen:yesterday", "firstSeen:yesterday"), ("assigned:bob", "assigned:bob"), ("release:", "release:"),
        ("\"open quote", "unterminated quote"), ("firstSeen:-3y", "firstSeen:-3y"),
    ])
    func badTokensAreNamed(_ text: String, _ fragment: String) {
        let error = #expect(throws: DomainError.self) { try IssueQuery.parse(text, now: now) }
        #expect(error?.kind == .invalidInput)
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
    }
}
