import Foundation
import Runtime
import SpyglassProtocol
import Synchronization

/// A stack captured on the caller's thread: return addresses only (under a microsecond with the cached
/// image map); names, files and lines are looked up later, on the SDK's worker.
public struct CapturedStack: Sendable {
    let backtrace: Backtrace

    /// The caller's stack, without the SDK's own frames (`skip` of them).
    public static func capture(skip: Int = 0) -> CapturedStack? {
        guard let backtrace = try? Backtrace.capture(limit: 100, offset: skip + 1, top: 0, images: ImageCache.images) else { return nil }
        return CapturedStack(backtrace: backtrace)
    }
}

/// The process's loaded images, read once: reading them costs far more than a capture with them (docs/performance.md).
enum ImageCache {
    private static let cached = Mutex<ImageMap?>(nil)

    static var images: ImageMap {
        cached.withLock { map in
            if let map { return map }
            let captured = ImageMap.capture()
            map = captured
            return captured
        }
    }
}

/// Turns captured stacks into Sentry frames.
final class Symbolicator: Sendable {
    let inAppInclude: [String]
    let inAppExclude: [String]
    /// Source files already read, for context lines.
    private let sources = Mutex<[String: [Substring]?]>([:])

    /// Modules that are never the app's own, even when linked into its executable.
    static let libraryModules: [String] = [
        "Swift", "_Concurrency", "_StringProcessing", "Foundation", "FoundationEssentials", "FoundationInternationalization",
        "Dispatch", "Glibc", "Musl", "Darwin", "Runtime", "Synchronization", "XCTest", "Testing",
        "NIO", "_NIO", "CNIO", "Hummingbird", "Logging", "Metrics", "AsyncHTTPClient", "ServiceLifecycle", "UnixSignals",
        "Crypto", "_Crypto", "GRDB", "ArgumentParser", "HTTPTypes", "Atomics", "DequeModule", "Collections", "AsyncAlgorithms",
        "Spyglass", "SpyglassProtocol", "SpyglassLogging", "SpyglassHummingbird", "SpyglassTesting",
    ]

    init(inAppInclude: [String], inAppExclude: [String]) {
        self.inAppInclude = inAppInclude
        self.inAppExclude = inAppExclude
    }

    /// Stacks already symbolicated, by their addresses: the same error from the same place is common.
    private let symbolicated = Mutex<[[String]: [JSONValue]]>([:])

    /// Frames oldest first (Sentry's order), each with function, module, file, line, column, in_app and context.
    func frames(_ stack: CapturedStack) -> [JSONValue] {
        let key = stack.backtrace.frames.map { "\($0)" }
        if let cached = symbolicated.withLock({ $0[key] }) { return cached }
        let frames = symbolicate(stack)
        symbolicated.withLock { cache in
            if cache.count >= 256 { cache.removeAll() }
            cache[key] = frames
        }
        return frames
    }

