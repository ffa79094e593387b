import Foundation
import SpyglassCore
import SpyglassProtocol

extension SentryJSON {
    /// A log line as the API answers it: Sentry's attribute form (`{"order_id": {"type": "integer", "value": 42}}`),
    /// with the columns Spyglass keeps apart (`release`, `environment`, `sdk`, `template`) beside it.
    struct Log: Encodable {
        struct Attribute: Encodable {
            var type: String
            var value: JSONValue
        }

        var id: String
        var timestamp: Date
        var level: String
        var severityNumber: Int
        var body: String
        @Null var template: String?
        @Null var traceId: String?
        @Null var spanId: String?
        @Null var release: String?
        @Null var environment: String?
        @Null var sdk: String?
        var attributes: [String: Attribute]

        init(_ stored: StoredLog) {
            let line = stored.record
            id = String(stored.id)
            timestamp = line.timestamp
            level = line.level.rawValue
            severityNumber = line.severityNumber
            body = line.body
            template = line.template
            traceId = line.traceID
            spanId = line.spanID
            release = line.release
            environment = line.environment
            sdk = line.sdk
            attributes = Dictionary(line.attributes.map { ($0.name, Attribute(type: $0.value.type, value: $0.value.json)) }) { first, _ in first }
        }
    }
}
