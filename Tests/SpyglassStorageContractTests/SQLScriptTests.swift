import NIOCore
import PostgresNIO
import Testing

@testable import SpyglassPostgres

@Suite struct SQLScriptTests {
    @Test func aScriptIsCutAtSemicolonsOutsideStringsCommentsAndDollarQuotes() {
        let script = """
            -- a comment; not a statement end
            CREATE TABLE a (x TEXT DEFAULT ';', "b;c" BIGINT);
            /* block; comment */ INSERT INTO a VALUES ('it''s; fine', 1);
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE a SET x = 'y';
                RETURN NULL;
            END
            $$;
            SELECT $tag$ ; $$ ; $tag$;
            -- only a comment at the end;
            """
        let statements = SQLScript.statements(script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("CREATE TABLE a (x TEXT DEFAULT ';', \"b;c\" BIGINT)"))
        #expect(statements[1] == "/* block; comment */ INSERT INTO a VALUES ('it''s; fine', 1)")
        #expect(statements[2].hasPrefix("CREATE FUNCTION f()") && statements[2].hasSuffix("END\n$$"))
        #expect(statements[3] == "SELECT $tag$ ; $$ ; $tag$")
    }

    @Test func aParameterLikeDollarIsNotAQuote() {
        #expect(SQLScript.statements("SELECT $1; SELECT 2") == ["SELECT $1", "SELECT 2"])
    }
}

@Suite struct IngestStatementTests {
    @Test func anEmbeddedStatementsParametersFollowTheOnesBoundBeforeIt() {
        let inner: IngestStatement = "SELECT \(Int64(7))::bigint, \(Int64(8))::bigint, \(Int64(9))::bigint AS \"x$\""
        let outer: IngestStatement = "WITH a AS (SELECT \(Int64(1))::bigint), b AS (\(embedding: inner)) SELECT \(Int64(2))"
        #expect(outer.sql == "WITH a AS (SELECT $1::bigint), b AS (SELECT $2::bigint, $3::bigint, $4::bigint AS \"x$\") SELECT $5")
        #expect(outer.binds.count == 5)
        let first: IngestStatement = "(\(embedding: inner))"
        #expect(first.sql == "(SELECT $1::bigint, $2::bigint, $3::bigint AS \"x$\")")
        // Two digits: $12 becomes $14, not $1 renumbered and a 2.
        var wide: IngestStatement = "SELECT $1, $12"
        wide.binds = inner.binds + inner.binds + inner.binds + inner.binds
        let shifted: IngestStatement = "SELECT \(Int64(0)), \(Int64(0)) FROM (\(embedding: wide))"
        #expect(shifted.sql == "SELECT $1, $2 FROM (SELECT $3, $14)")
        #expect(shifted.binds.count == 14)
    }
}

@Suite(.enabled(if: TestPostgres.isEnabled, TestPostgres.disabledReason))
struct IngestStatementArrayTests {
    /// The writer binds arrays in its own encoding (`IngestStatement`'s array interpolations): PostgreSQL reads
    /// them back as the values bound, empty arrays, empty and non-ASCII strings, extreme numbers and large byte
    /// strings included.
    @Test func arraysBoundAsTheWriterBindsThemReadBackAsTheirValues() async throws {
        let integers: [Int64] = [0, -1, .max, .min, 42]
        let doubles: [Double] = [0, -0.5, 1e300, -1e-300, 1_790_000_000.123]
        let booleans = [true, false, true]
        let strings = ["", "boom", "Crème brûlée ✓ 😀", String(repeating: "x", count: 10_000)]
        let bytes = [ByteBuffer(), ByteBuffer(bytes: [0, 255, 1]), ByteBuffer(repeating: 7, count: 70_000)]
        let statement: IngestStatement = """
            SELECT \(integers)::bigint[], \(doubles)::float8[], \(booleans)::boolean[], \(strings)::text[],
                \(bytes)::bytea[], \([Int64]())::bigint[], \([String]())::text[], cardinality(\([Bool]())::boolean[]),
                array_length(\(strings)::text[], 1), octet_length((\(bytes)::bytea[])[3])
            """
        try await TestPostgres.withFreshDatabase { url in
            try await TestPostgres.withRunningDatabase(url) { database in
                try await database.withConnection { connection in
                    let prepared = try await connection.prepare(query: statement.sql).get()
                    let rows = try await prepared.execute(statement.binds).get()
                    let row = try #require(rows.first.map(PreparedRow.init))
                    #expect(try row.decode(0, as: [Int64].self) == integers)
                    #expect(try row.decode(1, as: [Double].self) == doubles)
                    #expect(try row.decode(2, as: [Bool].self) == booleans)
                    #expect(try row.decode(3, as: [String].self) == strings)
                    #expect(try row.decode(4, as: [ByteBuffer].self) == bytes)
                    #expect(try row.decode(5, as: [Int64].self) == [])
                    #expect(try row.decode(6, as: [String].self) == [])
                    #expect(try row.decode(7, as: Int32.self) == 0)
                    #expect(try row.decode(8, as: Int32.self) == 4)
                    #expect(try row.decode(9, as: Int32.self) == 70_000)
                }
            }
        }
    }
}
