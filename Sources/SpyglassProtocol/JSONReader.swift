/// Reads a JSON document front to back without building it: a caller walks the objects and arrays it expects,
/// takes the values it wants (``value(depth:)``) and skips the rest (``skip(depth:)``), so a large document of
/// known shape costs no tree of ``JSONValue``s to build and free (`LogItems.records(json:…)`).
///
/// The same lenient parser as ``JSONParser``, with its errors at the same byte offsets and its nesting limit:
/// every method takes `depth`, the nesting of the container the value is in (0 for the document itself), as
/// ``JSONParser`` counts it, and a document read to its end (``finish()``) is refused exactly where
/// ``JSONParser/parse(_:)-(Collection<UInt8>)`` refuses it.
public struct JSONReader {
    private var parser: Parser

    /// A reader of `bytes`, which must outlive it.
    public init(_ bytes: UnsafeBufferPointer<UInt8>) {
        parser = Parser(bytes: bytes)
        parser.skipWhitespace()
    }

    /// The first byte of the next value (whitespace skipped), or nil at the end of the input.
    public var next: UInt8? {
        parser.position < parser.bytes.count ? parser.bytes[parser.position] : nil
    }

    /// Whether the next value is an object.
    public var atObject: Bool { next == UInt8(ascii: "{") }

    /// Whether the next value is an array.
    public var atArray: Bool { next == UInt8(ascii: "[") }

    /// Reads the next value whole.
    public mutating func value(depth: Int) throws(JSONParser.Error) -> JSONValue {
        let value = try parser.parseValue(depth: depth)
        parser.skipWhitespace()
        return value
    }

    /// Where a scalar value lies in the input, and what it is: what a caller compares and decodes only when it must.
    public struct Token: Sendable, Equatable {
        public enum Kind: UInt8, Sendable {
            /// A string without escapes: ``start``..<``end`` are its bytes, inside the quotes.
            case string
            /// A string with a backslash escape (quotes excluded as for ``string``): decode it with ``JSONParser``.
            case escapedString
            /// A number, as written.
            case number
            /// `true`, `false` or `null`, as written.
            case literal
            /// `NaN`, `Infinity` or `-Infinity` (read as strings by ``JSONParser``).
            case special
        }

        public var start: Int
        public var end: Int
        public var kind: Kind

        public init(start: Int, end: Int, kind: Kind) {
            self.start = start
            self.end = end
            self.kind = kind
        }
    }

