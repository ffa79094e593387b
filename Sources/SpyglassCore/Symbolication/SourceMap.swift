import SpyglassProtocol

/// A Source Map v3 (https://tc39.es/ecma426/): what maps positions in minified JavaScript back to its sources.
///
/// Parsed once into a sorted list of tokens (decoded `mappings`), with an index map's `sections` flattened into it.
/// Maps are uploaded by users and read by the server: every number is range-checked and a bad map is a
/// ``SourceMapError`` naming what is wrong and where, never a trap.
public struct SourceMap: Sendable {
    /// One decoded mapping segment: a position in the generated file and, when it has one, the original position.
    public struct Token: Sendable, Hashable {
        /// 0-based line and column (in UTF-16 code units, as JavaScript counts) of the generated file.
        public var line: Int
        public var column: Int
        /// Index into ``SourceMap/sources``; nil for a segment that maps to no source.
        public var source: Int?
        public var sourceLine: Int
        public var sourceColumn: Int
        /// Index into ``SourceMap/names``.
        public var name: Int?
    }

    /// What a generated position maps to.
    public struct Location: Sendable, Hashable {
        /// The source's path as the map names it (with `sourceRoot` applied).
        public var source: String
        /// 0-based line and column in the source.
        public var line: Int
        public var column: Int
        /// The original name at that position (an identifier the minifier renamed), if the map records it.
        public var name: String?

        public init(source: String, line: Int, column: Int, name: String?) {
            self.source = source
            self.line = line
            self.column = column
            self.name = name
        }
    }

    public private(set) var sources: [String] = []
    /// The sources' text, where the map embeds it (`sourcesContent`).
    public private(set) var sourcesContent: [String?] = []
    public private(set) var names: [String] = []
    /// `debug_id` (or `debugId`): ties the map to the minified file `sentry-cli sourcemaps inject` stamped.
    public private(set) var debugID: String?
    public private(set) var file: String?
    /// Sorted by (line, column).
    public private(set) var tokens: [Token] = []

    /// The largest line or column a map may name: far beyond any real file, and far from overflowing.
    static let maximumPosition = 100_000_000

