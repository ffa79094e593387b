import Foundation
import SpyglassProtocol

/// Rules as JSON, in Sentry's shape: `conditions`/`filters`/`actions` are objects with an `id` naming the
/// class (`sentry.rules.conditions.first_seen_event.FirstSeenEventCondition`) and its fields. Short ids
/// (`first_seen`, `webhook`, …) are accepted on input; output always uses the long ones. The same JSON is
/// what the database stores.
extension AlertRule {
    static let conditionIDs: [(long: String, short: String)] = [
        ("sentry.rules.conditions.first_seen_event.FirstSeenEventCondition", "first_seen"),
        ("sentry.rules.conditions.regression_event.RegressionEventCondition", "regression"),
        ("sentry.rules.conditions.reappeared_event.ReappearedEventCondition", "reappeared"),
        ("sentry.rules.conditions.event_frequency.EventFrequencyCondition", "event_frequency"),
        ("sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition", "event_unique_user_frequency"),
    ]
    static let filterIDs: [(long: String, short: String)] = [
        ("sentry.rules.filters.level.LevelFilter", "level"),
        ("sentry.rules.filters.tagged_event.TaggedEventFilter", "tagged_event"),
        ("sentry.rules.filters.age_comparison.AgeComparisonFilter", "age_comparison"),
    ]
    static let actionIDs: [(long: String, short: String)] = [
        ("sentry.mail.actions.NotifyEmailAction", "email"),
        ("spyglass.actions.Webhook", "webhook"),
        ("spyglass.actions.Slack", "slack"),
        ("spyglass.actions.Discord", "discord"),
    ]

    /// Reads a rule from API or stored JSON. Errors name the field (`conditions[1].interval: …`).
    ///
    /// - Parameter secret: the webhook secret when an action gives none (or an empty one); `""` sends unsigned.
    public init(json: JSONValue, id: Int64? = nil, secret: () -> String) throws(DomainError) {
        guard let object = json.objectValue else { throw Self.invalid("body", "expected a JSON object") }
        guard let name = object["name"]?.stringValue?.trimmingWhitespace, !name.isEmpty else {
            throw Self.invalid("name", "a rule needs a non-empty \"name\"")
        }
        guard name.fits(256) else { throw Self.invalid("name", "at most 256 characters") }
        self.init(id: id, name: name, conditions: [], actions: [])
        actionMatch = try Self.match(object["actionMatch"], field: "actionMatch", allowed: [.any, .all]) ?? .any
        filterMatch = try Self.match(object["filterMatch"], field: "filterMatch", allowed: [.all, .any, .none]) ?? .all
        if let value = object["frequency"], !value.isNull {
            guard let minutes = Self.integer(value), (1...43_200).contains(minutes) else {
                throw Self.invalid("frequency", "minutes between 1 and 43200 (30 days)")
            }
            frequencyMinutes = minutes
        }
        switch object["environment"] {
        case nil, .null?: environment = nil
        case .string(let text)? where !text.isEmpty && text.fits(64): environment = text
        default: throw Self.invalid("environment", "an environment name (up to 64 characters) or null")
        }
        switch object["status"]?.stringValue {
        case nil, "active": enabled = true
        case "disabled": enabled = false
        default: throw Self.invalid("status", "\"active\" or \"disabled\"")
        }
        conditions = try Self.list(object["conditions"], "conditions", allowEmpty: false) { item, field throws(DomainError) in
            try Self.condition(item, field: field)
        }
        filters = try Self.list(object["filters"], "filters", allowEmpty: true) { item, field throws(DomainError) in
            try Self.filter(item, field: field)
        }
        actions = try Self.list(object["actions"], "actions", allowEmpty: false) { item, field throws(DomainError) in
            try Self.action(item, field: field, secret: secret)
        }
    }

    /// The rule's JSON (as the API answers and the database stores), without id and dates.
    public var json: JSONObject {
        var object: JSONObject = [
            "name": .string(name), "actionMatch": .string(actionMatch.rawValue), "filterMatch": .string(filterMatch.rawValue),
            "frequency": .number(JSONNumber(Int64(frequencyMinutes))), "environment": environment.map(JSONValue.string) ?? .null,
            "status": enabled ? "active" : "disabled",
        ]
        object["conditions"] = .array(conditions.map { .object($0.json) })
        object["filters"] = .array(filters.map { .object($0.json) })
        object["actions"] = .array(actions.map { .object($0.json) })
        return object
    }

    /// The rule's JSON as the API answers: like ``json``, but webhook secrets are write-only and show only as
    /// `"secretSet": true/false`.
    public var publicJSON: JSONObject {
        var object = json
        object["actions"] = .array(actions.map { .object($0.publicJSON) })
        return object
    }

    // MARK: - Parts