    /// Reads the next value if it is no object or array, as ``skip(depth:)`` would, and tells where it was; `nil`
    /// (nothing read) at an object or an array.
    public mutating func token() throws(JSONParser.Error) -> Token? {
        guard parser.position < parser.bytes.count else { _ = try parser.parseValue(depth: 0); return nil }
        let start = parser.position
        let token: Token
        switch parser.bytes[start] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            return nil
        case UInt8(ascii: "\""):
            let end = parser.quoteOrBackslash(from: start + 1)
            if end < parser.bytes.count, parser.bytes[end] == UInt8(ascii: "\"") {
                parser.position = end + 1
                token = Token(start: start + 1, end: end, kind: .string)
            } else {
                try parser.skipString()
                token = Token(start: start + 1, end: parser.position - 1, kind: .escapedString)
            }
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            try parser.scanNumber()
            token = Token(start: start, end: parser.position, kind: .number)
        case UInt8(ascii: "-") where start + 1 < parser.bytes.count && parser.bytes[start + 1] != UInt8(ascii: "I"):
            try parser.scanNumber()
            token = Token(start: start, end: parser.position, kind: .number)
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            _ = try parser.parseValue(depth: 0)
            token = Token(start: start, end: parser.position, kind: .literal)
        default:
            _ = try parser.parseValue(depth: 0)
            token = Token(start: start, end: parser.position, kind: .special)
        }
        parser.skipWhitespace()
        return token
    }

    /// The string a token of `bytes` (the buffer read) holds, decoded as ``JSONParser`` decodes it; nil for a token
    /// that is no string.
    public static func string(_ token: Token, in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        switch token.kind {
        case .string:
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[token.start..<token.end]), as: UTF8.self)
        case .escapedString:
            var parser = Parser(bytes: bytes)
            parser.position = token.start - 1  // its opening quote
            return try? parser.parseString()
        case .number, .literal, .special:
            return nil
        }
    }

    /// Reads past the next value, checking it as ``value(depth:)`` would.
    public mutating func skip(depth: Int) throws(JSONParser.Error) {
        try parser.skipValue(depth: depth)
        parser.skipWhitespace()
    }

    /// Reads the object that comes next (``atObject``): `member` is called with each member's name (decoded), in
    /// document order and duplicates included, and must read or skip its value at `depth + 1`.
    public mutating func members(depth: Int, _ member: (inout JSONReader, String) throws -> Void) throws {
        try eachMember(depth: depth, name: { try $0.memberName() }, member)
    }

    private mutating func eachMember<Name>(
        depth: Int, name: (inout Parser) throws -> Name, _ member: (inout JSONReader, Name) throws -> Void
    ) throws {
        try parser.enter(depth: depth + 1, closing: UInt8(ascii: "}"))
        if try parser.leaveIfEmpty(UInt8(ascii: "}")) { return }
        while true {
            let name = try name(&parser)
            try member(&self, name)
            if try parser.closes(UInt8(ascii: "}"), "an object") { break }
            parser.skipWhitespace()
        }
        parser.skipWhitespace()
    }

    /// Member names a caller looks for, matched against a member's bytes without decoding it.
    public struct Names: Sendable {
        let names: [[UInt8]]
        let strings: [String]

        public init(_ names: [String]) {
            strings = names
            self.names = names.map { Array($0.utf8) }
        }

        /// The index of the name a JSON string with escapes spells (`quoted`: its bytes, quotes included).
        func index(decoding quoted: UnsafeBufferPointer<UInt8>) -> Int? {
            guard let text = (try? JSONParser.parse(quoted))?.stringValue else { return nil }
            return strings.firstIndex { text == $0 }
        }

        /// The index of the name `bytes` spell (a string without escapes, quotes excluded).
        func index(of bytes: UnsafeBufferPointer<UInt8>) -> Int? {
            let count = bytes.count
            search: for (index, name) in names.enumerated() where name.count == count {
                for offset in 0..<count where name[offset] != bytes[offset] { continue search }
                return index
            }
            return nil
        }
    }

    /// Reads the object that comes next (``atObject``) as ``members(depth:_:)`` does, but names each member by its
    /// index in `names` (nil: another name) instead of decoding it: for objects read many times over.
    public mutating func members(depth: Int, names: Names, _ member: (inout JSONReader, Int?) throws -> Void) throws {
        try eachMember(depth: depth, name: { try $0.memberIndex(names) }, member)
    }

    /// Reads the array that comes next (``atArray``): `element` is called with each element's index and must read
    /// or skip it at `depth + 1`.
    public mutating func elements(depth: Int, _ element: (inout JSONReader, Int) throws -> Void) throws {
        try parser.enter(depth: depth + 1, closing: UInt8(ascii: "]"))
        if try parser.leaveIfEmpty(UInt8(ascii: "]")) { return }
        var index = 0
        while true {
            try element(&self, index)
            index += 1
            if try parser.closes(UInt8(ascii: "]"), "an array") { break }
            parser.skipWhitespace()
        }
        parser.skipWhitespace()
    }

    /// Refuses anything but whitespace after the document, as ``JSONParser`` does.
    public func finish() throws(JSONParser.Error) {
        guard parser.position == parser.bytes.count else {
            throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value")
        }
    }
}

extension Parser {
    /// Steps into an object or array at `depth` (its opening bracket is the current byte).
    mutating func enter(depth: Int, closing: UInt8) throws(JSONParser.Error) {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        position += 1
        skipWhitespace()
    }

    /// Consumes `closing` if the container just entered is empty.
    mutating func leaveIfEmpty(_ closing: UInt8) throws(JSONParser.Error) -> Bool {
        guard position < bytes.count && bytes[position] == closing else { return false }
        position += 1
        skipWhitespace()
        return true
    }

    /// A member's name, as its index in `names`, and its colon, leaving the position at its value.
    mutating func memberIndex(_ names: JSONReader.Names) throws(JSONParser.Error) -> Int? {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw error("unexpected \(describeCurrent()), expected a member name in quotes")
        }
        let start = position + 1
        var end = quoteOrBackslash(from: start)
        let escaped = end < bytes.count && bytes[end] == UInt8(ascii: "\\")
        if escaped || end >= bytes.count {
            try skipString()
            end = position - 1
        } else {
            position = end + 1
        }
        let index =
            escaped
            ? names.index(decoding: UnsafeBufferPointer(rebasing: bytes[(start - 1)..<(end + 1)]))
            : names.index(of: UnsafeBufferPointer(rebasing: bytes[start..<end]))
        try colonAfterName()
        return index
    }

    /// The colon after a member's name, leaving the position at its value.
    private mutating func colonAfterName() throws(JSONParser.Error) {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
            throw error("unexpected \(describeCurrent()), expected ':' after member name")
        }
        position += 1
        skipWhitespace()
    }

    /// A member's name and its colon, leaving the position at its value.
    mutating func memberName() throws(JSONParser.Error) -> String {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw error("unexpected \(describeCurrent()), expected a member name in quotes")
        }
        let name = try parseString()
        try colonAfterName()
        return name
    }
}
