import Foundation
import SpyglassCore
import SpyglassProtocol

// How both adapters store an issue's lifecycle state and read stored events back: the same text in the same
// columns (a copy between backends carries them as they are).

extension Resolution {
    /// A resolution from `issue.resolution` and `issue.resolution_release`; an unknown type reads as `now`.
    package init(storedType type: String?, release: String?) {
        switch type {
        case "in_next_release": self = .inNextRelease(current: release)
        case "in_release": self = release.map(Resolution.inRelease) ?? .now
        default: self = .now
        }
    }

    /// The values of `issue.resolution` and `issue.resolution_release`.
    package var stored: (type: String, release: String?) {
        switch self {
        case .now: ("now", nil)
        case .inNextRelease(let current): ("in_next_release", current)
        case .inRelease(let version): ("in_release", version)
        }
    }
}

extension IgnoreState {
    /// `issue.ignore_state`: the condition with its value and the counters when the issue was ignored, as JSON.
    package var storedJSON: String {
        var object: JSONObject = [
            "timesSeen": .number(JSONNumber(Int64(timesSeenAtIgnore))),
            "users": .number(JSONNumber(Int64(usersAtIgnore))),
            "baseline": .number(JSONNumber(hourlyBaseline)),
        ]
        switch condition {
        case .forever: object["condition"] = "forever"
        case .untilCount(let count): object["condition"] = "count"; object["value"] = .number(JSONNumber(Int64(count)))
        case .untilUserCount(let count):
            object["condition"] = "users"; object["value"] = .number(JSONNumber(Int64(count)))
        case .untilDate(let date):
            object["condition"] = "until"; object["value"] = .number(JSONNumber(date.timeIntervalSince1970))
        case .untilEscalating: object["condition"] = "escalating"
        }
        return JSONWriter.string(.object(object))
    }

    /// The state stored as ``storedJSON``; nil for text that is not one.
    package init?(storedJSON text: String) {
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

extension NormalizedEvent {
    /// A stored event seen again through the normalizer's derived fields (tags, user, summary), as unmerge
    /// recounts the events it moves.
    package init(stored info: EventInfo) {
        let payload = info.payload
        self.init(
            eventID: info.eventID, timestamp: info.timestamp, received: info.received,
            level: payload["level"]?.stringValue ?? "error", platform: payload["platform"]?.stringValue ?? "other",
            release: payload["release"]?.stringValue, environment: payload["environment"]?.stringValue, payload: payload
        )
    }
}
