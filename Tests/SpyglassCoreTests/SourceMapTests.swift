import Foundation
import SpyglassCore
import Testing

/// Source Map v3 decoding, against a real map (made by calmjs.parse's ES5 minifier from the program below) and the
/// positions Node's own `SourceMap.findEntry` (`node:module`) gives for it.
@Suite struct SourceMapTests {
    /// `app.js`, minified to one line; `node app.min.js` throws at 1:85.
    static let original = """
        function checkout(cart) {
          var total = computeTotal(cart);
          return total;
        }
        function computeTotal(cart) {
          throw new Error("price missing for " + cart.items[0]);
        }
        checkout({items: ["apple"]});
        """
    static let minified =
        #"function checkout(b){var a=computeTotal(b);return a;}function computeTotal(a){throw new Error("price missing for "+a.items[0]);}checkout({items:["apple"]});"#
    static let map = """
        {"file": "app.min.js", "mappings": "AAAA,kBAAkBA,CAAI,CAAE,CACtB,IAAIC,CAAM,CAAE,aAAaD,CAAI,EAC7B,OAAOC,CAAK,CACd,CACA,sBAAsBD,CAAI,CAAE,CAC1B,oCAAqC,CAAEA,CAAI,WAC7C,CACA,gBAAiB", "names": ["cart", "total"], "sources": ["app.js"], "version": 3}
        """

    static func parse(_ json: String) throws -> SourceMap { try SourceMap(json: Array(json.utf8)) }

