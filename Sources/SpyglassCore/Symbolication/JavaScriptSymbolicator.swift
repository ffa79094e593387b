import Foundation
import SpyglassProtocol
import Synchronization

/// Rewrites the frames of JavaScript and Node events through the source maps uploaded for them
/// (`sentry-cli sourcemaps upload`), at ingest, before grouping: an issue is then one original function and line,
/// whatever the minifier named it in each build, and the page and the API read the stored event as it is.
///
/// A frame's map is found by the debug id of its file (`debug_meta.images[]` of type `sourcemap`, whose
/// `code_file` is the frame's `abs_path`), or, for clients that send none, by the event's release (and dist): the
/// minified file uploaded at the frame's URL (`~/path` matches any scheme and host), then the map its `Sourcemap`
/// header or `sourceMappingURL` comment names. A mapped frame gets the original file, line, column, the original
/// name of its function (the name at its caller's call site, as Sentry's legacy processor reads it), and context
/// lines from `sourcesContent`; each exception keeps its frames as sent in `raw_stacktrace`. What could not be
/// applied (a map that does not parse) is noted in the event's `errors`.
public final class JavaScriptSymbolicator: Sendable {
    let store: any ArtifactStore
    /// Parsed maps by (project, key), a few dozen at most; and per project whether it has artifacts at all.
    private let cache = Mutex(Cache())
    /// How long an answer about a project (artifacts or not) and a missing map is trusted: a bundle uploaded now
    /// applies to events a second later, and a project without bundles costs one query a second, not one an event.
    static let freshness: TimeInterval = 1
    static let cachedMaps = 32
    /// Distinct files looked up for one event: frames are event data, and each new path may cost queries, so an
    /// event naming thousands of files maps its first ones only.
    public static let filesPerEvent = 32
    /// Parsed maps cost ~40 bytes a token: the cache holds at most this many tokens together (~80 MB), dropping
    /// the oldest first; one map larger than this is parsed for each event that needs it and not kept.
    static let cachedTokens = 2_000_000

    struct Cache {
        /// A map (nil: none found, at `checked`) and what it is called in frames' `data.sourcemap`.
        typealias Entry = (map: Result<SourceMap, SourceMapError>?, reference: String, checked: Date)

        var hasArtifacts: [Int64: (value: Bool, checked: Date)] = [:]
        var maps: [String: Entry] = [:]
        var order: [String] = []
        var tokens = 0

        /// Keeps `entry` (a missing map too: keys come from event data, so every entry counts against the limits),
        /// dropping the oldest entries beyond ``cachedMaps`` maps or ``cachedTokens`` tokens.
        mutating func insert(_ key: String, _ entry: Entry) {
            if let old = maps[key] { tokens -= Self.size(old) } else { order.append(key) }
            maps[key] = entry
            tokens += Self.size(entry)
            while order.count > cachedMaps || tokens > cachedTokens, let oldest = order.first {
                order.removeFirst()
                if let removed = maps.removeValue(forKey: oldest) { tokens -= Self.size(removed) }
            }
        }

        static func size(_ entry: Entry) -> Int {
            (try? entry.map?.get())?.tokens.count ?? 0
        }
    }

    public init(store: any ArtifactStore) { self.store = store }

    /// Whether frames of events of this platform are looked up.
    public static func applies(to platform: String) -> Bool { platform == "javascript" || platform == "node" }

