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
