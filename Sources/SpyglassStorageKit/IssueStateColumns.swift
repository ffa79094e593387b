import Foundation
import SpyglassCore
import SpyglassProtocol

/// How an issue's resolution and ignore state are stored, the same in every backend: `resolution` and
/// `resolution_release` columns, and `ignore_state` as JSON text.
extension Resolution {
    /// The resolution of a resolved issue from its `resolution` and `resolution_release` columns (`.now` when
    /// they say nothing usable).
    package init(stored type: String?, release: String?) {
        switch type {
        case "in_next_release": self = .inNextRelease(current: release)
        case "in_release": self = release.map(Resolution.inRelease) ?? .now
        default: self = .now
        }
    }
}

extension IgnoreState {
    /// The `ignore_state` column's JSON.
    package var storedJSON: String {
        var object: JSONObject = [
            "timesSeen": .number(JSONNumber(Int64(timesSeenAtIgnore))), "users": .number(JSONNumber(Int64(usersAtIgnore))),
            "baseline": .number(JSONNumber(hourlyBaseline)),
        ]
        switch condition {
        case .forever: object["condition"] = "forever"
        case .untilCount(let count): object["condition"] = "count"; object["value"] = .number(JSONNumber(Int64(count)))
        case .untilUserCount(let count): object["condition"] = "users"; object["value"] = .number(JSONNumber(Int64(count)))
        case .untilDate(let date): object["condition"] = "until"; object["value"] = .number(JSONNumber(date.timeIntervalSince1970))
        case .untilEscalating: object["condition"] = "escalating"
        }
        return JSONWriter.string(.object(object))
    }

    /// The state an `ignore_state` column holds; nil when it is not JSON of a known condition.
    package init?(stored text: String) {
        guard let json = try? JSONParser.parse(text) else { return nil }
        let value = json["value"]
        let condition: IgnoreCondition
        switch json["condition"]?.stringValue {
        case "forever": condition = .forever
        case "count": condition = .untilCount(Int(value?.int64Value ?? 0))
        case "users": condition = .untilUserCount(Int(value?.int64Value ?? 0))
        case "until": condition = .untilDate(Date(timeIntervalSince1970: value?.doubleValue ?? 0))
        case "escalating": condition = .untilEscalating
        default: return nil
        }
        self.init(
            condition: condition, timesSeenAtIgnore: Int(json["timesSeen"]?.int64Value ?? 0),
            usersAtIgnore: Int(json["users"]?.int64Value ?? 0), hourlyBaseline: json["baseline"]?.doubleValue ?? 0)
    }
}