    /// Symbolicates `event` in place; returns whether its payload changed (frames mapped, or errors noted). Lookups
    /// that fail (the database) leave the event as it came: it is stored unsymbolicated rather than refused.
    public func symbolicate(_ event: inout NormalizedEvent, projectID: Int64, now: Date = .now) async -> Bool {
        guard Self.applies(to: event.platform), case .object(var payload) = event.payload else { return false }
        guard (try? await hasArtifacts(projectID: projectID, now: now)) == true else { return false }
        var debugIDs: [String: String] = [:]
        for image in payload["debug_meta"]?["images"]?.arrayValue ?? [] {
            guard image["type"]?.stringValue == "sourcemap", let file = image["code_file"]?.stringValue,
                let id = image["debug_id"]?.stringValue.flatMap(Self.debugID)
            else { continue }
            debugIDs[file] = id
        }
        let lookup = Lookup(
            projectID: projectID, release: event.release, dist: payload["dist"]?.stringValue, debugIDs: debugIDs, now: now)
        var errors = payload["errors"]?.arrayValue ?? []
        var files: Set<String> = []
        var changed = false
        if case .object(var exception)? = payload["exception"], var values = exception["values"]?.arrayValue {
            for index in values.indices {
                guard case .object(var value) = values[index], let stacktrace = value["stacktrace"],
                    let mapped = await map(stacktrace, lookup, files: &files, errors: &errors)
                else { continue }
                value["raw_stacktrace"] = stacktrace
                value["stacktrace"] = mapped
                values[index] = .object(value)
                changed = true
            }
            exception["values"] = .array(values)
            payload["exception"] = .object(exception)
        }
        if let stacktrace = payload["stacktrace"], let mapped = await map(stacktrace, lookup, files: &files, errors: &errors) {
            payload["raw_stacktrace"] = stacktrace
            payload["stacktrace"] = mapped
            changed = true
        }
        if !errors.isEmpty { payload["errors"] = .array(errors) }
        guard changed || errors.count != (event.payload["errors"]?.arrayValue?.count ?? 0) else { return false }
        event.replacePayload(.object(payload))
        return true
    }

    struct Lookup {
        var projectID: Int64
        var release: String?
        var dist: String?
        var debugIDs: [String: String]
        var now: Date
    }

    /// One frame's map and what it is called in errors and `data.sourcemap`.
    struct FoundMap {
        var map: SourceMap
        var reference: String
    }

    /// The stack trace with every frame that has a map rewritten; nil when none has.
    private func map(
        _ stacktrace: JSONValue, _ lookup: Lookup, files: inout Set<String>, errors: inout [JSONValue]
    ) async -> JSONValue? {
        guard case .object(var trace) = stacktrace, let frames = trace["frames"]?.arrayValue, !frames.isEmpty else { return nil }
        // Frames are oldest first: a frame's caller is the one before it.
        var tokens: [(map: FoundMap, token: SourceMap.Token)?] = []
        var mapped = frames
        var changed = false
        for (index, frame) in frames.enumerated() {
            tokens.append(nil)
            guard let path = frame["abs_path"]?.stringValue, !path.isEmpty,
                let line = Self.position(frame["lineno"]), let column = Self.position(frame["colno"]),
                files.contains(path) || files.count < Self.filesPerEvent
            else { continue }
            files.insert(path)
            let found: FoundMap
            switch await sourceMap(for: path, lookup) {
            case nil: continue
            case .failure(let error)?:
                Self.note(&errors, ["type": "js_invalid_sourcemap", "url": .string(path), "reason": .string(error.message)])
                continue
            case .success(let map)?: found = map
            }
            guard let token = found.map.token(line: line - 1, column: column - 1), let source = token.source,
                source < found.map.sources.count
            else {
                Self.note(&errors, [
                    "type": "js_invalid_sourcemap_location", "url": .string(path), "row": .number(JSONNumber(Int64(line))),
                    "column": .number(JSONNumber(Int64(column))),
                ])
                continue
            }
            tokens[index] = (found, token)
            mapped[index] = Self.rewrite(frame, map: found, token: token, source: source)
            changed = true
        }
        guard changed else { return nil }
        // Names: the original name at the caller's call site (the callee's own position names no function); a frame
        // without a mapped caller keeps the name it came with.
        for index in mapped.indices where tokens[index] != nil {
            guard index > 0, let caller = tokens[index - 1], let nameIndex = caller.token.name,
                nameIndex < caller.map.map.names.count, !caller.map.map.names[nameIndex].isEmpty,
                case .object(var frame) = mapped[index]
            else { continue }
            let name = caller.map.map.names[nameIndex]
            frame["function"] = .string(name.limited(to: 256))
            mapped[index] = .object(frame)
        }
        trace["frames"] = .array(mapped)
        return .object(trace)
    }

