import Foundation
import SpyglassCore
import SpyglassProtocol

/// What the issue page shows of one event, built from its normalized payload. Every value is plain text:
/// the template escapes it. Nothing from the event becomes a URL, an attribute name or markup.
struct EventView {
    struct Row {
        var key: String
        var value: String
    }

    struct ContextLine {
        var number: Int
        var code: String
        var current: Bool
    }

    struct Frame {
        var file: String
        var function: String?
        /// Never nil: a missing key would make the template show the enclosing exception's module.
        var module: String
        var line: Int?
        var column: Int?
        var inApp: Bool
        var open: Bool
        var context: [ContextLine]
        var hasContext: Bool
        var vars: [Row]
        var hasVars: Bool
    }

    struct Exception {
        var type: String
        var value: String?
        var module: String?
        var mechanism: String?
        var unhandled: Bool
        var frames: [Frame]
        /// The frames as sent, where source maps rewrote them (`raw_stacktrace`): the "raw" view.
        var rawFrames: [Frame]
        var hasRawFrames: Bool
    }

    struct Crumb {
        var time: String
        var category: String
        var level: String
        var message: String
        var data: String
    }

    struct RequestInfo {
        var method: String
        var url: String
        var rows: [Row]
    }

    struct Section {
        var title: String
        var rows: [Row]
    }

    var eventID: String
    var timestamp: String
    var timestampISO: String
    var message: String?
    var exceptions: [Exception]
    /// The last ten breadcrumbs; the ones before them fold away ("Show all").
    var breadcrumbs: [Crumb]
    var olderBreadcrumbs: [Crumb]
    var hasOlderBreadcrumbs: Bool
    var breadcrumbCount: Int
    var olderBreadcrumbCount: Int
    var hasBreadcrumbs: Bool
    var request: RequestInfo?
    var sections: [Section]
    var attachments: [WebController.AttachmentRow] = []
    var hasAttachments = false
    /// The log lines of the event's trace (`contexts.trace.trace_id`), oldest first; those after the error too.
    var traceLogs: WebController.TraceLogs?
    var olderURL: String?
    var newerURL: String?
    var latestURL: String
    var jsonURL: String
    var issueURL: String

    init(_ event: EventInfo, issueURL: String, previous: String?, next: String?) {
        let payload = event.payload
        eventID = event.eventID
        timestamp = Formatting.timestamp(event.timestamp)
        timestampISO = Formatting.iso(event.timestamp)
        self.issueURL = issueURL
        latestURL = issueURL
        jsonURL = "\(issueURL)events/\(event.eventID)/json/"
        olderURL = previous.map { "\(issueURL)events/\($0)/" }
        newerURL = next.map { "\(issueURL)events/\($0)/" }

        let logentry = payload["logentry"]
        message = (logentry?["formatted"]?.stringValue ?? logentry?["message"]?.stringValue ?? payload["message"]?.stringValue)
            .flatMap { $0.isEmpty ? nil : $0 }

        // Most recent first, as Sentry shows a chain: the last value is the exception that was raised last.
        var exceptions = (payload["exception"]?["values"]?.arrayValue ?? []).reversed().map(Self.exception)
        if exceptions.isEmpty {
            // A message with a stack (attachStacktrace): the thread's frames.
            for thread in payload["threads"]?["values"]?.arrayValue ?? [] {
                guard let frames = thread["stacktrace"]?["frames"]?.arrayValue, !frames.isEmpty else { continue }
                exceptions.append(
                    Exception(
                        type: "Stack trace", value: Formatting.text(thread["name"]).nilIfEmpty, module: nil, mechanism: nil,
                        unhandled: false, frames: Self.frames(frames), rawFrames: [], hasRawFrames: false))
            }
        }
        self.exceptions = exceptions

        let crumbs = payload["breadcrumbs"]?["values"]?.arrayValue ?? payload["breadcrumbs"]?.arrayValue ?? []
        let allCrumbs = crumbs.map { crumb in
            let time = Timestamp.parse(crumb["timestamp"]).map(Formatting.clock) ?? ""
            let data = crumb["data"].flatMap { $0.objectValue?.isEmpty == false ? JSONWriter.string($0) : nil } ?? ""
            return Crumb(
                time: time, category: Formatting.text(crumb["category"]), level: Self.level(crumb["level"]?.stringValue),
                message: Formatting.text(crumb["message"]), data: data)
        }
        breadcrumbs = Array(allCrumbs.suffix(10))
        olderBreadcrumbs = Array(allCrumbs.dropLast(10))
        hasOlderBreadcrumbs = !olderBreadcrumbs.isEmpty
        breadcrumbCount = allCrumbs.count
        olderBreadcrumbCount = olderBreadcrumbs.count
        hasBreadcrumbs = !allCrumbs.isEmpty

        if let request = payload["request"], request.objectValue != nil {
            var rows: [Row] = []
            if let query = request["query_string"], !query.isNull { rows.append(Row(key: "query", value: Self.pairsText(query))) }
            if let data = request["data"], !data.isNull { rows.append(Row(key: "body", value: Formatting.text(data))) }
            for (key, value) in Self.pairs(request["headers"]) { rows.append(Row(key: key, value: value)) }
            if let cookies = request["cookies"], !cookies.isNull { rows.append(Row(key: "cookies", value: Self.pairsText(cookies))) }
            for (key, value) in Self.pairs(request["env"]) { rows.append(Row(key: "env." + key, value: value)) }
            self.request = RequestInfo(
                method: request["method"]?.stringValue ?? "", url: Formatting.text(request["url"]), rows: rows)
        }

        var sections: [Section] = []
        let tags = Self.pairs(payload["tags"])
        if !tags.isEmpty { sections.append(Section(title: "Tags", rows: tags.map { Row(key: $0.0, value: $0.1) })) }
        if let user = payload["user"]?.objectValue, !user.isEmpty {
            sections.append(Section(title: "User", rows: user.map { Row(key: $0.key, value: Formatting.text($0.value)) }))
        }
        for member in payload["contexts"]?.objectValue ?? [:] {
            guard let fields = member.value.objectValue else { continue }
            let title = Self.contextTitle(member.key)
            sections.append(
                Section(title: title, rows: fields.filter { $0.key != "type" }.map { Row(key: $0.key, value: Formatting.text($0.value)) }))
        }
        if let extra = payload["extra"]?.objectValue, !extra.isEmpty {
            sections.append(Section(title: "Additional data", rows: extra.map { Row(key: $0.key, value: Formatting.text($0.value)) }))
        }
        var summary: [Row] = []
        for key in ["level", "platform", "release", "environment", "server_name", "transaction", "logger"] {
            if let value = payload[key], !value.isNull { summary.append(Row(key: key, value: Formatting.text(value))) }
        }
        if let sdk = payload["sdk"] {
            summary.append(Row(key: "sdk", value: "\(Formatting.text(sdk["name"])) \(Formatting.text(sdk["version"]))"))
        }
        sections.append(Section(title: "Event", rows: summary))
        self.sections = sections
    }

