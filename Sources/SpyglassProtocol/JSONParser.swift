/// A lenient, bounded JSON parser for what real SDKs send.
///
/// Accepted beyond strict JSON: invalid UTF-8 and lone UTF-16 surrogates (replaced by U+FFFD), raw control
/// characters inside strings, `NaN`/`Infinity`/`-Infinity` (Python's `json.dumps` writes them; kept as the
/// strings "NaN", "Infinity", "-Infinity"). Refused with a position: truncation, garbage, nesting deeper than
/// ``maxDepth`` (so hostile input can't exhaust the stack).
public struct JSONParser {
    /// Deepest nesting accepted.
    public static let maxDepth = 128

    /// Why a document was refused, and at which byte offset.
    public struct Error: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        public let message: String
        public let offset: Int
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses one JSON document that fills `bytes` (surrounding whitespace allowed).
    public static func parse(_ bytes: some Collection<UInt8>) throws(Error) -> JSONValue {
        try parse(bytes, omitting: [])
    }

    /// Parses like ``parse(_:)-(Collection<UInt8>)`` but leaves out the object members named in `omitting`, at
    /// any depth: their values are checked as JSON (syntax and depth, with the same errors) but not kept, so
    /// they cost no allocations. Names are compared as written: a name spelled with escapes is kept. Inside a
    /// member named in `keepingWhole` (compared decoded) nothing is left out.
    public static func parse(
        _ bytes: some Collection<UInt8>, omitting: [String], keepingWhole: [String] = []
    ) throws(Error) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { (buffer) throws(Error) -> JSONValue in
            var parser = Parser(bytes: buffer, omitted: omitting.map { Array($0.utf8) }, whole: keepingWhole)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.position == buffer.count else {
                throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value")
            }
            return value
        }
    }

    /// Parses UTF-8 text.
    public static func parse(_ text: String) throws(Error) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses UTF-8 text, leaving out the members named in `omitting` (see the byte form).
    public static func parse(
        _ text: String, omitting: [String], keepingWhole: [String] = []
    ) throws(Error) -> JSONValue {
        try parse(Array(text.utf8), omitting: omitting, keepingWhole: keepingWhole)
    }
}

struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Member names whose values are skipped (see `JSONParser.parse(_:omitting:)`).
    var omitted: [[UInt8]]
    /// Member names inside which nothing is omitted.
    let whole: [String]
    var position = 0

    init(bytes: UnsafeBufferPointer<UInt8>, omitted: [[UInt8]] = [], whole: [String] = []) {
        self.bytes = bytes
        self.omitted = omitted
        self.whole = whole
    }

    func error(_ message: String) -> JSONParser.Error {
        JSONParser.Error(message: message, offset: position)
    }

    func describeCurrent() -> String {
        guard position < bytes.count else { return "end of input" }
        let byte = bytes[position]
        if byte >= 0x21 && byte < 0x7f { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16)
    }

    /// Compact JSON (what SDKs send) has no whitespace between tokens: one inlined test of the next byte, the loop
    /// only where there is some.
    @inline(__always)
    mutating func skipWhitespace() {
        guard position < bytes.count, bytes[position] <= 0x20 else { return }
        skipWhitespaceRun()
    }

    mutating func skipWhitespaceRun() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0a, 0x0d, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParser.Error) -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "N"): try expectWord("NaN"); return .string("NaN")
        case UInt8(ascii: "I"): try expectWord("Infinity"); return .string("Infinity")
        case UInt8(ascii: "-") where position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "I"):
            position += 1
            try expectWord("Infinity")
            return .string("-Infinity")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected \(describeCurrent()), expected a value")
        }
    }

    mutating func expectWord(_ word: StaticString) throws(JSONParser.Error) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("unexpected end of input in a literal") }
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw error("unexpected \(describeCurrent()), expected a value") }
        position += count
    }

    mutating func parseObject(depth: Int) throws(JSONParser.Error) -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        position += 1
        var members: [JSONObject.Member] = []
        // Duplicate keys: the last wins. Large objects get an index so that stays linear.
        var index: [String: Int]?
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(JSONObject(uniqueMembers: members))
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeCurrent()), expected a member name in quotes")
            }
            let omit = isOmittedName()
            let key = omit ? "" : try parseString()
            if omit { try skipString() }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()), expected ':' after member name")
            }
            position += 1
            skipWhitespace()
            if omit {
                try skipValue(depth: depth)
            } else {
                let value: JSONValue
                if !omitted.isEmpty && whole.contains(where: { $0.utf8.count == key.utf8.count && $0 == key }) {
                    let saved = omitted
                    omitted = []
                    defer { omitted = saved }
                    value = try parseValue(depth: depth)
                } else {
                    value = try parseValue(depth: depth)
                }
                if members.count >= 16 && index == nil {
                    index = Dictionary(members.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { _, last in last })
                }
                // Lengths first: String's == of two different names is a call into the runtime, and most differ in
                // length (this runs for every member of every object).
                if let position = index.map({ $0[key] })
                    ?? members.firstIndex(where: { $0.key.utf8.count == key.utf8.count && $0.key == key })
                {
                    members[position].value = value
                } else {
                    index?[key] = members.count
                    members.append(JSONObject.Member(key: key, value: value))
                }
            }
            if try closes(UInt8(ascii: "}"), "an object") { return .object(JSONObject(uniqueMembers: members)) }
        }
    }

    /// After a member or an element: consumes "," (false: more follow) or the container's closing bracket (true).
    mutating func closes(_ closing: UInt8, _ container: StaticString) throws(JSONParser.Error) -> Bool {
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of input in \(container)") }
        switch bytes[position] {
        case UInt8(ascii: ","):
            position += 1
            return false
        case closing:
            position += 1
            return true
        default:
            let bracket = Character(Unicode.Scalar(closing))
            throw error("unexpected \(describeCurrent()), expected ',' or '\(bracket)' in \(container)")
        }
    }

    /// Whether the member name starting at `position` (its opening quote) is one of `omitted`, as written.
    func isOmittedName() -> Bool {
        for name in omitted {
            let end = position + 1 + name.count
            guard end < bytes.count, bytes[end] == UInt8(ascii: "\""), bytes[position + 1] == name.first else {
                continue
            }
            var index = 1
            while index < name.count && bytes[position + 1 + index] == name[index] { index += 1 }
            if index == name.count { return true }
        }
        return false
    }

    /// Checks a value as `parseValue` does (same errors, same depth limit) without building it.
    mutating func skipValue(depth: Int) throws(JSONParser.Error) {
        guard position < bytes.count else { throw error("unexpected end of input, expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): try skipObject(depth: depth + 1)
        case UInt8(ascii: "["): try skipArray(depth: depth + 1)
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber()
        default: _ = try parseValue(depth: depth)  // a literal or a negative number: nothing worth skipping
        }
    }

    mutating func skipObject(depth: Int) throws(JSONParser.Error) {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        position += 1
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("unexpected \(describeCurrent()), expected a member name in quotes")
            }
            try skipString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("unexpected \(describeCurrent()), expected ':' after member name")
            }
            position += 1
            skipWhitespace()
            try skipValue(depth: depth)
            if try closes(UInt8(ascii: "}"), "an object") { return }
        }
    }

    mutating func skipArray(depth: Int) throws(JSONParser.Error) {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        position += 1
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            try skipValue(depth: depth)
            if try closes(UInt8(ascii: "]"), "an array") { return }
        }
    }

    /// Checks a string as `parseString` does (escapes, `\u` digits) without building it.
    mutating func skipString() throws(JSONParser.Error) {
        position += 1  // opening quote
        while true {
            position = quoteOrBackslash(from: position)
            guard position < bytes.count else { break }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                position += 1
                return
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated string") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    break
                case UInt8(ascii: "u"): _ = try readHex4()
                default:
                    position -= 1
                    throw error("invalid escape '\\\(describeCurrent())' in a string")
                }
            default: position += 1
            }
        }
        throw error("unterminated string")
    }

    /// The offset of the first `"` or `\` at or after `start` (`bytes.count` when there is none), eight bytes at a
    /// time: most of a payload's bytes are inside strings (frames' source lines, breadcrumbs, modules).
    func quoteOrBackslash(from start: Int) -> Int {
        var index = start
        let count = bytes.count
        #if _endian(little)
            if let base = bytes.baseAddress {
                let raw = UnsafeRawPointer(base)
                let ones: UInt64 = 0x0101_0101_0101_0101
                let highs: UInt64 = 0x8080_8080_8080_8080
                while index + 8 <= count {
                    let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    let quotes = word ^ 0x2222_2222_2222_2222
                    let backslashes = word ^ 0x5C5C_5C5C_5C5C_5C5C
                    // A zero byte of either is a match; the lowest flag is always a true one (little-endian: the
                    // first byte in memory is the lowest).
                    let found = ((quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes) & highs
                    if found != 0 { return index + found.trailingZeroBitCount / 8 }
                    index += 8
                }
            }
        #endif
        while index < count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return index }
            index += 1
        }
        return count
    }

    mutating func parseArray(depth: Int) throws(JSONParser.Error) -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            if try closes(UInt8(ascii: "]"), "an array") { return .array(elements) }
        }
    }

    mutating func parseNumber() throws(JSONParser.Error) -> JSONNumber {
        let start = position
        try scanNumber()
        let literal = UnsafeBufferPointer(rebasing: bytes[start..<position])
        return JSONNumber(literal: String(decoding: literal, as: UTF8.self))
    }

    /// Reads past a number, checking it as ``parseNumber()`` does.
    mutating func scanNumber() throws(JSONParser.Error) {
        func digits(_ parser: inout Parser) -> Int {
            let begin = parser.position
            while parser.position < parser.bytes.count,
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(parser.bytes[parser.position])
            {
                parser.position += 1
            }
            return parser.position - begin
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard digits(&self) > 0 else { throw error("invalid number") }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw error("invalid number: digits expected after '.'") }
        }
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
                position += 1
            }
            guard digits(&self) > 0 else { throw error("invalid number: digits expected in the exponent") }
        }
    }

    mutating func parseString() throws(JSONParser.Error) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes.
        position = quoteOrBackslash(from: position)
        guard position < bytes.count else { throw error("unterminated string") }
        if bytes[position] == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            position += 1
            return text
        }
        var buffer = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: buffer, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated string") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5c)
                case UInt8(ascii: "/"): buffer.append(0x2f)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0c)
                case UInt8(ascii: "n"): buffer.append(0x0a)
                case UInt8(ascii: "r"): buffer.append(0x0d)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"): appendScalar(try parseUnicodeEscape(), to: &buffer)
                default:
                    position -= 1
                    throw error("invalid escape '\\\(describeCurrent())' in a string")
                }
            default:
                buffer.append(byte)
                position += 1
            }
        }
        throw error("unterminated string")
    }

    /// Reads `XXXX` after `\u` (and a following `\uXXXX` low surrogate); lone surrogates become U+FFFD.
    mutating func parseUnicodeEscape() throws(JSONParser.Error) -> Unicode.Scalar {
        let first = try readHex4()
        if (0xD800...0xDBFF).contains(first) {
            if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                let saved = position
                position += 2
                let second = try readHex4()
                if (0xDC00...0xDFFF).contains(second) {
                    let value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
                    return Unicode.Scalar(value) ?? "\u{FFFD}"
                }
                position = saved  // not a low surrogate: leave it for the next round
            }
            return "\u{FFFD}"
        }
        if (0xDC00...0xDFFF).contains(first) { return "\u{FFFD}" }
        return Unicode.Scalar(UInt32(first)) ?? "\u{FFFD}"
    }

    mutating func readHex4() throws(JSONParser.Error) -> UInt16 {
        guard position + 4 <= bytes.count else { throw error("unterminated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }

    func appendScalar(_ scalar: Unicode.Scalar, to buffer: inout [UInt8]) {
        UTF8.encode(scalar) { buffer.append($0) }
    }
}
