import Foundation
import SpyglassCore
import Testing

@Suite struct IssueQueryTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    typealias Filter = IssueQuery.Filter

    func parse(_ text: String) throws -> Filter? { try IssueQuery.parse(text, now: now).filter }

    @Test func termsSideBySideAllHold() throws {
        let filter = try parse(
            #"is:unresolved level:error release:"pkg@1.2 beta" environment:prod assigned:me firstSeen:-24h lastSeen:+7d timeout "db down""#)
        #expect(
            filter
                == .all([
                    .term(.status("unresolved")), .term(.level("error")), .term(.release(.exact("pkg@1.2 beta"))),
                    .term(.environment(.exact("prod"))), .term(.assigned(.me)),
                    .term(.firstSeen(.init(date: now.addingTimeInterval(-86400), newer: true))),
                    .term(.lastSeen(.init(date: now.addingTimeInterval(-7 * 86400), newer: false))), .term(.text("timeout")),
                    .term(.text("db down")),
                ]))
        #expect(try parse("") == nil && IssueQuery.parse("", now: now) == IssueQuery())
        #expect(try parse("assigned:none") == .term(.assigned(.nobody)) && parse("is:unassigned") == .term(.assigned(.nobody)))
        #expect(try parse("assigned:Bob@Example.com") == .term(.assigned(.email("bob@example.com"))))
        #expect(try parse("is:muted") == .term(.status("ignored")) && parse("is:assigned") == .term(.assigned(.anybody)))
        #expect(try parse("tenant:acme server_name:web-1") == .all([.term(.tag("tenant", .exact("acme"))), .term(.tag("server_name", .exact("web-1")))]))
    }

    @Test func orAndParenthesesAndNegation() throws {
        #expect(try parse("is:unresolved OR is:ignored") == .any([.term(.status("unresolved")), .term(.status("ignored"))]))
        // AND binds tighter than OR; parentheses group; `!key:value` negates.
        #expect(
            try parse("level:error AND release:1.0 OR level:fatal")
                == .any([.all([.term(.level("error")), .term(.release(.exact("1.0")))]), .term(.level("fatal"))]))
        #expect(
            try parse("(is:unresolved OR is:ignored) !region:eu")
                == .all([.any([.term(.status("unresolved")), .term(.status("ignored"))]), .not(.term(.tag("region", .exact("eu"))))]))
        #expect(try parse("!has:user") == .not(.term(.has("user"))) && parse("has:user") == .term(.has("user")))
        #expect(try parse("((level:error))") == .term(.level("error")))
        // Quoted, OR is a word to look for.
        #expect(try parse(#"timeout "OR" x"#) == .all([.term(.text("timeout")), .term(.text("OR")), .term(.text("x"))]))
    }

    @Test func wildcardsListsAndUsers() throws {
        #expect(try parse("release:1.2.*") == .term(.release(.wildcard("1.2.*"))))
        #expect(try parse(#"release:"1.2.*""#) == .term(.release(.exact("1.2.*"))))
        #expect(try parse("level:[error, fatal]") == .any([.term(.level("error")), .term(.level("fatal"))]))
        #expect(try parse("!environment:[staging,dev]") == .not(.any([.term(.environment(.exact("staging"))), .term(.environment(.exact("dev")))])))
        #expect(try parse("user.email:Bob@Example.com") == .term(.user(.email, .exact("bob@example.com"))))
        #expect(try parse("user.id:42 user.username:bob user.ip:10.0.0.*")
            == .all([.term(.user(.id, .exact("42"))), .term(.user(.username, .exact("bob"))), .term(.user(.ip, .wildcard("10.0.0.*")))]))
        #expect(try parse("has:user.email") == .term(.user(.email, .wildcard("*"))))
        #expect(try parse("timesSeen:>100") == .term(.timesSeen(.greater, 100)))
        #expect(IssueQuery.Match.wildcard(#"50%_off*\*"#).likePattern == #"50\%\_off%*"#)
        #expect(IssueQuery.Match.exact("a*b").likePattern == "a*b")
    }

    @Test func agesAndDates() throws {
        let day = Date(timeIntervalSince1970: 1_767_139_200)  // 2025-12-31T00:00:00Z
        #expect(try parse("age:-24h") == .term(.firstSeen(.init(date: now.addingTimeInterval(-86400), newer: true))))
        #expect(try parse("lastSeen:>2025-12-31") == .term(.lastSeen(.init(date: day.addingTimeInterval(86400), newer: true))))
        #expect(try parse("lastSeen:>=2025-12-31") == .term(.lastSeen(.init(date: day, newer: true))))
        #expect(try parse("firstSeen:<2025-12-31T10:00") == .term(.firstSeen(.init(date: day.addingTimeInterval(36000), newer: false))))
        #expect(
            try parse("firstSeen:2025-12-31")
                == .all([.term(.firstSeen(.init(date: day, newer: true))), .term(.firstSeen(.init(date: day.addingTimeInterval(86400), newer: false)))]))
        #expect(try parse("lastSeen:<2025-12-31T10:00:00+02:00") == .term(.lastSeen(.init(date: day.addingTimeInterval(28800), newer: false))))
    }

    @Test(arguments: [
        ("is:sleeping", "is:sleeping"), ("level:loud", "level:loud"), ("col/our:red", "is not a tag name"),
        ("firstSeen:yesterday", "firstSeen:yesterday"), ("assigned:bob", "assigned:bob"), ("release:", "release:"),
        ("\"open quote", "unterminated quote"), ("firstSeen:-3y", "firstSeen:-3y"), ("age:2025-02-30", "age:2025-02-30"),
        ("is:unresolved OR", "\"OR\" at the end"), ("OR is:resolved", "before \"OR\""), ("AND x", "\"AND\" with nothing to its left"),
        ("x AND", "\"AND\" with nothing to its right"), ("(is:resolved", "\"(\" is not closed"), ("is:resolved)", "\")\" closes"),
        ("()", "\"()\""), ("!timeout", "\"!\" needs a key:value"), ("level:[error,]", "between its commas"),
        ("user.phone:1", "user. takes"), ("age:[-1h, -2h]", "one value, not a list"), ("timesSeen:many", "timesSeen:many"), ("release:[a", "unclosed ["),
        (String(repeating: "(", count: 40) + "x" + String(repeating: ")", count: 40), "nested more than 32 deep"),
    ])
    func badTokensAreNamed(_ text: String, _ fragment: String) {
        let error = #expect(throws: DomainError.self) { try IssueQuery.parse(text, now: now) }
        #expect(error?.kind == .invalidInput)
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "")")
    }
}
