import Foundation

/// Function names as they count for grouping, per platform (frozen with `spyglass:2026-11`).
///
/// - Swift (demangled): `closure #2 in` → `closure in`; generic specializations, `@objc`, thunk and
///   `partial apply` prefixes, generic parameters, argument lists, `async`/`throws` and return types go:
///   `closure #1 in static App.Server.handle(_: Request) async throws -> Response` → `closure in App.Server.handle`.
/// - C/C++/Objective-C (native): argument lists, templates and trailing qualifiers go.
/// - JavaScript/Node: the last dotted part; anonymous placeholders count as no function.
/// - Ruby: `block in foo` / `block (2 levels) in foo` → `block`; ERB suffixes go.
/// - Java: `lambda$…` counts as no function.
/// - Others (Python, PHP, …): unchanged.
public enum FunctionNameNormalizer {
    /// The name that contributes, or `nil` when the function does not count.
    public static func normalize(_ function: String, platform: String) -> String? {
        let name = function.trimmingWhitespace
        guard !name.isEmpty else { return nil }
        switch platform {
        case "javascript", "node":
            if ["?", "<anonymous>", "<anonymous function>", "Anonymous function", "eval"].contains(name) || name.hasSuffix("/<") {
                return nil
            }
            return name.split(separator: ".").last.map(String.init) ?? name
        case "ruby":
            if name.hasPrefix("block ") || name == "block" { return "block" }
            return stripERBSuffix(name)
        case "java":
            return name.hasPrefix("lambda$") ? nil : name
        case "native", "c", "cocoa", "objc", "swift":
            if ["<redacted>", "<unknown>"].contains(name) { return nil }
            if name.hasPrefix("-[") || name.hasPrefix("+[") { return name }
            return trimNative(name)
        default:
            return name
        }
    }

    /// Swift and C++ demangled names without the parts that change between builds or call sites.
    static func trimNative(_ name: String) -> String {
        var text = name
        let prefixes = [
            "generic specialization ", "partial apply for ", "partial apply forwarder for ", "merged ", "@objc ",
            "@nonobjc ", "reabstraction thunk helper from ", "reabstraction thunk from ", "thunk for ",
            "dispatch thunk of ", "protocol witness for ", "outlined copy of ", "outlined destroy of ",
            "function signature specialization ", "specialized ", "static ",
        ]
        var changed = true
        while changed {
            changed = false
            for prefix in prefixes where text.hasPrefix(prefix) {
                text.removeFirst(prefix.count)
                // "generic specialization <Int> of foo": drop the specialization list and "of ".
                if text.hasPrefix("<") { text = String(dropBalanced(text, open: "<", close: ">")) }
                if text.hasPrefix(" ") { text.removeFirst() }
                if text.hasPrefix("of ") { text.removeFirst(3) }
                changed = true
            }
        }
        // "closure #2 in outer" → segments of nested contexts, each normalized.
        let segments = text.components(separatedBy: " in ").map { segment -> String in
            var part = segment.trimmingWhitespace
            if part.hasPrefix("closure #") || part.hasPrefix("implicit closure #") {
                return part.hasPrefix("implicit") ? "implicit closure" : "closure"
            }
            for prefix in ["static ", "@objc ", "merged "] where part.hasPrefix(prefix) { part.removeFirst(prefix.count) }
            if let arrow = part.range(of: " -> ") { part = String(part[..<arrow.lowerBound]) }
            part = removeGroups(part)
            var trimmedSuffix = true
            while trimmedSuffix {
                trimmedSuffix = false
                for suffix in [" async", " throws", " rethrows", " const", " &", " &&", " noexcept"] where part.hasSuffix(suffix) {
                    part.removeLast(suffix.count)
                    trimmedSuffix = true
                }
            }
            return part.trimmingWhitespace
        }
        let result = segments.filter { !$0.isEmpty }.joined(separator: " in ")
        return result.isEmpty ? name : result
    }

    /// Drops every balanced `(...)` and `<...>` group (argument lists, generic and template parameters).
    static func removeGroups(_ text: String) -> String {
        var out = ""
        var depth = 0
        var previous: Character = " "
        for character in text {
            switch character {
            case "(", "<":
                // `operator<` and `operator()` keep their symbol.
                if out.hasSuffix("operator") { out.append(character); continue }
                depth += 1
            case ")", ">":
                if depth > 0 { depth -= 1 } else if previous != "-" { out.append(character) }
            default:
                if depth == 0 { out.append(character) }
            }
            previous = character
        }
        return out
    }

    private static func dropBalanced(_ text: String, open: Character, close: Character) -> Substring {
        var depth = 0
        for (offset, character) in text.enumerated() {
            if character == open { depth += 1 }
            if character == close {
                depth -= 1
                if depth == 0 { return text.dropFirst(offset + 1) }
            }
        }
        return Substring(text)
    }

    private static func stripERBSuffix(_ name: String) -> String {
        // `_app_views_home_index_html_erb__3434239_7072` → `_app_views_home_index_html_erb`
        guard let range = name.range(of: "__", options: .backwards) else { return name }
        let tail = name[range.upperBound...]
        let parts = tail.split(separator: "_")
        if parts.count == 2, parts.allSatisfy({ $0.count >= 4 && $0.allSatisfy(\.isNumber) }) {
            return String(name[..<range.lowerBound])
        }
        return name
    }
}
