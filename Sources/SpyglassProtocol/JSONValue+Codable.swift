/// A JSON tree inside a `Codable` type: an issue's `metadata`, an activity's `data`, a request field whose shape
/// is open. Events themselves are read with ``JSONParser`` and written with ``JSONWriter``, which keep numbers'
/// literal text; through a `Codable` coder an integer stays exact within Int64/UInt64 and other numbers are
/// Doubles.
extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            while !list.isAtEnd { elements.append(try list.decode(JSONValue.self)) }
            self = .array(elements)
        } else if let object = try? decoder.container(keyedBy: MemberKey.self) {
            var members = JSONObject()
            for key in object.allKeys { members[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(members)
        } else {
            let value = try decoder.singleValueContainer()
            if value.decodeNil() {
                self = .null
            } else if let bool = try? value.decode(Bool.self) {
                self = .bool(bool)
            } else if let integer = try? value.decode(Int64.self) {
                self = .number(JSONNumber(integer))
            } else if let integer = try? value.decode(UInt64.self) {
                self = .number(JSONNumber(literal: String(integer)))
            } else if let number = try? value.decode(Double.self) {
                self = .number(JSONNumber(number))
            } else {
                self = .string(try value.decode(String.self))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var value = encoder.singleValueContainer()
            try value.encodeNil()
        case .bool(let bool):
            var value = encoder.singleValueContainer()
            try value.encode(bool)
        case .number(let number):
            var value = encoder.singleValueContainer()
            if let integer = number.int64Value {
                try value.encode(integer)
            } else if let integer = UInt64(number.literal) {
                try value.encode(integer)
            } else {
                try value.encode(number.doubleValue)
            }
        case .string(let text):
            var value = encoder.singleValueContainer()
            try value.encode(text)
        case .array(let elements):
            var list = encoder.unkeyedContainer()
            for element in elements { try list.encode(element) }
        case .object(let members):
            var object = encoder.container(keyedBy: MemberKey.self)
            for member in members { try object.encode(member.value, forKey: MemberKey(member.key)) }
        }
    }

    /// Any member name.
    struct MemberKey: CodingKey {
        let stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}