    private func symbolicate(_ stack: CapturedStack) -> [JSONValue] {
        guard let symbolicated = stack.backtrace.symbolicated(with: stack.backtrace.images ?? ImageCache.images) else { return [] }
        let mainImage = CommandLine.arguments.first.map { URL(fileURLWithPath: $0).lastPathComponent }
        var frames: [JSONValue] = []
        for frame in symbolicated.frames {
            guard let symbol = frame.symbol else {
                switch frame.captured {
                case .omittedFrames, .truncated: continue
                default: if frame.captured.originalProgramCounter.isNull { continue }
                }
                frames.append(["instruction_addr": .string(hex(frame.captured.originalProgramCounter)), "in_app": false])
                continue
            }
            if frame.isSwiftThunk { continue }
            let module = Self.module(ofMangled: symbol.rawName) ?? symbol.imageName
            var object: JSONObject = [
                "function": .string(symbol.name), "module": .string(module), "package": .string(symbol.imageName),
                "instruction_addr": .string(hex(frame.captured.originalProgramCounter)),
            ]
            if symbol.rawName != symbol.name { object["raw_function"] = .string(symbol.rawName) }
            var inApp = isInApp(module: module, image: symbol.imageName, mainImage: mainImage)
            if let location = symbol.sourceLocation {
                let (relative, isDependency) = Self.relativePath(location.path)
                if isDependency { inApp = false }
                object["filename"] = .string(relative)
                object["abs_path"] = .string(location.path)
                object["lineno"] = .number(JSONNumber(Int64(location.line)))
                if location.column > 0 { object["colno"] = .number(JSONNumber(Int64(location.column))) }
                if location.line > 0, let lines = source(location.path) {
                    let index = location.line - 1
                    if index < lines.count {
                        object["context_line"] = .string(String(lines[index]))
                        object["pre_context"] = .array(lines[max(0, index - 5)..<index].map { .string(String($0)) })
                        object["post_context"] = .array(lines[(index + 1)..<min(lines.count, index + 6)].map { .string(String($0)) })
                    }
                }
            }
            object["in_app"] = .bool(inApp)
            frames.append(.object(object))
        }
        // The newest frames are the SDK's own (capture, trace, the log handler and swift-log): not the user's.
        let own: Set<String> = ["Spyglass", "SpyglassLogging", "SpyglassHummingbird", "Logging"]
        let firstUserFrame = frames.firstIndex { !own.contains($0["module"]?.stringValue ?? "") } ?? 0
        return frames[firstUserFrame...].reversed()
    }

    func isInApp(module: String, image: String, mainImage: String?) -> Bool {
        if inAppExclude.contains(where: { module.hasPrefix($0) }) { return false }
        if inAppInclude.contains(where: { module.hasPrefix($0) }) { return true }
        if Self.libraryModules.contains(where: { module == $0 || module.hasPrefix($0 + "_") || (module.hasPrefix("NIO") && $0 == "NIO") }) {
            return false
        }
        // The app's own code is linked into its executable; shared libraries are the system's.
        return image == mainImage || !image.contains(".so")
    }

    /// The module of a mangled Swift symbol (`$s4main5innerSiyF` → `main`).
    static func module(ofMangled name: String) -> String? {
        var rest = Substring(name)
        for prefix in ["$s", "$S", "_$s", "$e"] where rest.hasPrefix(prefix) {
            rest = rest.dropFirst(prefix.count)
            let digits = rest.prefix { $0.isNumber }
            guard let length = Int(digits), length > 0 else { return nil }
            rest = rest.dropFirst(digits.count)
            guard rest.count >= length else { return nil }
            let module = String(rest.prefix(length))
            return module == "s" ? "Swift" : module
        }
        if name.hasPrefix("$ss") { return "Swift" }
        return nil
    }

    /// A path relative to its package (`Sources/App/main.swift`), and whether it is a dependency's.
    static func relativePath(_ path: String) -> (String, Bool) {
        if let range = path.range(of: "/.build/checkouts/") { return (String(path[range.upperBound...]), true) }
        if let range = path.range(of: "/Sources/", options: .backwards) { return ("Sources/" + path[range.upperBound...], false) }
        if let range = path.range(of: "/Tests/", options: .backwards) { return ("Tests/" + path[range.upperBound...], false) }
        return (path, path.hasPrefix("/usr/") || path.hasPrefix("/opt/") || path.hasPrefix("/home/build-user/"))
    }

    private func source(_ path: String) -> [Substring]? {
        sources.withLock { cache in
            if let cached = cache[path] { return cached }
            var lines: [Substring]?
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                (attributes[.size] as? Int ?? .max) < 2_000_000, let data = FileManager.default.contents(atPath: path)
            {
                lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            }
            if cache.count > 500 { cache.removeAll() }
            cache[path] = lines
            return lines
        }
    }

    private func hex(_ address: Backtrace.Address) -> String { address.description }
}
