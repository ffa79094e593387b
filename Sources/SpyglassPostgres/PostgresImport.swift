import Foundation
import NIOCore
import PostgresNIO
import SpyglassCore
import SpyglassStorageKit

/// Writing rows copied from another backend (`spyglass migrate --to postgres://…`), inside the caller's transaction.
extension PostgresAppDatabase {
    /// The data tables of the schema, by name (the migrations' own table and the nodes' rate counts left out).
    package static func tables(on connection: PostgresConnection, logger: Logger) async throws -> Set<String> {
        var tables: Set<String> = []
        let rows = try await connection.answer(
            """
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                AND table_name NOT IN ('schema_migrations', 'rate_count')
            """, logger: logger)
        for row in rows { tables.insert(try row.decode(String.self)) }
        return tables
    }

    /// The columns of `table` that take values (generated ones left out), with their types (`bigint`, `text`, …).
    package static func columnTypes(
        of table: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: String] {
        var types: [String: String] = [:]
        let rows = try await connection.answer(
            """
            SELECT column_name::text, data_type::text FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table) AND is_generated = 'NEVER'
            """, logger: logger)
        for row in rows {
            let (name, type) = try row.decode((String, String).self)
            types[name] = type
        }
        return types
    }

    /// Inserts `rows` into `table` with multi-row INSERTs, each value bound as the column's type wants it.
    /// Throws a ``DomainError`` naming the table, row and column of a value the column cannot hold.
    package static func insert(
        _ rows: StoredRows, into table: String, types: [String: String], firstRow: Int, on connection: PostgresConnection,
        logger: Logger
    ) async throws {
        guard !rows.rows.isEmpty else { return }
        let columnList = rows.columns.map(identifier).joined(separator: ", ")
        // PostgreSQL takes at most 65 535 parameters a statement.
        let perStatement = max(1, min(500, 60_000 / max(1, rows.columns.count)))
        var start = 0
        while start < rows.rows.count {
            let chunk = rows.rows[start..<min(start + perStatement, rows.rows.count)]
            var bindings = PostgresBindings(capacity: chunk.count * rows.columns.count)
            var tuples: [String] = []
            tuples.reserveCapacity(chunk.count)
            for (offset, row) in chunk.enumerated() {
                var placeholders: [String] = []
                for (column, value) in zip(rows.columns, row) {
                    try bind(
                        value, as: types[column] ?? "text", into: &bindings,
                        at: "\(table) row \(firstRow + start + offset + 1), column \(column)")
                    placeholders.append("$\(bindings.count)")
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            let sql = "INSERT INTO \(identifier(table)) (\(columnList)) VALUES " + tuples.joined(separator: ", ")
            try await connection.execute(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            start += chunk.count
        }
    }

    /// Sets the single `instance` row (migration 1 made one) to the copied row's values.
    package static func replaceInstance(
        _ rows: StoredRows, types: [String: String], on connection: PostgresConnection, logger: Logger
    ) async throws {
        guard let row = rows.rows.first else { return }
        var bindings = PostgresBindings()
        var assignments: [String] = []
        for (column, value) in zip(rows.columns, row) where column != "id" {
            try bind(value, as: types[column] ?? "text", into: &bindings, at: "instance, column \(column)")
            assignments.append("\(identifier(column)) = $\(bindings.count)")
        }
        guard !assignments.isEmpty else { return }
        try await connection.execute(
            PostgresQuery(unsafeSQL: "UPDATE instance SET \(assignments.joined(separator: ", ")) WHERE id = 1", binds: bindings),
            logger: logger)
    }

    package static func count(of table: String, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let query = PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(identifier(table))")
        let rows = try await connection.answer(query, logger: logger)
        return try rows.first?.decode(Int.self) ?? 0
    }

    private static func bind(_ value: StoredValue, as type: String, into bindings: inout PostgresBindings, at place: String) throws {
        switch (value, type) {
        case (.null, _):
            bindings.appendNull()
        case (.integer(let number), "bigint"), (.integer(let number), "integer"), (.integer(let number), "smallint"):
            bindings.append(number)
        case (.integer(let number), "double precision"):
            bindings.append(Double(number))
        case (.real(let number), "double precision"):
            bindings.append(number)
        case (.real(let number), "bigint") where number == number.rounded() && abs(number) < 9.2e18:
            bindings.append(Int64(number))
        case (.text(let text), "text"):
            // PostgreSQL's text cannot hold U+0000; SQLite can (text stored before ingest cleaned it), though GRDB
            // reads such text only up to the NUL. Whatever a source gives, a NUL becomes U+FFFD, as ingest makes it.
            bindings.append(text.replacingNUL)
        case (.blob(let bytes), "bytea"):
            bindings.append(ByteBuffer(bytes: bytes))
        case (.text(let text), "bytea"):
            bindings.append(ByteBuffer(string: text))
        default:
            throw DomainError(.invalidInput, "\(place): a \(Self.describe(value)) does not fit PostgreSQL's \(type)")
        }
    }

    private static func describe(_ value: StoredValue) -> String {
        switch value {
        case .null: "null"
        case .integer: "integer"
        case .real: "real number"
        case .text: "text"
        case .blob: "blob"
        }
    }
}
