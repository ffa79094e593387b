import Foundation
import SpyglassProtocol

/// Turns `session` and `sessions` payloads into counts per release and environment.
///
/// A `session` update counts as started when `init` is true, and adds to its final status
/// (`exited`, `crashed`, `abnormal`, or `errored` — also when an ended session reports errors);
/// updates with status `ok` count nothing else. A `sessions` item carries pre-aggregated counts.
public enum SessionItems {
    /// Counts of a `session` item; `nil` when it has no release (Sentry drops those too).
    public static func count(session payload: JSONValue) -> SessionCount? {
        guard let attrs = payload["attrs"], let release = attrs["release"]?.stringValue,
            EventNormalizer.isValidRelease(release)
        else { return nil }
        var count = SessionCount(release: release, environment: environment(attrs))
        if payload["init"]?.boolValue == true { count.started = 1 }
        let errors = payload["errors"]?.int64Value ?? 0
        switch payload["status"]?.stringValue ?? "ok" {
        case "exited": if errors > 0 { count.errored = 1 } else { count.exited = 1 }
        case "crashed": count.crashed = 1
        case "abnormal": count.abnormal = 1
        case "errored": count.errored = 1
        default: break
        }
        return count
    }

    /// Counts of a `sessions` (aggregate) item.
    public static func count(sessions payload: JSONValue) -> SessionCount? {
        guard let attrs = payload["attrs"], let release = attrs["release"]?.stringValue,
            EventNormalizer.isValidRelease(release), let aggregates = payload["aggregates"]?.arrayValue
        else { return nil }
        var count = SessionCount(release: release, environment: environment(attrs))
        // Each count is capped, so sums of hostile values cannot overflow.
        func capped(_ value: JSONValue?) -> Int { Int(min(max(value?.int64Value ?? 0, -1), 1_000_000)) }
        for bucket in aggregates.prefix(1000) {
            let exited = capped(bucket["exited"])
            let errored = capped(bucket["errored"])
            let crashed = capped(bucket["crashed"])
            let abnormal = capped(bucket["abnormal"])
            guard exited >= 0, errored >= 0, crashed >= 0, abnormal >= 0 else { continue }
            count.exited += exited
            count.errored += errored
            count.crashed += crashed
            count.abnormal += abnormal
            count.started += exited + errored + crashed + abnormal
        }
        return count
    }

    private static func environment(_ attrs: JSONValue) -> String {
        let environment = attrs["environment"]?.stringValue ?? "production"
        return environment.isEmpty || environment == "none" ? "production" : String(environment.prefix(64))
    }
}
