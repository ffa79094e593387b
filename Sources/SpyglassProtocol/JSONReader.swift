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

    /// Reads past the next value, checking it as ``value(depth:)`` would.
    public mutating func skip(depth: Int) throws(JSONParser.Error) {
        try parser.skipValue(depth: depth)
        parser.skipWhitespace()
    }

    /// Reads the object that comes next (``atObject``): `member` is called with each member's name (decoded), in
    /// document order and duplicates included, and must read or skip its value at `depth + 1`.
    public mutating func members(depth: Int, _ member: (inout JSONReader, String) throws -> Void) throws {
        try parser.enter(depth: depth + 1, closing: UInt8(ascii: "}"))
        if try parser.leaveIfEmpty(UInt8(ascii: "}")) { return }
        while true {
            let name = try parser.memberName()
            try member(&self, name)
            if try parser.closes(UInt8(ascii: "}"), "an object") { break }
            parser.skipWhitespace()
        }
        parser.skipWhitespace()
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

    /// A member's name and its colon, leaving the position at its value.
    mutating func memberName() throws(JSONParser.Error) -> String {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw error("unexpected \(describeCurrent()), expected a member name in quotes")
        }
        let name = try parseString()
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
            throw error("unexpected \(describeCurrent()), expected ':' after member name")
        }
        position += 1
        skipWhitespace()
        return name
    }
}