    static func rewrite(_ original: JSONValue, map found: FoundMap, token: SourceMap.Token, source: Int) -> JSONValue {
        guard case .object(var frame) = original else { return original }
        let map = found.map
        let path = map.sources[source]
        frame["abs_path"] = .string(path.limited(to: 1024))
        frame["filename"] = .string(filename(path).limited(to: 1024))
        frame["lineno"] = .number(JSONNumber(Int64(token.sourceLine + 1)))
        frame["colno"] = .number(JSONNumber(Int64(token.sourceColumn + 1)))
        frame["module"] = nil
        if frame["in_app"] == nil || frame["in_app"]?.isNull == true {
            frame["in_app"] = .bool(!path.contains("/node_modules/"))
        } else if path.contains("/node_modules/") {
            frame["in_app"] = .bool(false)
        }
        for key in ["pre_context", "context_line", "post_context"] { frame[key] = nil }
        if source < map.sourcesContent.count, let text = map.sourcesContent[source] {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let line = token.sourceLine
            if line < lines.count {
                func clip(_ text: Substring) -> JSONValue {
                    .string(String(text.hasSuffix("\r") ? text.dropLast() : text).limited(to: 200))
                }
                frame["context_line"] = clip(lines[line])
                frame["pre_context"] = .array(lines[max(0, line - 5)..<line].map(clip))
                frame["post_context"] = .array(lines[(line + 1)..<min(lines.count, line + 6)].map(clip))
            }
        }
        var data = frame["data"]?.objectValue ?? [:]
        data["sourcemap"] = .string(found.reference.limited(to: 1024))
        data["symbolicated"] = .bool(true)
        frame["data"] = .object(data)
        return .object(frame)
    }

    /// A source's name as a frame's `filename`: the path of a URL (`webpack://app/src/a.js` → `./src/a.js`, as
    /// Sentry shows webpack sources), a path as it is.
    public static func filename(_ source: String) -> String {
        guard let range = source.range(of: "://") else { return source }
        let rest = source[range.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return String(rest) }
        let scheme = source[..<range.lowerBound]
        let path = rest[slash...]
        return scheme == "webpack" ? "." + path : String(path)
    }

    static func note(_ errors: inout [JSONValue], _ error: JSONObject) {
        let value = JSONValue.object(error)
        if errors.count < 50, !errors.contains(value) { errors.append(value) }
    }

    /// A 1-based line or column as sent: an integer from 1 to the largest position a map may name.
    static func position(_ value: JSONValue?) -> Int? {
        guard let number = value?.int64Value, number >= 1, number <= Int64(SourceMap.maximumPosition) else { return nil }
        return Int(number)
    }

    /// A debug id as stored: a UUID, lower-case with dashes.
    public static func debugID(_ text: String) -> String? {
        var hex = text.lowercased().filter { $0 != "-" }
        guard hex.count >= 32, hex.prefix(32).allSatisfy(\.isHexDigit) else { return nil }
        hex = String(hex.prefix(32))
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }

    // MARK: - Lookups

    /// Whether the project has any artifacts (asked at most once per ``freshness``): without, there is nothing to
    /// look up, and ingest skips the work of reading the whole event.
    public func mayApply(projectID: Int64, now: Date = .now) async -> Bool {
        (try? await hasArtifacts(projectID: projectID, now: now)) == true
    }

    private func hasArtifacts(projectID: Int64, now: Date) async throws -> Bool {
        if let known = cache.withLock({ $0.hasArtifacts[projectID] }), now.timeIntervalSince(known.checked) < Self.freshness {
            return known.value
        }
        let value = try await store.hasArtifacts(projectID: projectID)
        cache.withLock { $0.hasArtifacts[projectID] = (value, now) }
        return value
    }

