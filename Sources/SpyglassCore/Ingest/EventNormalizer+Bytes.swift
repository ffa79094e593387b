import Foundation
import SpyglassProtocol

extension EventNormalizer {
    /// What ``normalize(_:context:)`` derives from the event (id, time, level, platform, release, environment,
    /// grouping hashes, summary, tags, user), read straight from the payload's bytes with ``JSONReader``: no tree of
    /// its frames is built and freed, and a frame that repeats the one before it (recursion) is compared byte for
    /// byte and never decoded. The payload itself is left `null`; the caller stores the bytes as sent (`raw`), which
    /// reading normalizes again whole.
    ///
    /// The common shape only: `nil` for anything else, and the caller takes the tree path, which gives the same
    /// fields (checked over crafted documents by `EventBytesTests` and by the `event` fuzz target) or the error.
    /// `nil` for: invalid JSON or no object; an invalid event id; `threads` or an event-level `stacktrace` where
    /// grouping or the summary would read them (no exception stack gives grouping a value, or the last exception has
    /// no `stacktrace`); a name read here given twice in one object; a frame member grouping compares that is an
    /// object, an array, or `NaN`/`Infinity`; more than ``maxFramesFromBytes`` frame objects in its exceptions.
    public func normalize(json bytes: [UInt8], context: Context) -> NormalizedEvent? {
        bytes.withUnsafeBufferPointer { buffer in
            var event = EventBytes(buffer: buffer)
            do {
                var reader = JSONReader(buffer)
                guard reader.atObject else { return nil }
                try event.readEvent(&reader)
                try reader.finish()
            } catch {
                return nil
            }
            guard !event.unusual else { return nil }
            return event.normalized(context: context)
        }
    }
}

extension EventNormalizer {
    /// Frame objects the bytes path reads in an event's exceptions; an event with more is left to the tree. Each
    /// frame read is ~250 bytes of tokens however small its object, so a 1 MiB event of `{}` frames took ~100 MB
    /// here (the tree holds such frames in a few bytes each: docs/performance.md); real stacks are far shorter
    /// (Python's recursion limit is 1 000 frames).
    package static let maxFramesFromBytes = 2_048
}

/// The members of an event that ingest derives its fields from, as read from its bytes.
private struct EventBytes {
    let buffer: UnsafeBufferPointer<UInt8>
    /// Set when the event has something only the tree path handles.
    var unusual = false

    var eventID: JSONValue?
    var timestamp: JSONValue?
    var level: JSONValue?
    var platform: JSONValue?
    var release: JSONValue?
    var environment: JSONValue?
    var transaction: JSONValue?
    var serverName: JSONValue?
    var message: JSONValue?
    var logentry: JSONValue?
    var tags: JSONValue?
    var user: JSONValue?
    var fingerprint: JSONValue?
    var logger: JSONValue?
    var exceptions: [Exception] = []
    /// Whether the event has threads or a stack trace of its own (not `null`).
    var hasOtherStacks = false
    /// Frame objects read so far, in all exceptions (``EventNormalizer/maxFramesFromBytes``).
    var framesRead = 0

    struct Exception {
        var type: String?
        var value: String?
        var synthetic = false
        /// Whether it has a `stacktrace` member (whatever its value).
        var hasStacktrace = false
        /// The object elements of `stacktrace.frames`; `hasFrames` whether that was a non-empty array.
        var frames: [Frame] = []
        var hasFrames = false
    }

    /// A frame's members that grouping and the summary read, as tokens in the payload.
    struct Frame {
        /// function, lineno, module, filename, abs_path, package, colno: the members a recursion compares.
        var compared: (JSONReader.Token?, JSONReader.Token?, JSONReader.Token?, JSONReader.Token?, JSONReader.Token?,
            JSONReader.Token?, JSONReader.Token?) = (nil, nil, nil, nil, nil, nil, nil)
        var rawFunction: JSONReader.Token?
        var contextLine: JSONReader.Token?
        var platform: JSONReader.Token?
        var inApp = false

        var function: JSONReader.Token? { compared.0 }
        var module: JSONReader.Token? { compared.2 }
        var filename: JSONReader.Token? { compared.3 }
        var absPath: JSONReader.Token? { compared.4 }
    }

