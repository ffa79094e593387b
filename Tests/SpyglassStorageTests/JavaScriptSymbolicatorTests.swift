import Foundation
import SpyglassCore
import SpyglassProtocol
import SpyglassStorage
import Testing

/// Symbolication of JavaScript events against maps in a real SQLite store: a map made by calmjs.parse's ES5
/// minifier (with renaming) from the program below, and frames where `node` reports them for its minified form.
@Suite struct JavaScriptSymbolicatorTests: StoreFixture {
    let now = Date(timeIntervalSince1970: 1_790_000_000)

    static let source = """
        (function () {
            function parsePrice(text) {
                var value = Number(text);
                if (isNaN(value)) {
                    throw new Error("not a price: " + text);
                }
                return value;
            }

            function computeTotal(items) {
                var total = 0;
                for (var i = 0; i < items.length; i++) {
                    total += parsePrice(items[i]);
                }
                return total;
            }

            computeTotal(["1.50", "2.25", "abc"]);
        })();

        """
    // `(function(){function a(c){…throw new Error("not a price: "+c)}…function b(e){…d+=a(e[c])…}b([…])})()`
    static let mappings =
        "AAAA,SAAU,EAAG,CACT,SAASA,CAAU,CAACC,CAAI,CAAE,CACtB,IAAIC,CAAM,CAAE,OAAOD,CAAI,EACvB,EAAG,OAAOC,CAAK,GACX,+BAAgC,CAAED,CAAI,EAE1C,OAAOC,CAAK,CAGhB,SAASC,CAAY,CAACC,CAAK,CAAE,CACzB,IAAIC,CAAM,CAAE,EACZ,GAAI,KAAKC,CAAE,CAAE,GAAGA,CAAE,CAAEF,CAAK,OAAX,EAAoBE,CAAC,IAC/BD,CAAM,EAAGL,CAAU,CAACI,CAAK,CAACE,CAAC,GAE/B,OAAOD,CAAK,CAGhBF,CAAY,SAAU,OAAQ,QACjC"
    static let debugID = "aed3969d-3fda-5d0c-a674-29780a14bbbe"

    static var map: [UInt8] {
        JSONWriter.bytes([
            "version": 3, "file": "app.min.js", "sources": ["app.js"], "sourcesContent": [.string(source)],
            "names": ["parsePrice", "text", "value", "computeTotal", "items", "total", "i"], "mappings": .string(mappings),
        ])
    }

    /// A Node event with node's frames for the minified file at `path` (oldest first), as the JavaScript SDK sends it.
    func event(path: String, debugID: String? = Self.debugID, release: String? = nil, platform: String = "node") throws -> NormalizedEvent {
        let frames: [JSONValue] = [
            ["function": "Object.<anonymous>", "abs_path": .string(path), "lineno": 1, "colno": 198, "in_app": true],
            ["function": "?", "abs_path": .string(path), "lineno": 1, "colno": 172],
            ["function": "b", "abs_path": .string(path), "lineno": 1, "colno": 155, "in_app": true],
            ["function": "a", "abs_path": .string(path), "lineno": 1, "colno": 62, "in_app": true],
            ["function": "x", "abs_path": .string(path), "lineno": 9_007_199_254_740_993, "colno": 1],
            ["function": "Module._compile", "abs_path": "node:internal/modules/cjs/loader", "lineno": 1, "colno": 1, "in_app": false],
        ]
        var payload: JSONObject = [
            "platform": .string(platform),
            "exception": ["values": [["type": "Error", "value": "not a price: abc", "stacktrace": ["frames": .array(frames)]]]],
        ]
        if let debugID { payload["debug_meta"] = ["images": [["type": "sourcemap", "code_file": .string(path), "debug_id": .string(debugID)]]] }
        if let release { payload["release"] = .string(release) }
        return try EventNormalizer().normalize(.object(payload), context: .init(received: now))
    }

    func symbolicator(_ files: [ArtifactFile], release: String? = nil) async throws -> JavaScriptSymbolicator {
        let database = try setUp()
        let artifacts = SQLiteArtifacts(database)
        try await artifacts.storeBundle(
            ArtifactBundle(checksum: String(repeating: "1", count: 40), release: release, dist: nil, files: files), projectIDs: [1],
            now: now)
        return JavaScriptSymbolicator(store: artifacts)
    }

    static func frames(_ event: NormalizedEvent, _ key: String = "stacktrace") -> [JSONValue] {
        event.payload["exception"]?["values"]?.arrayValue?.first?[key]?["frames"]?.arrayValue ?? []
    }

