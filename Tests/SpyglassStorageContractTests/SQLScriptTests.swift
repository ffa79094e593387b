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
