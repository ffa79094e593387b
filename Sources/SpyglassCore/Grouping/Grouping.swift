import Crypto
import Foundation
import SpyglassProtocol

/// Sentry's default grouping, as pure code: an event's grouping hashes, title, culprit and metadata.
///
/// Strategies in order: chained exceptions (all, payload order) → the crashed/current thread's stack →
/// the event's stack trace → the message. Two variants are computed — `app` (only in-app frames) and
/// `system` (all frames); when a stack trace contributes to one of them, variants without one are dropped.
/// A hash is the MD5 of the contributing values concatenated, as in Sentry. Behaviour is frozen per
/// ``Grouping/config``; a change of rules needs a new config id.
public enum Grouping {
    /// The id stored with every hash.
    public static let config = "spyglass:2026-11"

    /// Platforms whose context line counts.
    static let contextLinePlatforms: Set<String> = ["javascript", "node", "python", "php", "ruby"]

    /// The hashes of `event` (normalized payload), most specific first; never empty.
    public static func hashes(for event: JSONValue) -> [String] {
        hashes(defaults: defaultVariants(event), fingerprint: event["fingerprint"]?.arrayValue) {
            FingerprintValues(event)
        }
    }

    /// The hashes of an event's default variants and its fingerprint (`nil`: none); `values` gives what the
    /// fingerprint's variables name, asked for only when it has some.
    static func hashes(
        defaults: [[String]], fingerprint: [JSONValue]?, values: () -> FingerprintValues
    ) -> [String] {
        guard let fingerprint = fingerprint?.compactMap(fingerprintPart), !fingerprint.isEmpty,
            fingerprint != ["{{ default }}"]
        else {
            return defaults.map(hash)
        }
        let usesDefault = fingerprint.contains { isDefaultVariable($0) }
        let parts = fingerprint.filter { !isDefaultVariable($0) }
        let named = parts.contains { variableName($0) != nil } ? values() : nil
        let resolved = parts.map { part in named.map { resolve(part, in: $0) } ?? part }
        guard usesDefault else { return [hash(resolved)] }
        // "{{ default }}" salts: the default values in its place, for each variant.
        return defaults.map { values in
            var salted: [String] = []
            var resolvedIterator = resolved.makeIterator()
            for part in fingerprint {
                if isDefaultVariable(part) { salted += values } else if let value = resolvedIterator.next() { salted.append(value) }
            }
            return hash(salted)
        }
    }

    /// The contributing values of each variant (`app` first when it differs from `system`).
    public static func defaultVariants(_ event: JSONValue) -> [[String]] {
        defaultVariants(variants(event))
    }

    /// The variants that count of the two computed.
    static func defaultVariants(_ variants: (app: Variant, system: Variant)) -> [[String]] {
        let (app, system) = variants
        switch (app.hasStack, system.hasStack) {
        case (true, _) where app.values != system.values: return [app.values, system.values]
        default: return [system.values]
        }
    }

