import Foundation
import SpyglassCore
import SpyglassProtocol
import Testing

@Suite struct AlertRuleTests {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    func rule(_ json: String) throws -> AlertRule {
        try AlertRule(json: JSONParser.parse(json), secret: { "generated-secret" })
    }

    func failure(_ json: String) -> String? {
        do {
            _ = try rule(json)
            return nil
        } catch let error as DomainError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    func context(_ transitions: Set<AlertTrigger> = [], level: String = "error", environment: String? = "production",
                 tags: [EventTag] = [], age: TimeInterval = 0) -> AlertContext {
        AlertContext(transitions: transitions, level: level, environment: environment, tags: tags,
                     issueFirstSeen: now.addingTimeInterval(-age), now: now)
    }

    @Test func sentryShapedRulesRoundTrip() throws {
        let parsed = try rule(#"""
            {"name": "Ops", "actionMatch": "all", "filterMatch": "any", "frequency": "60", "environment": "prod",
             "conditions": [{"id": "sentry.rules.conditions.event_frequency.EventFrequencyCondition", "value": 100, "interval": "1h"},
                            {"id": "event_unique_user_frequency", "value": "5", "interval": "1d"}],
             "filters": [{"id": "sentry.rules.filters.level.LevelFilter", "match": "gte", "level": "40"},
                         {"id": "tagged_event", "key": "team", "match": "eq", "value": "ops"},
                         {"id": "age_comparison", "comparison_type": "newer", "value": 2, "time": "day"}],
             "actions": [{"id": "email", "targetType": "Addresses", "addresses": ["Ops@Example.com"]},
                         {"id": "webhook", "url": "https://hooks.example.com/x"},
                         {"id": "spyglass.actions.Slack", "url": "https://hooks.slack.com/services/T/B/X"}]}
            """#)
        #expect(parsed.actionMatch == .all && parsed.filterMatch == .any && parsed.frequencyMinutes == 60 && parsed.environment == "prod")
        #expect(parsed.conditions == [.eventFrequency(count: 100, interval: .oneHour), .uniqueUserFrequency(count: 5, interval: .oneDay)])
        #expect(parsed.filters == [.level(.gte, "error"), .tag(key: "team", value: "ops"), .age(.newer, seconds: 2 * 86400)])
        #expect(parsed.actions == [
            .email(.addresses(["ops@example.com"])), .webhook(url: "https://hooks.example.com/x", secret: "generated-secret"),
            .slack(url: "https://hooks.slack.com/services/T/B/X"),
        ])
        // What the API answers (long ids) reads back as the same rule.
        let again = try AlertRule(json: .object(parsed.json), secret: { "other" })
        #expect(again == parsed)
        #expect(parsed.json["conditions"]?.arrayValue?.first?["id"]?.stringValue == "sentry.rules.conditions.event_frequency.EventFrequencyCondition")
    }

    @Test func badRulesNameTheField() {
        let valid = #""name": "x", "conditions": [{"id": "first_seen"}], "actions": [{"id": "email"}]"#
        #expect(failure("{\(valid)}") == nil)
        #expect(failure(#"{"conditions": [{"id": "first_seen"}], "actions": [{"id": "email"}]}"#)?.hasPrefix("name:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "nope"}], "actions": [{"id": "email"}]}"#)?.hasPrefix("conditions[0].id:") == true)
        #expect(failure(#"{"name": "x", "conditions": [], "actions": [{"id": "email"}]}"#)?.hasPrefix("conditions:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "first_seen"}], "actions": []}"#)?.hasPrefix("actions:") == true)
        #expect(failure("{\(valid), \"frequency\": 0}")?.hasPrefix("frequency:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "event_frequency", "value": 3, "interval": "2h"}], "actions": [{"id": "email"}]}"#)?
            .hasPrefix("conditions[0].interval:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "first_seen"}], "actions": [{"id": "webhook", "url": "file:///etc/passwd"}]}"#)?
            .hasPrefix("actions[0].url:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "first_seen"}], "actions": [{"id": "email", "targetType": "Addresses", "addresses": ["a@b", "nope"]}]}"#)?
            .hasPrefix("actions[0].addresses[1]:") == true)
        #expect(failure(#"{"name": "x", "conditions": [{"id": "first_seen"}], "filters": [{"id": "level", "level": "loud"}], "actions": [{"id": "email"}]}"#)?
            .hasPrefix("filters[0].level:") == true)
    }

    @Test func conditionsFireForTheirTransitionAndFiltersNarrow() throws {
        let rule = AlertRule.projectDefault
        #expect(rule.evaluate(context([.newIssue]), count: { _ in 0 }) == .newIssue)
        #expect(rule.evaluate(context([.regression]), count: { _ in 0 }) == .regression)
        #expect(rule.evaluate(context([.escalating]), count: { _ in 0 }) == nil)
        #expect(rule.evaluate(context(), count: { _ in 0 }) == nil)

        var filtered = rule
        filtered.filters = [.level(.gte, "error"), .tag(key: "team", value: "ops")]
        #expect(filtered.evaluate(context([.newIssue], tags: [EventTag(key: "team", value: "ops")]), count: { _ in 0 }) == .newIssue)
        #expect(filtered.evaluate(context([.newIssue], level: "warning", tags: [EventTag(key: "team", value: "ops")]), count: { _ in 0 }) == nil)
        #expect(filtered.evaluate(context([.newIssue]), count: { _ in 0 }) == nil)
        filtered.filterMatch = .any
        #expect(filtered.evaluate(context([.newIssue]), count: { _ in 0 }) == .newIssue)
        filtered.filterMatch = .none
        #expect(filtered.evaluate(context([.newIssue]), count: { _ in 0 }) == nil)

        var aged = rule
        aged.filters = [.age(.older, seconds: 3600)]
        #expect(aged.evaluate(context([.regression], age: 7200), count: { _ in 0 }) == .regression)
        #expect(aged.evaluate(context([.regression], age: 60), count: { _ in 0 }) == nil)

        var production = rule
        production.environment = "production"
        #expect(production.evaluate(context([.newIssue], environment: "staging"), count: { _ in 0 }) == nil)
        production.enabled = false
        #expect(production.evaluate(context([.newIssue]), count: { _ in 0 }) == nil)
    }

    @Test func frequencyNeedsMoreThanTheThresholdAndIsOnlyCountedWhenNeeded() throws {
        let rule = AlertRule(name: "busy", conditions: [.eventFrequency(count: 3, interval: .oneHour)], actions: [.email(.members)])
        #expect(rule.evaluate(context(), count: { _ in 3 }) == nil)
        #expect(rule.evaluate(context(), count: { _ in 4 }) == .frequency)

        var both = rule
        both.conditions = [.firstSeen, .eventFrequency(count: 3, interval: .oneHour)]
        both.actionMatch = .all
        var asked = 0
        #expect(both.evaluate(context(), count: { _ in asked += 1; return 10 }) == nil)
        #expect(asked == 0)  // "all" failed on the first condition: no counting
        #expect(both.evaluate(context([.newIssue]), count: { _ in 10 }) == .newIssue)
    }

    @Test func retriesBackOffExponentiallyAndStop() {
        let policy = RetryPolicy()
        var total = 0.0
        var attempts = 1
        while let next = policy.retryDate(afterAttempts: attempts, now: now) {
            total += next.timeIntervalSince(now)
            attempts += 1
        }
        #expect(attempts == 8)
        #expect(total > 3000 && total < 4500)  // about an hour from the first attempt to the last
        #expect(policy.retryDate(afterAttempts: 1, now: now) == now.addingTimeInterval(30))
        #expect(policy.retryDate(afterAttempts: 2, now: now) == now.addingTimeInterval(60))
    }

    @Test func webhookSecretsAreWriteOnlyInThePublicJSONAndAnEmptyOneCountsAsNone() throws {
        let given = try rule(#"{"name":"h","conditions":[{"id":"first_seen"}],"actions":[{"id":"webhook","url":"https://x.example/h","secret":"s3cret-s3cret"}]}"#)
        #expect(given.actions == [.webhook(url: "https://x.example/h", secret: "s3cret-s3cret")])
        let shown = JSONWriter.string(.object(given.publicJSON))
        #expect(!shown.contains("s3cret") && shown.contains(#""secretSet":true"#))
        #expect(JSONWriter.string(.object(given.json)).contains("s3cret-s3cret"))  // what the database stores
        let empty = try AlertRule(
            json: JSONParser.parse(#"{"name":"h","conditions":[{"id":"first_seen"}],"actions":[{"id":"webhook","url":"https://x.example/h","secret":""}]}"#),
            secret: { "" })
        #expect(empty.actions == [.webhook(url: "https://x.example/h", secret: "")])
        #expect(JSONWriter.string(.object(empty.publicJSON)).contains(#""secretSet":false"#))
    }
}