    static func exception(_ value: JSONValue) -> Exception {
        let mechanism = value["mechanism"]
        let raw = frames(value["raw_stacktrace"]?["frames"]?.arrayValue ?? [])
        return Exception(
            type: value["type"]?.stringValue ?? "Error", value: value["value"].map(Formatting.text)?.nilIfEmpty,
            module: value["module"]?.stringValue, mechanism: mechanism?["type"]?.stringValue,
            unhandled: mechanism?["handled"]?.boolValue == false,
            frames: frames(value["stacktrace"]?["frames"]?.arrayValue ?? []),
            rawFrames: raw, hasRawFrames: !raw.isEmpty)
    }

    /// Most recent call first; in-app frames open, the rest folded (all open when none is in-app).
    static func frames(_ values: [JSONValue]) -> [Frame] {
        let anyInApp = values.contains { $0["in_app"]?.boolValue == true }
        var frames: [Frame] = values.reversed().map { frame in
            // Event data: a line number near Int.max would overflow the context lines' numbering.
            let line = frame["lineno"]?.int64Value.flatMap { (0...100_000_000).contains($0) ? Int($0) : nil }
            var context: [ContextLine] = []
            if let line, let current = frame["context_line"]?.stringValue {
                let before = Array((frame["pre_context"]?.arrayValue?.compactMap(\.stringValue) ?? []).suffix(max(0, min(50, line - 1))))
                let after = Array((frame["post_context"]?.arrayValue?.compactMap(\.stringValue) ?? []).prefix(50))
                for (index, code) in before.enumerated() {
                    context.append(ContextLine(number: line - before.count + index, code: code, current: false))
                }
                context.append(ContextLine(number: line, code: current, current: true))
                for (index, code) in after.enumerated() { context.append(ContextLine(number: line + 1 + index, code: code, current: false)) }
            }
            let vars = (frame["vars"]?.objectValue ?? [:]).map { Row(key: $0.key, value: Formatting.text($0.value)) }
            let inApp = frame["in_app"]?.boolValue == true
            return Frame(
                file: frame["filename"]?.stringValue ?? frame["abs_path"]?.stringValue ?? frame["module"]?.stringValue ?? "?",
                function: frame["function"]?.stringValue, module: frame["module"]?.stringValue ?? "", line: line,
                column: frame["colno"]?.int64Value.flatMap { (0...100_000_000).contains($0) ? Int($0) : nil }, inApp: inApp,
                open: inApp || !anyInApp,
                context: context, hasContext: !context.isEmpty, vars: vars, hasVars: !vars.isEmpty)
        }
        if !anyInApp, frames.count > 1 {
            // Without in-app frames, open only the crashing one.
            for index in frames.indices.dropFirst() { frames[index].open = false }
        }
        return frames
    }

    /// Key/value pairs from an object or from Sentry's `[[key, value], …]` form.
    static func pairs(_ value: JSONValue?) -> [(String, String)] {
        switch value {
        case .object(let object)?:
            return object.map { ($0.key, Formatting.text($0.value)) }
        case .array(let elements)?:
            return elements.compactMap { element in
                guard let pair = element.arrayValue, pair.count == 2, let key = pair[0].stringValue else { return nil }
                return (key, Formatting.text(pair[1]))
            }
        default:
            return []
        }
    }

    static func pairsText(_ value: JSONValue) -> String {
        if case .string(let text) = value { return text }
        return pairs(value).map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// One of the known levels (the level also names a CSS class).
    static func level(_ text: String?) -> String {
        let known = ["fatal", "error", "warning", "info", "debug"]
        if let text, known.contains(text) { return text }
        return text == "critical" ? "fatal" : text == "warn" ? "warning" : "info"
    }

    static func contextTitle(_ key: String) -> String {
        switch key {
        case "os": "Operating system"
        case "runtime": "Runtime"
        case "device": "Device"
        case "app": "App"
        case "browser": "Browser"
        case "trace": "Trace"
        default: key
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