    /// Parses a map (regular or index map) from its JSON.
    public init(json bytes: some Collection<UInt8>) throws(SourceMapError) {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw SourceMapError("not JSON: \(error)") }
        try self.init(value: value, path: "map", depth: 0)
    }

    init(value: JSONValue, path: String, depth: Int) throws(SourceMapError) {
        guard value.objectValue != nil else { throw SourceMapError("\(path): expected a JSON object") }
        guard value["version"]?.int64Value == 3 else { throw SourceMapError("\(path).version: expected 3") }
        file = value["file"]?.stringValue
        debugID = (value["debug_id"] ?? value["debugId"])?.stringValue
        if let sections = value["sections"] {
            try flatten(sections, path: "\(path).sections", depth: depth)
            return
        }
        let root = value["sourceRoot"]?.stringValue ?? ""
        sources = try Self.strings(value["sources"], path: "\(path).sources").map { source in
            guard let source else { return "" }
            if root.isEmpty || source.hasPrefix("/") || source.contains("://") { return source }
            return root.hasSuffix("/") ? root + source : root + "/" + source
        }
        let content = value["sourcesContent"].map { try? Self.strings($0, path: "") } ?? nil
        sourcesContent = sources.indices.map { index in
            guard let content, index < content.count else { return nil }
            return content[index]
        }
        names = try Self.strings(value["names"] ?? .array([]), path: "\(path).names").map { $0 ?? "" }
        guard let mappings = value["mappings"]?.stringValue else { throw SourceMapError("\(path).mappings: expected a string") }
        tokens = try Self.decode(mappings, sources: sources.count, names: names.count, path: "\(path).mappings")
    }

    /// An index map: each section's map, its tokens moved by the section's offset (the column only on the
    /// section's first line) and its sources and names appended.
    private mutating func flatten(_ sections: JSONValue, path: String, depth: Int) throws(SourceMapError) {
        guard depth == 0 else { throw SourceMapError("\(path): an index map's sections cannot hold index maps") }
        guard let list = sections.arrayValue else { throw SourceMapError("\(path): expected a list") }
        var previous = (line: -1, column: -1)
        for (index, section) in list.enumerated() {
            let at = "\(path)[\(index)]"
            guard let line = section["offset"]?["line"]?.int64Value, let column = section["offset"]?["column"]?.int64Value,
                (0...Int64(Self.maximumPosition)).contains(line), (0...Int64(Self.maximumPosition)).contains(column)
            else { throw SourceMapError("\(at).offset: expected {line, column}, each from 0 to \(Self.maximumPosition)") }
            let offset = (line: Int(line), column: Int(column))
            guard offset > previous else { throw SourceMapError("\(at).offset: sections must be in order and not overlap") }
            previous = offset
            guard section["url"] == nil else { throw SourceMapError("\(at).url: sections that refer to other maps are not supported") }
            guard let map = section["map"] else { throw SourceMapError("\(at).map: missing") }
            let inner = try SourceMap(value: map, path: "\(at).map", depth: depth + 1)
            let (sourceBase, nameBase) = (sources.count, names.count)
            sources += inner.sources
            sourcesContent += inner.sourcesContent
            names += inner.names
            for var token in inner.tokens {
                if token.line == 0 { token.column += offset.column }
                token.line += offset.line
                token.source = token.source.map { $0 + sourceBase }
                token.name = token.name.map { $0 + nameBase }
                tokens.append(token)
            }
        }
        tokens.sort { ($0.line, $0.column) < ($1.line, $1.column) }
    }

    private static func strings(_ value: JSONValue?, path: String) throws(SourceMapError) -> [String?] {
        guard let list = value?.arrayValue else { throw SourceMapError("\(path): expected a list") }
        var strings: [String?] = []
        for (index, item) in list.enumerated() {
            if item.isNull {
                strings.append(nil)
            } else if let text = item.stringValue {
                strings.append(text)
            } else {
                throw SourceMapError("\(path)[\(index)]: expected a string or null")
            }
        }
        return strings
    }

    /// Decodes `mappings`: lines separated by `;`, segments by `,`, each 1, 4 or 5 Base64 VLQ values relative to the
    /// previous segment's (the column to the previous on the same line).
    static func decode(_ mappings: String, sources: Int, names: Int, path: String) throws(SourceMapError) -> [Token] {
        var tokens: [Token] = []
        var line = 0
        var column = 0
        var (source, sourceLine, sourceColumn, name) = (0, 0, 0, 0)
        var fields: [Int] = []
        var segment = 0
        var value = 0
        var shift = 0
        func fail(_ text: String) -> SourceMapError { SourceMapError("\(path): \(text) (line \(line + 1), segment \(segment + 1))") }

        func finishSegment() throws(SourceMapError) {
            defer {
                fields.removeAll(keepingCapacity: true)
                segment += 1
            }
            guard shift == 0 else { throw fail("a value is cut off") }
            guard !fields.isEmpty else { return }
            guard fields.count == 1 || fields.count == 4 || fields.count == 5 else {
                throw fail("a segment has \(fields.count) values, expected 1, 4 or 5")
            }
            column += fields[0]
            guard (0...maximumPosition).contains(column) else { throw fail("column \(column) is out of range") }
            guard fields.count >= 4 else {
                tokens.append(Token(line: line, column: column, source: nil, sourceLine: 0, sourceColumn: 0, name: nil))
                return
            }
            source += fields[1]
            sourceLine += fields[2]
            sourceColumn += fields[3]
            guard (0..<sources).contains(source) else { throw fail("source \(source) is not one of the \(sources) sources") }
            guard (0...maximumPosition).contains(sourceLine), (0...maximumPosition).contains(sourceColumn) else {
                throw fail("source position \(sourceLine):\(sourceColumn) is out of range")
            }
            var nameIndex: Int?
            if fields.count == 5 {
                name += fields[4]
                guard (0..<names).contains(name) else { throw fail("name \(name) is not one of the \(names) names") }
                nameIndex = name
            }
            tokens.append(
                Token(line: line, column: column, source: source, sourceLine: sourceLine, sourceColumn: sourceColumn, name: nameIndex))
        }

        for byte in mappings.utf8 {
            switch byte {
            case UInt8(ascii: ","):
                try finishSegment()
            case UInt8(ascii: ";"):
                try finishSegment()
                line += 1
                guard line <= maximumPosition else { throw fail("too many lines") }
                column = 0
                segment = 0
            default:
                guard let digit = base64[Int(byte)] else {
                    throw fail("\"\(String(decoding: [byte], as: UTF8.self))\" is not a Base64 VLQ character")
                }
                // 5 bits a character; the first character's lowest bit is the sign.
                guard shift <= 30 else { throw fail("a value is too large") }
                value |= Int(digit & 31) << shift
                if digit & 32 != 0 {
                    shift += 5
                } else {
                    fields.append(value & 1 == 1 ? -(value >> 1) : value >> 1)
                    value = 0
                    shift = 0
                }
            }
        }
        try finishSegment()
        // Generated positions only grow within a line, but maps from concatenations may not be sorted.
        if !zip(tokens, tokens.dropFirst()).allSatisfy({ ($0.line, $0.column) <= ($1.line, $1.column) }) {
            tokens.sort { ($0.line, $0.column) < ($1.line, $1.column) }
        }
        return tokens
    }

    /// The Base64 digit of each ASCII byte.
    static let base64: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    /// The token at or before a generated position: the last one whose (line, column) is not after it, as Sentry's
    /// symbolicator and Node look tokens up.
    public func token(line: Int, column: Int) -> Token? {
        var (low, high) = (0, tokens.count)
        while low < high {
            let middle = (low + high) / 2
            if (tokens[middle].line, tokens[middle].column) <= (line, column) { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? tokens[low - 1] : nil
    }

    /// The original position of a generated one (0-based), if the map has a token for it that names a source.
    public func location(line: Int, column: Int) -> Location? {
        guard let token = token(line: line, column: column), let source = token.source else { return nil }
        return Location(
            source: sources[source], line: token.sourceLine, column: token.sourceColumn, name: token.name.map { names[$0] })
    }
}

/// A source map that cannot be read: what is wrong and where.
public struct SourceMapError: Error, CustomStringConvertible, Sendable, Hashable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "source map: \(message)" }
}