    static func condition(_ item: JSONObject, field: String) throws(DomainError) -> AlertCondition {
        switch try kind(item, field: field, known: conditionIDs) {
        case "first_seen": return .firstSeen
        case "regression": return .regression
        case "reappeared": return .reappeared
        default:
            guard let count = item["value"].flatMap(integer), (0...AlertCondition.maxCount).contains(count) else {
                throw invalid("\(field).value", "a whole number of events or users from 0 to \(AlertCondition.maxCount)")
            }
            let intervals = AlertInterval.allCases.map(\.rawValue).joined(separator: ", ")
            guard let text = item["interval"]?.stringValue, let interval = AlertInterval(rawValue: text) else {
                throw invalid("\(field).interval", "one of \(intervals)")
            }
            return try kind(item, field: field, known: conditionIDs) == "event_frequency"
                ? .eventFrequency(count: count, interval: interval) : .uniqueUserFrequency(count: count, interval: interval)
        }
    }

    static func filter(_ item: JSONObject, field: String) throws(DomainError) -> AlertFilter {
        switch try kind(item, field: field, known: filterIDs) {
        case "level":
            guard let comparison = AlertFilter.Comparison(rawValue: item["match"]?.stringValue ?? "eq") else {
                throw invalid("\(field).match", "one of eq, gte, lte")
            }
            // Sentry stores levels as their numbers ("40" = error).
            let numbers = ["10": "debug", "20": "info", "30": "warning", "40": "error", "50": "fatal"]
            let raw = item["level"]?.stringValue ?? item["level"].map { $0.int64Value.map(String.init) ?? "" } ?? ""
            guard let level = numbers[raw] ?? (AlertFilter.levelRank[raw] != nil ? raw : nil) else {
                throw invalid("\(field).level", "one of debug, info, warning, error, fatal")
            }
            return .level(comparison, level)
        case "tagged_event":
            guard let key = item["key"]?.stringValue, !key.isEmpty else { throw invalid("\(field).key", "a tag key") }
            guard (item["match"]?.stringValue ?? "eq") == "eq" else { throw invalid("\(field).match", "only \"eq\" is supported") }
            guard let value = item["value"]?.stringValue else { throw invalid("\(field).value", "a tag value") }
            return .tag(key: key, value: value)
        default:
            guard let age = AlertFilter.Age(rawValue: item["comparison_type"]?.stringValue ?? "") else {
                throw invalid("\(field).comparison_type", "\"older\" or \"newer\"")
            }
            let units: [String: Int] = ["minute": 60, "hour": 3600, "day": 86400, "week": 604_800]
            guard let unitName = item["time"]?.stringValue, let unit = units[unitName] else {
                throw invalid("\(field).time", "one of minute, hour, day, week")
            }
            let most = AlertFilter.maxAgeSeconds / unit
            guard let value = item["value"].flatMap(integer), (0...most).contains(value) else {
                throw invalid("\(field).value", "a whole number of \(unitName)s from 0 to \(most) (ten years)")
            }
            return .age(age, seconds: Double(value * unit))
        }
    }

    package static func action(_ item: JSONObject, field: String, secret: () -> String) throws(DomainError) -> AlertAction {
        let kind = try kind(item, field: field, known: actionIDs)
        if kind == "email" {
            switch item["targetType"]?.stringValue ?? "Members" {
            case "Members", "IssueOwners", "Team", "Member": return .email(.members)
            case "Addresses":
                guard let list = item["addresses"]?.arrayValue, !list.isEmpty, list.count <= 50 else {
                    throw invalid("\(field).addresses", "1 to 50 e-mail addresses")
                }
                var addresses: [String] = []
                for (index, entry) in list.enumerated() {
                    do { addresses.append(try EmailAddress.normalize(entry.stringValue ?? "")) } catch {
                        throw invalid("\(field).addresses[\(index)]", error.message)
                    }
                }
                return .email(.addresses(addresses))
            default: throw invalid("\(field).targetType", "\"Members\" or \"Addresses\"")
            }
        }
        guard let url = item["url"]?.stringValue, let parsed = URL(string: url),
            let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https", parsed.host() != nil, url.fits(2048)
        else {
            throw invalid("\(field).url", "an http(s) URL")
        }
        if let port = parsed.port, !(1...65535).contains(port) {
            throw invalid("\(field).url", "a port from 1 to 65535, not \(port)")
        }
        switch kind {
        case "webhook":
            var key = secret()
            if let given = item["secret"], !given.isNull, given.stringValue != "" {
                guard let text = given.stringValue, (8...256).contains(text.utf8.count) else {
                    throw invalid("\(field).secret", "8 to 256 characters (or omit it: deliveries are then unsigned)")
                }
                key = text
            }
            return .webhook(url: url, secret: key)
        case "slack": return .slack(url: url)
        default: return .discord(url: url)
        }
    }

    // MARK: - Helpers

    static func invalid(_ field: String, _ message: String) -> DomainError {
        DomainError(.invalidInput, "\(field): \(message)")
    }

    static func integer(_ value: JSONValue) -> Int? {
        if let number = value.int64Value { return Int(exactly: number) }
        if let text = value.stringValue { return Int(text) }  // Sentry's UI sends numbers as strings
        return nil
    }

