import Foundation
import SpyglassProtocol

/// Builds Sentry's event payload from an event (on the worker: symbolication happens here).
struct EventSerializer {
    let options: SpyglassOptions
    let contexts: [String: JSONValue]
    let symbolicator: Symbolicator

    func json(_ event: SpyglassEvent) -> JSONValue {
        var object: JSONObject = [
            "event_id": .string(event.eventID), "timestamp": .number(JSONNumber(event.timestamp.timeIntervalSince1970)),
            "platform": "swift", "level": .string(event.level.rawValue),
            "environment": .string(event.environment ?? options.environment),
            "sdk": [
                "name": .string(SDKInfo.name), "version": .string(SDKInfo.version),
                "integrations": .array(SpyglassSDK.integrations.map(JSONValue.string)),
                "packages": [["name": "swiftpm:spyglass", "version": .string(SDKInfo.version)]],
            ],
        ]
        if let release = event.release ?? options.release { object["release"] = .string(release) }
        if let server = options.serverName, !server.isEmpty { object["server_name"] = .string(server) }
        if let logger = event.logger { object["logger"] = .string(logger) }
        if let transaction = event.transaction { object["transaction"] = .string(transaction) }
        if let message = event.message {
            var logentry: JSONObject = ["formatted": .string(message)]
            if let template = event.messageTemplate { logentry["message"] = .string(template) }
            object["logentry"] = .object(logentry)
        }
        if !event.exceptions.isEmpty {
            object["exception"] = ["values": .array(event.exceptions.map(exception))]
        }
        if let stack = event.threadStack {
            let frames = symbolicator.frames(stack)
            if !frames.isEmpty {
                object["threads"] = [
                    "values": [["id": .number(JSONNumber(Int64(0))), "current": true, "crashed": .bool(event.level == .fatal), "stacktrace": ["frames": .array(frames)]]]
                ]
            }
        }
        if !event.tags.isEmpty { object["tags"] = .object(JSONObject(event.tags.mapValues(JSONValue.string))) }
        if !event.extra.isEmpty { object["extra"] = .object(JSONObject(event.extra)) }
        var contexts = self.contexts
        contexts.merge(event.contexts) { _, own in own }
        object["contexts"] = .object(JSONObject(contexts))
        if let user = event.user {
            var json = user.json
            if !options.sendDefaultPII, case .object(var fields) = json {
                fields["ip_address"] = nil
                json = .object(fields)
            }
            object["user"] = json
        } else if options.sendDefaultPII {
            object["user"] = ["ip_address": "{{auto}}"]
        }
        if !event.breadcrumbs.isEmpty { object["breadcrumbs"] = ["values": .array(event.breadcrumbs.map(\.json))] }
        if let fingerprint = event.fingerprint { object["fingerprint"] = .array(fingerprint.map(JSONValue.string)) }
        if let request = event.request { object["request"] = requestJSON(request) }
        return .object(object)
    }

    func exception(_ exception: ExceptionValue) -> JSONValue {
        let value = ErrorDescription.describe(exception)
        var object: JSONObject = [
            "type": .string(value.type), "value": .string(value.value),
            "mechanism": ["type": .string(value.mechanism), "handled": .bool(value.handled)],
        ]
        if let module = value.module { object["module"] = .string(module) }
        if let stack = value.stack {
            let frames = symbolicator.frames(stack)
            if !frames.isEmpty { object["stacktrace"] = ["frames": .array(frames)] }
        }
        return .object(object)
    }

    func requestJSON(_ request: RequestInfo) -> JSONValue {
        let sensitive: Set<String> = ["authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key", "x-auth-token"]
        var headers = JSONObject()
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            if !options.sendDefaultPII && sensitive.contains(name.lowercased()) { continue }
            headers[name] = .string(value)
        }
        var object: JSONObject = ["method": .string(request.method), "url": .string(request.url), "headers": .object(headers)]
        if let query = request.query, !query.isEmpty { object["query_string"] = .string(query) }
        return .object(object)
    }
}

/// The os, runtime, device and app contexts, read once.
enum DeviceContexts {
    static func collect(release: String?) -> [String: JSONValue] {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let system = field(name.sysname)
        var os: JSONObject = ["name": .string(system), "kernel_version": .string(field(name.release))]
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            var fields: [String: String] = [:]
            for line in release.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
            if let pretty = fields["NAME"] { os["name"] = .string(pretty) }
            if let version = fields["VERSION_ID"] { os["version"] = .string(version) }
        }
        let process = ProcessInfo.processInfo
        var app: JSONObject = ["app_name": .string(process.processName), "app_start_time": .string(Date.now.formatted(.iso8601))]
        if let release { app["app_version"] = .string(release) }
        return [
            "os": .object(os),
            "runtime": ["name": "swift", "version": .string(swiftVersion)],
            "device": [
                "arch": .string(field(name.machine)), "hostname": .string(process.hostName),
                "processor_count": .number(JSONNumber(Int64(process.processorCount))),
                "memory_size": .number(JSONNumber(Int64(clamping: process.physicalMemory))),
            ],
            "app": .object(app),
        ]
    }

    static var swiftVersion: String {
        #if swift(>=6.4)
            "6.4"
        #elseif swift(>=6.3)
            "6.3"
        #elseif swift(>=6.2)
            "6.2"
        #else
            "6"
        #endif
    }
}