    /// The map for the file at `path`: nil when there is none, a failure when there is one that does not parse.
    private func sourceMap(for path: String, _ lookup: Lookup) async -> Result<FoundMap, SourceMapError>? {
        if let debugID = lookup.debugIDs[path] {
            let key = "\(lookup.projectID) debug \(debugID)"
            if let cached = await cachedMap(key, lookup.now, load: {
                try await self.store.artifact(projectID: lookup.projectID, debugID: debugID, kind: .sourceMap)
                    .map { ($0.content, "debug-id:\(debugID)") }
            }) {
                return cached
            }
        }
        guard let release = lookup.release else { return nil }
        let key = "\(lookup.projectID) release \(release)\u{0}\(lookup.dist ?? "")\u{0}\(path)"
        return await cachedMap(key, lookup.now) {
            guard
                let minified = try await self.store.artifact(
                    projectID: lookup.projectID, release: release, dist: lookup.dist, urls: Self.candidateURLs(path))
            else { return nil }
            if minified.kind == .sourceMap { return (minified.content, minified.url) }
            if let debugID = minified.debugID,
                let map = try await self.store.artifact(projectID: lookup.projectID, debugID: debugID, kind: .sourceMap)
            {
                return (map.content, map.url)
            }
            guard let reference = minified.sourceMapReference ?? Self.sourceMappingURL(minified.content),
                !reference.hasPrefix("data:")
            else { return nil }
            let url = Self.resolve(reference, against: minified.url)
            guard
                let map = try await self.store.artifact(
                    projectID: lookup.projectID, release: release, dist: lookup.dist, urls: [url] + Self.candidateURLs(url))
            else { return nil }
            return (map.content, map.url)
        }
    }

    /// A map from the cache, or loaded, parsed and cached (a missing one for ``freshness`` only).
    private func cachedMap(
        _ key: String, _ now: Date, load: () async throws -> (content: [UInt8], reference: String)?
    ) async -> Result<FoundMap, SourceMapError>? {
        if let entry = cache.withLock({ $0.maps[key] }), entry.map != nil || now.timeIntervalSince(entry.checked) < Self.freshness {
            return entry.map.map { $0.map { FoundMap(map: $0, reference: entry.reference) } }
        }
        guard let loaded = try? await load() else {
            cache.withLock { $0.insert(key, (nil, "", now)) }
            return nil
        }
        let parsed: Result<SourceMap, SourceMapError>
        do { parsed = .success(try SourceMap(json: loaded.content)) } catch { parsed = .failure(error) }
        // A map larger than the whole cache is used for this event and not kept.
        if ((try? parsed.get())?.tokens.count ?? 0) <= Self.cachedTokens {
            cache.withLock { $0.insert(key, (parsed, loaded.reference, now)) }
        }
        return parsed.map { FoundMap(map: $0, reference: loaded.reference) }
    }

    /// The URLs a file at `path` may have been uploaded as: itself, and `~/path` (any scheme and host).
    static func candidateURLs(_ path: String) -> [String] {
        var urls = [path]
        if let range = path.range(of: "://") {
            let rest = path[range.upperBound...]
            if let slash = rest.firstIndex(of: "/") {
                var tail = rest[slash...]
                if let query = tail.firstIndex(where: { $0 == "?" || $0 == "#" }) { tail = tail[..<query] }
                urls.append("~" + tail)
            }
        } else if path.hasPrefix("/") {
            urls.append("~" + path)
        }
        return urls
    }

    /// `reference` relative to the URL of the file that names it.
    static func resolve(_ reference: String, against url: String) -> String {
        if reference.contains("://") || reference.hasPrefix("~/") { return reference }
        if reference.hasPrefix("/") {
            guard let range = url.range(of: "://") else { return "~" + reference }
            let rest = url[range.upperBound...]
            return String(url[..<(rest.firstIndex(of: "/") ?? url.endIndex)]) + reference
        }
        guard let slash = url.lastIndex(of: "/") else { return reference }
        return String(url[...slash]) + reference
    }

    /// The `//# sourceMappingURL=` comment of a minified file's last lines.
    static func sourceMappingURL(_ content: [UInt8]) -> String? {
        let tail = String(decoding: content.suffix(4096), as: UTF8.self)
        for line in tail.split(whereSeparator: \.isNewline).reversed() {
            let text = line.trimmingCharacters(in: .whitespaces)
            for prefix in ["//# sourceMappingURL=", "//@ sourceMappingURL="] where text.hasPrefix(prefix) {
                let url = text.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
                return url.isEmpty ? nil : String(url.prefix(2048))
            }
        }
        return nil
    }
}