    static func match(_ value: JSONValue?, field: String, allowed: [Match]) throws(DomainError) -> Match? {
        guard let value, !value.isNull else { return nil }
        guard let match = value.stringValue.flatMap(Match.init(rawValue:)), allowed.contains(match) else {
            throw invalid(field, "one of \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
        return match
    }

    /// The short id of an item's `id`, long or short.
    static func kind(_ item: JSONObject, field: String, known: [(long: String, short: String)]) throws(DomainError) -> String {
        let id = item["id"]?.stringValue ?? ""
        guard let entry = known.first(where: { $0.long == id || $0.short == id }) else {
            throw invalid("\(field).id", "\"\(id.limited(to: 100))\" is not one of \(known.map(\.short).joined(separator: ", ")) (or their sentry.* ids)")
        }
        return entry.short
    }

    static func list<T>(
        _ value: JSONValue?, _ field: String, allowEmpty: Bool, _ parse: (JSONObject, String) throws(DomainError) -> T
    ) throws(DomainError) -> [T] {
        guard let value, !value.isNull else {
            if allowEmpty { return [] }
            throw invalid(field, "at least one is needed")
        }
        guard let items = value.arrayValue else { throw invalid(field, "expected an array") }
        guard allowEmpty || !items.isEmpty else { throw invalid(field, "at least one is needed") }
        guard items.count <= 20 else { throw invalid(field, "at most 20") }
        var parsed: [T] = []
        for (index, item) in items.enumerated() {
            guard let object = item.objectValue else { throw invalid("\(field)[\(index)]", "expected an object with an \"id\"") }
            parsed.append(try parse(object, "\(field)[\(index)]"))
        }
        return parsed
    }

    static func longID(_ short: String, in known: [(long: String, short: String)]) -> JSONValue {
        .string(known.first { $0.short == short }?.long ?? short)
    }
}

extension AlertCondition {
    public var json: JSONObject {
        let ids = AlertRule.conditionIDs
        switch self {
        case .firstSeen: return ["id": AlertRule.longID("first_seen", in: ids), "name": "A new issue is created"]
        case .regression:
            return ["id": AlertRule.longID("regression", in: ids), "name": "The issue changes state from resolved to unresolved"]
        case .reappeared:
            return ["id": AlertRule.longID("reappeared", in: ids), "name": "The issue changes state from ignored to unresolved"]
        case .eventFrequency(let count, let interval):
            return [
                "id": AlertRule.longID("event_frequency", in: ids), "value": .number(JSONNumber(Int64(count))),
                "interval": .string(interval.rawValue), "name": .string("The issue is seen more than \(count) times in \(interval.rawValue)"),
            ]
        case .uniqueUserFrequency(let count, let interval):
            return [
                "id": AlertRule.longID("event_unique_user_frequency", in: ids), "value": .number(JSONNumber(Int64(count))),
                "interval": .string(interval.rawValue),
                "name": .string("The issue is seen by more than \(count) users in \(interval.rawValue)"),
            ]
        }
    }
}

extension AlertFilter {
    public var json: JSONObject {
        let ids = AlertRule.filterIDs
        switch self {
        case .level(let comparison, let level):
            return ["id": AlertRule.longID("level", in: ids), "match": .string(comparison.rawValue), "level": .string(level)]
        case .tag(let key, let value):
            return ["id": AlertRule.longID("tagged_event", in: ids), "key": .string(key), "match": "eq", "value": .string(value)]
        case .age(let age, let seconds):
            let (value, unit): (Double, String) =
                seconds.truncatingRemainder(dividingBy: 604_800) == 0 && seconds > 0 ? (seconds / 604_800, "week")
                : seconds.truncatingRemainder(dividingBy: 86400) == 0 && seconds > 0 ? (seconds / 86400, "day")
                : seconds.truncatingRemainder(dividingBy: 3600) == 0 ? (seconds / 3600, "hour") : (seconds / 60, "minute")
            return [
                "id": AlertRule.longID("age_comparison", in: ids), "comparison_type": .string(age.rawValue),
                "value": .number(JSONNumber(Int64(saturating: value))), "time": .string(unit),
            ]
        }
    }
}

extension AlertAction {
    public var json: JSONObject {
        let ids = AlertRule.actionIDs
        switch self {
        case .email(.members): return ["id": AlertRule.longID("email", in: ids), "targetType": "Members"]
        case .email(.addresses(let list)):
            return ["id": AlertRule.longID("email", in: ids), "targetType": "Addresses", "addresses": .array(list.map(JSONValue.string))]
        case .webhook(let url, let secret): return ["id": AlertRule.longID("webhook", in: ids), "url": .string(url), "secret": .string(secret)]
        case .slack(let url): return ["id": AlertRule.longID("slack", in: ids), "url": .string(url)]
        case .discord(let url): return ["id": AlertRule.longID("discord", in: ids), "url": .string(url)]
        }
    }

    /// As ``json``, with a webhook's secret replaced by whether it has one.
    public var publicJSON: JSONObject {
        guard case .webhook(let url, let secret) = self else { return json }
        return ["id": AlertRule.longID("webhook", in: AlertRule.actionIDs), "url": .string(url), "secretSet": .bool(!secret.isEmpty)]
    }
}
