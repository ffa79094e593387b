/// A JSON document as SDKs send it, decoded leniently and kept whole.
///
/// Numbers keep their literal text, so integers beyond Int64 and exact decimals survive a round trip;
/// unknown fields are kept because objects are plain dictionaries.
/// ```
/// {"event_id":"4ea35aa1…","timestamp":1732483526.22,"tags":{"tenant":"acme"},"extra":{"big":123456789012345678901234}}
/// ```
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// The member `key` of an object; `nil` for other values or a missing key.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The number as a Double, if this is a number.
    public var doubleValue: Double? {
        if case .number(let number) = self { return number.doubleValue }
        return nil
    }

    /// The number as an Int64, if this is an integer number within range.
    public var int64Value: Int64? {
        if case .number(let number) = self { return number.int64Value }
        return nil
    }

    /// The Bool, if this is one.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The members, if this is an object.
    public var objectValue: JSONObject? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// A JSON number, kept as its literal text.
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The text as it appeared (already validated as a JSON number).
    public let literal: String

    /// Wraps a literal known to be a valid JSON number.
    public init(literal: String) { self.literal = literal }

    /// An integer number.
    public init(_ value: Int64) { literal = String(value) }

    /// A finite floating-point number (non-finite values become 0).
    public init(_ value: Double) {
        guard value.isFinite else {
            literal = "0"
            return
        }
        if value == value.rounded(), abs(value) < 1e15 {
            literal = String(Int64(value))
        } else {
            literal = "\(value)"
        }
    }

    /// The value as a Double (large integers lose precision).
    public var doubleValue: Double { Double(literal) ?? 0 }

    /// The value as an Int64 when it is an integer literal within range.
    public var int64Value: Int64? { Int64(literal) }

    public var description: String { literal }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .number(JSONNumber(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var object = JSONObject()
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }
    public init(nilLiteral: ()) { self = .null }
}