    init(buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    // MARK: - Reading

    /// Whether `bit` of `seen` was set (a name given twice), setting it.
    private static func repeated(_ seen: inout UInt32, _ bit: UInt32) -> Bool {
        defer { seen |= bit }
        return seen & bit != 0
    }

    static let eventNames = JSONReader.Names([
        "event_id", "timestamp", "level", "platform", "release", "environment", "transaction", "server_name", "message",
        "logentry", "tags", "user", "exception", "fingerprint", "threads", "stacktrace", "logger",
    ])
    static let valuesName = JSONReader.Names(["values"])
    static let exceptionNames = JSONReader.Names(["type", "value", "mechanism", "stacktrace"])
    static let framesName = JSONReader.Names(["frames"])
    static let frameNames = JSONReader.Names([
        "function", "lineno", "module", "filename", "abs_path", "package", "colno", "raw_function", "context_line",
        "platform", "in_app",
    ])

    mutating func readEvent(_ reader: inout JSONReader) throws {
        var seen: UInt32 = 0
        try reader.members(depth: 0, names: Self.eventNames) { reader, name in
            guard let name else { return try reader.skip(depth: 1) }
            if Self.repeated(&seen, 1 << name) { unusual = true }
            switch name {
            case 0: eventID = try reader.value(depth: 1)
            case 1: timestamp = try reader.value(depth: 1)
            case 2: level = try reader.value(depth: 1)
            case 3: platform = try reader.value(depth: 1)
            case 4: release = try reader.value(depth: 1)
            case 5: environment = try reader.value(depth: 1)
            case 6: transaction = try reader.value(depth: 1)
            case 7: serverName = try reader.value(depth: 1)
            case 8: message = try reader.value(depth: 1)
            case 9: logentry = try reader.value(depth: 1)
            case 10: tags = try reader.value(depth: 1)
            case 11: user = try reader.value(depth: 1)
            case 12: try readExceptions(&reader)
            case 13: fingerprint = try reader.value(depth: 1)
            case 16: logger = try reader.value(depth: 1)
            default:
                // threads, stacktrace: `null` is dropped by normalizing. They count only when the exceptions give
                // grouping nothing or the last one has no stack trace member (`normalized(context:)` leaves those
                // events to the tree).
                let isNull: Bool
                if let token = try reader.token() {
                    isNull = token.kind == .literal && buffer[token.start] == UInt8(ascii: "n")
                } else {
                    isNull = false
                    try reader.skip(depth: 1)
                }
                if !isNull { hasOtherStacks = true }
            }
        }
    }

    /// `exception`: a list of exceptions, or an object with one under `values`.
    private mutating func readExceptions(_ reader: inout JSONReader) throws {
        exceptions = []
        if reader.atArray {
            try readExceptionList(&reader, depth: 1)
        } else if reader.atObject {
            var seen: UInt32 = 0
            try reader.members(depth: 1, names: Self.valuesName) { reader, name in
                guard name != nil else { return try reader.skip(depth: 2) }
                if Self.repeated(&seen, 1) { unusual = true }
                exceptions = []
                if reader.atArray { try readExceptionList(&reader, depth: 2) } else { try reader.skip(depth: 2) }
            }
        } else {
            try reader.skip(depth: 1)
        }
    }

    /// The array of exceptions (at `depth`): its objects, in order.
    private mutating func readExceptionList(_ reader: inout JSONReader, depth: Int) throws {
        try reader.elements(depth: depth) { reader, _ in
            guard reader.atObject else { return try reader.skip(depth: depth + 1) }
            var exception = Exception()
            var seen: UInt32 = 0
            try reader.members(depth: depth + 1, names: Self.exceptionNames) { reader, name in
                let inner = depth + 2
                guard let name else { return try reader.skip(depth: inner) }
                if Self.repeated(&seen, 1 << name) { unusual = true }
                switch name {
                case 0: exception.type = try reader.value(depth: inner).stringValue
                case 1: exception.value = try reader.value(depth: inner).stringValue
                case 2: exception.synthetic = try reader.value(depth: inner)["synthetic"]?.boolValue == true
                default:  // stacktrace
                    exception.hasStacktrace = true
                    exception.frames = []
                    exception.hasFrames = false
                    guard reader.atObject else { return try reader.skip(depth: inner) }
                    var seenFrames = false
                    try reader.members(depth: inner, names: Self.framesName) { reader, name in
                        guard name != nil else { return try reader.skip(depth: inner + 1) }
                        if seenFrames { unusual = true }
                        seenFrames = true
                        exception.frames = []
                        exception.hasFrames = false
                        guard reader.atArray else { return try reader.skip(depth: inner + 1) }
                        try reader.elements(depth: inner + 1) { reader, _ in
                            exception.hasFrames = true
                            guard reader.atObject else { return try reader.skip(depth: inner + 2) }
                            framesRead += 1
                            guard framesRead <= EventNormalizer.maxFramesFromBytes else {
                                unusual = true
                                return try reader.skip(depth: inner + 2)
                            }
                            // Room for a typical stack at once, instead of growing through 1, 2, 4, 8 and 16; for
                            // the first few exceptions only, so that many tiny ones (hostile) reserve no more than
                            // their frames take.
                            if exception.frames.isEmpty, exceptions.count < 4 { exception.frames.reserveCapacity(32) }
                            exception.frames.append(try readFrame(&reader, depth: inner + 2))
                        }
                    }
                }
            }
            exceptions.append(exception)
        }
    }

    /// A frame object (at `depth`): the tokens of the members read, the rest skipped.
    private mutating func readFrame(_ reader: inout JSONReader, depth: Int) throws -> Frame {
        var frame = Frame()
        var seen: UInt32 = 0
        try reader.members(depth: depth, names: Self.frameNames) { reader, name in
            guard let name else { return try reader.skip(depth: depth + 1) }
            if Self.repeated(&seen, 1 << name) { unusual = true }
            func token() throws -> JSONReader.Token? {
                guard let token = try reader.token() else {
                    unusual = true
                    try reader.skip(depth: depth + 1)
                    return nil
                }
                if token.kind == .special { unusual = true }
                return token
            }
            switch name {
            case 0: frame.compared.0 = try token()
            case 1: frame.compared.1 = try token()
            case 2: frame.compared.2 = try token()
            case 3: frame.compared.3 = try token()
            case 4: frame.compared.4 = try token()
            case 5: frame.compared.5 = try token()
            case 6: frame.compared.6 = try token()
            case 7: frame.rawFunction = try token()
            case 8: frame.contextLine = try token()
            case 9: frame.platform = try token()
            default:  // in_app
                if let token = try reader.token() {
                    frame.inApp = token.kind == .literal && buffer[token.start] == UInt8(ascii: "t")
                } else {
                    frame.inApp = false
                    try reader.skip(depth: depth + 1)
                }
            }
        }
        return frame
    }

    // MARK: - Deriving

    /// The string a token holds (nil: no token, or no string).
    func string(_ token: JSONReader.Token?) -> String? {
        token.flatMap { JSONReader.string($0, in: buffer) }
    }

    /// Whether two members are equal as JSON values (`JSONValue ==`, strings by Unicode canonical equivalence).
    func equal(_ a: JSONReader.Token?, _ b: JSONReader.Token?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        if a.kind == .escapedString || b.kind == .escapedString {
            guard let left = string(a), let right = string(b) else { return false }
            return left == right
        }
        guard a.kind == b.kind else { return false }
        let left = UnsafeBufferPointer(rebasing: buffer[a.start..<a.end])
        let right = UnsafeBufferPointer(rebasing: buffer[b.start..<b.end])
        if left.count == right.count {
            guard let l = left.baseAddress, let r = right.baseAddress else { return true }  // both empty
            if memcmp(l, r, left.count) == 0 { return true }
        }
        // Different bytes: equal only as strings that are not all ASCII (canonically equivalent, or repaired alike).
        guard a.kind == .string, left.contains(where: { $0 >= 0x80 }) || right.contains(where: { $0 >= 0x80 }) else {
            return false
        }
        return string(a) == string(b)
    }

    func isRecursion(_ frame: Frame, _ previous: Frame) -> Bool {
        let (c, p) = (frame.compared, previous.compared)
        return equal(c.0, p.0) && equal(c.1, p.1) && equal(c.2, p.2) && equal(c.3, p.3) && equal(c.4, p.4)
            && equal(c.5, p.5) && equal(c.6, p.6)
    }

    /// ``Grouping/stacktraceVariants(_:platform:)`` of an exception's frames.
    func stacktraceVariants(
        _ exception: Exception, platform eventPlatform: String
    ) -> (app: [String]?, system: [String]?) {
        guard exception.hasFrames else { return (nil, nil) }
        var app: [String] = []
        var system: [String] = []
        system.reserveCapacity(exception.frames.count * 3)  // at most three values a frame
        app.reserveCapacity(exception.frames.count * 3)
        var previous: Frame?
        for frame in exception.frames {
            defer { previous = frame }
            if let previous, isRecursion(frame, previous) { continue }
            let values = Grouping.frameValues(
                platform: string(frame.platform) ?? eventPlatform, module: string(frame.module),
                absPath: { string(frame.absPath) }, filename: { string(frame.filename) },
                function: { string(frame.function) ?? string(frame.rawFunction) },
                contextLine: { string(frame.contextLine) })
            guard !values.isEmpty else { continue }
            system += values
            if frame.inApp { app += values }
        }
        return (app.isEmpty ? nil : app, system.isEmpty ? nil : system)
    }

    func normalized(context: EventNormalizer.Context) -> NormalizedEvent? {
        let id: String
        if let header = context.envelopeEventID {
            guard let normalized = EventID.normalize(header) else { return nil }
            id = normalized
        } else if let given = eventID, !given.isNull {
            guard let text = given.stringValue, let normalized = EventID.normalize(text) else { return nil }
            id = normalized
        } else {
            id = EventID.generate()
        }
        var errors: [JSONValue] = []  // kept only in the payload, which reading normalizes again
        let time = EventNormalizer.eventTime(timestamp, context: context, errors: &errors)
        let level = EventNormalizer.normalizeLevel(level)
        let platform = EventNormalizer.platform(platform)

        var messages = JSONObject()
        if let message { messages["message"] = message }
        if let logentry { messages["logentry"] = logentry }
        EventNormalizer.normalizeMessage(&messages)
        let entry = messages["logentry"]

        var app: Grouping.Variant = ([], false)
        var system: Grouping.Variant = ([], false)
        for exception in exceptions {
            Grouping.addException(
                stacks: stacktraceVariants(exception, platform: platform), type: exception.type,
                synthetic: exception.synthetic, value: exception.value, app: &app, system: &system)
        }
        let last = exceptions.last
        // Where grouping or the crash frame would look at threads or the event's own stack trace.
        if hasOtherStacks, system.values.isEmpty || last?.hasStacktrace != true { return nil }
        let variants =
            system.values.isEmpty
            ? Grouping.messageVariants(entry?["message"]?.stringValue ?? entry?["formatted"]?.stringValue)
            : (app.values.isEmpty ? system : app, system)
        let crash = last.flatMap { $0.frames.last(where: \.inApp) ?? $0.frames.last }
        let transaction = transaction?.stringValue.map { $0.limited(to: 200) }
        let tagPairs = tags.map(EventNormalizer.normalizeTags)?.arrayValue ?? []
        let defaults = Grouping.defaultVariants(variants)
        let hashes = Grouping.hashes(defaults: defaults, fingerprint: fingerprint?.arrayValue) {
            Grouping.FingerprintValues(
                transaction: transaction,
                message: entry?["formatted"]?.stringValue ?? entry?["message"]?.stringValue,
                lastException: last.map { ($0.type, $0.value) },
                crashFrame: crash.map {
                    (
                        string($0.function), string($0.module), string($0.absPath), string($0.filename),
                        string($0.compared.5)
                    )
                },
                level: level, logger: logger?.stringValue.map { $0.limited(to: 64) }, tags: tagPairs)
        }

        let summary = IssueSummary(
            lastException: last.map { ($0.type, $0.value) },
            crashFrame: crash.map {
                IssueSummary.CrashFrame(
                    module: string($0.module), filename: string($0.filename), absPath: string($0.absPath),
                    function: string($0.function))
            },
            formatted: entry?["formatted"]?.stringValue ?? entry?["message"]?.stringValue, transaction: transaction)

        var user = user
        var usedClientIP: String?
        if let given = user, let resolved = EventNormalizer.resolvingAutoIP(given, clientIP: context.clientIP) {
            user = resolved
            usedClientIP = context.clientIP
        }
        let release = EventNormalizer.validRelease(release, errors: &errors)
        let environment = EventNormalizer.validEnvironment(environment, errors: &errors)
        var event = NormalizedEvent(
            eventID: id, timestamp: time, received: context.received, level: level, platform: platform,
            release: release, environment: environment, hashes: hashes, summary: summary, user: user,
            serverName: serverName?.stringValue.map { $0.limited(to: 200) },
            tagPairs: tagPairs)
        event.sentAt = context.sentAt
        event.clientIP = usedClientIP
        return event
    }
}
