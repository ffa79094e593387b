import SpyglassCore
import Testing

struct LogQueryTests {
    @Test(arguments: [
        "plain", "New York", #"say "hi""#, #"C:\temp\x"#, "tab\there", "line\nbreak", "", #"a\"#, #"""#, "key:value",
    ])
    func aQuotedValueReadsBackAsItWas(_ value: String) throws {
        let query = try LogQuery.parse("\(LogQuery.quoted("file path")):\(LogQuery.quoted(value)) words")
        #expect(query.attributes == [LogAttributeFilter(name: "file path", value: value)])
        #expect(query.words == ["words"])
    }

    @Test func oneWordStaysUnquotedAndBackslashesOutsideQuotesAreKept() throws {
        #expect(LogQuery.quoted("shop@1.2") == "shop@1.2")
        #expect(try LogQuery.parse(#"path:C:\temp"#).attributes == [LogAttributeFilter(name: "path", value: #"C:\temp"#)])
        #expect(try LogQuery.parse(#"city:"New \"York\"""#).attributes == [LogAttributeFilter(name: "city", value: #"New "York""#)])
    }
}

extension LogQueryTests {
    /// An attribute may be named like a column filter (a logging library's `release` or `level` field): its term
    /// finds the attribute, while the bare name still filters the column.
    @Test(arguments: ["release", "level", "environment", "env", "trace", "trace_id", "order_id", "file path"])
    func anAttributeTermFindsTheAttributeWhateverItsName(_ name: String) throws {
        let query = try LogQuery.parse(LogQuery.attributeTerm(name: name, value: "debug"))
        #expect(query.attributes == [LogAttributeFilter(name: name, value: "debug")])
        #expect(query.levels.isEmpty && query.release == nil && query.environment == nil && query.traceID == nil)
    }

    @Test func bareColumnNamesStillFilterTheirColumns() throws {
        let query = try LogQuery.parse(#"level:debug release:shop@1.2 "release":other"#)
        #expect(query.levels == [.debug] && query.release == "shop@1.2")
        #expect(query.attributes == [LogAttributeFilter(name: "release", value: "other")])
    }
}