    @Test func positionsMapAsNodeMapsThem() throws {
        let map = try Self.parse(Self.map)
        #expect(map.sources == ["app.js"] && map.names == ["cart", "total"] && map.file == "app.min.js")
        // (generated column) → (line, column, name), all 0-based, from Node 20's findEntry on the same map.
        let node: [(Int, Int, Int, String?)] = [
            (0, 0, 0, nil), (9, 0, 0, nil), (18, 0, 18, "cart"), (21, 1, 2, nil), (27, 1, 14, nil), (40, 1, 27, "cart"),
            (54, 4, 0, nil), (62, 4, 0, nil), (77, 4, 28, nil), (84, 5, 2, nil), (85, 5, 2, nil), (100, 5, 2, nil),
            (131, 7, 0, nil), (140, 7, 0, nil),
        ]
        for (column, line, sourceColumn, name) in node {
            #expect(
                map.location(line: 0, column: column) == .init(source: "app.js", line: line, column: sourceColumn, name: name),
                "column \(column)")
        }
        // Where node reports the throw (1:85, 1-based) is the original `throw` (6:3).
        let thrown = try #require(map.location(line: 0, column: 84))
        let sourceLine = Self.original.split(separator: "\n", omittingEmptySubsequences: false)[thrown.line]
        #expect(sourceLine.dropFirst(thrown.column).hasPrefix("throw new Error"))
        #expect(Self.minified.hasPrefix("function checkout(b)") && map.tokens.count > 20)
    }

    @Test func anIndexMapsSectionsAreOffsetAndLookedUpAcrossThem() throws {
        let index = """
            {"version": 3, "sections": [
              {"offset": {"line": 0, "column": 0}, "map": \(Self.map)},
              {"offset": {"line": 1, "column": 10}, "map": \(Self.map.replacingOccurrences(of: "app.js", with: "other.js"))}
            ]}
            """
        let map = try Self.parse(index)
        #expect(map.sources == ["app.js", "other.js"] && map.names == ["cart", "total", "cart", "total"])
        // As Node: the second section's first line starts at column 10; before it, the first section's last token
        // (a four-value segment: no name, though Node 20 reports the last name seen).
        #expect(map.location(line: 1, column: 94) == .init(source: "other.js", line: 5, column: 2, name: nil))
        #expect(map.location(line: 1, column: 5) == .init(source: "app.js", line: 7, column: 17, name: nil))
        #expect(map.location(line: 0, column: 84) == .init(source: "app.js", line: 5, column: 2, name: nil))
    }

    @Test func sourceRootSourcesContentAndDebugIDAreRead() throws {
        let map = try Self.parse(
            """
            {"version": 3, "sourceRoot": "webpack://shop/", "sources": ["src/a.js", "https://cdn.example/b.js", null],
             "sourcesContent": ["let a = 1;\\n", null], "names": [], "mappings": "AAAA;AACA,CCAA;ACAA",
             "debug_id": "c941d872-af1f-4f0c-a7ff-ad3d295fe153"}
            """)
        #expect(map.sources == ["webpack://shop/src/a.js", "https://cdn.example/b.js", ""])
        #expect(map.sourcesContent == ["let a = 1;\n", nil, nil])
        #expect(map.debugID == "c941d872-af1f-4f0c-a7ff-ad3d295fe153")
        #expect(map.location(line: 1, column: 1)?.source == "https://cdn.example/b.js")
        #expect(map.location(line: 2, column: 0)?.source == "")
        #expect(try Self.parse(#"{"version":3,"sources":[],"names":[],"mappings":"A","debugId":"x"}"#).debugID == "x")
    }

    @Test func aPositionBeforeEveryTokenOrOnASegmentWithoutSourceMapsToNothing() throws {
        let map = try Self.parse(#"{"version": 3, "sources": ["a.js"], "names": [], "mappings": "KAAA,K"}"#)
        #expect(map.location(line: 0, column: 4) == nil)
        #expect(map.location(line: 0, column: 5)?.line == 0)
        #expect(map.location(line: 0, column: 12) == nil)  // the one-value segment at column 10 maps nowhere
    }

    /// Maps are uploaded by users: each bad one is an error naming what and where, never a crash.
    @Test(arguments: [
        ("not json", "not JSON"),
        (#"[]"#, "map: expected a JSON object"),
        (#"{"version": 2, "sources": [], "names": [], "mappings": ""}"#, "map.version: expected 3"),
        (#"{"version": 3, "sources": [], "names": [], "mappings": 5}"#, "map.mappings: expected a string"),
        (#"{"version": 3, "sources": [1], "names": [], "mappings": ""}"#, "map.sources[0]: expected a string or null"),
        (#"{"version": 3, "sources": [], "names": [], "mappings": "AAAA"}"#, "source 0 is not one of the 0 sources (line 1, segment 1)"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "AAAAC"}"#, "name 1 is not one of the 0 names"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "AA"}"#, "a segment has 2 values, expected 1, 4 or 5"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "A!"}"#, "\"!\" is not a Base64 VLQ character"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "gggggggggggggA"}"#, "a value is too large"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "g"}"#, "a value is cut off"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "D"}"#, "column -1 is out of range"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "ggggggBAAA"}"#, "column 536870912 is out of range"),
        (#"{"version": 3, "sources": ["a"], "names": [], "mappings": "AAggggggBA"}"#, "source position 536870912:0 is out of range"),
        (#"{"version": 3, "sections": [{"offset": {"line": 0, "column": 0}, "url": "x.map"}]}"#, "sections that refer to other maps"),
        (#"{"version": 3, "sections": [{"offset": {"line": 0, "column": 0}, "map": {"version": 3, "sections": []}}]}"#, "cannot hold index maps"),
        (#"{"version": 3, "sections": [{"offset": {"line": 2, "column": 0}, "map": {"version": 3, "sources": [], "names": [], "mappings": ""}}, {"offset": {"line": 1, "column": 0}, "map": {"version": 3, "sources": [], "names": [], "mappings": ""}}]}"#, "in order"),
        (#"{"version": 3, "sections": [{"offset": {"line": -1, "column": 0}, "map": {}}]}"#, "offset: expected {line, column}"),
    ])
    func badMapsAreRefusedSayingWhatAndWhere(_ json: String, _ expected: String) {
        #expect {
            _ = try Self.parse(json)
        } throws: { error in
            (error as? SourceMapError)?.description.contains(expected) == true
        }
    }
}
