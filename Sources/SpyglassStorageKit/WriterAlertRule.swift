import SpyglassCore
import SpyglassProtocol
import Synchronization

/// A project's enabled alert rule as the ingest writer holds it for a batch: parsed once, with the flag columns
/// (`on_new`, `on_regression`, `on_reappeared`, `counts_events`, `counts_users`) that say which events it can
/// fire on.
package struct WriterAlertRule {
    package var id: Int64
    package var rule: AlertRule
    package var frequencyMinutes: Int64
    package var onNew: Bool
    package var onRegression: Bool
    package var onReappeared: Bool
    package var countsEvents: Bool
    package var countsUsers: Bool

    /// The rule of an `alert_rule` row; nil when its stored spec no longer parses (evaluation leaves it out).
    package init?(
        id: Int64, spec: String?, frequencyMinutes: Int64, onNew: Bool, onRegression: Bool, onReappeared: Bool,
        countsEvents: Bool, countsUsers: Bool
    ) {
        guard let spec, let rule = Self.parsed(id: id, spec: spec) else { return nil }
        self.id = id
        self.rule = rule
        self.frequencyMinutes = frequencyMinutes
        self.onNew = onNew
        self.onRegression = onRegression
        self.onReappeared = onReappeared
        self.countsEvents = countsEvents
        self.countsUsers = countsUsers
    }

    /// The rule a stored spec gives, from ``parsedRules`` when it was parsed before; nil when it does not parse.
    static func parsed(id: Int64, spec: String) -> AlertRule? {
        let key = ParsedKey(id: id, spec: spec)
        if let rule = parsedRules.withLock({ $0[key] }) { return rule }
        guard let rule = try? AlertRule(json: JSONParser.parse(spec), id: id, secret: { "" }) else { return nil }
        parsedRules.withLock { rules in
            if rules.count >= maxParsedRules { rules.removeAll() }
            rules[key] = rule
        }
        return rule
    }

    /// Whether an event with these transitions can fire the rule (``AlertRule/evaluate`` decides).
    package func applies(to transitions: Set<AlertTrigger>) -> Bool {
        countsEvents || countsUsers || (onNew && transitions.contains(.newIssue))
            || (onRegression && transitions.contains(.regression)) || (onReappeared && transitions.contains(.escalating))
    }
}

/// Rules parsed from their stored specs, by rule id and spec. The writers read a project's rules every batch (a rule
/// changed in another process takes effect with the next batch) and parsing their JSON each time cost ~2 µs an event
/// (docs/performance.md); a changed spec is a new key. Cleared when it holds ``maxParsedRules`` specs.
private let parsedRules = Mutex<[ParsedKey: AlertRule]>([:])
private let maxParsedRules = 1_024

private struct ParsedKey: Hashable {
    var id: Int64
    var spec: String
}