    @Test func framesWithAMapBecomeTheOriginalFunctionsLinesAndSourceAndTheRawFramesStay() async throws {
        let symbolicator = try await symbolicator([ArtifactFile(url: "~/app.min.js.map", kind: .sourceMap, debugID: Self.debugID, content: Self.map)])
        var event = try self.event(path: "/srv/app/app.min.js")
        event.raw = Array("{}".utf8)
        let rawHashes = event.hashes
        #expect(await symbolicator.symbolicate(&event, projectID: 1, now: now))
        let frames = Self.frames(event)
        let lines = Self.source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func line(_ text: String) -> Int64 { Int64(lines.firstIndex(of: text)! + 1) }
        // The wrapper keeps its own (missing) name: nothing calls it from a mapped frame.
        #expect(frames[1]["function"] == "?" && frames[1]["lineno"]?.int64Value == line("    computeTotal([\"1.50\", \"2.25\", \"abc\"]);"))
        #expect(frames[2]["function"] == "computeTotal" && frames[2]["lineno"]?.int64Value == line("            total += parsePrice(items[i]);"))
        let top = frames[3]
        #expect(top["function"] == "parsePrice" && top["filename"] == "app.js" && top["abs_path"] == "app.js")
        #expect(top["context_line"] == "            throw new Error(\"not a price: \" + text);" && top["colno"] == 13)
        #expect(top["pre_context"]?.arrayValue?.last == "        if (isNaN(value)) {" && top["pre_context"]?.arrayValue?.count == 4)
        #expect(top["post_context"]?.arrayValue?.first == "        }" && top["data"]?["sourcemap"] == .string("debug-id:\(Self.debugID)"))
        // A line past any map and a frame of another file are left as they came.
        #expect(frames[4]["function"] == "x" && frames[5]["abs_path"] == "node:internal/modules/cjs/loader")
        #expect(Self.frames(event, "raw_stacktrace")[3]["function"] == "a")
        // Grouping and the summary follow the mapped frames; the payload is stored as it is now.
        #expect(event.hashes != rawHashes && event.raw == nil && event.summary.culprit.contains("parsePrice"))
    }

    @Test func withoutDebugIDsTheReleasesMinifiedFileNamesItsMap() async throws {
        let minified = ArtifactFile(
            url: "~/static/app.min.js", kind: .minifiedSource,
            content: Array("(function(){…})()\n//# sourceMappingURL=maps/app.min.js.map\n".utf8))
        let map = ArtifactFile(url: "~/static/maps/app.min.js.map", kind: .sourceMap, content: Self.map)
        let symbolicator = try await symbolicator([minified, map], release: "web@1")
        var other = try self.event(path: "https://shop.example/static/app.min.js", debugID: nil, release: "web@2", platform: "javascript")
        #expect(await !symbolicator.symbolicate(&other, projectID: 1, now: now))
        var event = try self.event(path: "https://shop.example/static/app.min.js?v=3", debugID: nil, release: "web@1", platform: "javascript")
        #expect(await symbolicator.symbolicate(&event, projectID: 1, now: now))
        #expect(Self.frames(event)[3]["function"] == "parsePrice")
        #expect(Self.frames(event)[3]["data"]?["sourcemap"] == "~/static/maps/app.min.js.map")
    }

    @Test func aMapThatDoesNotParseIsNotedInTheEventsErrorsAndOtherPlatformsAreLeftAlone() async throws {
        let symbolicator = try await symbolicator([
            ArtifactFile(url: "~/app.min.js.map", kind: .sourceMap, debugID: Self.debugID, content: Array(#"{"version": 3, "mappings": "!"}"#.utf8))
        ])
        var event = try self.event(path: "/srv/app/app.min.js")
        #expect(await symbolicator.symbolicate(&event, projectID: 1, now: now))
        let errors = event.payload["errors"]?.arrayValue ?? []
        #expect(errors.count == 1 && errors[0]["type"] == "js_invalid_sourcemap" && errors[0]["url"] == "/srv/app/app.min.js")
        #expect(Self.frames(event)[3]["function"] == "a" && event.payload["exception"]?["values"]?.arrayValue?.first?["raw_stacktrace"] == nil)

        var python = try self.event(path: "/srv/app/app.min.js", platform: "python")
        let before = python.payload
        #expect(await !symbolicator.symbolicate(&python, projectID: 1, now: now) && python.payload == before)
        // A project without artifacts is not looked into.
        #expect(await !symbolicator.mayApply(projectID: 2, now: now))
    }

    @Test func anEventMapsItsFirstThirtyTwoFilesOnly() async throws {
        let symbolicator = try await symbolicator([ArtifactFile(url: "~/app.min.js.map", kind: .sourceMap, debugID: Self.debugID, content: Self.map)])
        // Forty copies of the bundle under forty paths: each a file of its own to look up.
        let paths = (0..<40).map { "/srv/app/\($0)/app.min.js" }
        let frames: [JSONValue] = paths.map { ["function": "a", "abs_path": .string($0), "lineno": 1, "colno": 62] }
        let images: [JSONValue] = paths.map { ["type": "sourcemap", "code_file": .string($0), "debug_id": .string(Self.debugID)] }
        var event = try EventNormalizer().normalize(
            ["platform": "node", "debug_meta": ["images": .array(images)],
             "exception": ["values": [["type": "Error", "stacktrace": ["frames": .array(frames)]]]]],
            context: .init(received: now))
        #expect(await symbolicator.symbolicate(&event, projectID: 1, now: now))
        let mapped = Self.frames(event).filter { $0["data"]?["symbolicated"] == true }
        #expect(mapped.count == JavaScriptSymbolicator.filesPerEvent)
        #expect(Self.frames(event).last?["abs_path"] == .string(paths[39]))
    }

    @Test func checksumsAndDebugIDs() {
        #expect(ArtifactChecksum.sha1(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(ArtifactChecksum.isValid("A9993E364706816ABA3E25717850C26C9CD0D89D") && !ArtifactChecksum.isValid("a9993e"))
        #expect(JavaScriptSymbolicator.debugID("AED3969D3FDA5D0CA67429780A14BBBE") == "aed3969d-3fda-5d0c-a674-29780a14bbbe")
        #expect(JavaScriptSymbolicator.debugID("not-a-uuid") == nil)
        #expect(JavaScriptSymbolicator.filename("webpack://shop/src/a.js") == "./src/a.js")
        #expect(JavaScriptSymbolicator.filename("https://cdn.example/js/a.js") == "/js/a.js")
        #expect(JavaScriptSymbolicator.filename("app.js") == "app.js")
    }
}