    static func hash(_ values: [String]) -> String {
        var md5 = Insecure.MD5()
        for value in values {
            var value = value
            value.withUTF8 { md5.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
        return md5.finalize().withUnsafeBytes { Hex.encode($0) }  // a buffer: its count known up front
    }

    // MARK: - Strategies

    typealias Variant = (values: [String], hasStack: Bool)

    /// Both variants in one walk over the frames: `app` (in-app frames only) and `system` (all frames).
    private static func variants(_ event: JSONValue) -> (app: Variant, system: Variant) {
        let platform = event["platform"]?.stringValue ?? "other"
        let exceptions = exceptionList(event)
        if !exceptions.isEmpty {
            var app: Variant = ([], false)
            var system: Variant = ([], false)
            for exception in exceptions {
                addException(
                    stacks: stacktraceVariants(exception["stacktrace"], platform: platform),
                    type: exception["type"]?.stringValue,
                    synthetic: exception["mechanism"]?["synthetic"]?.boolValue == true,
                    value: exception["value"]?.stringValue, app: &app, system: &system)
            }
            if !system.values.isEmpty { return (app.values.isEmpty ? system : app, system) }
        }
        if let thread = groupingThread(event) {
            let stacks = stacktraceVariants(thread["stacktrace"], platform: platform)
            if let system = stacks.system { return ((stacks.app ?? system, stacks.app != nil), (system, true)) }
        }
        let stacks = stacktraceVariants(event["stacktrace"], platform: platform)
        if let system = stacks.system { return ((stacks.app ?? system, stacks.app != nil), (system, true)) }
        let logentry = event["logentry"]
        return messageVariants(logentry?["message"]?.stringValue ?? logentry?["formatted"]?.stringValue)
    }

    /// One exception's part of both variants: its stack's values, then its type (unless the mechanism is
    /// synthetic), and its normalized value where that variant has no stack.
    static func addException(
        stacks: (app: [String]?, system: [String]?), type: String?, synthetic: Bool, value: String?,
        app: inout Variant, system: inout Variant
    ) {
        let type = synthetic ? nil : type.flatMap { $0.isEmpty ? nil : $0 }
        // The value counts only where a variant has no stack: normalizing it costs, so only then.
        let value =
            stacks.app != nil && stacks.system != nil
            ? nil : value.flatMap { $0.isEmpty ? nil : MessageNormalizer.normalize($0) }
        if let stack = stacks.app { app.values += stack; app.hasStack = true }
        if let type { app.values.append(type) }
        if stacks.app == nil, let value { app.values.append(value) }
        if let stack = stacks.system { system.values += stack; system.hasStack = true }
        if let type { system.values.append(type) }
        if stacks.system == nil, let value { system.values.append(value) }
    }

    /// Both variants of an event grouped by its message (the log entry's template, else its formatted text).
    static func messageVariants(_ message: String?) -> (app: Variant, system: Variant) {
        if let message, !message.isEmpty {
            let values = [MessageNormalizer.normalize(message)]
            return ((values, false), (values, false))
        }
        // Nothing to group by: all such events share one issue, as in Sentry.
        return (([""], false), ([""], false))
    }

    static func exceptionList(_ event: JSONValue) -> [JSONValue] {
        (event["exception"]?["values"]?.arrayValue ?? []).filter { $0.objectValue != nil }
    }

    /// The crashed thread, else the current one, else the only one.
    static func groupingThread(_ event: JSONValue) -> JSONValue? {
        let threads = (event["threads"]?["values"]?.arrayValue ?? []).filter { $0["stacktrace"] != nil }
        let crashed = threads.filter { $0["crashed"]?.boolValue == true }
        if crashed.count == 1 { return crashed[0] }
        let current = threads.filter { $0["current"]?.boolValue == true }
        if current.count == 1 { return current[0] }
        return threads.count == 1 ? threads[0] : nil
    }

    /// The values of a stack trace for both variants (`app`: in-app frames only), each `nil` when no frame
    /// contributes to it. Each frame's values are computed once.
    static func stacktraceVariants(_ stacktrace: JSONValue?, platform eventPlatform: String) -> (app: [String]?, system: [String]?) {
        guard let frames = stacktrace?["frames"]?.arrayValue, !frames.isEmpty else { return (nil, nil) }
        var app: [String] = []
        var system: [String] = []
        var previous: JSONValue?
        for frame in frames where frame.objectValue != nil {
            defer { previous = frame }
            if let previous, isRecursion(frame, previous) { continue }
            let values = frameValues(frame, platform: frame["platform"]?.stringValue ?? eventPlatform)
            guard !values.isEmpty else { continue }
            system += values
            if frame["in_app"]?.boolValue == true { app += values }
        }
        return (app.isEmpty ? nil : app, system.isEmpty ? nil : system)
    }

    private static let recursionKeys = ["function", "lineno", "module", "filename", "abs_path", "package", "colno"]

    private static func isRecursion(_ frame: JSONValue, _ previous: JSONValue) -> Bool {
        guard case .object(let current) = frame, case .object(let before) = previous else { return false }
        return recursionKeys.allSatisfy { current[$0] == before[$0] }
    }

    /// `[module or lower-cased file basename, function, context line?]`, each only when it contributes.
    static func frameValues(_ frame: JSONValue, platform: String) -> [String] {
        frameValues(
            platform: platform, module: frame["module"]?.stringValue, absPath: { frame["abs_path"]?.stringValue },
            filename: { frame["filename"]?.stringValue },
            function: { frame["function"]?.stringValue ?? frame["raw_function"]?.stringValue },
            contextLine: { frame["context_line"]?.stringValue })
    }

    /// ``frameValues(_:platform:)`` of a frame's string members (nil: missing or no string), each read only if it
    /// counts; `function` is the function, else the raw function.
    static func frameValues(
        platform: String, module: String?, absPath: () -> String?, filename: () -> String?, function: () -> String?,
        contextLine: () -> String?
    ) -> [String] {
        var values: [String] = []
        values.reserveCapacity(3)
        let isJavaScript = platform == "javascript" || platform == "node"
        if let module, !module.isEmpty,
            !isJavaScript || !(module.contains("/") && (absPath() ?? "").hasSuffix(module))
        {
            values.append(module)
        } else {
            let absPath = absPath()
            if let filename = filename() ?? absPath, !filename.isEmpty, !isURL(absPath ?? ""),
                !["<anonymous>", "[native code]"].contains(filename)
            {
                let basename = filename.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init)
                values.append((basename ?? filename).lowercased())
            }
        }
        if let raw = function(), let function = FunctionNameNormalizer.normalize(raw, platform: platform) {
            values.append(function)
        }
        if contextLinePlatforms.contains(platform), let line = contextLine(), line.fits(120) {
            let collapsed = collapseWhitespace(line)
            if !collapsed.isEmpty { values.append(collapsed) }
        }
        return values
    }

    /// `" ".join(line.split())` as Sentry does, on bytes (ASCII whitespace; other bytes kept).
    static func collapseWhitespace(_ line: String) -> String {
        let utf8 = line.utf8
        // Written straight into the string's storage: no buffer to allocate and copy (a context line a frame).
        return String(unsafeUninitializedCapacity: utf8.count) { out in
            var count = 0
            var pendingSpace = false
            for byte in utf8 {
                if byte == 0x20 || (0x09...0x0d).contains(byte) {
                    pendingSpace = count > 0
                } else {
                    if pendingSpace {
                        out[count] = 0x20
                        count += 1
                    }
                    pendingSpace = false
                    out[count] = byte
                    count += 1
                }
            }
            return count
        }
    }

    static func isURL(_ path: String) -> Bool {
        guard let colon = path.firstIndex(of: ":") else { return false }
        return path[colon...].hasPrefix("://") && path[..<colon].allSatisfy { $0.isLetter }
    }

    // MARK: - Fingerprints

    private static func fingerprintPart(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number.literal
        case .bool(let flag): flag ? "True" : "False"
        default: nil
        }
    }

