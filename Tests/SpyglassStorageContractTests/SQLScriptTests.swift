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
