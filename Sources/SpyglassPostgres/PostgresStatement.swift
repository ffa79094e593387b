import PostgresNIO

/// A statement put together piece by piece: each value is bound (`$n`), never written into the text; only
/// identifiers and placeholders are.
struct PostgresStatement {
    private(set) var text: String
    private(set) var bindings = PostgresBindings()

    init(_ text: String = "") { self.text = text }

    /// Binds `value`; returns its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    /// Binds `value`, NULL when nil; returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    mutating func append(_ text: String) { self.text += text }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: text, binds: bindings) }
}
