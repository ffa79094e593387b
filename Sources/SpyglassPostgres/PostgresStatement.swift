import Logging
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

extension PostgresConnection {
    /// Every row `query` returns, each readable by column name.
    func allRows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        var rows: [PostgresRandomAccessRow] = []
        for try await row in try await self.query(query, logger: logger) { rows.append(row.makeRandomAccess()) }
        return rows
    }

    /// The first row `query` returns, if any.
    func firstRow(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRandomAccessRow? {
        for try await row in try await self.query(query, logger: logger) { return row.makeRandomAccess() }
        return nil
    }

    /// The first column of the first row (nil when there is no row, or the value is NULL).
    func scalar<Value: PostgresDecodable>(
        _ query: PostgresQuery, as type: Value.Type = Value.self, logger: Logger
    ) async throws -> Value? where Value._DecodableType == Value {
        for try await row in try await self.query(query, logger: logger) {
            return try row.makeRandomAccess()[0].decode(Value?.self)
        }
        return nil
    }

    /// The first column of every row.
    func column<Value: PostgresDecodable>(
        _ query: PostgresQuery, as type: Value.Type = Value.self, logger: Logger
    ) async throws -> [Value] {
        var values: [Value] = []
        for try await row in try await self.query(query, logger: logger) {
            values.append(try row.makeRandomAccess()[0].decode(Value.self))
        }
        return values
    }
}

extension PostgresRandomAccessRow {
    /// The value of the column named `name`.
    func value<Value: PostgresDecodable>(_ name: String, as type: Value.Type = Value.self) throws -> Value {
        try self[name].decode(Value.self)
    }
}