    private static func variableName(_ part: String) -> String? {
        let trimmed = part.trimmingWhitespace
        guard trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}") else { return nil }
        return trimmed.dropFirst(2).dropLast(2).trimmingCharacters(in: .whitespaces).lowercased()
    }

    private static func isDefaultVariable(_ part: String) -> Bool { variableName(part) == "default" }

    /// What a fingerprint's variables name, from the normalized event (strings: nil when missing or no string).
    struct FingerprintValues {
        var transaction: String?
        /// The log entry's formatted text, else its template.
        var message: String?
        var lastException: (type: String?, value: String?)?
        var crashFrame: (function: String?, module: String?, absPath: String?, filename: String?, package: String?)?
        var level: String?
        var logger: String?
        /// The normalized tag pairs (`[[key, value], …]`).
        var tags: [JSONValue]

        init(
            transaction: String?, message: String?, lastException: (type: String?, value: String?)?,
            crashFrame: (function: String?, module: String?, absPath: String?, filename: String?, package: String?)?,
            level: String?, logger: String?, tags: [JSONValue]
        ) {
            self.transaction = transaction
            self.message = message
            self.lastException = lastException
            self.crashFrame = crashFrame
            self.level = level
            self.logger = logger
            self.tags = tags
        }

        init(_ event: JSONValue) {
            let last = Grouping.exceptionList(event).last
            let frame = Grouping.crashFrame(event)
            self.init(
                transaction: event["transaction"]?.stringValue,
                message: event["logentry"]?["formatted"]?.stringValue ?? event["logentry"]?["message"]?.stringValue,
                lastException: last.map { ($0["type"]?.stringValue, $0["value"]?.stringValue) },
                crashFrame: frame.map {
                    (
                        $0["function"]?.stringValue, $0["module"]?.stringValue, $0["abs_path"]?.stringValue,
                        $0["filename"]?.stringValue, $0["package"]?.stringValue
                    )
                },
                level: event["level"]?.stringValue, logger: event["logger"]?.stringValue,
                tags: event["tags"]?.arrayValue ?? [])
        }
    }

    /// A fingerprint part with its `{{ variable }}` resolved as Sentry does.
    static func resolve(_ part: String, in event: JSONValue) -> String {
        resolve(part, in: FingerprintValues(event))
    }

    static func resolve(_ part: String, in event: FingerprintValues) -> String {
        guard let name = variableName(part) else { return part }
        let frame = event.crashFrame
        switch name {
        case "transaction": return event.transaction ?? "<no-transaction>"
        case "message": return event.message ?? event.lastException?.value ?? "<no-message>"
        case "type", "error.type": return event.lastException?.type ?? "<no-type>"
        case "value", "error.value": return event.lastException?.value ?? "<no-value>"
        case "function", "stack.function": return frame?.function ?? "<no-function>"
        case "module", "stack.module": return frame?.module ?? "<no-module>"
        case "path", "stack.abs_path": return frame?.absPath ?? "<no-abs-path>"
        case "stack.filename": return frame?.filename ?? "<no-filename>"
        case "package", "stack.package":
            return frame?.package.map { package in
                package.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? package
            } ?? "<no-package>"
        case "level": return event.level ?? "<no-level>"
        case "logger": return event.logger ?? "<no-logger>"
        default:
            if name.hasPrefix("tags.") {
                let tag = String(name.dropFirst(5))
                for pair in event.tags {
                    if let entry = pair.arrayValue, entry.count == 2, entry[0].stringValue?.lowercased() == tag {
                        return entry[1].stringValue ?? ""
                    }
                }
                return "<no-value-for-tag-\(tag)>"
            }
            return part  // unknown variables stay literal (Sentry's 2023 behaviour)
        }
    }

    /// The frame where the error happened: the last in-app frame of the last exception's (or the event's)
    /// stack trace, else its last frame.
    public static func crashFrame(_ event: JSONValue) -> JSONValue? {
        let stacktrace = exceptionList(event).last?["stacktrace"] ?? groupingThread(event)?["stacktrace"] ?? event["stacktrace"]
        let frames = (stacktrace?["frames"]?.arrayValue ?? []).filter { $0.objectValue != nil }
        return frames.last(where: { $0["in_app"]?.boolValue == true }) ?? frames.last
    }
}
