import Foundation
import GRDB
import PostgresNIO
import SpyglassPostgres
import SpyglassStorage

/// A value bound into fixture SQL, on either backend.
enum SQLValue: Sendable {
    case int(Int64)
    case double(Double)
    case text(String)
    case null
}

extension TestStore {
    /// Runs one statement with `?` placeholders on the test's database: rows that no port writes yet (an outbox row,
    /// an issue in a given state) and checks of rows that no port reads back. The same SQL serves both backends, so
    /// keep it to what both understand (and no `?` inside a string literal).
    func execute(_ sql: String, _ values: [SQLValue] = []) async throws {
        switch database {
        case .sqlite(let database):
            try await database.writer.write { db in try db.execute(sql: sql, arguments: Self.arguments(values)) }
        case .postgres(let database):
            try await database.withConnection { connection in
                try await connection.query(try Self.query(sql, values), logger: TestPostgres.logger)
            }
        }
    }

    /// The first column of every row of a query, as text (NULL as nil).
    func strings(_ sql: String, _ values: [SQLValue] = []) async throws -> [String?] {
        switch database {
        case .sqlite(let database):
            return try await database.writer.read { db in
                try String?.fetchAll(db, sql: sql, arguments: Self.arguments(values))
            }
        case .postgres(let database):
            return try await database.withConnection { connection in
                var strings: [String?] = []
                for try await row in try await connection.query(
                    try Self.query(sql, values), logger: TestPostgres.logger)
                {
                    strings.append(try row.makeRandomAccess()[0].decode(String?.self))
                }
                return strings
            }
        }
    }

    private static func arguments(_ values: [SQLValue]) -> StatementArguments {
        StatementArguments(
            values.map { value -> (any DatabaseValueConvertible)? in
                switch value {
                case .int(let int): int
                case .double(let double): double
                case .text(let text): text
                case .null: nil
                }
            })
    }

    /// `sql` with `$1`, `$2`, … for its `?` placeholders, and the values bound.
    private static func query(_ sql: String, _ values: [SQLValue]) throws -> PostgresQuery {
        var text = ""
        var index = 0
        for character in sql {
            if character == "?" {
                index += 1
                text += "$\(index)"
            } else {
                text.append(character)
            }
        }
        var bindings = PostgresBindings()
        for value in values {
            switch value {
            case .int(let int): bindings.append(int)
            case .double(let double): bindings.append(double)
            case .text(let text): bindings.append(text)
            case .null: bindings.appendNull()
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }
}
