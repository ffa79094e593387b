import Foundation
import Logging
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

// Reading rows by column name, for the adapters of the storage ports.

extension PostgresConnection {
    /// Every row `query` returns, each readable by column name.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await answer(query, logger: logger).map { $0.makeRandomAccess() }
    }

    /// The first row `query` returns, if any.
    func row(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRandomAccessRow? {
        try await answer(query, logger: logger).first?.makeRandomAccess()
    }

    /// Runs a statement whose rows (if any) do not matter.
    func execute(_ query: PostgresQuery, logger: Logger) async throws {
        try await answer(query, logger: logger)
    }

    /// The first column of the first row (nil when there is no row, or the value is NULL).
    func scalar<Value: PostgresDecodable>(
        _ query: PostgresQuery, as type: Value.Type = Value.self, logger: Logger
    ) async throws -> Value? where Value._DecodableType == Value {
        try await answer(query, logger: logger).first?.makeRandomAccess()[0].decode(Value?.self)
    }

    /// The first column of every row.
    func column<Value: PostgresDecodable>(
        _ query: PostgresQuery, as type: Value.Type = Value.self, logger: Logger
    ) async throws -> [Value] {
        try await answer(query, logger: logger).map { try $0.makeRandomAccess()[0].decode(Value.self) }
    }
}

extension PostgresAppDatabase {
    /// Every row `query` returns, on a connection of the pool.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await withConnection { connection in try await connection.rows(query, logger: logger) }
    }

    /// The first row `query` returns, if any.
    func row(_ query: PostgresQuery) async throws -> PostgresRandomAccessRow? {
        try await withConnection { connection in try await connection.row(query, logger: logger) }
    }

    /// Runs one statement, outside any explicit transaction.
    func execute(_ query: PostgresQuery) async throws {
        try await withConnection { connection in try await connection.execute(query, logger: logger) }
    }
}

extension PostgresRandomAccessRow {
    /// The value of `column` as `T`; a NULL decodes only into an Optional.
    func decode<T: PostgresDecodable>(_ column: String, as _: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }

    /// A 0/1 flag (BIGINT, as SQLite stores flags).
    func flag(_ column: String) throws -> Bool {
        try decode(column, as: Int64.self) != 0
    }

    /// A time stored as epoch seconds (DOUBLE PRECISION).
    func date(_ column: String) throws -> Date {
        Date(timeIntervalSince1970: try decode(column, as: Double.self))
    }

    /// A time stored as epoch seconds, or NULL.
    func optionalDate(_ column: String) throws -> Date? {
        try decode(column, as: Double?.self).map(Date.init(timeIntervalSince1970:))
    }

    /// A time stored as text in SQLite's `YYYY-MM-DD HH:MM:SS.SSS` (``StoredDate``).
    func textDate(_ column: String) throws -> Date {
        let text = try decode(column, as: String.self)
        guard let date = StoredDate.date(text) else {
            throw DomainError(.unavailable, "stored data is damaged: \(column) '\(text)' is not a date")
        }
        return date
    }

    /// A time stored as text, or NULL.
    func optionalTextDate(_ column: String) throws -> Date? {
        guard let text = try decode(column, as: String?.self) else { return nil }
        guard let date = StoredDate.date(text) else {
            throw DomainError(.unavailable, "stored data is damaged: \(column) '\(text)' is not a date")
        }
        return date
    }
}

extension Bool {
    /// The stored flag: flags are BIGINT 0/1, as in SQLite, so they are bound as integers, never as booleans.
    var flag: Int { self ? 1 : 0 }
}

extension Error {
    /// Whether PostgreSQL refused a row for a UNIQUE constraint (another node stored the same value meanwhile).
    var isUniqueViolation: Bool {
        (self as? PSQLError)?.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw
    }
}
